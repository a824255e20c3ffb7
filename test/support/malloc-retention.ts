/**
 * Child of test/memory.test.ts: frees 200 MiB of 1 MiB Buffers allocated between small Buffers
 * that stay alive, and prints resident memory in MiB before, while held, once freed and after
 * serve's trim (src/service/memory.ts; `none` or no argument: no trimmer), as one JSON line.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { trimFreedMemory } from '../../src/service/mod.js';
import { procMemory } from './kv-fill.js';

const rssMiB = () => procMemory(process.pid).rss / 2 ** 20;
// Without --expose-gc on the command line (the test runner also runs this file on its own).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const settle = () => new Promise((r) => setTimeout(r, 100));

const before = rssMiB();
// One large block allocated and freed: glibc's dynamic mmap threshold rises to its size, and
// the blocks below come from its arenas.
let first: Buffer | null = Buffer.allocUnsafeSlow(1 << 20).fill(1);
first = null;
gc();
await settle();
const small: Buffer[] = [];
let big: Buffer[] | null = [];
for (let i = 0; i < 200; i++) {
  big.push(Buffer.allocUnsafeSlow(1 << 20).fill(i));
  small.push(Buffer.allocUnsafeSlow(8192).fill(1));
}
const held = rssMiB();
big = null;
gc();
await settle();
gc();
await settle();
const freed = rssMiB();
// `trim`: serve's trimmer started now (it trims once at its start) and asked once more.
const trim = process.argv[2] === 'trim' ? trimFreedMemory({ path: 'addon', reason: 'test' }, 3_600_000) : undefined;
trim?.trimNow();
trim?.stop();
console.log(JSON.stringify({ state: trim?.state ?? 'none', trims: trim?.trims ?? 0, before, held, freed, after: rssMiB(), small: small.length, unused: first }));
