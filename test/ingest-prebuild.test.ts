// Ingest packaging: `npm run prebuilds` output (x64 + cross-compiled arm64),
// the glibc floor of the x64 prebuild, and installing the packed tarball on
// a machine without a compiler (prebuild used) and without a prebuild
// (install still succeeds, dgram path chosen and logged).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const x64 = join(root, 'prebuilds', 'linux-x64', 'flow-collector.node');
const arm64 = join(root, 'prebuilds', 'linux-arm64', 'flow-collector.node');

/** glibc floor we promise for the x64 prebuild (Debian 10, RHEL 8, Ubuntu 18.10). */
const GLIBC_FLOOR = [2, 28];
/** libstdc++ floor: GLIBCXX_3.4.25 is GCC 8 (the libstdc++ of RHEL 8 / Debian 10). */
const GLIBCXX_FLOOR = [3, 4, 25];

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: opts.cwd ?? root, env: opts.env ?? process.env, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return r;
}

function ok(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = run(cmd, args, opts);
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function cmp(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Highest symbol version with the given prefix required by an ELF file. */
function maxVersion(objdumpT: string, prefix: string): number[] | null {
  const re = new RegExp(`\\b${prefix}_([0-9.]+)\\b`, 'g');
  let best: number[] | null = null;
  for (const m of objdumpT.matchAll(re)) {
    const v = m[1]!.split('.').map(Number);
    if (!best || cmp(v, best) > 0) best = v;
  }
  return best;
}

const linuxX64 = process.platform === 'linux' && process.arch === 'x64';

describe('ingest prebuilds', { skip: linuxX64 ? false : 'prebuilds are made on linux-x64' }, () => {
  before(() => {
    // Exactly what `npm run prebuilds` runs.
    ok(process.execPath, [join(root, 'scripts', 'prebuild.mjs')]);
  });

  it('makes an aarch64 ELF for linux-arm64', () => {
    assert.ok(existsSync(arm64), `${arm64} missing`);
    const hdr = ok('readelf', ['-h', arm64]);
    assert.match(hdr, /Class:\s+ELF64/);
    assert.match(hdr, /Machine:\s+AArch64/);
    assert.match(hdr, /Type:\s+DYN/);
    assert.match(ok('file', ['-b', arm64]), /ELF 64-bit LSB shared object, ARM aarch64.*stripped/);
    // The N-API entry point is exported.
    assert.match(ok('readelf', ['--dyn-syms', '-W', arm64]), /napi_register_module_v1/);
  });

  it('makes an x86-64 ELF that needs no newer glibc than 2.28', () => {
    assert.ok(existsSync(x64), `${x64} missing`);
    assert.match(ok('readelf', ['-h', x64]), /Machine:\s+Advanced Micro Devices X86-64/);
    const syms = ok('objdump', ['-T', x64]);
    const glibc = maxVersion(syms, 'GLIBC');
    assert.ok(glibc, 'no GLIBC symbol versions found');
    assert.ok(cmp(glibc, GLIBC_FLOOR) <= 0, `needs GLIBC_${glibc.join('.')} > ${GLIBC_FLOOR.join('.')}`);
    const glibcxx = maxVersion(syms, 'GLIBCXX');
    if (glibcxx) assert.ok(cmp(glibcxx, GLIBCXX_FLOOR) <= 0, `needs GLIBCXX_${glibcxx.join('.')}`);
    // Only libc and libstdc++ are needed (no libpthread split, no threads).
    const needed = [...ok('readelf', ['-d', x64]).matchAll(/\(NEEDED\).*\[(.+)\]/g)].map((m) => m[1]);
    for (const lib of needed) assert.ok(['libc.so.6', 'libstdc++.so.6', 'libgcc_s.so.1', 'libm.so.6'].includes(lib!), `needs ${lib}`);
    // The arm64 build gets the same check (its own symbol versions start at 2.17).
    const armGlibc = maxVersion(ok('objdump', ['-T', arm64]), 'GLIBC');
    assert.ok(armGlibc && cmp(armGlibc, GLIBC_FLOOR) <= 0, `arm64 needs GLIBC_${armGlibc?.join('.')}`);
  });

  it('loads the x64 prebuild and receives through it', () => {
    const script = `
      const { UdpSocket } = require(${JSON.stringify(x64)});
      const r = new UdpSocket({ host: '127.0.0.1', port: 0 });
      const port = r.localAddress().port;
      const s = new UdpSocket({ host: '127.0.0.1', port: 0 });
      s.setDestinations([{ host: '127.0.0.1', port }]);
      const data = Buffer.from('prebuilt');
      s.sendBatch(data, Uint32Array.of(0), Uint32Array.of(8), 1);
      const b = { data: Buffer.alloc(64 * 4), lengths: new Uint32Array(4), addrs: new Uint8Array(64),
        families: new Uint8Array(4), ports: new Uint16Array(4), tsSec: new Uint32Array(4),
        tsNsec: new Uint32Array(4), truncated: new Uint8Array(4) };
      r.start(b, 4, 64, (n) => { console.log(n, b.data.subarray(0, b.lengths[0]).toString()); r.close(); s.close(); }, 0);
    `;
    assert.equal(ok(process.execPath, ['-e', script]).trim(), '1 prebuilt');
  });

  it('loads the arm64 prebuild under qemu-user with a Debian arm64 node, and receives through it', { skip: arm64Skip() }, () => {
    // Under qemu-user SO_TIMESTAMPNS / SO_RXQ_OVFL are not translated
    // (ENOPROTOOPT); the addon then falls back to clock_gettime stamps.
    const script = `
      const { UdpSocket } = require(${JSON.stringify(arm64)});
      const r = new UdpSocket({ host: '127.0.0.1', port: 0 });
      const s = new UdpSocket({ host: '127.0.0.1', port: 0 });
      s.setDestinations([{ host: '127.0.0.1', port: r.localAddress().port }]);
      const b = { data: Buffer.alloc(64 * 4), lengths: new Uint32Array(4), addrs: new Uint8Array(64),
        families: new Uint8Array(4), ports: new Uint16Array(4), tsSec: new Uint32Array(4),
        tsNsec: new Uint32Array(4), truncated: new Uint8Array(4) };
      const got = [];
      r.start(b, 4, 64, (n) => {
        for (let i = 0; i < n; i++) {
          got.push(b.data.toString('latin1', i * 64, i * 64 + b.lengths[i]) + '@' +
            b.addrs.subarray(i * 16, i * 16 + 4).join('.') + ':' + (b.ports[i] === s.localAddress().port));
        }
        if (got.length >= 2) { console.log(process.arch, got.join(' ')); r.close(); s.close(); }
      }, 0);
      s.sendBatch(Buffer.from('aarch64!hello'), Uint32Array.of(0, 8), Uint32Array.of(8, 5), 2);
    `;
    const out = ok('bash', [join(root, 'scripts', 'arm64-node.sh'), '-e', script]);
    assert.equal(out.trim(), 'arm64 aarch64!@127.0.0.1:true hello@127.0.0.1:true');
  });
});

function arm64Skip(): string | false {
  if (!existsSync(join(root, 'scripts', 'arm64-node.sh'))) return 'scripts/arm64-node.sh missing';
  const r = spawnSync('bash', [join(root, 'scripts', 'arm64-node.sh'), '--check'], { encoding: 'utf8' });
  return r.status === 0 ? false : `no arm64 node under qemu: ${(r.stdout + r.stderr).trim().split('\n').pop()}`;
}

describe('ingest packaging (npm pack, install without a compiler)', { skip: linuxX64 ? false : 'linux-x64 only' }, () => {
  let work = '';
  let tarball = '';
  // No compiler: every way node-gyp could find one fails.
  const noCompiler: NodeJS.ProcessEnv = {
    ...process.env,
    CC: '/bin/false',
    CXX: '/bin/false',
    LINK: '/bin/false',
    npm_config_foreground_scripts: 'true',
  };
  delete noCompiler.FLOW_COLLECTOR_INGEST;

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'flow-pack-'));
    if (!existsSync(x64) || !existsSync(arm64)) ok(process.execPath, [join(root, 'scripts', 'prebuild.mjs')]);
    // --ignore-scripts: dist/ is already built (npm test builds first); "prepare" would compile it
    // again (about 20 s on a slow VM) to the same files.
    ok('npm', ['pack', '--ignore-scripts', '--pack-destination', work], {});
    const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
    assert.ok(tgz, 'npm pack made no tarball');
    tarball = join(work, tgz);
  });

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  function install(dir: string, tgz: string): string {
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    const r = run('npm', ['install', tgz, '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts'], {
      cwd: dir,
      env: noCompiler,
    });
    assert.equal(r.status, 0, `npm install failed:\n${r.stdout}\n${r.stderr}`);
    return r.stdout + r.stderr;
  }

  /** In the consumer: which path is chosen, and what openSource logs. */
  function probe(dir: string): { path: string; reason: string; logs: string[] } {
    const mod = join(dir, 'node_modules', 'flow-collector', 'dist', 'src', 'ingest', 'mod.js');
    const script = `
      import { choosePath, openSource } from ${JSON.stringify(mod)};
      const c = choosePath();
      const a = await openSource({ host: '127.0.0.1', port: 0, onBatch() {} });
      const b = await openSource({ host: '127.0.0.1', port: 0, onBatch() {} });
      await a.close(); await b.close();
      console.log(JSON.stringify(c));
    `;
    const r = run(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, env: noCompiler });
    assert.equal(r.status, 0, r.stderr);
    return { ...(JSON.parse(r.stdout) as { path: string; reason: string }), logs: r.stderr.split('\n').filter((l) => l.includes('ingest path:')) };
  }

  it('ships the prebuilds, the addon sources and the install script', () => {
    const files = ok('tar', ['tzf', tarball]).split('\n');
    for (const f of [
      'package/prebuilds/linux-x64/flow-collector.node',
      'package/prebuilds/linux-arm64/flow-collector.node',
      'package/native/ingest.cc',
      'package/native/install.mjs',
      'package/binding.gyp',
      'package/dist/src/ingest/mod.js',
    ]) {
      assert.ok(files.includes(f), `${f} not in the tarball`);
    }
    assert.ok(!files.some((f) => f.startsWith('package/build/')), 'build/ must not be packed');
  });

  it('installs without a compiler and uses the x64 prebuild', () => {
    const dir = join(work, 'with-prebuild');
    ok('mkdir', ['-p', dir]);
    const log = install(dir, tarball);
    assert.match(log, /native addon ready: .*prebuilds\/linux-x64\/flow-collector\.node/);
    assert.ok(!existsSync(join(dir, 'node_modules', 'flow-collector', 'build')), 'nothing should have been compiled');
    const p = probe(dir);
    assert.equal(p.path, 'addon');
    assert.match(p.reason, /prebuilds\/linux-x64\/flow-collector\.node/);
    assert.equal(p.logs.length, 1);
  });

  it('installs without a compiler or a prebuild, and falls back to dgram', () => {
    // Repack the tarball without prebuilds/.
    const unpack = join(work, 'unpacked');
    ok('mkdir', ['-p', unpack]);
    ok('tar', ['xzf', tarball, '-C', unpack]);
    rmSync(join(unpack, 'package', 'prebuilds'), { recursive: true, force: true });
    const out = join(work, 'bare');
    ok('mkdir', ['-p', out]);
    ok('npm', ['pack', '--pack-destination', out, '--ignore-scripts'], { cwd: join(unpack, 'package') });
    const bare = join(out, readdirSync(out).find((f) => f.endsWith('.tgz'))!);
    const dir = join(work, 'no-prebuild');
    ok('mkdir', ['-p', dir]);
    const log = install(dir, bare);
    assert.match(log, /native build failed .*the collector will use dgram/);
    const p = probe(dir);
    assert.equal(p.path, 'dgram');
    assert.match(p.reason, /native addon unavailable \(No native build was found/);
    assert.deepEqual(p.logs, [`flow-collector: ingest path: dgram (${p.reason})`]);
  });
});
