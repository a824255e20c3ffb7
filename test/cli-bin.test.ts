/**
 * The `flow-collector` command (package.json bin: bin/flow-collector.mjs): it runs dist's CLI,
 * and where npm ran no scripts (no prepare build, so no dist/) it compiles dist/ first, so the
 * README's `npm ci && npx flow-collector serve` has a command to run either way.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir } from './support/tools.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const tmp = makeTempDir('fc-cli-bin-');
after(() => tmp.cleanup());

test('package.json names bin/flow-collector.mjs as the command, and it runs the built CLI', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  assert.equal(pkg.bin['flow-collector'], 'bin/flow-collector.mjs');
  assert.ok(pkg.files.includes('bin'), 'the published package carries it');
  const out = execFileSync(process.execPath, [join(ROOT, 'bin/flow-collector.mjs'), '--version'], { encoding: 'utf8' });
  assert.equal(out.trim(), `flow-collector ${pkg.version}`);
});

test('in a checkout without dist/, the command compiles it once with the checkout\'s TypeScript, then runs it', { timeout: 120_000 }, () => {
  // A checkout in miniature: the launcher, a tsconfig and a CLI that prints its arguments.
  const dir = join(tmp.dir, 'checkout');
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'src/cli'), { recursive: true });
  copyFileSync(join(ROOT, 'bin/flow-collector.mjs'), join(dir, 'bin/flow-collector.mjs'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', target: 'es2022', outDir: 'dist', rootDir: '.' }, include: ['src'] }));
  writeFileSync(join(dir, 'src/cli/main.ts'), "console.log('cli ran with ' + process.argv.slice(2).join(' '));\n");
  const first = spawnSync(process.execPath, [join(dir, 'bin/flow-collector.mjs'), 'serve', '--help'], { encoding: 'utf8' });
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stderr, /dist\/ is not built .* compiling it once/);
  assert.equal(first.stdout.trim(), 'cli ran with serve --help');
  assert.ok(existsSync(join(dir, 'dist/src/cli/main.js')));
  const second = spawnSync(process.execPath, [join(dir, 'bin/flow-collector.mjs'), 'x'], { encoding: 'utf8' });
  assert.equal(second.status, 0, second.stderr);
  assert.equal(second.stderr, '', 'built once: no second compile');
  assert.equal(second.stdout.trim(), 'cli ran with x');
});
