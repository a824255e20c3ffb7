/**
 * Instructions per flow of the generated transcoders, counted by valgrind's callgrind: the same
 * count on every run, whatever else the machine is doing, where the decode loop's nanoseconds
 * (bench/transcode.ts) move by +-5 % with the host. For judging a change to generated code.
 *
 *   node dist/bench/instructions.js [v9|ipfix] [--passes 20,40] [--functions PATTERN] [--annotate FILE] [--interface-names]
 *
 * The decode loop of bench/transcode.ts (the serve benchmark's replay stream through one
 * FlowDecoder with a frame sink) runs under callgrind twice, for two numbers of passes over the
 * stream, with V8 printing the optimised code of every function named transcode* (its
 * addresses); the instructions each such function executed in the second run minus the first,
 * divided by the flows of the extra passes, are its instructions per flow: start-up, warm-up
 * and compilation cancel out. Per function name (a function optimised twice is summed).
 * V8 runs single-threaded with synchronous optimisation so that the runs match; the counts of
 * the transcoders repeat to the instruction. The process's total does not (garbage collection
 * and V8's own heuristics differ between the two runs), so it is not reported.
 *
 * --functions PATTERN: the functions counted, as V8's --print-opt-code-filter takes it (a name,
 * or a prefix with a trailing *; default transcode*; '*' counts every optimised JS function: the
 * decoder's own per-datagram code, the bench's sink). Builtins and the runtime are never counted.
 *
 * --interface-names: the decoder as serve's with `sampling.interface_names: true` (default: as
 * serve's default, without them; what the names exporters send as options data cost: softflowd's
 * v9, 839 -> 1,010 per flow on one host).
 *
 * --annotate FILE writes the optimised code of the functions counted, each instruction with its
 * executions per flow (the second run's counts over all its flows): where the instructions go.
 *
 * Needs valgrind (Debian package valgrind). About a minute.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eachOption } from './args.js';
import { decodeLoop } from './decode-loop.js';
import { defaultCacheDir, loadStream, type StreamName } from './serve-streams.js';

/** Printed by the loop role after its passes: the frames it wrote. */
const FRAMES_MARK = 'instructions-bench frames ';

/**
 * Self cost (Ir) per instruction address from a callgrind output written with
 * --dump-instr=yes (positions "instr line"); call lines' inclusive costs are not counted.
 */
export function instructionCosts(text: string): Map<number, number> {
  const ir = new Map<number, number>();
  let addr = 0;
  let callCost = false;
  for (const line of text.split('\n')) {
    const c = line.charCodeAt(0);
    // Cost lines start with a position: 0x.. (absolute), +n / -n (relative), * (same).
    if (!(c === 48 /* 0 */ || c === 43 /* + */ || c === 45 /* - */ || c === 42 /* * */)) {
      if (line.startsWith('calls=')) callCost = true;
      continue;
    }
    const sp = line.indexOf(' ');
    const pos = sp < 0 ? line : line.slice(0, sp);
    if (pos.startsWith('0x')) addr = parseInt(pos, 16);
    else if (c === 43) addr += Number(pos.slice(1));
    else if (c === 45) addr -= Number(pos.slice(1));
    if (callCost) {
      callCost = false; // the line after calls= is the call's inclusive cost
      continue;
    }
    const f = line.split(' ');
    if (f.length >= 3) ir.set(addr, (ir.get(addr) ?? 0) + Number(f[2]));
  }
  return ir;
}

/** One optimised function from --print-opt-code output: its name and its instructions. */
export interface OptCode {
  name: string;
  instructions: { addr: number; text: string }[];
}

/** The optimised code objects of --print-opt-code output, in order. */
export function optimisedCode(text: string): OptCode[] {
  const out: OptCode[] = [];
  let cur: OptCode | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('name = ')) {
      cur = { name: line.slice(7).trim(), instructions: [] };
      out.push(cur);
      continue;
    }
    if (line.startsWith('--- End code ---')) {
      cur = undefined;
      continue;
    }
    // "0x<addr>  <offset>  <bytes>  <instruction>"
    const m = /^0x([0-9a-f]+)\s+[0-9a-f]+\s+[0-9a-f]+\s+(.*)$/.exec(line);
    if (m && cur) cur.instructions.push({ addr: parseInt(m[1]!, 16), text: m[2]!.trimEnd() });
  }
  return out;
}

/** Executed instructions per function name (code objects of one name summed). */
export function costsByName(code: readonly OptCode[], ir: Map<number, number>): Map<string, number> {
  const by = new Map<string, number>();
  for (const c of code) {
    let n = 0;
    for (const i of c.instructions) n += ir.get(i.addr) ?? 0;
    by.set(c.name, (by.get(c.name) ?? 0) + n);
  }
  return by;
}

interface Run {
  frames: number;
  byName: Map<string, number>;
  code: OptCode[];
  ir: Map<number, number>;
}

function runUnderCallgrind(stream: StreamName, passes: number, dir: string, functions: string, interfaceNames: boolean): Run {
  const out = join(dir, `callgrind.${passes}.out`);
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(
    'valgrind',
    [
      '--tool=callgrind',
      '--dump-instr=yes',
      '--smc-check=all-non-file',
      `--callgrind-out-file=${out}`,
      process.execPath,
      '--no-use-osr',
      '--no-concurrent-recompilation',
      '--single-threaded',
      '--print-opt-code',
      `--print-opt-code-filter=${functions}`,
      self,
      '--role',
      'loop',
      stream,
      String(passes),
      ...(interfaceNames ? ['--interface-names'] : []),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 30 },
  );
  if (r.status !== 0) throw new Error(`valgrind exited ${r.status}: ${r.stderr.slice(-2000)}`);
  const m = new RegExp(`${FRAMES_MARK}(\\d+)`).exec(r.stdout);
  if (!m) throw new Error('the loop printed no frame count');
  const ir = instructionCosts(readFileSync(out, 'utf8'));
  const code = optimisedCode(r.stdout);
  return { frames: Number(m[1]), byName: costsByName(code, ir), code, ir };
}

/** The decode loop, as bench/transcode.ts runs it, for a number of passes. */
async function loop(stream: StreamName, passes: number, interfaceNames: boolean): Promise<void> {
  const l = await decodeLoop(stream, undefined, interfaceNames);
  for (let k = 0; k < passes; k++) l.pass(k);
  process.stdout.write(`${FRAMES_MARK}${l.frames()}\n`);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--role' && argv[1] === 'loop') {
    await loop(argv[2] as StreamName, Number(argv[3]), argv[4] === '--interface-names');
    return;
  }
  let stream: StreamName = 'v9';
  let passes = [20, 40];
  let annotate: string | undefined;
  let functions = 'transcode*';
  let interfaceNames = false;
  const rest: string[] = [];
  eachOption(argv, (name, value) => {
    if (name === '--passes') passes = value().split(',').map(Number);
    else if (name === '--annotate') annotate = value();
    else if (name === '--functions') functions = value();
    else if (name === '--interface-names') interfaceNames = true;
    else rest.push(name);
  });
  if (rest.length > 0) stream = rest[0] as StreamName;
  if (stream !== 'v9' && stream !== 'ipfix') throw new Error(`stream: v9 or ipfix, not ${stream}`);
  if (passes.length !== 2 || !(passes[0]! > 0 && passes[1]! > passes[0]!)) throw new Error('--passes wants two counts, the second larger');
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('valgrind is not installed (Debian package valgrind)');
  }
  const dir = mkdtempSync(join(tmpdir(), 'fc-instructions-'));
  try {
    // The stream cache is built (softflowd / pmacctd) outside valgrind.
    await loadStream(stream, defaultCacheDir(), (m) => console.error(m));
    const a = runUnderCallgrind(stream, passes[0]!, dir, functions, interfaceNames);
    const b = runUnderCallgrind(stream, passes[1]!, dir, functions, interfaceNames);
    const flows = b.frames - a.frames;
    console.log(`${stream}: instructions per flow over passes ${passes[0]}..${passes[1]} (${flows} flows), callgrind${interfaceNames ? ', interface names on' : ''}`);
    let sum = 0;
    for (const name of [...new Set([...a.byName.keys(), ...b.byName.keys()])].sort()) {
      const d = (b.byName.get(name) ?? 0) - (a.byName.get(name) ?? 0);
      sum += d;
      console.log(`  ${name}: ${(d / flows).toFixed(1)}`);
    }
    console.log(`  ${functions} together: ${(sum / flows).toFixed(1)}`);
    if (annotate !== undefined) {
      const lines: string[] = [];
      for (const c of b.code) {
        let n = 0;
        for (const i of c.instructions) n += b.ir.get(i.addr) ?? 0;
        if (n === 0) continue;
        lines.push(`==== ${c.name}: ${(n / b.frames).toFixed(1)} instructions per flow (all ${b.frames} flows of the run)`);
        for (const i of c.instructions) lines.push(`${((b.ir.get(i.addr) ?? 0) / b.frames).toFixed(3).padStart(10)}  ${i.addr.toString(16)}  ${i.text}`);
      }
      writeFileSync(annotate, lines.join('\n') + '\n');
      console.log(`  annotated code: ${annotate}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Run as a script (the test imports the parsers).
if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
