// npm "install" script: make the native ingest addon available if possible,
// and never fail the install. Order: an existing build/prebuild that loads,
// else compile with node-gyp, else leave it (the collector then uses dgram).
//
// FLOW_COLLECTOR_INGEST=dgram skips the addon entirely.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const say = (m) => process.stderr.write(`flow-collector install: ${m}\n`);

function tryLoad() {
  try {
    const ngb = require('node-gyp-build');
    const file = ngb.resolve(root);
    const addon = require(file);
    if (typeof addon.UdpSocket !== 'function') throw new Error(`${file} does not export UdpSocket`);
    return { file };
  } catch (err) {
    return { error: String(err && err.message ? err.message : err).split('\n')[0] };
  }
}

function nodeGypCommand() {
  // npm points npm_config_node_gyp at its bundled node-gyp; a local
  // devDependency or one on PATH also works.
  const bundled = process.env.npm_config_node_gyp;
  if (bundled && existsSync(bundled)) return [process.execPath, [bundled]];
  try {
    return [process.execPath, [require.resolve('node-gyp/bin/node-gyp.js')]];
  } catch {
    return ['node-gyp', []];
  }
}

function main() {
  if (process.env.FLOW_COLLECTOR_INGEST === 'dgram') {
    say('FLOW_COLLECTOR_INGEST=dgram: not building the native addon');
    return;
  }
  if (process.platform !== 'linux') {
    say(`platform ${process.platform}: no native addon, the collector will use dgram`);
    return;
  }
  const first = tryLoad();
  if (first.file) {
    say(`native addon ready: ${first.file}`);
    return;
  }
  const [cmd, pre] = nodeGypCommand();
  const args = [...pre, 'rebuild'];
  // Build offline against the local Node headers when they are installed.
  if (!process.env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
  say(`no loadable prebuild (${first.error}); building: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status === 0) {
    const second = tryLoad();
    if (second.file) {
      say(`native addon built: ${second.file}`);
      return;
    }
    say(`built, but the addon does not load (${second.error}); the collector will use dgram`);
    return;
  }
  say(`native build failed (${r.error ? r.error.message : `exit ${r.status}`}); the collector will use dgram`);
}

try {
  main();
} catch (err) {
  say(`unexpected error, continuing without the addon: ${err && err.message ? err.message : err}`);
}
process.exitCode = 0;
