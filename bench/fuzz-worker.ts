/** Worker entry of the fuzzer: runs fuzzLoop and reports findings, progress and the result. */
import { parentPort, workerData } from 'node:worker_threads';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { fuzzLoop, type FuzzOptions } from './fuzz-core.js';

// A gc() for heap figures before and after (same numbers whether or not node got --expose-gc).
setFlagsFromString('--expose-gc');
(globalThis as { gc?: () => void }).gc ??= runInNewContext('gc') as () => void;

const { options, sab } = workerData as { options: FuzzOptions; sab: SharedArrayBuffer };
const stats = fuzzLoop(options, {
  shared: sab,
  finding: (finding) => parentPort!.postMessage({ kind: 'finding', finding }),
  progress: (iteration, s) => parentPort!.postMessage({ kind: 'progress', iteration, stats: s }),
});
parentPort!.postMessage({ kind: 'done', stats });
