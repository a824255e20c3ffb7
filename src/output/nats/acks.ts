/**
 * JetStream acknowledgements on the core connection.
 *
 * A JetStream publish is a core PUB with a reply subject; the stream answers with a PubAck
 * JSON on that subject. nats.js's `js.publish` wraps each one in a request object, a promise,
 * a timer, a fresh headers copy, a TextDecoder + JSON.parse of the ack and (3.4) an Error built
 * when the request is cleaned up. Here one subscription per connection (`<inbox>.*`, under the
 * client's inbox prefix, so the `_INBOX.>` subscribe permission covers it) receives every ack;
 * the last token of the reply subject says which publish it answers, and the ack is read
 * without JSON.parse unless it is an error. Timeouts are the caller's (one sweep, not a timer
 * per message).
 */
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { DescribedError } from './stream.js';

/** What an ack says: stored (maybe a duplicate of an earlier publish), or why not. */
export type AckOutcome = { ok: true; duplicate: boolean } | ({ ok: false } & DescribedError);

const OK: AckOutcome = { ok: true, duplicate: false };
const DUP: AckOutcome = { ok: true, duplicate: true };
const DUPLICATE = /"duplicate"\s*:\s*true/;

/** JetStream API error codes that retrying cannot fix (message or headers over the stream's limit). */
const FINAL_CODES = new Set([10054, 10095]);

/** Reads a PubAck (or the 503 status the server sends when no stream takes the subject). */
export function parsePubAck(data: Uint8Array, status: number | undefined): AckOutcome {
  if (data.length === 0) {
    if (status === 503) return { ok: false, reason: 'no_responders', retry: true, message: 'no responders: no stream took the subject (or its leader is being elected)' };
    return { ok: false, reason: 'other', retry: true, message: `empty acknowledgement${status !== undefined ? ` (status ${status})` : ''}` };
  }
  // nats-server 2.9 writes {"stream":"FLOWS", "seq":12} and {"stream":"FLOWS", "seq":1,"duplicate": true};
  // errors: {"error":{"code":503,"err_code":10077,"description":"..."}}.
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
  if (!text.includes('"error"') && text.includes('"seq"') && text.includes('"stream"')) return DUPLICATE.test(text) ? DUP : OK;
  let v: { error?: { code?: number; err_code?: number; description?: string } } | undefined;
  try {
    v = JSON.parse(text) as typeof v;
  } catch {
    v = undefined;
  }
  const e = v?.error;
  if (e === undefined) return { ok: false, reason: 'other', retry: true, message: `unreadable acknowledgement: ${text.slice(0, 200)}` };
  const code = e.err_code ?? 0;
  const message = `${e.description ?? 'error'} (code ${e.code ?? '?'}, err_code ${code})`;
  if (/max.?payload|message size exceeds|maximum payload/i.test(message)) return { ok: false, reason: 'too_large', retry: false, message };
  return { ok: false, reason: 'api_error', retry: !FINAL_CODES.has(code), message };
}

/**
 * One inbox subscription for the acks of one connection. `reply(token)` is the reply subject of
 * a publish; `onAck(token, outcome)` is called for each ack; `onError` when the server refuses
 * the subscription (a permission violation: no ack can arrive any more).
 */
export class AckInbox {
  private readonly prefix: string;
  private readonly sub: Subscription;
  private dead = false;

  constructor(nc: NatsConnection, onAck: (token: number, outcome: AckOutcome) => void, onError: (err: Error) => void, inboxPrefix?: string) {
    this.prefix = `${createInbox(inboxPrefix)}.`;
    const skip = this.prefix.length;
    this.sub = nc.subscribe(`${this.prefix}*`, {
      callback: (err: Error | null, msg: Msg) => {
        if (err !== null) {
          this.dead = true;
          onError(err);
          return;
        }
        const token = Number(msg.subject.slice(skip));
        if (!Number.isInteger(token)) return;
        onAck(token, parsePubAck(msg.data, msg.headers?.code));
      },
    });
  }

  /** The reply subject for the publish `token`. */
  reply(token: number): string {
    return this.prefix + token;
  }

  /** The subscription still receives acks. */
  alive(): boolean {
    return !this.dead && !this.sub.isClosed();
  }

  /** The subscription's subject (for messages). */
  subject(): string {
    return `${this.prefix}*`;
  }

  close(): void {
    this.dead = true;
    try {
      this.sub.unsubscribe();
    } catch {
      // the connection is gone
    }
  }
}
