/**
 * Command-line options of the benches: `--name value` pairs and flags, walked in order.
 */

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
