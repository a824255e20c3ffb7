/**
 * The `flow-collector` command (package.json bin: bin/flow-collector.mjs): it runs dist's CLI,
 * and where npm ran no scripts (no prepare build, so no dist/) it compiles dist/ first, so the
 * README's `npm ci && npx flow-collector serve` has a command to run either way.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
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

test('npm ci runs under npm\'s install-script policy: every dependency with install scripts is approved or denied in package.json allowScripts', (t) => {
  const help = spawnSync('npm', ['install-scripts', '--help'], { cwd: ROOT, encoding: 'utf8' });
  if (help.status !== 0) {
    t.skip(`this npm (${spawnSync('npm', ['--version'], { encoding: 'utf8' }).stdout.trim()}) has no install-scripts policy`);
    return;
  }
  // Unreviewed entries make `npm ci --strict-allow-scripts` fail (ESTRICTALLOWSCRIPTS) and are
  // skipped with a warning otherwise.
  const ls = spawnSync('npm', ['install-scripts', 'ls'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(ls.status, 0, ls.stderr);
  assert.match(ls.stdout, /No packages with unreviewed install scripts/, ls.stdout);
});

test('build and prepare use tsc -b: after npm ci\'s prepare, the prepare npx runs again for the README\'s `npx flow-collector` finds dist/ up to date', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  for (const s of ['build', 'prepare']) assert.match(pkg.scripts[s]!, /^tsc -b tsconfig\.json && /, s);
  // Nothing changed since the suite's own build: tsc -b checks and writes nothing.
  const main = join(ROOT, 'dist/src/cli/main.js');
  const before = statSync(main).mtimeMs;
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-b', 'tsconfig.json', '--verbose'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /is up to date/, r.stdout);
  assert.equal(statSync(main).mtimeMs, before);
});
