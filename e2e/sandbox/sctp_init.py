#!/usr/bin/env python3
"""Raw SCTP INIT probe for kernels without SCTP sockets (the sandbox's test tool).

  sctp_init.py send DST_IP PORT     send an SCTP INIT chunk to DST_IP:PORT (three times, 0.3 s apart)
  sctp_init.py recv PORT SECONDS    print "arrived SRC_IP" for every SCTP INIT to PORT that arrives in time, then "done"

Uses raw IP sockets of protocol 132, so it needs CAP_NET_RAW (root in the pod's namespace).
"""
import os
import select
import socket
import struct
import sys
import time

IPPROTO_SCTP = 132


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def init_packet(src_port: int, dst_port: int) -> bytes:
    tag = int.from_bytes(os.urandom(4), "big") or 1
    chunk = struct.pack("!BBHIIHHI", 1, 0, 20, tag, 65535, 10, 10, tag)
    header = struct.pack("!HHII", src_port, dst_port, 0, 0)
    checksum = crc32c(header + chunk)
    # The SCTP checksum is stored little-endian (RFC 4960 appendix B).
    return struct.pack("!HHI", src_port, dst_port, 0) + struct.pack("<I", checksum) + chunk


def family(ip: str) -> int:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def send(dst: str, port: int) -> None:
    sock = socket.socket(family(dst), socket.SOCK_RAW, IPPROTO_SCTP)
    packet = init_packet(40000 + os.getpid() % 20000, port)
    # Retransmit as an SCTP stack would (RFC 4960 T1-init), here quickly: a first packet can be lost
    # while the path's neighbours are still being resolved.
    for attempt in range(3):
        sock.sendto(packet, (dst, 0))
        if attempt < 2:
            time.sleep(0.3)


def recv(port: int, seconds: float) -> None:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_SCTP), socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_SCTP)]
    print("listening", flush=True)
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select(socks, [], [], left)
        for sock in ready:
            data, address = sock.recvfrom(65535)
            # IPv4 raw sockets deliver the IP header; IPv6 ones do not.
            offset = (data[0] & 0x0F) * 4 if sock.family == socket.AF_INET else 0
            sctp = data[offset:]
            if len(sctp) >= 13 and struct.unpack("!H", sctp[2:4])[0] == port and sctp[12] == 1:
                print("arrived", address[0], flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "send":
        send(sys.argv[2], int(sys.argv[3]))
    else:
        recv(int(sys.argv[2]), float(sys.argv[3]))
