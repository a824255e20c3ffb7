// Produce the native ingest prebuilds (node-api, stripped) that `npm pack`
// ships and node-gyp-build loads:
//   prebuilds/linux-x64/   built natively
//   prebuilds/linux-arm64/ cross-compiled with Debian's g++-aarch64-linux-gnu
//
// Usage: node scripts/prebuild.mjs [--arch x64,arm64]
//
// The builds run in a scratch copy of the package so they do not overwrite
// build/Release (the development build that tests load).

import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

const CROSS = {
  arm64: { prefix: 'aarch64-linux-gnu-', debianPackage: 'g++-aarch64-linux-gnu' },
  x64: { prefix: 'x86_64-linux-gnu-', debianPackage: 'g++-x86-64-linux-gnu' },
};

function parseArgs(argv) {
  const out = { arch: ['x64', 'arm64'] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--arch') out.arch = String(argv[++i]).split(',').filter(Boolean);
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return out;
}

function which(bin) {
  const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function run(cmd, args, opts) {
  process.stderr.write(`+ ${cmd} ${args.join(' ')}\n`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} failed (${r.error ? r.error.message : `exit ${r.status}`})`);
}

function main() {
  const { arch } = parseArgs(process.argv.slice(2));
  if (process.platform !== 'linux') throw new Error('prebuilds are made on Linux');
  const prebuildify = require.resolve('prebuildify/bin.js');
  const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
  const scratch = mkdtempSync(join(tmpdir(), 'flow-prebuild-'));
  try {
    for (const f of ['binding.gyp', 'package.json']) cpSync(join(root, f), join(scratch, f));
    cpSync(join(root, 'native'), join(scratch, 'native'), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'), 'dir');
    mkdirSync(join(root, 'prebuilds'), { recursive: true });
    for (const a of arch) {
      const env = { ...process.env };
      // Offline: build against the installed Node headers, never download.
      if (!env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h')) env.npm_config_nodedir = '/usr';
      let stripBin = 'strip';
      if (a !== process.arch) {
        const cross = CROSS[a];
        if (!cross) throw new Error(`no cross toolchain known for ${a}`);
        if (!which(`${cross.prefix}g++`)) {
          throw new Error(`${cross.prefix}g++ not found: apt-get install ${cross.debianPackage}`);
        }
        env.CC = `${cross.prefix}gcc`;
        env.CXX = `${cross.prefix}g++`;
        env.LINK = `${cross.prefix}g++`;
        env.AR = `${cross.prefix}ar`;
        stripBin = `${cross.prefix}strip`;
      }
      rmSync(join(scratch, 'build'), { recursive: true, force: true });
      run(
        process.execPath,
        [
          prebuildify,
          '--napi',
          '--strip',
          `--strip-bin=${stripBin}`,
          `--arch=${a}`,
          `--node-gyp=${nodeGyp}`,
          `--out=${root}`,
          `--cwd=${scratch}`,
          scratch,
        ],
        { cwd: scratch, env },
      );
      process.stderr.write(`prebuilt linux-${a}\n`);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

main();
