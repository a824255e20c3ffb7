/**
 * Values of the template bucket: a small versioned envelope saying what the value is, when it
 * was learned from the wire (ms since the epoch, the learning instance's clock) and by which
 * instance, then the body: the template codec bytes (codec.ts) or an options row.
 *
 * Version 1 layout:
 *   u8  envelope version (1)
 *   u8  kind (1 template, 2 options row)
 *   f64 learnedAt, big-endian
 *   u8  origin length, origin (UTF-8)
 *   body
 *
 * An options row body is JSON: {"t": template id, "k": row scope key, "a": receive time,
 * "v": values}; byte strings, big integers and non-finite numbers are tagged ({"$b": base64},
 * {"$n": decimal}, {"$f": "NaN"}) so they come back as they were.
 */
import { decodeTemplate, encodeTemplate, TemplateCodecError } from '../codec.js';
import type { OptionsRow } from '../cache.js';
import type { TemplateDef } from '../template.js';

export const ENVELOPE_VERSION = 1;
const KIND_TEMPLATE = 1;
const KIND_OPTIONS = 2;
const HEAD = 11;

export type Envelope =
  | { kind: 'template'; learnedAt: number; origin: string; def: TemplateDef }
  | { kind: 'options'; learnedAt: number; origin: string; row: OptionsRow };

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

function frame(kind: number, learnedAt: number, origin: string, body: Uint8Array): Uint8Array {
  const o = utf8.encode(origin);
  if (o.length > 255) throw new TemplateCodecError('origin longer than 255 bytes');
  const out = new Uint8Array(HEAD + o.length + body.length);
  const dv = new DataView(out.buffer);
  out[0] = ENVELOPE_VERSION;
  out[1] = kind;
  dv.setFloat64(2, learnedAt);
  out[10] = o.length;
  out.set(o, HEAD);
  out.set(body, HEAD + o.length);
  return out;
}

export function encodeTemplateEnvelope(def: TemplateDef, learnedAt: number, origin: string): Uint8Array {
  return frame(KIND_TEMPLATE, learnedAt, origin, encodeTemplate(def));
}

export function encodeOptionsEnvelope(row: OptionsRow, learnedAt: number, origin: string): Uint8Array {
  return frame(KIND_OPTIONS, learnedAt, origin, encodeOptionsBody(row));
}

/** The options row encoding alone (compared to tell a changed row from a repeated one). */
export function encodeOptionsBody(row: OptionsRow): Uint8Array {
  const json = JSON.stringify({ t: row.templateId, k: row.scopeKey, a: row.at, v: row.values }, (_k, v: unknown) => {
    if (v instanceof Uint8Array) return { $b: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
    if (typeof v === 'bigint') return { $n: v.toString() };
    if (typeof v === 'number' && !Number.isFinite(v)) return { $f: String(v) };
    return v;
  });
  return utf8.encode(json);
}

function decodeOptionsBody(b: Uint8Array): OptionsRow {
  let o: unknown;
  try {
    o = JSON.parse(fromUtf8.decode(b), (_k, v: unknown) => {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        const r = v as Record<string, unknown>;
        const keys = Object.keys(r);
        if (keys.length === 1) {
          if (typeof r['$b'] === 'string') return new Uint8Array(Buffer.from(r['$b'], 'base64'));
          if (typeof r['$n'] === 'string') return BigInt(r['$n']);
          if (typeof r['$f'] === 'string') return Number(r['$f']);
        }
      }
      return v;
    });
  } catch (err) {
    throw new TemplateCodecError(`options row: ${(err as Error).message}`);
  }
  const r = o as Record<string, unknown>;
  if (r === null || typeof r !== 'object' || typeof r['t'] !== 'number' || typeof r['k'] !== 'string' || typeof r['a'] !== 'number' || r['v'] === null || typeof r['v'] !== 'object') {
    throw new TemplateCodecError('options row: missing fields');
  }
  return { templateId: r['t'], scopeKey: r['k'], at: r['a'], values: r['v'] as Record<string, unknown> };
}

/** Decodes a value; throws TemplateCodecError on anything it does not understand. */
export function decodeEnvelope(b: Uint8Array): Envelope {
  if (b.length < HEAD) throw new TemplateCodecError('envelope too short');
  if (b[0] !== ENVELOPE_VERSION) throw new TemplateCodecError(`unsupported envelope version ${b[0]}`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const learnedAt = dv.getFloat64(2);
  if (!Number.isFinite(learnedAt)) throw new TemplateCodecError('envelope time not finite');
  const olen = b[10]!;
  if (HEAD + olen > b.length) throw new TemplateCodecError('envelope origin truncated');
  let origin: string;
  try {
    origin = fromUtf8.decode(b.subarray(HEAD, HEAD + olen));
  } catch {
    throw new TemplateCodecError('envelope origin not UTF-8');
  }
  const body = b.subarray(HEAD + olen);
  if (b[1] === KIND_TEMPLATE) return { kind: 'template', learnedAt, origin, def: decodeTemplate(body) };
  if (b[1] === KIND_OPTIONS) return { kind: 'options', learnedAt, origin, row: decodeOptionsBody(body) };
  throw new TemplateCodecError(`unknown envelope kind ${b[1]}`);
}
