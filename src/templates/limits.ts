/** Limits that bound template state; every one configurable, all with safe defaults. */
export interface TemplateLimits {
  /** Template scopes (exporter + domain) kept; least-recently-used scopes are evicted whole. */
  maxSources: number;
  /** Data + options templates per scope. */
  maxTemplates: number;
  /** Fields per template. */
  maxTemplateFields: number;
  /** Largest record a template may describe, in bytes (fixed parts; variable fields count 1). */
  maxRecordLength: number;
  /** Include the exporter's UDP source port in the scope (off: exporters change ports on restart). */
  scopeIncludesPort: boolean;
  /** Pending buffer: bytes kept per scope for data whose template is not known yet. */
  pendingMaxBytesPerScope: number;
  /** Pending buffer: bytes kept in all scopes together. */
  pendingMaxBytesTotal: number;
  /** Pending buffer: how long unknown-template data is kept, in milliseconds. */
  pendingMaxAgeMs: number;
  /** Options records (sampler/interface tables) kept per scope. */
  maxOptionsRecords: number;
}

export const DEFAULT_LIMITS: Readonly<TemplateLimits> = Object.freeze({
  maxSources: 10_000,
  maxTemplates: 512,
  maxTemplateFields: 512,
  maxRecordLength: 65_535,
  scopeIncludesPort: false,
  pendingMaxBytesPerScope: 256 * 1024,
  pendingMaxBytesTotal: 64 * 1024 * 1024,
  pendingMaxAgeMs: 60_000,
  maxOptionsRecords: 4096,
});

const SNAKE: Record<keyof TemplateLimits, string> = {
  maxSources: 'max_sources',
  maxTemplates: 'max_templates',
  maxTemplateFields: 'max_template_fields',
  maxRecordLength: 'max_record_length',
  scopeIncludesPort: 'scope_includes_port',
  pendingMaxBytesPerScope: 'pending_max_bytes_per_scope',
  pendingMaxBytesTotal: 'pending_max_bytes_total',
  pendingMaxAgeMs: 'pending_max_age_ms',
  maxOptionsRecords: 'max_options_records',
};

export class LimitsError extends Error {}

/**
 * Builds limits from a partial (snake_case or camelCase keys), validating every value.
 * Throws LimitsError naming the field and the fix.
 */
export function resolveLimits(input: Record<string, unknown> = {}, prefix = 'templates'): TemplateLimits {
  const out: TemplateLimits = { ...DEFAULT_LIMITS };
  const known = new Map<string, keyof TemplateLimits>();
  for (const k of Object.keys(SNAKE) as (keyof TemplateLimits)[]) {
    known.set(k, k);
    known.set(SNAKE[k], k);
  }
  for (const [key, value] of Object.entries(input)) {
    const k = known.get(key);
    if (k === undefined) {
      throw new LimitsError(`${prefix}.${key}: unknown setting; valid settings are ${Object.values(SNAKE).join(', ')}`);
    }
    const name = `${prefix}.${SNAKE[k]}`;
    if (k === 'scopeIncludesPort') {
      if (typeof value !== 'boolean') throw new LimitsError(`${name}: must be true or false, got ${JSON.stringify(value)}`);
      out[k] = value;
      continue;
    }
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      throw new LimitsError(`${name}: must be a whole number of at least 1, got ${JSON.stringify(value)}; remove it to use the default ${DEFAULT_LIMITS[k]}`);
    }
    if (k === 'maxRecordLength' && value > 65_535) {
      throw new LimitsError(`${name}: at most 65535 (the largest UDP payload), got ${value}`);
    }
    if (k === 'maxTemplateFields' && value > 65_535) {
      throw new LimitsError(`${name}: at most 65535, got ${value}`);
    }
    out[k] = value;
  }
  if (out.pendingMaxBytesPerScope > out.pendingMaxBytesTotal) {
    throw new LimitsError(`${prefix}.pending_max_bytes_per_scope (${out.pendingMaxBytesPerScope}) exceeds ${prefix}.pending_max_bytes_total (${out.pendingMaxBytesTotal}); raise the total or lower the per-scope limit`);
  }
  return out;
}
