import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectingDecoder } from './support/collect.js';

function header(version: number, count: number, hlen: number, rlen: number): Buffer {
  const b = Buffer.alloc(hlen + count * rlen);
  b.writeUInt16BE(version, 0);
  b.writeUInt16BE(count, 2);
  b.writeUInt32BE(60_000, 4); // sysUptime
  b.writeUInt32BE(1_700_000_000, 8);
  b.writeUInt32BE(500_000_000, 12); // unix_nsecs
  return b;
}

function common(b: Buffer, p: number): void {
  Buffer.from([10, 0, 0, 1, 10, 0, 0, 2, 10, 0, 0, 254]).copy(b, p);
  b.writeUInt16BE(3, p + 12);
  b.writeUInt16BE(4, p + 14);
  b.writeUInt32BE(12, p + 16); // packets
  b.writeUInt32BE(3400, p + 20); // octets
  b.writeUInt32BE(50_000, p + 24); // First
  b.writeUInt32BE(59_000, p + 28); // Last
  b.writeUInt16BE(51000, p + 32);
  b.writeUInt16BE(22, p + 34);
}

test('NetFlow v1: header and 48-byte records', () => {
  const b = header(1, 2, 16, 48);
  for (let i = 0; i < 2; i++) {
    const p = 16 + i * 48;
    common(b, p);
    b[p + 38] = 6;
    b[p + 39] = 0x10;
    b[p + 40] = 0x1b;
  }
  const { flows, feed } = collectingDecoder();
  assert.equal(feed(b), undefined);
  assert.equal(flows.length, 2);
  const f = flows[0]!;
  assert.equal(f.type, 'NETFLOW_V5');
  assert.equal(f.export_version, 1);
  assert.equal(f.src_addr, '10.0.0.1');
  assert.equal(f.next_hop, '10.0.0.254');
  assert.equal(f.in_if, 3);
  assert.equal(f.packets, 12);
  assert.equal(f.bytes, 3400);
  assert.equal(f.proto, 6);
  assert.equal(f.ip_tos, 0x10);
  assert.equal(f.tcp_flags, 0x1b);
  assert.equal(f.dst_port, 22);
  // start = 1700000000.5 s - (60000 - 50000) ms
  assert.equal(String(f.time_flow_start_ns), '1699999990500000000');
  assert.equal(String(f.time_flow_end_ns), '1699999999500000000');
});

test('NetFlow v7: 52-byte records with AS, masks, flags and router shortcut', () => {
  const b = header(7, 1, 24, 52);
  b.writeUInt32BE(77, 16); // flow_sequence
  const p = 24;
  common(b, p);
  b[p + 36] = 0x01; // flags1
  b[p + 37] = 0x12; // tcp flags
  b[p + 38] = 17;
  b[p + 39] = 0;
  b.writeUInt16BE(64512, p + 40);
  b.writeUInt16BE(64513, p + 42);
  b[p + 44] = 24;
  b[p + 45] = 16;
  b.writeUInt16BE(0x0203, p + 46);
  Buffer.from([192, 0, 2, 99]).copy(b, p + 48);
  const { flows, feed } = collectingDecoder();
  assert.equal(feed(b), undefined);
  const f = flows[0]!;
  assert.equal(f.export_version, 7);
  assert.equal(f.sequence_num, 77);
  assert.equal(f.src_as, 64512);
  assert.equal(f.dst_as, 64513);
  assert.equal(f.src_net, 24);
  assert.equal(f.dst_net, 16);
  assert.equal(f.proto, 17);
  assert.equal(f.protocol_name, 'UDP');
  assert.equal(f.tcp_flags, 0x12);
  assert.equal(f.fields.v7Flags1, 1);
  assert.equal(f.fields.v7Flags2, 0x0203);
  assert.equal(f.fields.exporterIPv4Address, '192.0.2.99');
});

test('NetFlow v5: count beyond the datagram or above 30 is rejected, nothing invented', () => {
  const { flows, feed } = collectingDecoder();
  const b = header(5, 2, 24, 48);
  b.writeUInt16BE(3, 2);
  assert.equal(feed(b), 'netflow_v5.truncated');
  b.writeUInt16BE(31, 2);
  assert.equal(feed(b), 'netflow_v5.bad_count');
  assert.equal(feed(b.subarray(0, 20)), 'netflow_v5.truncated_header');
  assert.equal(flows.length, 0);
});

test('ICMP type and code are taken from the destination port when no ICMP element is sent', () => {
  const b = header(5, 1, 24, 48);
  common(b, 24);
  b.writeUInt16BE(0, 24 + 32);
  b.writeUInt16BE(0x0b00 | 1, 24 + 34); // time exceeded, code 1
  b[24 + 38] = 1;
  const { flows, feed } = collectingDecoder();
  feed(b);
  assert.equal(flows[0]!.icmp_type, 11);
  assert.equal(flows[0]!.icmp_code, 1);
  assert.equal(flows[0]!.dst_port, 0x0b01, 'dst_port stays as sent');
});
