/**
 * Command-line options of the benches: `--name value` pairs and flags, walked in order.
 */
import { cpus } from 'node:os';

/**
 * Calls `take(name, value)` for each argument in turn; `value()` consumes and returns the next
 * argument (the option's value), and throws naming the option when there is none.
 */
export function eachOption(argv: readonly string[], take: (name: string, value: () => string) => void): void {
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]!;
    take(name, () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${name} needs a value`);
      return x;
    });
  }
}

/** `k=v,k2=v2` (an option's value) as an object; throws naming the piece that has no `=`. */
export function keyValues(v: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of v.split(',').filter(Boolean)) {
    const i = p.indexOf('=');
    if (i <= 0) throw new Error(`want key=value: ${p}`);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

/**
 * A `--core`-style value: a core number this machine has (os.cpus(), whatever this process's own
 * affinity); throws naming the flag.
 */
export function coreArg(flag: string, v: string): number {
  if (!/^\d+$/.test(v)) throw new Error(`${flag} wants a core number (0, 1, ...), not "${v}"`);
  const c = Number(v);
  const n = cpus().length;
  if (c >= n) throw new Error(`${flag}: core ${c} does not exist (this machine has ${n}: 0-${n - 1})`);
  return c;
}
