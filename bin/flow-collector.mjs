#!/usr/bin/env node
// The `flow-collector` command. It runs the compiled CLI (dist/src/cli/main.js); in a checkout
// where npm ran no scripts (npm ci --ignore-scripts, or an npm that did not allow them), dist/
// is missing, so it compiles it first with the checkout's TypeScript, once, and says so. The
// native addon is not built here: without it the collector receives with node:dgram.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  let tsc;
  try {
    tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  } catch {
    process.stderr.write('flow-collector: dist/ is not built and TypeScript is not installed: run `npm ci` (or `npm run build`) in the checkout\n');
    process.exit(1);
  }
  process.stderr.write('flow-collector: dist/ is not built (npm ran no scripts); compiling it once with tsc...\n');
  try {
    execFileSync(process.execPath, [tsc, '-b', 'tsconfig.json'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  } catch {
    process.stderr.write('flow-collector: compiling dist/ failed (tsc\'s errors above): run `npm ci` in the checkout\n');
    process.exit(1);
  }
}
await import(main.href);
