// The sandbox control plane's key material, made with the openssl CLI in a directory the caller owns
// (and removes): a CA, kube-apiserver's serving certificate, and the service-account signing key pair.
// Test tool: short-lived, EC P-256 (fast to generate on a busy 2-core machine).
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ControlPlaneCerts {
  readonly caCert: string;
  readonly caKey: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** The service-account token signing key (kube-apiserver) and its public half (verification). */
  readonly saKey: string;
  readonly saPub: string;
}

async function openssl(args: string[]): Promise<void> {
  const result = await execa('openssl', args, { reject: false });
  if (result.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${String(result.stderr).trim()} (apt-get install openssl)`);
}

async function ecKey(path: string): Promise<void> {
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
}

/**
 * Writes the files into `dir`. `ips` and `dnsNames` are the serving certificate's SANs: every address
 * a client dials (the fabric address, the `kubernetes` Service's ClusterIP, loopback) and the names
 * in-cluster clients use.
 */
export async function makeCerts(dir: string, ips: readonly string[], dnsNames: readonly string[]): Promise<ControlPlaneCerts> {
  const certs: ControlPlaneCerts = {
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    serverCert: join(dir, 'apiserver.crt'),
    serverKey: join(dir, 'apiserver.key'),
    saKey: join(dir, 'sa.key'),
    saPub: join(dir, 'sa.pub'),
  };
  await Promise.all([ecKey(certs.caKey), ecKey(certs.serverKey), ecKey(certs.saKey)]);
  await openssl(['req', '-x509', '-new', '-key', certs.caKey, '-subj', '/CN=nftpol-sandbox-ca', '-days', '2', '-out', certs.caCert]);
  const csr = join(dir, 'apiserver.csr');
  const extensions = join(dir, 'apiserver.ext');
  const san = [...ips.map((ip) => `IP:${ip}`), ...dnsNames.map((name) => `DNS:${name}`)].join(',');
  writeFileSync(extensions, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n`);
  await openssl(['req', '-new', '-key', certs.serverKey, '-subj', '/CN=kube-apiserver', '-out', csr]);
  await openssl(['x509', '-req', '-in', csr, '-CA', certs.caCert, '-CAkey', certs.caKey, '-CAcreateserial', '-days', '2', '-extfile', extensions, '-out', certs.serverCert]);
  await openssl(['pkey', '-in', certs.saKey, '-pubout', '-out', certs.saPub]);
  return certs;
}

/**
 * A client certificate signed by the sandbox CA (kube-apiserver's --client-ca-file): the API server takes
 * the CN as the user and each O as a group, e.g. `system:node:<name>` in `system:nodes` for a kubelet
 * (the Node authorizer's convention). Writes `<name>.crt` and `<name>.key` into `dir`.
 */
export async function makeClientCert(dir: string, certs: Pick<ControlPlaneCerts, 'caCert' | 'caKey'>, name: string, user: string, groups: readonly string[] = []): Promise<{ cert: string; key: string }> {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  const csr = join(dir, `${name}.csr`);
  const extensions = join(dir, `${name}.ext`);
  await ecKey(key);
  const subject = `${groups.map((g) => `/O=${g}`).join('')}/CN=${user}`;
  writeFileSync(extensions, 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
  await openssl(['req', '-new', '-key', key, '-subj', subject, '-out', csr]);
  // A random serial rather than -CAcreateserial: callers sign in parallel, and ca.srl would race.
  const serial = `0x${randomBytes(16).toString('hex')}`;
  await openssl(['x509', '-req', '-in', csr, '-CA', certs.caCert, '-CAkey', certs.caKey, '-set_serial', serial, '-days', '2', '-extfile', extensions, '-out', cert]);
  return { cert, key };
}
