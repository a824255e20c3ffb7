/**
 * The container image's install path, without Docker: the Dockerfile's runtime stage installs the
 * packed tarball with --omit=dev into an empty directory of an image with no compiler, and runs
 * `flow-collector serve`. Here the same: `npm pack`, `npm install --omit=dev` into an empty
 * temp directory with a PATH holding only node, npm and sh (no g++, cc, make or python), then the
 * installed bin runs `serve --check-config` and a short `serve` that receives one real NetFlow v5
 * datagram over UDP and writes the flow.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { fileURLToPath } from 'node:url';
import { sendUdp, startServe, until, type ServeProcess } from './support/serve.js';
import { v5Message } from './support/export-builder.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const linuxX64 = process.platform === 'linux' && process.arch === 'x64';
const prebuild = join(root, 'prebuilds', 'linux-x64', 'flow-collector.node');

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: opts.cwd ?? root, env: opts.env ?? process.env, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return r;
}

/** Where npm itself lives (its CLI script), to link it into the stripped PATH. */
function npmCli(): string {
  const r = run(process.execPath, ['-e', 'process.stdout.write(require.resolve("npm/bin/npm-cli.js", { paths: [require("path").dirname(process.execPath) + "/../lib/node_modules"] }))']);
  if (r.status === 0 && existsSync(r.stdout)) return r.stdout;
  const which = run('sh', ['-c', 'readlink -f "$(command -v npm)"']);
  assert.equal(which.status, 0, 'npm not found');
  return which.stdout.trim();
}

describe('container image install path (npm pack, install --omit=dev without a compiler, serve)', { skip: linuxX64 ? false : 'the image test runs on linux-x64' }, () => {
  let work = '';
  let app = '';
  let env: NodeJS.ProcessEnv = {};
  let bin = '';
  const running: ServeProcess[] = [];

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'flow-image-'));
    // The Dockerfile's build stage: the prebuild for this architecture, then npm pack.
    if (!existsSync(prebuild)) {
      const p = run(process.execPath, [join(root, 'scripts', 'prebuild.mjs'), '--arch', 'x64']);
      assert.equal(p.status, 0, p.stderr);
    }
    // --ignore-scripts: dist/ is already built (npm test builds first); running "prepare" again would
    // rewrite dist/ under the other test files running at the same time. The Dockerfile's pack runs it.
    assert.ok(existsSync(join(root, 'dist', 'src', 'cli', 'main.js')), 'build first: npm run build');
    const pack = run('npm', ['pack', '--ignore-scripts', '--pack-destination', work]);
    assert.equal(pack.status, 0, pack.stderr);
    const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
    assert.ok(tgz, 'npm pack made no tarball');

    // PATH with node, npm and sh (npm runs install scripts with it) only.
    const pathDir = join(work, 'bin');
    mkdirSync(pathDir);
    symlinkSync(process.execPath, join(pathDir, 'node'));
    symlinkSync('/bin/sh', join(pathDir, 'sh'));
    symlinkSync(npmCli(), join(pathDir, 'npm'));
    env = { PATH: pathDir, HOME: join(work, 'home'), npm_config_cache: join(process.env['HOME'] ?? work, '.npm'), npm_config_update_notifier: 'false' };
    for (const tool of ['g++', 'c++', 'cc', 'gcc', 'make', 'python3', 'python']) {
      assert.notEqual(run('/bin/sh', ['-c', `command -v ${tool}`], { env }).status, 0, `${tool} is on the stripped PATH`);
    }

    // The Dockerfile's runtime stage.
    app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'flow-collector-image', version: '0.0.0', private: true }));
    const inst = run('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', '--foreground-scripts', '--prefer-offline', join(work, tgz)], { cwd: app, env });
    assert.equal(inst.status, 0, `npm install failed:\n${inst.stdout}\n${inst.stderr}`);
    assert.match(inst.stdout + inst.stderr, /native addon ready: .*prebuilds\/linux-x64\/flow-collector\.node/);
    bin = join(app, 'node_modules', '.bin', 'flow-collector');
  });

  after(async () => {
    for (const s of running) await s.stop('SIGKILL');
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('installs no devDependencies and compiles nothing', () => {
    // Dev-only packages: the lock file marks them "dev" (a devDependency that production code also
    // pulls in, such as @nats-io/nkeys, is not).
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages).filter(([k, v]) => v.dev === true && /^node_modules\/(@[^/]+\/)?[^/]+$/.test(k)).map(([k]) => k.slice('node_modules/'.length));
    for (const must of ['typescript', 'node-gyp', 'prebuildify', 'kubernetes-models', 'aws-cdk-lib']) assert.ok(devOnly.includes(must), `${must} is dev-only in the lock file`);
    for (const dev of devOnly) assert.ok(!existsSync(join(app, 'node_modules', dev)), `dev-only package ${dev} installed`);
    assert.ok(!existsSync(join(app, 'node_modules', 'flow-collector', 'build')), 'nothing compiled');
    assert.ok(existsSync(bin));
  });

  it('flow-collector serve --check-config accepts the defaults and a file', () => {
    const d = run(bin, ['serve', '--check-config'], { env });
    assert.equal(d.status, 0, d.stderr);
    assert.equal(JSON.parse(d.stdout).listeners.length, 3);
    const cfg = join(work, 'config.yaml');
    writeFileSync(cfg, 'listeners: [{ port: 2055 }]\nmetrics: { address: "0.0.0.0:9191" }\nhealth: { address: "0.0.0.0:9191" }\n');
    const f = run(bin, ['serve', '--check-config', '--config', cfg], { env });
    assert.equal(f.status, 0, f.stderr);
    const bad = run(bin, ['serve', '--check-config', '--config', join(work, 'missing.yaml')], { env });
    assert.equal(bad.status, 2);
  });

  it('serve receives a NetFlow v5 datagram through the prebuilt addon and writes the flow', async () => {
    const s = await startServe(['--listen', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--workers', '1'], env, { command: bin });
    running.push(s);
    assert.equal(s.started['ingest_path'], 'addon', `ingest path: ${String(s.started['ingest_reason'])}`);
    assert.match(String(s.started['ingest_reason']), /prebuilds\/linux-x64\/flow-collector\.node/);
    await sendUdp(s.listeners[0]!.port, [v5Message([{ src: [203, 0, 113, 5], dst: [198, 51, 100, 20], packets: 4, bytes: 4096, srcPort: 51000, dstPort: 443, proto: 6 }], 7)]);
    await until(() => s.stdout().toString().includes('\n'), 'a flow on stdout');
    const flow = JSON.parse(s.stdout().toString().split('\n')[0]!) as Record<string, unknown>;
    assert.equal(flow['src_addr'], '203.0.113.5');
    assert.equal(flow['dst_addr'], '198.51.100.20');
    assert.equal(flow['bytes'], 4096);
    assert.equal(await s.stop(), 0);
  });
});
