// The nft vocabulary lives in one file (src/nft/vocabulary.ts): no other source file spells an nft object
// name, a name prefix, the table family or a name hash. A scan of src/ enforces it, so that a new name
// written inline elsewhere fails here rather than drifting from the others.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from './support/paths.js';

const VOCABULARY = 'src/nft/vocabulary.ts';

/** Patterns that spell nft vocabulary, each with what it catches. */
const SPELLINGS: [RegExp, string][] = [
  [/['"`](peer|self|deny-in|deny-out|deny-log|ingress|egress|nftpol-in|nftpol-out)-/, 'an object name prefix in a string'],
  [/['"`](in|out)-\$\{/, 'a policy chain name built inline'],
  [/['"`](deny-log|forward|input)['"`]/, 'a fixed object name as a string'],
  [/\b(chain|set|map|counter|limit) (forward|input|peer-|self-|deny-)/, 'an object name inside nft text'],
  [/\btable inet\b|['"`]inet['"`]/, 'the table family spelled inline'],
  [/@(ingress|egress|self|deny|peer)-/, 'a reference to a named object spelled inline'],
  [/ipv[46]_addr/, 'an address type spelled inline'],
  [/createHash|digest\('hex'\)/, 'a hash outside the one helper'],
];

/**
 * The engine's peer set id is the engine's own identity for a set (content-addressed, used as its map
 * key and in EngineChanges), computed below the nft layer, which may not import from it; nft names embed
 * it through peerSetName.
 */
const ALLOWED: Record<string, RegExp[]> = { 'src/engine/peerset.ts': [/createHash|digest\('hex'\)/] };

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Lines of `text` that spell vocabulary, with what they spell; comments are prose and skipped. */
function spellings(file: string, text: string): string[] {
  const found: string[] = [];
  text.split('\n').forEach((line, i) => {
    const code = line.replace(/^\s*(\/\/|\*|\/\*\*).*$/, '').replace(/\s\/\/ .*$/, '');
    for (const [pattern, what] of SPELLINGS) {
      if (!pattern.test(code) || (ALLOWED[file] ?? []).some((allowed) => allowed.source === pattern.source)) continue;
      found.push(`${file}:${i + 1}: ${what}: ${line.trim()}`);
    }
  });
  return found;
}

test('the scanner catches each kind of inline spelling (so the scan below can fail)', () => {
  const samples = [
    "const name = `peer-${id}-v4`;",
    "return `out-${hash}`;",
    "const chain = 'forward';",
    "lines.push('  chain input {');",
    "run(['list', 'table', 'inet', t]);",
    "rules.push(`ip daddr vmap @ingress-v4`);",
    "const t = 'ipv6_addr';",
    "createHash('sha256').update(x).digest('hex').slice(0, 8);",
  ];
  for (const sample of samples) expect(spellings('src/x.ts', sample)).toHaveLength(1);
  // Prose and unrelated strings are not names.
  expect(spellings('src/x.ts', "// the chain forward is hooked at priority filter\nconst where = 'in-cluster';")).toEqual([]);
});

test(`no nft object name, prefix, family or name hash is spelled in src/ outside ${VOCABULARY}`, () => {
  const found = sourceFiles(join(ROOT, 'src'))
    .map((path) => relative(ROOT, path))
    .filter((file) => file !== VOCABULARY)
    .flatMap((file) => spellings(file, readFileSync(join(ROOT, file), 'utf8')));
  expect(found).toEqual([]);
});

test('the vocabulary file spells them (the scan looks for the right things)', () => {
  const text = readFileSync(join(ROOT, VOCABULARY), 'utf8');
  expect(spellings('vocabulary', text).length).toBeGreaterThan(5);
});
