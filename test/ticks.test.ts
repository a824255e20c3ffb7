import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { TickSchedule } from '../src/service/ticks.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A schedule whose ticks record whether they ran inside after() (work) or from its timer, and
 * when. The assertions are about which path ran and in what order (timers fire in the order they
 * are due), with margins of hundreds of ms against a busy machine, never about how fast anything ran.
 */
function recorded(t: TestContext, periodMs: number, slackMs: number, held: (n: number) => boolean = () => false) {
  const runs: ('work' | 'timer')[] = [];
  const at: number[] = [];
  let inWork = false;
  const s = new TickSchedule(
    () => {
      runs.push(inWork ? 'work' : 'timer');
      at.push(performance.now());
      return held(runs.length);
    },
    periodMs,
    slackMs,
  );
  t.after(() => s.close());
  const work = () => {
    inWork = true;
    try {
      s.after();
    } finally {
      inWork = false;
    }
  };
  return { s, runs, at, work };
}

test('ticks: while work comes more often than the period, the ticks run from the work, a period apart at least, and the timer does not fire', async (t) => {
  // Slack 1 s: the work (every 5 ms) is always due before the pushed-back timer.
  const { runs, at, work } = recorded(t, 40, 1000);
  const every = setInterval(work, 5);
  await sleep(500);
  clearInterval(every);
  assert.ok(runs.length > 0, 'ticks ran');
  assert.deepEqual(runs.filter((r) => r !== 'work'), [], `ticks from the timer: ${runs.join(',')}`);
  for (let i = 1; i < at.length; i++) assert.ok(at[i]! - at[i - 1]! >= 40, `ticks ${at[i]! - at[i - 1]!} ms apart`);
});

test('ticks: the first work after a quiet spell ticks at once; the timer ticks once after the last work and then sleeps', async (t) => {
  const { s, runs, work } = recorded(t, 50, 30);
  await sleep(250);
  // Armed at construction: one timer tick (at 80 ms) with nothing held, then nothing.
  assert.deepEqual(runs, ['timer']);
  work();
  assert.deepEqual(runs, ['timer', 'work'], 'a tick is due: it runs inside the work');
  work();
  assert.deepEqual(runs, ['timer', 'work'], 'not due again yet');
  // The second work's flows would wait for the next tick: the timer runs it (period + slack).
  await sleep(200);
  assert.deepEqual(runs, ['timer', 'work', 'timer']);
  await sleep(400);
  assert.deepEqual(runs, ['timer', 'work', 'timer'], 'nothing held and no work: no more wake-ups');
  s.close();
});

test('ticks: the timer goes on while an output still holds flows, and stops when it no longer does', async (t) => {
  // The 2nd to 4th ticks report flows still held (a NATS batch younger than its delay).
  const { s, runs, work } = recorded(t, 30, 20, (n) => n >= 2 && n <= 4);
  await sleep(150); // the first timer tick (at 50 ms, nothing held), then a quiet spell
  work(); // tick 2: held
  await sleep(1000);
  // Ticks 3 and 4 held too, tick 5 did not: then it stopped.
  assert.deepEqual(runs, ['timer', 'work', 'timer', 'timer', 'timer']);
  s.close();
});

test('ticks: work soon after a timer tick that found nothing held arms the timer again for its flows', async (t) => {
  const { runs, work } = recorded(t, 300, 40);
  await sleep(350); // the first timer tick at 340 ms: nothing held, the timer stays unarmed
  assert.deepEqual(runs, ['timer']);
  work(); // ~10 ms after that tick: not due, so only the timer can hand its flows over
  assert.deepEqual(runs, ['timer']);
  await sleep(600);
  assert.deepEqual(runs, ['timer', 'timer']);
});

test('ticks: close stops the timer and later work', async (t) => {
  const { s, runs, work } = recorded(t, 20, 10);
  s.close();
  work();
  await sleep(150);
  assert.deepEqual(runs, []);
});
