// The atomic fake nft (test/support/fake-nft.ts): all or nothing, and the kernel's reference checks.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderCommand } from '../src/cli/offline.js';
import { rule, Transaction } from '../src/nft/operations.js';
import { writeScript } from '../src/nft/write.js';
import { FakeNft, FakeNftError, plainTable } from './support/fake-nft.js';
import { ROOT } from './support/paths.js';

const T = 't';

/** A table with a set, a chain whose rule uses it, a counter and a verdict map that jumps to the chain. */
function base(): Transaction {
  return new Transaction(T)
    .add({ kind: 'table' })
    .add({ kind: 'set', name: 'peers', type: ['ipv4_addr'], elements: ['10.0.0.1'] })
    .add({ kind: 'counter', name: 'denied' })
    .add({ kind: 'chain', name: 'pol', rules: [rule('ip saddr @peers accept', { sets: ['peers'] }), rule('counter name "denied"', { counters: ['denied'] }), rule('drop')] })
    .add({ kind: 'map', name: 'dispatch', key: 'ipv4_addr', value: 'verdict', elements: [{ key: '10.0.0.9', value: { jump: 'pol' } }] });
}

function loaded(): FakeNft {
  const fake = new FakeNft();
  fake.run(base());
  return fake;
}

function refused(fake: FakeNft, tx: Transaction): string {
  const before = JSON.stringify(plainTable(fake.table(T)!));
  let message = '';
  try {
    fake.run(tx);
  } catch (error) {
    expect(error).toBeInstanceOf(FakeNftError);
    message = (error as Error).message;
  }
  expect(message).not.toBe('');
  // Nothing of the transaction was applied, not even its operations before the failing one.
  expect(JSON.stringify(plainTable(fake.table(T)!))).toBe(before);
  return message;
}

test('a transaction whose last operation fails leaves the table as it was', () => {
  const fake = loaded();
  const message = refused(
    fake,
    new Transaction(T)
      .add({ kind: 'element', target: 'peers', items: [{ key: '10.0.0.2' }] })
      .flush({ kind: 'chain', name: 'pol' })
      .add({ kind: 'set', name: 'more', type: ['ipv4_addr'] })
      .delete({ kind: 'element', target: 'peers', items: [{ key: '10.0.0.77' }] }),
  );
  expect(message).toMatch(/operation #4: delete element: peers has no element 10.0.0.77/);
  expect(fake.table(T)!.sets.has('more')).toBe(false);
  expect(fake.table(T)!.chains.get('pol')!.rules).toHaveLength(3);
  expect([fake.committed, fake.refused]).toEqual([1, 1]);
});

test('deleting a set a rule uses fails, as the kernel says EBUSY', () => {
  expect(refused(loaded(), new Transaction(T).delete({ kind: 'set', name: 'peers' }))).toMatch(/cannot delete set peers: in use by a rule of chain pol/);
});

test('a rule that refers to a missing set fails', () => {
  expect(refused(loaded(), new Transaction(T).add({ kind: 'rule', chain: 'pol', rule: rule('ip daddr @nope accept', { sets: ['nope'] }) }))).toMatch(/no set nope/);
});

test.each([
  ['a chain a map element jumps to', new Transaction(T).delete({ kind: 'chain', name: 'pol' }), /cannot delete chain pol: in use by element/],
  ['a counter a rule counts in', new Transaction(T).delete({ kind: 'counter', name: 'denied' }), /cannot delete counter denied: in use/],
  ['a map element that jumps to a missing chain', new Transaction(T).add({ kind: 'element', target: 'dispatch', items: [{ key: '10.0.0.8', value: { jump: 'gone' } }] }), /no chain gone/],
  ['a map key given a second value', new Transaction(T).add({ kind: 'chain', name: 'other' }).add({ kind: 'element', target: 'dispatch', items: [{ key: '10.0.0.9', value: { jump: 'other' } }] }), /exists with another value/],
  ['an element of the wrong family', new Transaction(T).add({ kind: 'element', target: 'peers', items: [{ key: 'fd00::1' }] }), /does not fit set peers/],
  ['overlapping intervals', new Transaction(T).add({ kind: 'set', name: 'block', type: ['ipv4_addr'], interval: true, elements: ['10.0.0.0-10.0.0.255', '10.0.0.128-10.0.1.0'] }), /overlaps/],
  ['a rule in a chain that does not exist', new Transaction(T).add({ kind: 'rule', chain: 'nochain', rule: rule('drop') }), /no chain nochain/],
  ['deleting a set that does not exist', new Transaction(T).delete({ kind: 'set', name: 'nothing' }), /no set nothing/],
])('refused: %s', (_name, tx, message) => {
  expect(refused(loaded(), tx)).toMatch(message);
});

test('what the kernel allows passes: a chain deleted with its rules once nothing jumps to it, its set after it', () => {
  const fake = loaded();
  fake.run(new Transaction(T).delete({ kind: 'element', target: 'dispatch', items: [{ key: '10.0.0.9' }] }).delete({ kind: 'chain', name: 'pol' }).delete({ kind: 'set', name: 'peers' }).delete({ kind: 'counter', name: 'denied' }));
  expect(plainTable(fake.table(T)!)).toMatchObject({ chains: {}, sets: {}, counters: [] });
});

test('a table block may refer to objects declared further down; a flat script may not', () => {
  const forward = new Transaction(T)
    .add({ kind: 'table' })
    .add({ kind: 'chain', name: 'first', rules: [rule('ip saddr @later accept', { sets: ['later'] })] })
    .add({ kind: 'set', name: 'later', type: ['ipv4_addr'] });
  new FakeNft().run(forward);
  const flat = new Transaction(T).add({ kind: 'table' }).add({ kind: 'chain', name: 'first' }).add({ kind: 'rule', chain: 'first', rule: rule('ip saddr @later accept', { sets: ['later'] }) });
  expect(() => new FakeNft().run(flat)).toThrow(/operation #3: rule "ip saddr @later accept": no set later/);
});

test('a full sync as nftpol writes it loads, from its operations and from its text alike, and replaces what was there', async () => {
  const script = readFileSync(join(ROOT, 'test', 'golden', 'seed-production-isolation-node-1.nft'), 'utf8');
  const fromText = loaded();
  const stale = new Transaction('nftpol').add({ kind: 'table' }).add({ kind: 'chain', name: 'left-over' });
  await fromText.apply(writeScript(stale), stale);
  await fromText.apply(script);
  const table = fromText.table('nftpol')!;
  expect(table.chains.has('left-over')).toBe(false);
  expect(table.chains.get('forward')!.hook).toEqual({ type: 'filter', hook: 'forward', priority: 'filter', policy: 'accept' });
  expect(table.maps.get('ingress-v4')!.elements.size).toBe(2);
  expect(table.sets.get('self-v4')!.elements.size).toBe(2);
  expect(table.counters.size).toBe(4);
  // The same table through the CLI's own render, with the deny log and strict mode on.
  const seeds = join(ROOT, 'examples', 'seeds');
  const rendered = renderCommand({ files: [join(seeds, 'pods.yaml'), join(seeds, '04-production-isolation.yaml')], node: 'node-1', diff: [], table: 'nftpol', denyAction: 'reject', denyLog: { group: 5, ratePerSecond: 10 }, strictMode: true }).stdout;
  const fake = new FakeNft();
  await fake.apply(rendered);
  expect([...fake.table('nftpol')!.limits.keys()]).toEqual(['deny-log']);
  expect(fake.table('nftpol')!.chains.get('deny-log-in')!.rules.map((r) => r.refs)).toEqual([{ sets: [], maps: [], chains: [], counters: [], limits: ['deny-log'] }, { sets: [], maps: [], chains: [], counters: ['deny-log-suppressed-in'], limits: [] }]);
});
