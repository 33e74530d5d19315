// Typed nft operations: a transaction validates each operation when it is enqueued and keeps the first
// problem; the one writer turns operations into the syntax nft reads.
import { referencesIn, rule, Transaction } from '../src/nft/operations.js';
import { writeScript } from '../src/nft/write.js';

test('a well-formed transaction is written one command per line, a table block declaratively', () => {
  const tx = new Transaction('t')
    .add({ kind: 'table' })
    .add({ kind: 'set', name: 's', type: ['ipv4_addr'], interval: true, elements: ['10.0.0.0-10.0.0.255'] })
    .add({ kind: 'chain', name: 'c', rules: [rule('ip saddr @s accept', { sets: ['s'] })] })
    .delete({ kind: 'element', target: 's', items: [{ key: '10.0.0.0-10.0.0.255' }] })
    .add({ kind: 'map', name: 'm', key: 'ipv4_addr', value: 'verdict' })
    .add({ kind: 'element', target: 'm', items: [{ key: '10.0.0.1', value: { jump: 'c' } }] })
    .flush({ kind: 'chain', name: 'c' })
    .add({ kind: 'rule', chain: 'c', rule: rule('ip daddr vmap @m', { maps: ['m'] }) });
  expect(writeScript(tx)).toBe(
    [
      'table inet t {',
      '  set s {',
      '    type ipv4_addr; flags interval;',
      '    elements = {',
      '      10.0.0.0-10.0.0.255',
      '    }',
      '  }',
      '  chain c {',
      '    ip saddr @s accept',
      '  }',
      '}',
      'delete element inet t s { 10.0.0.0-10.0.0.255 }',
      'add map inet t m { type ipv4_addr : verdict; }',
      'add element inet t m { 10.0.0.1 : jump c }',
      'flush chain inet t c',
      'add rule inet t c ip daddr vmap @m',
      '',
    ].join('\n'),
  );
});

test.each([
  ['a name that is not ours', (tx: Transaction) => tx.add({ kind: 'counter', name: 'x"; flush ruleset' }), /bad counter name/],
  ['a rule that uses a set it does not declare', (tx: Transaction) => tx.add({ kind: 'rule', chain: 'c', rule: rule('ip saddr @s accept') }), /refers to sets \[s\] but declares \[\]/],
  ['a rule that declares a jump it does not make', (tx: Transaction) => tx.add({ kind: 'rule', chain: 'c', rule: rule('drop', { chains: ['d'] }) }), /refers to chains \[\] but declares \[d\]/],
  ['a rule with a second statement smuggled in', (tx: Transaction) => tx.add({ kind: 'rule', chain: 'c', rule: rule('accept; flush ruleset') }), /bad rule text/],
  ['a delete that carries contents', (tx: Transaction) => tx.delete({ kind: 'set', name: 's', type: ['ipv4_addr'] }), /takes its name only/],
  ['a map element deleted with its value', (tx: Transaction) => tx.delete({ kind: 'element', target: 'm', items: [{ key: '10.0.0.1', value: { jump: 'c' } }] }), /by its key only/],
  ['a verb the object does not have', (tx: Transaction) => tx.flush({ kind: 'counter', name: 'c' }), /cannot flush a counter/],
  ['an added set without a type', (tx: Transaction) => tx.add({ kind: 'set', name: 's' }), /needs its type/],
  ['an element operation with no elements', (tx: Transaction) => tx.add({ kind: 'element', target: 's', items: [] }), /no elements/],
])('rejected when enqueued: %s (the first error is kept, and writing throws it)', (_name, enqueue, message) => {
  const tx = new Transaction('t').add({ kind: 'counter', name: 'fine' });
  enqueue(tx);
  tx.add({ kind: 'counter', name: 'BAD' }); // a later problem does not replace the first
  expect(tx.error?.message).toMatch(message);
  expect(tx.error?.message).toMatch(/operation #2/);
  expect(() => writeScript(tx)).toThrow(message);
});

test('references are read from rule text the way nft reads them', () => {
  expect(referencesIn('ip daddr . meta l4proto . th dport @peer-ab-v4 return')).toMatchObject({ sets: ['peer-ab-v4'], maps: [] });
  expect(referencesIn('counter name ip daddr map @deny-in-v4')).toMatchObject({ sets: [], maps: ['deny-in-v4'] });
  expect(referencesIn('ip saddr vmap @egress-v4')).toMatchObject({ sets: [], maps: ['egress-v4'] });
  expect(referencesIn('ct state new jump deny-log-in')).toMatchObject({ chains: ['deny-log-in'] });
  expect(referencesIn('limit name "deny-log" log prefix "nftpol-in" group 1 snaplen 128 return')).toMatchObject({ limits: ['deny-log'], counters: [] });
});

test('an empty transaction writes nothing, a bad table name is refused', () => {
  expect(writeScript(new Transaction('nftpol'))).toBe('');
  expect(new Transaction('x y').error?.message).toMatch(/bad table name/);
});
