/**
 * File destination: opened for append, so every worker can hold its own descriptor on the same
 * file and each whole-chunk write lands contiguously (O_APPEND). `reopen` (SIGHUP after
 * logrotate moved the file) switches to a fresh file at the path between two writes.
 */
import { close, open, openSync, write, closeSync } from 'node:fs';
import type { ChunkWriter } from './stream.js';

export class FileChunkWriter implements ChunkWriter {
  private fd: number;
  private writing = false;
  private reopenWanted = false;
  private closed = false;

  /** Opens the file at once; throws (ENOENT, EACCES...) so start-up can report it. */
  constructor(
    readonly path: string,
    private readonly onReopenError: (err: Error) => void = () => {},
  ) {
    this.fd = openSync(path, 'a', 0o644);
  }

  ready(): boolean {
    return !this.closed && this.fd >= 0;
  }

  write(chunk: Uint8Array, done: (err: Error | null) => void): void {
    if (this.closed) {
      done(new Error(`${this.path}: closed`));
      return;
    }
    this.writing = true;
    let off = 0;
    const step = (err: Error | null, n: number) => {
      if (err === null) {
        off += n;
        if (off < chunk.length) {
          write(this.fd, chunk, off, chunk.length - off, null, step);
          return;
        }
      }
      this.writing = false;
      if (this.reopenWanted) this.doReopen(() => done(err));
      else done(err);
    };
    write(this.fd, chunk, 0, chunk.length, null, step);
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
