/** A template definition as learned from the wire (NetFlow v9 or IPFIX). Immutable once built. */

/** Length value meaning "variable length" in an IPFIX template (RFC 7011 section 7). */
export const VARIABLE_LENGTH = 0xffff;

export interface TemplateField {
  /** Information element id / v9 field type (enterprise bit stripped). */
  readonly id: number;
  /** Private enterprise number; 0 for IANA elements and all NetFlow v9 fields. */
  readonly pen: number;
  /** Field length in bytes, or VARIABLE_LENGTH. */
  readonly length: number;
}

export interface TemplateDef {
  /** 9 = NetFlow v9, 10 = IPFIX. */
  readonly protocol: 9 | 10;
  readonly id: number;
  /** Options template (v9 flowset 1, IPFIX set 3). */
  readonly options: boolean;
  /** Number of leading fields that are scope fields (options templates only). */
  readonly scopeCount: number;
  readonly fields: readonly TemplateField[];
}

/**
 * A definition as the template cache keeps it. Definitions come from the wire, from other worker
 * threads (structured clones), from the KV bucket and from callers, each made another way and so
 * of another V8 shape; the decoder reads the kept one per data set, and a shape its compiled code
 * had not seen deoptimised it (replayed pending data met one at start-up).
 */
export function templateDef(protocol: 9 | 10, id: number, options: boolean, scopeCount: number, fields: readonly TemplateField[]): TemplateDef {
  return { protocol, id, options, scopeCount, fields };
}

/** True when two definitions describe the same record layout. */
export function sameDefinition(a: TemplateDef, b: TemplateDef): boolean {
  if (a.protocol !== b.protocol || a.id !== b.id || a.options !== b.options) return false;
  if (a.scopeCount !== b.scopeCount || a.fields.length !== b.fields.length) return false;
  for (let i = 0; i < a.fields.length; i++) {
    const x = a.fields[i]!;
    const y = b.fields[i]!;
    if (x.id !== y.id || x.pen !== y.pen || x.length !== y.length) return false;
  }
  return true;
}

/** Smallest number of bytes one record of this template can take (variable fields count 1). */
export function minRecordLength(def: TemplateDef): number {
  let n = 0;
  for (const f of def.fields) n += f.length === VARIABLE_LENGTH ? 1 : f.length;
  return n;
}

/** True when the template has at least one variable-length field. */
export function hasVariableLength(def: TemplateDef): boolean {
  for (const f of def.fields) if (f.length === VARIABLE_LENGTH) return true;
  return false;
}
