import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { TickSchedule } from '../src/service/ticks.js';
import { until } from './support/wait.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A schedule whose ticks record whether they ran inside after() (work) or from its timer, and
 * when. The assertions are about which path ran and in what order (timers fire in the order they
 * are due), with margins of hundreds of ms against a busy machine, never about how fast anything ran.
 */
function recorded(t: TestContext, periodMs: number, slackMs: number, held: (n: number) => boolean = () => false) {
  const runs: string[] = [];
  const at: number[] = [];
  let inside: string | undefined;
  const s = new TickSchedule(
    () => {
      runs.push(inside ?? 'timer');
      at.push(performance.now());
      return held(runs.length);
    },
    periodMs,
    slackMs,
  );
  t.after(() => s.close());
  const call = (label: string, fn: () => void) => () => {
    inside = label;
    try {
      fn();
    } finally {
      inside = undefined;
    }
  };
  return { s, runs, at, work: call('work', () => s.after()), batch: call('batch', () => s.afterBatch()), idle: call('idle', () => s.idle()), hold: call('hold', () => s.hold()) };
}

test('ticks: while work comes more often than the period, the ticks run from the work, a period apart at least, and the timer does not fire', async (t) => {
  // Slack 1 s: the work (every 5 ms) is always due before the pushed-back timer.
  const { runs, at, work } = recorded(t, 40, 1000);
  const every = setInterval(work, 5);
  await sleep(500);
  clearInterval(every);
  assert.ok(runs.length > 0, 'ticks ran');
  assert.deepEqual(runs.filter((r) => r !== 'work'), [], `ticks from the timer: ${runs.join(',')}`);
  // `at` is read inside the tick, a little after the schedule's own clock reading, and that little
  // varies (a fresh machine measured 39.86 ms once): 1 ms of margin, against work every 5 ms.
  for (let i = 1; i < at.length; i++) assert.ok(at[i]! - at[i - 1]! >= 39, `ticks ${at[i]! - at[i - 1]!} ms apart`);
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

// Sources that signal idle (the addon): batches leave the timer alone, idle() hands it over.

test('ticks with idle signals: batches tick when due and never arm the timer; the idle signal ticks', async (t) => {
  const { s, runs, at, batch, idle } = recorded(t, 40, 30);
  s.useIdleSignals();
  // The timer armed at construction: one tick, nothing held, then no more.
  await until(() => runs.length === 1, 'the first timer tick', 5000);
  await sleep(100);
  assert.deepEqual(runs, ['timer']);
  const every = setInterval(batch, 5);
  await sleep(400);
  clearInterval(every);
  const fromBatches = runs.length - 1;
  assert.ok(fromBatches > 0, 'batches ticked');
  assert.deepEqual(runs.slice(1).filter((r) => r !== 'batch'), [], `ticks: ${runs.join(',')}`);
  for (let i = 2; i < at.length; i++) assert.ok(at[i]! - at[i - 1]! >= 40, `ticks ${at[i]! - at[i - 1]!} ms apart`);
  // No idle signal yet: without one the timer stays silent however long (the source's promise).
  await sleep(400);
  assert.equal(runs.length, 1 + fromBatches, `no timer tick while the source has not said it is idle: ${runs.join(',')}`);
  idle();
  assert.equal(runs.at(-1), 'idle', 'a tick was due: the idle signal runs it');
  await sleep(300);
  assert.equal(runs.at(-1), 'idle', 'nothing held: no timer tick after it');
});

test('ticks with idle signals: an idle signal before the tick is due arms the timer, which ticks once a period later', async (t) => {
  // A slack of 5 s: with idle signals the timer runs a period (300 ms), not period + slack.
  const { s, runs, batch, idle } = recorded(t, 300, 5000);
  s.useIdleSignals();
  await until(() => runs.length === 1, "the timer's first tick (300 ms)", 5000);
  await sleep(350); // more than a period since it
  batch(); // due: ticks
  assert.deepEqual(runs, ['timer', 'batch']);
  batch(); // not due: its flows wait
  idle(); // not due either: the timer must hand them over
  assert.deepEqual(runs, ['timer', 'batch']);
  await until(() => runs.length === 3, 'the timer tick after the idle signal', 5000);
  await sleep(400);
  assert.deepEqual(runs, ['timer', 'batch', 'timer']);
});

test('ticks with idle signals: the timer goes on while flows are held only once the sources are quiet or paused', async (t) => {
  // Every tick after the first reports flows still held.
  const { s, runs, batch, idle, hold } = recorded(t, 30, 20, (n) => n >= 2);
  s.useIdleSignals();
  await until(() => runs.length === 1, 'the first timer tick', 5000);
  await sleep(50); // more than a period since it
  batch(); // tick 2, held; batches flowing: no timer
  await sleep(300);
  assert.deepEqual(runs, ['timer', 'batch'], 'held, but the batches have not stopped: they will tick, or the idle signal');
  idle(); // 300 ms since the last tick: due, held -> the timer goes on
  assert.equal(runs[2], 'idle');
  await until(() => runs.length >= 5, 'timer ticks while held after the idle signal', 5000);
  assert.ok(runs.slice(3).every((r) => r === 'timer'), `timer ticks while held after the idle signal: ${runs.join(',')}`);
  batch(); // traffic again: the timer fires once more at most, then stops
  const n = runs.length;
  await sleep(300);
  assert.ok(runs.length <= n + 1, `the timer stops once batches come: ${runs.join(',')}`);
  const m = runs.length;
  hold(); // paused by back-pressure: no idle signal will come, the timer takes over
  await until(() => runs.length >= m + 2, 'timer ticks while paused and held', 5000);
  assert.ok(runs.slice(m).every((r) => r === 'timer'), `timer ticks while paused and held: ${runs.join(',')}`);
});
