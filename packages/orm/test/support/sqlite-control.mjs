// A separate process that races another on one SQLite file: claims one key and adds members to one set,
// then prints what each call returned (one JSON line).
import { SqlStore } from '../../dist/index.js';

const [url, key, setKey, label, count] = process.argv.slice(2);
const store = await SqlStore.open({ connection: url });
const claims = [];
const sizes = [];
for (let i = 0; i < Number(count); i++) {
  claims.push(await store.claimValue(key, `${label}-${i}`, null));
  sizes.push(await store.addMember(setKey, `${label}-${i}`, 60_000));
}
await store.close();
process.stdout.write(JSON.stringify({ claims, sizes }) + '\n');
