// e2e/node/images.sh names its images by hand because nothing can be pulled: the e2e framework and kubelet
// find them only if each name:tag is exactly the one the pinned Kubernetes version's
// test/utils/image/manifest.go asks for, and the Dockerfile builds only if its FROM is the base image the
// script makes. These tests compare the script's names with those sources (manifest.go from the Go module
// cache, skipped with the reason when that cache does not hold the pinned version).
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

const script = readFileSync('e2e/node/images.sh', 'utf8');
const version = /^require k8s\.io\/kubernetes (\S+)$/m.exec(readFileSync('e2e/k8s/kubernetes/go.mod', 'utf8'))?.[1];

/** A `NAME=value` assignment at the start of a line of the script. */
function scriptValue(name: string): string {
  const value = new RegExp(`^${name}=(\\S+)$`, 'm').exec(script)?.[1];
  if (value === undefined) throw new Error(`e2e/node/images.sh assigns no ${name}`);
  return value.replace(/^"(.*)"$/, '$1');
}

/** The Go module cache (GOMODCACHE, else GOPATH/pkg/mod, else ~/go/pkg/mod), without requiring Go. */
function goModCache(): string {
  try {
    const dir = execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim();
    if (dir) return dir;
  } catch {
    // no Go on this machine: its default place
  }
  return process.env.GOMODCACHE ?? join(process.env.GOPATH ?? join(homedir(), 'go'), 'pkg', 'mod');
}

/** name:tag of one image of manifest.go (`configs[<key>] = Config{list.<Registry>, "<name>", "<tag>"}`). */
function manifestImage(manifest: string, key: string): string {
  const config = new RegExp(`configs\\[${key}\\] = Config\\{list\\.(\\w+), "([^"]+)", "([^"]+)"\\}`).exec(manifest);
  if (!config) throw new Error(`manifest.go has no configs[${key}]`);
  const [, registryField, name, tag] = config;
  const registry = new RegExp(`\\b${registryField}:\\s*"([^"]+)"`).exec(manifest)?.[1];
  if (registry === undefined) throw new Error(`manifest.go has no default for ${registryField}`);
  return `${registry}/${name}:${tag}`;
}

const manifestPath = version && join(goModCache(), `k8s.io/kubernetes@${version}`, 'test/utils/image/manifest.go');
const manifestSkip = !version
  ? 'e2e/k8s/kubernetes/go.mod pins no k8s.io/kubernetes'
  : !existsSync(manifestPath as string)
    ? `${manifestPath} is absent (the Go module cache fills with make k8s-bin)`
    : null;
if (manifestSkip) console.warn(`skipping the image tags' check against manifest.go: ${manifestSkip}`);
const withManifest = manifestSkip ? test.skip : test;

describe('the images e2e/node/images.sh builds', () => {
  withManifest('pause and agnhost carry the exact name:tag of the pinned version\'s e2e image manifest', () => {
    const manifest = readFileSync(manifestPath as string, 'utf8');
    expect(scriptValue('PAUSE_IMAGE')).toBe(manifestImage(manifest, 'Pause'));
    expect(scriptValue('AGNHOST_IMAGE')).toBe(manifestImage(manifest, 'Agnhost'));
  });

  test('the kind runner\'s default agnhost is one of the agnhost archive\'s tags', () => {
    const kindDefault = /DEFAULT_AGNHOST = '([^']+)'/.exec(readFileSync('e2e/kind/translate.ts', 'utf8'))?.[1];
    const tags = [scriptValue('AGNHOST_IMAGE'), ...scriptValue('AGNHOST_EXTRA_TAGS').split(' ')];
    expect(tags).toContain(kindDefault);
  });

  test('the base image is what every FROM of the Dockerfile names, with docker.io/library/ spelled out', () => {
    const froms = [...readFileSync('Dockerfile', 'utf8').matchAll(/^FROM (\S+)/gm)].map((m) => m[1] as string);
    expect(froms.length).toBeGreaterThan(0);
    for (const from of froms) expect(`docker.io/library/${from}`).toBe(scriptValue('NODE_IMAGE'));
  });
});
