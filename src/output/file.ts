/**
 * File destination: opened for append, so every worker can hold its own descriptor on the same
 * file and each whole-chunk write lands contiguously (O_APPEND). `reopen` (SIGHUP after
 * logrotate moved the file) switches to a fresh file at the path between two writes.
 *
 * A regular file is written synchronously, on the worker's own thread: a write to the page
 * cache is a copy, and done on the libuv threadpool its completion had to wait for the worker's
 * event loop, busy decoding, before the next write could start, so at high rates the queue
 * filled up behind it (queue_full drops at 50k datagrams/s of v9 on one worker; see
 * docs/benchmarks.md). Anything else (a FIFO, a character device) can block, and is written
 * on the threadpool as before.
 */
import { close, open, openSync, writev, writevSync, closeSync, fstatSync } from 'node:fs';
import type { ChunkWriter } from './stream.js';

export class FileChunkWriter implements ChunkWriter {
  private fd: number;
  private writing = false;
  private reopenWanted = false;
  private closed = false;
  /** Writes are synchronous (the descriptor is a regular file). */
  private sync: boolean;

  /** Opens the file at once; throws (ENOENT, EACCES...) so start-up can report it. */
  constructor(
    readonly path: string,
    private readonly onReopenError: (err: Error) => void = () => {},
  ) {
    this.fd = openSync(path, 'a', 0o644);
    this.sync = isRegularFile(this.fd);
  }

  /** Whether writes go straight to the file on the calling thread (a regular file). */
  get synchronous(): boolean {
    return this.sync;
  }

  ready(): boolean {
    return !this.closed && this.fd >= 0;
  }

  write(chunks: readonly Uint8Array[], done: (err: Error | null) => void): void {
    if (this.closed) {
      done(new Error(`${this.path}: closed`));
      return;
    }
    if (this.sync) {
      this.writeSync(chunks, done);
      return;
    }
    this.writing = true;
    let left = chunks.slice();
    const step = (err: NodeJS.ErrnoException | null, n: number) => {
      if (err === null) {
        // A short write (disk full, signal): continue after the bytes that went out.
        left = skipBytes(left, n);
        if (left.length > 0) {
          writev(this.fd, left, null, step);
          return;
        }
      }
      this.writing = false;
      if (this.reopenWanted) this.doReopen(() => done(err));
      else done(err);
    };
    writev(this.fd, left, null, step);
  }

  private writeSync(chunks: readonly Uint8Array[], done: (err: Error | null) => void): void {
    let err: Error | null = null;
    try {
      let left: readonly Uint8Array[] = chunks;
      // A short write (disk full, signal): continue after the bytes that went out.
      while (left.length > 0) {
        const n = writevSync(this.fd, left);
        if (n === 0) throw new Error(`${this.path}: write made no progress`);
        left = skipBytes(left, n);
      }
    } catch (e) {
      err = e as Error;
    }
    done(err);
  }

  reopen(): void {
    if (this.writing) this.reopenWanted = true;
    else this.doReopen(() => {});
  }

  private doReopen(then: () => void): void {
    this.reopenWanted = false;
    open(this.path, 'a', 0o644, (err, fd) => {
      if (err !== null) {
        // Keep writing to the old descriptor rather than lose flows.
        this.onReopenError(err);
      } else if (this.closed) {
        closeSync(fd);
      } else {
        const old = this.fd;
        this.fd = fd;
        this.sync = isRegularFile(fd);
        close(old, () => {});
      }
      then();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const fd = this.fd;
    this.fd = -1;
    await new Promise<void>((resolve) => close(fd, () => resolve()));
  }
}

function isRegularFile(fd: number): boolean {
  try {
    return fstatSync(fd).isFile();
  } catch {
    return false;
  }
}

/** What is left of `bufs` after the first `n` bytes. */
export function skipBytes(bufs: readonly Uint8Array[], n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const b of bufs) {
    if (n >= b.length) {
      n -= b.length;
      continue;
    }
    out.push(n > 0 ? b.subarray(n) : b);
    n = 0;
  }
  return out;
}
