// nft through one long-lived process instead of one `nft` process per transaction. Starting nft costs
// 5-30 ms here (and forking it from the agent's large Node.js heap about 9 ms more), while the same
// transaction through libnftables in a process that stays up takes 0.1-0.4 ms, even beside 100,000 set
// elements (README "Dataplane"). Node.js cannot load libnftables itself, so a small Python helper does, with
// ctypes: it reads one request per line on stdin and answers one line on stdout.
//
// Each script is still one nft transaction (libnftables sends a buffer's commands as one batch), given to
// libnftables as a file (a memfd), so nft's error messages name the line exactly as `nft -f` does.
// Requests are answered in order; a helper that dies or does not answer in time is ended, every request in
// flight fails with an NftError, and the next request starts a new helper.
import { execa, type ResultPromise } from 'execa';
import { createInterface } from 'node:readline';
import { NftError, nftError, parseCounters, type NftRunner } from './executor.js';
import { tableRef } from './vocabulary.js';

/** The helper. Python's standard library only (ctypes, json, os, sys) and the system's libnftables. */
export const NFT_SESSION_HELPER = String.raw`
import ctypes, json, os, sys
try:
    lib = ctypes.CDLL("libnftables.so.1")
except OSError as e:
    sys.stderr.write("cannot load libnftables.so.1: %s\n" % e); sys.exit(3)
lib.nft_ctx_new.restype = ctypes.c_void_p
lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
for f in ("nft_ctx_buffer_output", "nft_ctx_buffer_error", "nft_ctx_unbuffer_output", "nft_ctx_unbuffer_error"):
    getattr(lib, f).argtypes = [ctypes.c_void_p]
for f in ("nft_ctx_get_output_buffer", "nft_ctx_get_error_buffer"):
    getattr(lib, f).argtypes = [ctypes.c_void_p]; getattr(lib, f).restype = ctypes.c_char_p
lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
lib.nft_ctx_set_dry_run.argtypes = [ctypes.c_void_p, ctypes.c_bool]
lib.nft_run_cmd_from_filename.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
JSON_OUTPUT = 1 << 4
ctx = lib.nft_ctx_new(0)
lib.nft_ctx_buffer_output(ctx); lib.nft_ctx_buffer_error(ctx)
out = sys.stdout
out.write("ready\n"); out.flush()
for line in sys.stdin:
    request = json.loads(line)
    fd = os.memfd_create("nftpol-script")
    try:
        os.write(fd, request["script"].encode())
        lib.nft_ctx_output_set_flags(ctx, JSON_OUTPUT if request.get("json") else 0)
        lib.nft_ctx_set_dry_run(ctx, bool(request.get("check")))
        rc = lib.nft_run_cmd_from_filename(ctx, ("/proc/self/fd/%d" % fd).encode())
    finally:
        os.close(fd)
    stdout = (lib.nft_ctx_get_output_buffer(ctx) or b"").decode("utf-8", "replace")
    stderr = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode("utf-8", "replace")
    out.write(json.dumps({"id": request["id"], "rc": rc, "out": stdout, "err": stderr}) + "\n"); out.flush()
`;

export interface NftSessionOptions {
  /** Run inside this network namespace (`ip netns exec`), as the tests and the sandbox cluster do. */
  readonly netns?: string;
  /** The interpreter; the helper needs ctypes (Debian: python3, not python3-minimal alone). */
  readonly python?: string;
  /** Check only: parse and validate in the kernel without committing (`nft -c`). */
  readonly checkOnly?: boolean;
  /**
   * A request not answered in this time ends the helper. Generous: a full sync of a very large table
   * takes minutes on nft 1.0.6 (10,000 chains and sets: 121 s).
   */
  readonly timeoutMs?: number;
}

interface Reply {
  readonly id: number;
  readonly rc: number;
  readonly out: string;
  readonly err: string;
}

interface Pending {
  readonly resolve: (reply: Reply) => void;
  readonly reject: (error: NftError) => void;
  readonly timer: NodeJS.Timeout;
}

/** One running helper and the requests it has not answered yet. */
class Helper {
  readonly ready: Promise<void>;
  private readonly child: ResultPromise;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private ended: string | null = null;

  constructor(command: readonly string[], private readonly timeoutMs: number) {
    const [file, ...args] = command;
    this.child = execa(file!, [...args, '-u', '-c', NFT_SESSION_HELPER], { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', reject: false, buffer: { stdout: false, stderr: true } });
    let started: () => void = () => undefined;
    let failed: (error: Error) => void = () => undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      started = resolve;
      failed = reject;
    });
    // A helper that died while a request was being written: fail what is in flight, never crash the agent.
    this.child.stdin!.on('error', (error: Error) => this.end(`nft session helper's input failed: ${error.message}`));
    // The first line says libnftables loaded; every later line answers one request.
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      if (line === 'ready') return started();
      const reply = JSON.parse(line) as Reply;
      const waiting = this.pending.get(reply.id);
      if (!waiting) return;
      this.pending.delete(reply.id);
      clearTimeout(waiting.timer);
      waiting.resolve(reply);
    });
    void this.child.then((result) => {
      const reason = String(result.stderr ?? '').trim() || result.shortMessage || 'exited';
      this.end(`nft session helper ended: ${reason}`);
      failed(new NftError(`nft session helper could not start: ${reason}`, undefined, undefined, String(result.stderr ?? '')));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.ended === null;
  }

  request(script: string, flags: { json?: boolean; check?: boolean }): Promise<Reply> {
    if (this.ended !== null) return Promise.reject(new NftError(this.ended, undefined, undefined, ''));
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => this.end(`nft session helper did not answer within ${this.timeoutMs} ms: ended it`), this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.child.stdin!.write(JSON.stringify({ id, script, ...flags }) + '\n');
    });
  }

  /** Fails every request in flight and ends the process (a no-op once ended). */
  end(reason: string): void {
    if (this.ended !== null) return;
    this.ended = reason;
    for (const [id, waiting] of this.pending) {
      clearTimeout(waiting.timer);
      this.pending.delete(id);
      waiting.reject(new NftError(reason, undefined, undefined, ''));
    }
    this.child.kill();
  }
}

export interface NftSession extends NftRunner {
  /** Resolves once a helper runs and libnftables is loaded; rejects when it cannot start. */
  start(): Promise<void>;
  /** Ends the helper; a later request starts a new one. */
  close(): void;
  /** The running helper's process ID (undefined before the first request or after close). */
  helperPid(): number | undefined;
}

/** An NftRunner backed by one long-lived libnftables helper (started on first use, restarted after a failure). */
export function nftSession(options: NftSessionOptions = {}): NftSession {
  const python = options.python ?? 'python3';
  const command = options.netns ? ['ip', 'netns', 'exec', options.netns, python] : [python];
  const timeoutMs = options.timeoutMs ?? 600_000;
  let helper: Helper | null = null;
  const current = async (): Promise<Helper> => {
    if (!helper || !helper.alive) helper = new Helper(command, timeoutMs);
    await helper.ready;
    return helper;
  };
  const run = async (script: string, flags: { json?: boolean; check?: boolean } = {}): Promise<Reply> => (await current()).request(script, flags);
  return {
    async start() {
      await current();
    },
    close() {
      helper?.end('nft session closed');
      helper = null;
    },
    helperPid() {
      return helper?.alive ? helper.pid : undefined;
    },
    async apply(script) {
      const reply = await run(script, options.checkOnly ? { check: true } : {});
      if (reply.rc !== 0) throw nftError(script, reply.err);
    },
    async listCounters(table) {
      const reply = await run(`list counters table ${tableRef(table)}\n`, { json: true });
      return reply.rc === 0 ? parseCounters(reply.out) : new Map<string, number>();
    },
    async listTable(table) {
      const reply = await run(`list table ${tableRef(table)}\n`);
      // As execa hands over `nft list` (its final newline stripped), so both runners read back the same text.
      if (reply.rc === 0) return reply.out.replace(/\n$/, '');
      if (/No such file or directory/.test(reply.err)) return null;
      throw new NftError(`nft list failed: ${reply.err.trim()}`, undefined, undefined, reply.err);
    },
  };
}
