/**
 * Information-element registry: the only public surface of src/decode/registry/.
 *
 * Every lookup returns a shared, frozen ElementInfo that is the SAME object for the same key for
 * the life of the process (templates keep references to them; the per-record hot path never looks
 * anything up and never allocates). Unknown elements get an interned placeholder named `<pen>.<id>`
 * (or `<id>` for enterprise 0) with type octetArray and `known: false`, so a record that carries
 * them is decoded with the field kept as raw bytes rather than aborted. At most
 * MAX_INTERNED_UNKNOWN placeholders are interned; past that a fresh object is returned (a hostile
 * exporter sending random enterprise ids cannot grow memory without bound).
 *
 * Sources: the IANA table is generated from data/iana-ipfix-elements.csv (see
 * scripts/gen-registry.mjs); the vendor overlay is ./vendor.ts.
 */
import { DataType, type DataTypeCode, type ElementInfo } from '../record.js';
import { IANA_ROWS, IANA_SEMANTICS, IANA_UNITS } from './iana.generated.js';
import {
  CERT_ELEMENTS,
  CERT_REVERSE_BIT,
  PEN_CERT,
  PEN_REVERSE,
  V9_VENDOR_FIELDS,
  VENDOR_ELEMENTS,
} from './vendor.js';

export { protocolName } from './protocols.js';
export type { ElementInfo, DataTypeCode } from '../record.js';

/** Upper bound on interned unknown-element placeholders (all enterprises together). */
export const MAX_INTERNED_UNKNOWN = 65536;

function makeInfo(pen: number, id: number, name: string, type: DataTypeCode, known: boolean) {
  const info: ElementInfo = { pen, id, name, type, known };
  return Object.freeze(info);
}

// --- IANA (enterprise 0) --------------------------------------------------------------------------

const ianaMaxId = IANA_ROWS.length === 0 ? 0 : IANA_ROWS[IANA_ROWS.length - 1][0];
/** IANA elements indexed by id (ids are < 32768). */
const ianaById: (ElementInfo | undefined)[] = new Array(ianaMaxId + 1).fill(undefined);
const ianaSemantics = new Uint8Array(ianaMaxId + 1);
const ianaUnits = new Uint8Array(ianaMaxId + 1);
const ianaDeprecated = new Uint8Array(ianaMaxId + 1);
for (const [id, name, type, sem, units, deprecated] of IANA_ROWS) {
  ianaById[id] = makeInfo(0, id, name, type as DataTypeCode, true);
  ianaSemantics[id] = sem;
  ianaUnits[id] = units;
  ianaDeprecated[id] = deprecated;
}

// --- vendor overlay ---------------------------------------------------------------------------------

/** pen -> (id -> element), for enterprise IPFIX elements known to the overlay. */
const enterprise = new Map<number, Map<number, ElementInfo>>();

function penTable(pen: number): Map<number, ElementInfo> {
  let t = enterprise.get(pen);
  if (t === undefined) {
    t = new Map();
    enterprise.set(pen, t);
  }
  return t;
}

function capitalise(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

for (const [pen, id, name, type] of VENDOR_ELEMENTS) {
  penTable(pen).set(id, makeInfo(pen, id, name, type, true));
}
{
  const cert = penTable(PEN_CERT);
  for (const [id, name, type, reversible] of CERT_ELEMENTS) {
    cert.set(id, makeInfo(PEN_CERT, id, name, type, true));
    if (reversible) {
      const rid = id | CERT_REVERSE_BIT;
      cert.set(rid, makeInfo(PEN_CERT, rid, 'reverse' + capitalise(name), type, true));
    }
  }
}

/** RFC 5103 reverse elements, derived from the IANA table on first use, indexed by id. */
const reverseById: (ElementInfo | undefined)[] = new Array(ianaMaxId + 1).fill(undefined);

/** NetFlow v9 vendor field types, by v9 type. Their pen is 0: v9 has no enterprise numbers. */
const v9Vendor = new Map<number, ElementInfo>();
for (const [type, name, dataType] of V9_VENDOR_FIELDS) {
  v9Vendor.set(type, makeInfo(0, type, name, dataType, true));
}

// --- unknown placeholders -----------------------------------------------------------------------------

const unknownPen0 = new Map<number, ElementInfo>();
const unknownByPen = new Map<number, Map<number, ElementInfo>>();
let unknownCount = 0;

function unknownElement(pen: number, id: number): ElementInfo {
  const table = pen === 0 ? unknownPen0 : unknownByPen.get(pen);
  const hit = table?.get(id);
  if (hit !== undefined) return hit;
  const info = makeInfo(pen, id, pen === 0 ? String(id) : `${pen}.${id}`, DataType.octetArray, false);
  if (unknownCount >= MAX_INTERNED_UNKNOWN) return info;
  unknownCount++;
  if (table !== undefined) {
    table.set(id, info);
  } else {
    unknownByPen.set(pen, new Map([[id, info]]));
  }
  return info;
}

// --- public lookups ---------------------------------------------------------------------------------

/** IANA element `id`, or an interned unknown named "<id>" (octetArray, known: false). */
export function ianaElement(id: number): ElementInfo {
  return ianaById[id] ?? unknownElement(0, id);
}

/**
 * IPFIX element (pen, id), id without the enterprise bit. pen 0 is the IANA table; 29305 is the
 * RFC 5103 reverse of the IANA element with the same id; otherwise the vendor overlay; otherwise an
 * interned unknown named "<pen>.<id>" (octetArray, known: false).
 */
export function ipfixElement(pen: number, id: number): ElementInfo {
  if (pen === 0) return ianaElement(id);
  if (pen === PEN_REVERSE) {
    const hit = reverseById[id];
    if (hit !== undefined) return hit;
    const fwd = ianaById[id];
    if (fwd !== undefined) {
      const rev = makeInfo(PEN_REVERSE, id, 'reverse' + capitalise(fwd.name), fwd.type, true);
      reverseById[id] = rev;
      return rev;
    }
    return unknownElement(pen, id);
  }
  return enterprise.get(pen)?.get(id) ?? unknownElement(pen, id);
}

/**
 * NetFlow v9 field type: the v9 vendor overlay first (Cisco ASA NSEL, PAN-OS, nProbe...), then the
 * IANA table (v9 types 1..127 are IPFIX ids, and so are most assigned above), else an interned
 * unknown named "<type>".
 */
export function v9Element(type: number): ElementInfo {
  return v9Vendor.get(type) ?? ianaById[type] ?? unknownElement(0, type);
}

const dataTypeByName: ReadonlyMap<string, DataTypeCode> = new Map(
  Object.entries(DataType) as [string, DataTypeCode][],
);

/**
 * RFC 7012 abstract data type name (as in the registry CSV: "unsigned64", "ipv4Address", ...) to its
 * DataType code; unknown names map to octetArray (the bytes are kept, never interpreted).
 */
export function dataTypeFromName(name: string): DataTypeCode {
  return dataTypeByName.get(name) ?? DataType.octetArray;
}

/** IANA entry backing `info` (itself, or the forward element of an RFC 5103 reverse one). */
function ianaIdOf(info: ElementInfo): number {
  if (info.pen === 0) return ianaById[info.id] === info ? info.id : -1;
  if (info.pen === PEN_REVERSE) return reverseById[info.id] === info ? info.id : -1;
  return -1;
}

/**
 * Data type semantics (RFC 7012 section 3.2: "deltaCounter", "totalCounter", "identifier",
 * "flags", "quantity", "list") of an IANA or RFC 5103 reverse element; "" when the registry has
 * none (including every vendor and unknown element).
 */
export function elementSemantics(info: ElementInfo): string {
  const id = ianaIdOf(info);
  return id < 0 ? '' : IANA_SEMANTICS[ianaSemantics[id]];
}

/** Units ("octets", "packets", "milliseconds", ...) of an IANA or reverse element, else "". */
export function elementUnits(info: ElementInfo): string {
  const id = ianaIdOf(info);
  return id < 0 ? '' : IANA_UNITS[ianaUnits[id]];
}

/** True for IANA elements the registry marks deprecated (e.g. 34 samplingInterval). */
export function elementDeprecated(info: ElementInfo): boolean {
  const id = ianaIdOf(info);
  return id >= 0 && ianaDeprecated[id] === 1;
}
