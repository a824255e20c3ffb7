/**
 * The publisher's own acknowledgement handling (src/output/nats/acks.ts) against a real
 * nats-server 2.9.10: PubAcks, duplicates, API errors and the no-responders status as the
 * server sends them, read by parsePubAck through one AckInbox subscription.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { headers } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { AckInbox, parsePubAck, type AckOutcome } from '../src/output/nats/acks.js';
import { makeTempDir } from './support/tools.js';
import { client, haveNatsServer, startNatsServer, type NatsServer } from './support/nats.js';

const skip = haveNatsServer ? false : 'nats-server is not installed';
const tmp = makeTempDir('fc-nats-acks-');
const servers: NatsServer[] = [];
after(async () => {
  for (const n of servers) await n.stop().catch(() => {});
  tmp.cleanup();
});

test('parsePubAck: stored, duplicate, API error, no responders and unreadable answers', () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  assert.deepEqual(parsePubAck(enc('{"stream":"FLOWS","seq":7}'), undefined), { ok: true, duplicate: false });
  // As nats-server 2.9.10 writes them (a space after the comma and after "duplicate":).
  assert.deepEqual(parsePubAck(enc('{"stream":"FLOWS", "seq":7}'), undefined), { ok: true, duplicate: false });
  assert.deepEqual(parsePubAck(enc('{"stream":"FLOWS", "seq":1,"duplicate": true}'), undefined), { ok: true, duplicate: true });
  assert.deepEqual(parsePubAck(enc('{"stream":"FLOWS","seq":1,"duplicate":true}'), undefined), { ok: true, duplicate: true });
  assert.deepEqual(parsePubAck(enc('{"stream":"FLOWS","seq":1,"duplicate":false}'), undefined), { ok: true, duplicate: false });
  const err = parsePubAck(enc('{"error":{"code":400,"err_code":10060,"description":"expected stream does not match"}}'), undefined);
  assert.equal(err.ok, false);
  assert.ok(!err.ok && err.reason === 'api_error' && err.retry && /expected stream does not match/.test(err.message) && /10060/.test(err.message));
  const big = parsePubAck(enc('{"error":{"code":400,"err_code":10054,"description":"message size exceeds maximum allowed"}}'), undefined);
  assert.ok(!big.ok && big.reason === 'too_large' && !big.retry);
  const none = parsePubAck(new Uint8Array(0), 503);
  assert.ok(!none.ok && none.reason === 'no_responders' && none.retry);
  const junk = parsePubAck(enc('nonsense'), undefined);
  assert.ok(!junk.ok && junk.reason === 'other' && junk.retry);
});

test('AckInbox: one subscription receives the acks of core publishes, matched by reply token', { skip }, async () => {
  const n = await startNatsServer(join(tmp.dir, 'acks'));
  servers.push(n);
  const nc = await client(n.url);
  try {
    await (await jetstreamManager(nc)).streams.add({ name: 'FLOWS', subjects: ['flows.>'] });
    const got = new Map<number, AckOutcome>();
    const inbox = new AckInbox(
      nc,
      (token, outcome) => got.set(token, outcome),
      (err) => assert.fail(err),
    );
    assert.match(inbox.subject(), /^_INBOX\.\S+\.\*$/);
    const pub = (token: number, subject: string, id: string, extra: Record<string, string> = {}) => {
      const h = headers();
      h.set('Nats-Msg-Id', id);
      for (const [k, v] of Object.entries(extra)) h.set(k, v);
      nc.publish(subject, new TextEncoder().encode(`m${token}`), { reply: inbox.reply(token), headers: h });
    };
    pub(1, 'flows.a', 'id-1');
    pub(2, 'flows.a', 'id-2');
    pub(3, 'flows.a', 'id-1'); // the same id again: a duplicate
    pub(4, 'flows.a', 'id-4', { 'Nats-Expected-Stream': 'OTHER' });
    pub(5, 'nostream.a', 'id-5'); // no stream takes it
    await nc.flush();
    for (let i = 0; i < 100 && got.size < 5; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(got.get(1), { ok: true, duplicate: false });
    assert.deepEqual(got.get(2), { ok: true, duplicate: false });
    assert.deepEqual(got.get(3), { ok: true, duplicate: true });
    const e4 = got.get(4)!;
    assert.ok(!e4.ok && e4.reason === 'api_error', JSON.stringify(e4));
    const e5 = got.get(5)!;
    assert.ok(!e5.ok && e5.reason === 'no_responders', JSON.stringify(e5));
    const info = await (await jetstreamManager(nc)).streams.info('FLOWS');
    assert.equal(info.state.messages, 2, 'the duplicate and the refused message are not stored');
    assert.ok(inbox.alive());
    inbox.close();
    assert.ok(!inbox.alive());
  } finally {
    await nc.close();
  }
});
