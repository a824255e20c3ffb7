// `prepare` step: links this package's own command into node_modules/.bin, so that in a clone
// `npm ci && npx flow-collector serve` runs the collector just built (npm links the bins of
// dependencies there, never the root package's own, and npx would otherwise look the name up
// in the registry). Installed as a dependency, npm links the bin itself and this does nothing.
import { existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, unlinkSync, chmodSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const binDir = join(root, 'node_modules', '.bin');
if (!existsSync(join(root, 'node_modules'))) process.exit(0);
mkdirSync(binDir, { recursive: true });
for (const [name, target] of Object.entries(pkg.bin ?? {})) {
  const abs = join(root, target);
  if (!existsSync(abs)) {
    process.stderr.write(`link-bin: ${target} does not exist (build first)\n`);
    process.exit(1);
  }
  chmodSync(abs, 0o755);
  const link = join(binDir, name);
  try {
    if (lstatSync(link)) unlinkSync(link);
  } catch {
    // not there yet
  }
  symlinkSync(relative(binDir, abs), link);
}
