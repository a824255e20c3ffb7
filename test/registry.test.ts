import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { DataType } from '../src/decode/record.js';
import {
  MAX_INTERNED_UNKNOWN,
  dataTypeFromName,
  elementDeprecated,
  elementSemantics,
  elementUnits,
  ianaElement,
  ipfixElement,
  protocolName,
  v9Element,
} from '../src/decode/registry/mod.js';

// Compiled to dist/test/registry.test.js; the repository root is two levels up.
const root = fileURLToPath(new URL('../../', import.meta.url));

test('committed iana.generated.ts is up to date with data/iana-ipfix-elements.csv', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gen-registry-'));
  try {
    const out = join(dir, 'iana.generated.ts');
    execFileSync(process.execPath, [join(root, 'scripts/gen-registry.mjs'), '--out', out]);
    const fresh = readFileSync(out);
    const committed = readFileSync(join(root, 'src/decode/registry/iana.generated.ts'));
    assert.ok(
      fresh.equals(committed),
      'src/decode/registry/iana.generated.ts is stale: run `npm run gen:registry`',
    );
    // Deterministic: a second run gives the same bytes.
    execFileSync(process.execPath, [join(root, 'scripts/gen-registry.mjs'), '--out', out]);
    assert.ok(readFileSync(out).equals(fresh));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every CSV row is in the registry with the CSV name and type', () => {
  const lines = readFileSync(join(root, 'data/iana-ipfix-elements.csv'), 'utf8').trim().split('\n');
  assert.equal(lines[0].trim(), 'id,name,data_type,semantics,units,status');
  assert.ok(lines.length > 400);
  for (const line of lines.slice(1)) {
    const [id, name, type, semantics, units] = line.trim().split(',');
    const info = ianaElement(Number(id));
    assert.equal(info.name, name);
    assert.equal(info.type, dataTypeFromName(type), `type of ${name}`);
    assert.notEqual(info.type === DataType.octetArray, type !== 'octetArray', `type of ${name}`);
    assert.equal(info.known, true);
    assert.equal(info.pen, 0);
    assert.equal(elementSemantics(info), semantics);
    assert.equal(elementUnits(info), units);
  }
});

test('well-known IANA elements', () => {
  const cases: [number, string, number][] = [
    [1, 'octetDeltaCount', DataType.unsigned64],
    [8, 'sourceIPv4Address', DataType.ipv4Address],
    [27, 'sourceIPv6Address', DataType.ipv6Address],
    [56, 'sourceMacAddress', DataType.macAddress],
    [152, 'flowStartMilliseconds', DataType.dateTimeMilliseconds],
    [291, 'basicList', DataType.basicList],
    [292, 'subTemplateList', DataType.subTemplateList],
    [293, 'subTemplateMultiList', DataType.subTemplateMultiList],
  ];
  for (const [id, name, type] of cases) {
    const info = ianaElement(id);
    assert.deepEqual({ ...info }, { pen: 0, id, name, type, known: true });
    assert.equal(ipfixElement(0, id), info);
    assert.equal(v9Element(id), info);
  }
  assert.equal(elementSemantics(ianaElement(1)), 'deltaCounter');
  assert.equal(elementUnits(ianaElement(1)), 'octets');
  assert.equal(elementSemantics(ianaElement(8)), 'identifier');
  assert.equal(elementUnits(ianaElement(8)), '');
  assert.equal(elementDeprecated(ianaElement(34)), true); // samplingInterval
  assert.equal(elementDeprecated(ianaElement(305)), false); // samplingPacketInterval
});

test('lookups are interned and frozen', () => {
  assert.equal(ianaElement(2), ianaElement(2));
  assert.equal(ipfixElement(29305, 1), ipfixElement(29305, 1));
  assert.equal(ipfixElement(6871, 14), ipfixElement(6871, 14));
  assert.equal(v9Element(33000), v9Element(33000));
  assert.equal(ipfixElement(9, 12345), ipfixElement(9, 12345));
  assert.equal(v9Element(40123), v9Element(40123));
  assert.equal(ianaElement(40123), v9Element(40123));
  assert.ok(Object.isFrozen(ianaElement(2)));
  assert.ok(Object.isFrozen(ipfixElement(9, 12345)));
});

test('unknown elements are named <pen>.<id> or <id> and typed octetArray', () => {
  assert.deepEqual(
    { ...ipfixElement(9, 12345) },
    { pen: 9, id: 12345, name: '9.12345', type: DataType.octetArray, known: false },
  );
  assert.deepEqual(
    { ...v9Element(40123) },
    { pen: 0, id: 40123, name: '40123', type: DataType.octetArray, known: false },
  );
  assert.equal(ianaElement(32000).name, '32000');
  assert.equal(ianaElement(32000).known, false);
  assert.equal(ipfixElement(0, 32000), ianaElement(32000));
  // A reverse element whose forward id is not an IANA element is unknown too.
  assert.equal(ipfixElement(29305, 32000).name, '29305.32000');
  assert.equal(ipfixElement(29305, 32000).known, false);
  // Unknown and vendor elements have no IANA semantics/units.
  assert.equal(elementSemantics(ipfixElement(9, 12345)), '');
  assert.equal(elementUnits(v9Element(33000)), '');
  // Same pen and id as an IANA element but not the IANA object: not treated as IANA.
  assert.equal(elementSemantics({ pen: 0, id: 1, name: 'x', type: 0, known: true }), '');
});

test('RFC 5103 reverse elements (PEN 29305)', () => {
  const rev = ipfixElement(29305, 1);
  assert.deepEqual(
    { ...rev },
    { pen: 29305, id: 1, name: 'reverseOctetDeltaCount', type: DataType.unsigned64, known: true },
  );
  assert.equal(elementSemantics(rev), 'deltaCounter');
  assert.equal(elementUnits(rev), 'octets');
  assert.equal(ipfixElement(29305, 58).name, 'reverseVlanId');
  assert.equal(ipfixElement(29305, 139).name, 'reverseIcmpTypeCodeIPv6');
  assert.equal(ipfixElement(29305, 184).type, DataType.unsigned32); // reverseTcpSequenceNumber
});

test('vendor IPFIX elements (committed overlay)', () => {
  const expect: [number, number, string, number][] = [
    [6871, 14, 'initialTCPFlags', DataType.unsigned8],
    [6871, 16398, 'reverseInitialTCPFlags', DataType.unsigned8],
    [6871, 18, 'payload', DataType.octetArray],
    [6871, 16402, 'reversePayload', DataType.octetArray],
    [6871, 33, 'silkAppLabel', DataType.unsigned16],
    [6871, 502, 'dataByteCount', DataType.unsigned64],
    [6871, 16894, 'reverseLargePacketCount', DataType.unsigned32],
    [6871, 104, 'flowTableFlushEventCount', DataType.unsigned32],
    [6876, 881, 'tenantSourceIPv4', DataType.ipv4Address],
    [6876, 883, 'tenantSourceIPv6', DataType.ipv6Address],
    [6876, 889, 'vxlanExportRole', DataType.unsigned8],
    [5951, 129, 'netscalerTransactionId', DataType.unsigned32],
    [5951, 130, 'netscalerHttpReqUrl', DataType.string],
    [5951, 192, 'netscalerConnectionChainID', DataType.octetArray],
    [3054, 126, 'ixiaSrcLatitude', DataType.float32],
    [3054, 193, 'ixiaThreatIPv4', DataType.ipv4Address],
    [10704, 1, 'barracudaTimestamp', DataType.dateTimeSeconds],
    [10704, 8, 'barracudaBindIPv4Address', DataType.ipv4Address],
    [637, 93, 'natSubString', DataType.string],
    [15397, 3, 'proceraIncomingOctets', DataType.unsigned64],
    [41916, 4321, 'viptelaVPNId', DataType.unsigned64],
  ];
  for (const [pen, id, name, type] of expect) {
    assert.deepEqual({ ...ipfixElement(pen, id) }, { pen, id, name, type, known: true });
  }
  // Elements of known vendors that the overlay does not name stay unknown.
  assert.equal(ipfixElement(5951, 329).name, '5951.329');
  assert.equal(ipfixElement(5951, 329).known, false);
});

test('NetFlow v9 field types', () => {
  const expect: [number, string, number][] = [
    [33000, 'ingressAclId', DataType.octetArray],
    [33002, 'fwExtEvent', DataType.unsigned16],
    [40000, 'aaaUsername', DataType.string],
    [40001, 'xlateSourceIPv4Address', DataType.ipv4Address],
    [40004, 'xlateDestinationPort', DataType.unsigned16],
    [56701, 'panosAppId', DataType.string],
    [57590, 'nprobeL7Proto', DataType.unsigned16],
  ];
  for (const [type, name, dataType] of expect) {
    assert.deepEqual({ ...v9Element(type) }, { pen: 0, id: type, name, type: dataType, known: true });
  }
  // v9 types above 127 that are IANA elements resolve to the IANA objects.
  assert.equal(v9Element(233), ianaElement(233));
  assert.equal(v9Element(233).name, 'firewallEvent');
  assert.equal(v9Element(225).name, 'postNATSourceIPv4Address');
  // v9 vendor types are not IPFIX enterprise-0 elements.
  assert.equal(ianaElement(33000).known, false);
  assert.equal(ipfixElement(0, 40001).name, '40001');
  assert.equal(v9Element(8192).name, '8192');
});

test('dataTypeFromName', () => {
  assert.equal(dataTypeFromName('unsigned64'), DataType.unsigned64);
  assert.equal(dataTypeFromName('ipv6Address'), DataType.ipv6Address);
  assert.equal(dataTypeFromName('dateTimeNanoseconds'), DataType.dateTimeNanoseconds);
  assert.equal(dataTypeFromName('subTemplateMultiList'), DataType.subTemplateMultiList);
  assert.equal(dataTypeFromName('noSuchType'), DataType.octetArray);
  assert.equal(dataTypeFromName('toString'), DataType.octetArray);
});

test('protocolName', () => {
  assert.equal(protocolName(6), 'TCP');
  assert.equal(protocolName(1), 'ICMP');
  assert.equal(protocolName(17), 'UDP');
  assert.equal(protocolName(47), 'GRE');
  assert.equal(protocolName(50), 'ESP');
  assert.equal(protocolName(58), 'IPv6-ICMP');
  assert.equal(protocolName(132), 'SCTP');
  assert.equal(protocolName(0), 'HOPOPT');
  assert.equal(protocolName(61), '');
  assert.equal(protocolName(200), '');
  assert.equal(protocolName(255), '');
  assert.equal(protocolName(-1), '');
  assert.equal(protocolName(6.5), '');
  assert.equal(protocolName(NaN), '');
  assert.equal(protocolName(2 ** 32 + 6), '');
  // Static strings: the same string value every call.
  assert.equal(protocolName(6), protocolName(6));
});

// Kept last: it fills the process-wide unknown cache.
test('the unknown cache is bounded', () => {
  const pen = 4_000_000_000; // also above the small-integer range
  const first = ipfixElement(pen, 0);
  assert.equal(first.name, '4000000000.0');
  assert.equal(ipfixElement(pen, 0), first);
  // Fill the cache; afterwards lookups still answer correctly, just without interning.
  for (let i = 0; i < MAX_INTERNED_UNKNOWN + 10; i++) ipfixElement(pen - 1 - (i >> 15), i & 0x7fff);
  const late = ipfixElement(pen + 1, 7);
  assert.equal(late.name, '4000000001.7');
  assert.equal(late.known, false);
  assert.notEqual(ipfixElement(pen + 1, 7), late);
  assert.equal(ipfixElement(pen, 0), first); // interned before the bound was hit
  assert.equal(ianaElement(1).name, 'octetDeltaCount'); // known ones are unaffected
});
