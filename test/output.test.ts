import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlowRecord } from '../src/decode/mod.js';
import { splitDelimited } from '../src/encode/mod.js';
import { FileChunkWriter, PortChunkWriter, StdoutPump, StreamOutput, type ChunkWriter, type DropPolicy } from '../src/output/mod.js';

/** A destination that accepts a chunk only when the test says so (a slow reader). */
class GatedWriter implements ChunkWriter {
  readonly written: Uint8Array[] = [];
  private waiting: { chunks: Uint8Array[]; done: (e: Error | null) => void }[] = [];
  fail = false;
  /** Chunks per write call, in order. */
  readonly writes: number[] = [];
  write(chunks: readonly Uint8Array[], done: (e: Error | null) => void): void {
    this.writes.push(chunks.length);
    this.waiting.push({ chunks: chunks.map((c) => Buffer.from(c)), done });
  }
  /** Completes `n` write calls (each may carry several chunks). */
  release(n = Infinity): void {
    while (n-- > 0 && this.waiting.length > 0) {
      const w = this.waiting.shift()!;
      if (this.fail) w.done(new Error('EIO'));
      else {
        this.written.push(...w.chunks);
        w.done(null);
      }
    }
  }
  get inFlight(): number {
    return this.waiting.length;
  }
  ready(): boolean {
    return true;
  }
  reopen(): void {}
  async close(): Promise<void> {}
}

function rec(i: number): FlowRecord {
  const r = new FlowRecord();
  r.reset();
  r.type = 4;
  r.sequenceNum = i;
  r.bytes = i;
  return r;
}

/** Sends `chunks` chunks of `per` flows each through an output, cutting after each. */
function feed(out: StreamOutput, chunks: number, per: number, start = 100): void {
  // Sequence numbers of three digits: every chunk of `per` flows has the same size.
  let i = start;
  for (let c = 0; c < chunks; c++) {
    for (let k = 0; k < per; k++) out.onFlow(rec(i++));
    out.tick();
  }
}

function seqs(chunks: Uint8Array[]): number[] {
  return chunks.flatMap((c) => Buffer.from(c).toString().trim().split('\n').map((l) => Number(JSON.parse(l).sequence_num)));
}

for (const policy of ['drop_newest', 'drop_oldest'] as DropPolicy[]) {
  test(`${policy}: the queue stays within its bound and every flow is delivered or counted`, () => {
    const w = new GatedWriter();
    const probe = new StreamOutput({ name: 'x', format: 'json', writer: new GatedWriter(), maxBytes: 1 << 30, policy });
    feed(probe, 1, 10);
    const chunkBytes = probe.stats().queuedBytes;
    const out = new StreamOutput({ name: 'x', format: 'json', writer: w, maxBytes: chunkBytes * 3 + 10, policy });
    feed(out, 10, 10);
    const s = out.stats();
    assert.ok(s.queuedBytes <= s.maxBytes, `${s.queuedBytes} <= ${s.maxBytes}`);
    assert.equal(s.flows, 100);
    assert.equal(s.dropped.queue_full + s.queuedFlows, 100);
    w.release();
    const after = out.stats();
    assert.equal(after.delivered + after.dropped.queue_full, 100);
    const got = seqs(w.written);
    if (policy === 'drop_newest') assert.deepEqual(got, Array.from({ length: 30 }, (_, k) => 100 + k), 'the first chunks are kept');
    else {
      // The chunk being written is never dropped; the newest are kept.
      assert.deepEqual(got, [...Array.from({ length: 10 }, (_, k) => 100 + k), ...Array.from({ length: 20 }, (_, k) => 180 + k)]);
    }
  });
}

test('block: the output signals back-pressure at the bound and releases it at half', () => {
  const w = new GatedWriter();
  const events: boolean[] = [];
  const probe = new StreamOutput({ name: 'x', format: 'json', writer: new GatedWriter(), maxBytes: 1 << 30, policy: 'block' });
  feed(probe, 1, 10);
  const chunkBytes = probe.stats().queuedBytes;
  const out = new StreamOutput({ name: 'x', format: 'json', writer: w, maxBytes: chunkBytes * 4, policy: 'block' });
  out.onBackpressure((b) => events.push(b));
  feed(out, 3, 10);
  assert.deepEqual(events, []);
  feed(out, 1, 10, 130);
  assert.deepEqual(events, [true]);
  assert.equal(out.stats().dropped.queue_full, 0, 'block never drops');
  w.release(1); // the first chunk; the three queued behind it go out as one write
  assert.deepEqual(events, [true]);
  w.release(1);
  assert.deepEqual(events, [true, false]);
  assert.deepEqual(w.writes, [1, 3]);
  w.release();
  assert.deepEqual(seqs(w.written), Array.from({ length: 40 }, (_, k) => 100 + k));
});

test('write errors and undelivered flows at the drain deadline are counted by reason', async () => {
  const w = new GatedWriter();
  const out = new StreamOutput({ name: 'x', format: 'json', writer: w, maxBytes: 1 << 20, policy: 'drop_newest' });
  w.fail = true;
  feed(out, 1, 5);
  w.release();
  assert.equal(out.stats().dropped.write_error, 5);
  assert.equal(out.stats().writeErrors, 1);
  w.fail = false;
  feed(out, 2, 5);
  const r = await out.drain(Date.now() + 50); // the writer never finishes: both chunks count as shutdown drops
  assert.equal(r.delivered, 0);
  assert.equal(r.dropped, 10);
  assert.equal(out.stats().dropped.shutdown, 10);
  assert.equal(out.stats().queuedFlows, 0);
  w.release(); // a late acknowledgement of the abandoned write changes nothing
  const s = out.stats();
  assert.equal(s.delivered, 0);
  assert.equal(s.delivered + s.dropped.write_error + s.dropped.shutdown, s.flows);
});

test('a synchronous writer gets the encoder\'s bytes straight (no chunk copy): same records, counts and write errors', async () => {
  // As FileChunkWriter on a regular file: done before write() returns.
  class SyncWriter implements ChunkWriter {
    readonly synchronous = true;
    readonly written: Buffer[] = [];
    fail = false;
    write(chunks: readonly Uint8Array[], done: (e: Error | null) => void): void {
      if (this.fail) return done(new Error('ENOSPC'));
      // A copy: the views are the encoder's own buffer, reused by the next records.
      for (const c of chunks) this.written.push(Buffer.from(c));
      done(null);
    }
    ready(): boolean {
      return true;
    }
    reopen(): void {}
    async close(): Promise<void> {}
  }
  const w = new SyncWriter();
  const errors: Error[] = [];
  const out = new StreamOutput({ name: 's', format: 'json', writer: w, maxBytes: 1 << 20, policy: 'drop_newest', onError: (e) => errors.push(e) });
  feed(out, 3, 7);
  assert.deepEqual(seqs(w.written), Array.from({ length: 21 }, (_, i) => 100 + i));
  assert.equal(w.written.length, 3, 'one write per cut');
  w.fail = true;
  feed(out, 2, 5, 121);
  w.fail = false;
  feed(out, 1, 4, 131);
  assert.deepEqual(seqs(w.written).slice(21), [131, 132, 133, 134]);
  const st = out.stats();
  assert.equal(st.delivered, 25);
  assert.equal(st.dropped.write_error, 10);
  assert.equal(st.writeErrors, 2);
  assert.equal(errors.length, 2);
  assert.equal(st.queuedFlows, 0);
  assert.equal(st.queuedBytes, 0);
  // A writer that says it is synchronous and is not: a programming error, reported as such.
  const liar = new StreamOutput({ name: 'l', format: 'json', writer: { ...w, synchronous: true, write: () => {}, ready: () => true, reopen: () => {}, close: async () => {} }, maxBytes: 1 << 20, policy: 'drop_newest' });
  liar.onFlow(rec(1));
  assert.throws(() => liar.tick(), /synchronous writer returned before its write was done/);
});

test('file output appends whole flowpb records and reopens after rotation', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fc-out-'));
  try {
    const path = join(dir, 'flows.bin');
    const out = new StreamOutput({ name: 'f', format: 'flowpb', writer: new FileChunkWriter(path), maxBytes: 1 << 20, policy: 'drop_newest' });
    feed(out, 3, 7);
    await out.drain(Date.now() + 2000);
    renameSync(path, `${path}.1`);
    out.reopen();
    await new Promise((r) => setTimeout(r, 50));
    feed(out, 1, 4, 121);
    await out.drain(Date.now() + 2000);
    await out.close();
    assert.equal(splitDelimited(readFileSync(`${path}.1`)).length, 21);
    assert.equal(splitDelimited(readFileSync(path)).length, 4);
    assert.equal(out.stats().delivered, 25);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a regular file is written synchronously; a character device through the threadpool', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fc-out-'));
  try {
    const path = join(dir, 'flows.bin');
    const file = new FileChunkWriter(path);
    assert.equal(file.synchronous, true);
    let doneAt = -1;
    let step = 0;
    file.write([Buffer.from('abc'), Buffer.from('defg')], (err) => {
      assert.equal(err, null);
      doneAt = step;
    });
    step = 1;
    assert.equal(doneAt, 0, 'completed before write() returned');
    assert.equal(readFileSync(path, 'utf8'), 'abcdefg');
    // After rotation the new file is a regular file again.
    renameSync(path, `${path}.1`);
    file.reopen();
    await new Promise((r) => setTimeout(r, 50));
    file.write([Buffer.from('h')], () => {});
    assert.equal(readFileSync(path, 'utf8'), 'h');
    await file.close();

    const dev = new FileChunkWriter('/dev/null');
    assert.equal(dev.synchronous, false);
    let devDone = false;
    const p = new Promise<Error | null>((resolve) => dev.write([Buffer.from('x')], (err) => ((devDone = true), resolve(err))));
    assert.equal(devDone, false, 'completes on a later turn');
    assert.equal(await p, null);
    await dev.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * The stdout path as serve wires it, in one thread: a worker-side writer (made by `make`) on one
 * end of a MessageChannel, StdoutPump on the other writing to a temporary file.
 */
async function withStdout<W extends PortChunkWriter>(make: (port: MessagePort) => W, body: (writer: W, pump: StdoutPump, dir: string, written: () => Buffer) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fc-out-'));
  const { port1, port2 } = new MessageChannel();
  const path = join(dir, 'stdout.bin');
  const fd = openSync(path, 'w');
  let open = true;
  const written = () => {
    if (open) closeSync(fd);
    open = false;
    return readFileSync(path);
  };
  try {
    const pump = new StdoutPump(fd);
    pump.attach(port2);
    await body(make(port1), pump, dir, written);
  } finally {
    if (open) closeSync(fd);
    port1.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('stdout: chunks go to the main thread moved, come back with the acknowledgement and are reused; the bytes are a file output\'s', async () => {
  // The real writer; the test only watches what it gives back to the output.
  const back: number[] = [];
  class Watched extends PortChunkWriter {
    override returnsBuffersTo(recycle: (b: Buffer) => void): void {
      super.returnsBuffersTo((b) => {
        back.push(b.length);
        recycle(b);
      });
    }
  }
  await withStdout((port) => new Watched(port), async (writer, pump, dir, written) => {
    assert.equal(typeof writer.returnsBuffersTo, 'function', 'a writer that moves memory says where it comes back');
    const out = new StreamOutput({ name: 's', format: 'flowpb', writer, maxBytes: 1 << 22, policy: 'drop_newest', chunkBytes: 256 });
    const pool = (out as unknown as { pool: Buffer[] }).pool;
    feed(out, 5, 20);
    await out.drain(Date.now() + 5000);
    await pump.idleNow();
    assert.ok(back.length > 0, 'memory came back');
    assert.ok(back.every((n) => n >= 512), `whole chunk buffers came back: ${back.join(',')}`);
    assert.equal(pool.length, back.length, 'and went to the pool');
    // Later chunks take that memory: the pool empties as they are cut, and fills as they return.
    feed(out, 1, 20, 200);
    assert.equal(pool.length, back.length - 1, 'a pooled buffer taken for the next chunk');
    await out.drain(Date.now() + 5000);
    await pump.idleNow();
    const got = written();
    assert.equal(splitDelimited(got).length, 120);
    assert.equal(out.stats().delivered, 120);
    // Byte for byte what a file output writes for the same records.
    const refPath = join(dir, 'ref.bin');
    const ref = new StreamOutput({ name: 'r', format: 'flowpb', writer: new FileChunkWriter(refPath), maxBytes: 1 << 22, policy: 'drop_newest', chunkBytes: 256 });
    feed(ref, 5, 20);
    feed(ref, 1, 20, 200);
    await ref.drain(Date.now() + 5000);
    await ref.close();
    assert.ok(got.equals(readFileSync(refPath)), 'the same bytes as a file output');
  });
});

test('stdout: chunks that share memory are written whole (one moved, the other copied)', async () => {
  await withStdout((port) => new PortChunkWriter(port), async (writer, pump, _dir, written) => {
    const back: number[] = [];
    writer.returnsBuffersTo((b) => back.push(b.length));
    const mem = Buffer.allocUnsafeSlow(16);
    mem.write('abcdefghijklmnop');
    const err = await new Promise<Error | null>((resolve) => writer.write([mem.subarray(0, 3), mem.subarray(3, 7)], resolve));
    assert.equal(err, null);
    await pump.idleNow();
    assert.equal(written().toString('utf8'), 'abcdefg');
    assert.deepEqual(back.sort((a, b) => a - b), [4, 16], 'the shared memory and the copy come back');
  });
});
