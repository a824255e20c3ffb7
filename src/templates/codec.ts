import { VARIABLE_LENGTH, type TemplateDef, type TemplateField } from './template.js';

/**
 * Compact, versioned binary form of a template definition; what the shared store persists.
 *
 * Version 1 layout (big-endian):
 *   u8  version (1)
 *   u8  protocol (9 or 10)
 *   u8  flags (bit 0: options template)
 *   u16 template id
 *   u16 scope field count
 *   u16 field count
 *   then per field: u16 id (bit 15 set when a PEN follows), u16 length, [u32 pen]
 */
export const TEMPLATE_CODEC_VERSION = 1;

export class TemplateCodecError extends Error {}

export function encodeTemplate(def: TemplateDef): Uint8Array {
  let size = 9;
  for (const f of def.fields) size += f.pen !== 0 ? 8 : 4;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  out[0] = TEMPLATE_CODEC_VERSION;
  out[1] = def.protocol;
  out[2] = def.options ? 1 : 0;
  dv.setUint16(3, def.id);
  dv.setUint16(5, def.scopeCount);
  dv.setUint16(7, def.fields.length);
  let p = 9;
  for (const f of def.fields) {
    if (f.id > 0x7fff) throw new TemplateCodecError(`field id ${f.id} out of range`);
    dv.setUint16(p, f.pen !== 0 ? f.id | 0x8000 : f.id);
    dv.setUint16(p + 2, f.length);
    p += 4;
    if (f.pen !== 0) {
      dv.setUint32(p, f.pen);
      p += 4;
    }
  }
  return out;
}

export function decodeTemplate(bytes: Uint8Array): TemplateDef {
  if (bytes.length < 9) throw new TemplateCodecError('template encoding too short');
  const version = bytes[0];
  if (version !== TEMPLATE_CODEC_VERSION) {
    throw new TemplateCodecError(`unsupported template encoding version ${version}`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const protocol = bytes[1];
  if (protocol !== 9 && protocol !== 10) throw new TemplateCodecError(`bad protocol ${protocol}`);
  const flags = bytes[2]!;
  const id = dv.getUint16(3);
  const scopeCount = dv.getUint16(5);
  const count = dv.getUint16(7);
  if (scopeCount > count) throw new TemplateCodecError('scope count exceeds field count');
  const fields: TemplateField[] = [];
  let p = 9;
  for (let i = 0; i < count; i++) {
    if (p + 4 > bytes.length) throw new TemplateCodecError('template encoding truncated');
    const raw = dv.getUint16(p);
    const length = dv.getUint16(p + 2);
    p += 4;
    let pen = 0;
    if (raw & 0x8000) {
      if (p + 4 > bytes.length) throw new TemplateCodecError('template encoding truncated');
      pen = dv.getUint32(p);
      p += 4;
      if (pen === 0) throw new TemplateCodecError('enterprise bit set with PEN 0');
    }
    fields.push({ id: raw & 0x7fff, pen, length });
  }
  if (p !== bytes.length) throw new TemplateCodecError('trailing bytes after template encoding');
  return { protocol, id, options: (flags & 1) !== 0, scopeCount, fields };
}

/** A string key identifying the layout (used to share compiled decoders between scopes). */
export function layoutKey(def: TemplateDef): string {
  let s = `${def.protocol}${def.options ? 'o' : 'd'}${def.scopeCount}:`;
  for (const f of def.fields) {
    s += f.pen !== 0 ? `${f.pen}.${f.id}/${f.length === VARIABLE_LENGTH ? 'v' : f.length},` : `${f.id}/${f.length === VARIABLE_LENGTH ? 'v' : f.length},`;
  }
  return s;
}
