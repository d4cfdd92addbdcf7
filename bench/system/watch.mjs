// The reference a user would otherwise run: a watcher on @polkadot/api
// (WsProvider + @polkadot/types) subscribed to System.Account of the same
// accounts through state_subscribeStorage, decoding every change.
//   node watch.mjs WS_URL ADDRESSES_FILE SECONDS
// The simulated chain's node serves no runtime metadata, so the storage
// keys and the AccountInfo layout are given here instead of ApiPromise.create.
import { readFileSync } from 'node:fs';
import { WsProvider } from '@polkadot/api';
import { TypeRegistry } from '@polkadot/types';
import { u8aConcat, u8aToHex, hexToU8a } from '@polkadot/util';
import { decodeAddress, xxhashAsU8a, blake2AsU8a } from '@polkadot/util-crypto';

const [url, file, secs] = process.argv.slice(2);
const registry = new TypeRegistry();
registry.register({
  Info: { nonce: 'u32', consumers: 'u32', providers: 'u32', sufficients: 'u32',
          data: { free: 'u128', reserved: 'u128', frozen: 'u128', flags: 'u128' } },
});
const prefix = u8aConcat(xxhashAsU8a('System', 128), xxhashAsU8a('Account', 128));
const addrs = readFileSync(file, 'utf8').split('\n').filter(Boolean);
const keys = addrs.map((a) => { const pk = decodeAddress(a); return u8aToHex(u8aConcat(prefix, blake2AsU8a(pk, 128), pk)); });
const last = new Map();
let notes = 0, changes = 0;
const provider = new WsProvider(url);
await provider.isReady;
const chunk = 1000;
for (let i = 0; i < keys.length; i += chunk) {
  await provider.subscribe('state_storage', 'state_subscribeStorage', [keys.slice(i, i + chunk)], (err, res) => {
    if (err) return;
    notes++;
    for (const [k, v] of res.changes) {
      if (v === null) continue;
      const info = registry.createType('Info', hexToU8a(v));
      const total = info.data.free.toBigInt() + info.data.reserved.toBigInt();
      const prev = last.get(k);
      if (prev !== undefined && prev !== total) changes++;
      last.set(k, total);
    }
  });
}
setTimeout(async () => {
  console.log(JSON.stringify({ notifications: notes, changes, accounts: last.size }));
  await provider.disconnect();
  process.exit(0);
}, Number(secs) * 1000);
