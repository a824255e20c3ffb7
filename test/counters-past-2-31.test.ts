/**
 * Counters that pass 2^31 in a long run (bytes within seconds at high rates, flows within minutes,
 * datagrams within hours) must not deoptimise the flow path: V8 stores a property first given a
 * small integer as one, and the first value past 2^31 changes that for every object of the shape,
 * deoptimising each compiled function that uses them (src/counting.ts). The child program runs a
 * warmed-up worker pipeline on real sockets, moves its counters just below 2^31 and sends again;
 * V8's own deoptimisation trace must show none of those deoptimisations after that point.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { makeTempDir, runCommand } from './support/tools.js';
import { haveNatsServer, NATS_SERVER, startNatsServer, type NatsServer } from './support/nats.js';

const CHILD = fileURLToPath(new URL('./support/counters-past-2-31.js', import.meta.url));

test('counters passing 2^31 deoptimise nothing on the flow path (file and NATS JetStream outputs)', { timeout: 120_000 }, async (t) => {
  let nats: NatsServer | undefined;
  const tmp = makeTempDir('counters-nats-');
  t.after(async () => {
    await nats?.stop();
    tmp.cleanup();
  });
  if (haveNatsServer) nats = await startNatsServer(tmp.dir);
  else t.diagnostic(`no ${NATS_SERVER}: the file output only`);
  // serve's V8 settings (src/service/jit.ts): no on-stack replacement.
  const r = await runCommand(process.execPath, ['--no-use-osr', '--trace-deopt', CHILD, ...(nats ? [nats.url] : [])], { timeoutMs: 110_000 });
  assert.equal(r.code, 0, `child failed: ${r.stderr.toString().slice(-2000)}`);
  const lines = r.stdout.toString().split('\n');
  const mark = lines.indexOf('PASSING 2^31');
  const end = lines.indexOf('PASSED');
  assert.ok(mark > 0 && end > mark, 'the child reached the point where counters pass 2^31, and decoded what it sent then');
  const result = JSON.parse(lines.filter((l) => l.startsWith('{')).pop()!) as Record<string, { before: number; after: number }>;
  // The counters did pass 2^31 (they were set 3 below it and the same traffic came again).
  const names = Object.keys(result);
  const musts = ['listener 0 socket 0 bytes', 'listener 0 transcoded fused', 'listener 0 template look-ups', 'counter datagrams', 'counter records.netflow_v9', 'output 0 bytes', 'output 0 flows'];
  if (nats) musts.push('output 1 flowsIn', 'output 1 bytesPublished', 'output 1 messagesAcked', 'output 1 delivered', 'output 1 seq');
  for (const must of musts) {
    assert.ok(names.includes(must), `${must} is among the counters moved (${names.join(', ')})`);
  }
  for (const [name, v] of Object.entries(result)) {
    assert.ok(v.before > 0, `${name} counted before the move`);
    assert.ok(v.after > 2 ** 31, `${name} passed 2^31: ${v.after}`);
  }
  // What V8 deoptimised once they passed it. A counter stored as a small integer shows as
  // "overflow" in the function that adds to it, then "wrong map" in every function that uses an
  // object of that shape.
  const after = lines.slice(mark + 1, end).filter((l) => l.includes('[bailout') && /reason: (overflow|wrong map|lost precision|not a Smi)/.test(l));
  assert.deepEqual(
    after.map((l) => l.replace(/0x[0-9a-f]+ /g, '').slice(0, 200)),
    [],
    'deoptimisations after the counters passed 2^31',
  );
});
