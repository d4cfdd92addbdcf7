// decode.js — the same recorded notifications as decode_bench.c, decoded the
// way a polkadot-js application does it: JSON.parse, the account id from the
// storage key, AccountInfo through @polkadot/types (registry.createType),
// compare with the previous value, build a balance-change event.
//
//   node decode.js NOTES.jsonl [RUNS]
'use strict';
const fs = require('fs');
const { TypeRegistry } = require('@polkadot/types');

const file = process.argv[2];
const runs = parseInt(process.argv[3] || '5', 10);
const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0);
const registry = new TypeRegistry();
registry.register({
  BenchAccountData: { free: 'u128', reserved: 'u128', frozen: 'u128', flags: 'u128' },
  BenchAccountInfo: {
    nonce: 'u32', consumers: 'u32', providers: 'u32', sufficients: 'u32', data: 'BenchAccountData',
  },
});
const TS_KEY = '0xf0c365c3cf59d671eb72da0e7a4113c49f1f0515f462cdcf84e0f1d6045dfcbb';

function run() {
  const known = new Map();
  let events = 0;
  let emitted = [];
  function process_(text, count) {
    const msg = JSON.parse(text);
    const res = msg.params.result;
    let time = 0;
    for (const [key, value] of res.changes) {
      if (key === TS_KEY) {
        time = Number(registry.createType('u64', value).toBigInt());
        continue;
      }
      const account = '0x' + key.slice(2 + 96); // twox128 ++ twox128 ++ blake2_128 = 48 bytes
      const info = value === null ? null : registry.createType('BenchAccountInfo', value);
      const prev = known.get(account);
      known.set(account, info);
      if (prev === undefined || !count) continue;
      if (prev !== null && info !== null && prev.eq(info)) continue;
      emitted.push({
        account, block: res.block, time,
        before: prev && { free: prev.data.free.toBigInt(), reserved: prev.data.reserved.toBigInt(), frozen: prev.data.frozen.toBigInt(), nonce: prev.nonce.toNumber() },
        after: info && { free: info.data.free.toBigInt(), reserved: info.data.reserved.toBigInt(), frozen: info.data.frozen.toBigInt(), nonce: info.nonce.toNumber() },
      });
      events++;
      if (emitted.length > 10000) emitted = [];
    }
  }
  process_(lines[0], false);
  const t0 = process.hrtime.bigint();
  for (let i = 1; i < lines.length; i++) process_(lines[i], true);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (events !== (lines.length - 1) * 1000) throw new Error(`expected ${(lines.length - 1) * 1000} events, got ${events}`);
  return events / secs;
}

const rates = [];
for (let r = 0; r < runs; r++) {
  const rate = run();
  rates.push(rate);
  process.stderr.write(`run ${r + 1}: ${Math.round(rate)} changes/s\n`);
}
rates.sort((a, b) => a - b);
console.log(JSON.stringify({
  impl: '@polkadot/types ' + JSON.parse(fs.readFileSync(require.resolve('@polkadot/types').replace(/cjs[/\\].*$/, 'package.json'), 'utf8')).version + ' (node ' + process.version + ')',
  changes_per_notification: 1000, notifications: lines.length - 1, runs,
  median_changes_per_s: Math.round(rates[Math.floor(runs / 2)]),
}));
