/**
 * Standard output is one stream shared by every worker, so whole chunks must not interleave:
 * workers pass finished chunks (moved, not copied) over a MessagePort to the main thread,
 * where `StdoutPump` writes them one at a time with asynchronous writes (the main thread never
 * blocks on a slow reader: its metrics and health answers stay up) and acknowledges each,
 * moving the chunks' memory back with the acknowledgement so the worker's output reuses it
 * (fresh memory per chunk cost page faults and collections: the worker fell behind at start-up).
 */
import { writev } from 'node:fs';
import { skipBytes } from './file.js';
import type { MessagePort } from 'node:worker_threads';
import type { ChunkWriter } from './stream.js';

interface ChunkMsg {
  id: number;
  /** Each chunk's whole memory (moved) and where in it the chunk is. */
  mem: ArrayBuffer[];
  off: number[];
  len: number[];
}
interface AckMsg {
  id: number;
  error: string | null;
  /** The chunks' memory, moved back. */
  mem: ArrayBuffer[];
}

/** Worker side: a ChunkWriter whose destination is the main thread's StdoutPump. */
export class PortChunkWriter implements ChunkWriter {
  private nextId = 1;
  private readonly pending = new Map<number, (err: Error | null) => void>();
  private closed = false;
  private recycle: ((b: Buffer) => void) | undefined;

  constructor(private readonly port: MessagePort) {
    port.on('message', (m: AckMsg) => {
      if (this.recycle !== undefined) for (const ab of m.mem) this.recycle(Buffer.from(ab));
      const done = this.pending.get(m.id);
      if (done === undefined) return;
      this.pending.delete(m.id);
      done(m.error === null ? null : new Error(m.error));
    });
  }

  returnsBuffersTo(recycle: (b: Buffer) => void): void {
    this.recycle = recycle;
  }

  ready(): boolean {
    return !this.closed;
  }

  write(chunks: readonly Uint8Array[], done: (err: Error | null) => void): void {
    const id = this.nextId++;
    this.pending.set(id, done);
    // The chunks are the output's own copies, each in memory of its own: move that memory
    // instead of copying it again (a chunk that shares its memory with another is copied).
    const mem: ArrayBuffer[] = [];
    const off: number[] = [];
    const len: number[] = [];
    for (const c of chunks) {
      let ab = c.buffer as ArrayBuffer;
      let o = c.byteOffset;
      if (mem.includes(ab)) {
        ab = new Uint8Array(c).buffer as ArrayBuffer; // a copy (a Buffer's slice() is a view)
        o = 0;
      }
      mem.push(ab);
      off.push(o);
      len.push(c.byteLength);
    }
    this.port.postMessage({ id, mem, off, len } satisfies ChunkMsg, mem);
  }

  reopen(): void {}

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const done of this.pending.values()) done(new Error('stdout closed'));
    this.pending.clear();
    this.port.close();
  }
}

/** Main side: writes the workers' chunks to a file descriptor (1 by default) in arrival order. */
export class StdoutPump {
  private readonly queue: { port: MessagePort; m: ChunkMsg }[] = [];
  private writing = false;
  private failed: string | null = null;
  private idle: (() => void) | undefined;

  constructor(
    private readonly fd = 1,
    private readonly onError: (err: NodeJS.ErrnoException) => void = () => {},
  ) {}

  attach(port: MessagePort): void {
    port.on('message', (m: ChunkMsg) => {
      this.queue.push({ port, m });
      this.next();
    });
  }

  /** Resolves once everything received so far is written. */
  async idleNow(): Promise<void> {
    if (!this.writing && this.queue.length === 0) return;
    await new Promise<void>((resolve) => (this.idle = resolve));
  }

  private next(): void {
    if (this.writing) return;
    const item = this.queue.shift();
    if (item === undefined) {
      const idle = this.idle;
      this.idle = undefined;
      idle?.();
      return;
    }
    const { port, m } = item;
    if (this.failed !== null) {
      port.postMessage({ id: m.id, error: this.failed, mem: m.mem } satisfies AckMsg, m.mem);
      this.next();
      return;
    }
    this.writing = true;
    let left: Uint8Array[] = m.mem.map((ab, i) => new Uint8Array(ab, m.off[i], m.len[i]));
    const step = (err: NodeJS.ErrnoException | null, n: number) => {
      if (err !== null && err.code === 'EAGAIN') {
        // stdout was left non-blocking by whoever shares it: wait for room.
        setTimeout(() => writev(this.fd, left, null, step), 2);
        return;
      }
      if (err === null) {
        left = skipBytes(left, n);
        if (left.length > 0) {
          writev(this.fd, left, null, step);
          return;
        }
      } else {
        // EPIPE: the reader is gone; every later chunk fails the same way.
        if (err.code === 'EPIPE' || err.code === 'EBADF') this.failed = `stdout: ${err.code}`;
        this.onError(err);
      }
      this.writing = false;
      port.postMessage({ id: m.id, error: err === null ? null : `stdout: ${err.code ?? err.message}`, mem: m.mem } satisfies AckMsg, m.mem);
      this.next();
    };
    writev(this.fd, left, null, step);
  }
}
