/**
 * Standard output is one stream shared by every worker, so whole chunks must not interleave:
 * workers pass finished chunks (moved, not copied) over a MessagePort to the main thread,
 * where `StdoutPump` writes them one at a time with asynchronous writes (the main thread never
 * blocks on a slow reader: its metrics and health answers stay up) and acknowledges each.
 */
import { writev } from 'node:fs';
import { skipBytes } from './file.js';
import type { MessagePort } from 'node:worker_threads';
import type { ChunkWriter } from './stream.js';

interface ChunkMsg {
  id: number;
  bufs: Uint8Array[];
}
interface AckMsg {
  id: number;
  error: string | null;
}

/** Worker side: a ChunkWriter whose destination is the main thread's StdoutPump. */
export class PortChunkWriter implements ChunkWriter {
  readonly movesBuffers = true;
  private nextId = 1;
  private readonly pending = new Map<number, (err: Error | null) => void>();
  private closed = false;

  constructor(private readonly port: MessagePort) {
    port.on('message', (m: AckMsg) => {
      const done = this.pending.get(m.id);
      if (done === undefined) return;
      this.pending.delete(m.id);
      done(m.error === null ? null : new Error(m.error));
    });
  }

  ready(): boolean {
    return !this.closed;
  }

  write(chunks: readonly Uint8Array[], done: (err: Error | null) => void): void {
    const id = this.nextId++;
    this.pending.set(id, done);
    // The chunks are the output's own copies: move their memory instead of copying it again.
    const bufs: Uint8Array[] = [];
    const moved: ArrayBuffer[] = [];
    for (const c of chunks) {
      const own = c.byteOffset === 0 && c.byteLength === c.buffer.byteLength;
      const b = own ? c : c.slice();
      bufs.push(b);
      moved.push(b.buffer as ArrayBuffer);
    }
    this.port.postMessage({ id, bufs } satisfies ChunkMsg, moved);
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
      port.postMessage({ id: m.id, error: this.failed } satisfies AckMsg);
      this.next();
      return;
    }
    this.writing = true;
    let left = m.bufs;
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
      port.postMessage({ id: m.id, error: err === null ? null : `stdout: ${err.code ?? err.message}` } satisfies AckMsg);
      this.next();
    };
    writev(this.fd, left, null, step);
  }
}
