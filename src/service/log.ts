/**
 * Logging: pino JSON lines on stderr, written synchronously (they are rare: start-up, a summary
 * per interval, rate-limited warnings; never one per datagram). `warnOnce` lets one warning per
 * key through per interval and reports how many it held back.
 */
import { pino, type Logger } from 'pino';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export function createLogger(level: LogLevel, fd = 2): Logger {
  return pino(
    { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
    pino.destination({ dest: fd, sync: true }),
  );
}

export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; held: number }>();

  constructor(
    private readonly log: Logger,
    private readonly intervalMs: number,
  ) {}

  /**
   * Logs at most one line per key per interval; the next line says how many were held back.
   * True when this line was logged.
   */
  emit(level: 'info' | 'warn' | 'error', key: string, msg: string, fields: Record<string, unknown> = {}): boolean {
    const now = Date.now();
    const e = this.last.get(key);
    if (e !== undefined && now - e.at < this.intervalMs) {
      e.held++;
      return false;
    }
    if (this.last.size >= 4096 && e === undefined) this.last.clear();
    const held = e?.held ?? 0;
    this.last.set(key, { at: now, held: 0 });
    this.log[level]({ ...fields, ...(held > 0 ? { suppressed: held } : {}) }, msg);
    return true;
  }
}
