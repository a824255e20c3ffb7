/**
 * Checking a parsed configuration against a schema, with messages for the person who wrote it:
 * every problem names the setting (`listeners[0].port`), what it must be, what it got, and the
 * fix. All problems are collected, not just the first.
 *
 * The checker walks the TypeBox schema object itself (which is JSON Schema), so the file format
 * the loader accepts and the JSON Schema published for Helm are the same thing. It understands
 * the subset the configuration schemas use: object (properties, required, additionalProperties
 * false), array (items, minItems), string (minLength), integer / number (minimum, maximum),
 * boolean, const, and anyOf (of constants, of objects told apart by a constant property, or of
 * anything else).
 */
import { isIP } from 'node:net';

/** Invalid configuration: `problems` lists every one, each naming the setting and the fix. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[], what = 'configuration') {
    const n = problems.length;
    super(`${what} has ${n} problem${n === 1 ? '' : 's'}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Where a value came from, appended to its problems: "(from FLOW_COLLECTOR_WORKERS)", "(line 7)". */
export interface Origins {
  /** Exact path -> environment variable or flag that set it. */
  readonly set: Map<string, string>;
  /** Path -> line in the file. */
  readonly lines: Map<string, number>;
}

export function newOrigins(): Origins {
  return { set: new Map(), lines: new Map() };
}

/** Collected problems; remembers which paths were invalid so later checks can skip them. */
export class Problems {
  readonly list: string[] = [];
  private readonly bad = new Set<string>();
  constructor(readonly origins: Origins = newOrigins()) {}

  /** Adds "path: message (origin)". An empty path is the whole file. */
  add(path: string, message: string): void {
    this.bad.add(path);
    const where = this.whereOf(path);
    this.list.push(`${path === '' ? '' : `${path}: `}${message}${where}`);
  }

  /** Adds a message that names no setting of the file (a flag, a variable). */
  addRaw(message: string): void {
    this.list.push(message);
  }

  /** True when nothing at, above or below `path` was reported. */
  clean(path: string): boolean {
    for (const b of this.bad) {
      if (b === '' || b === path || isUnder(path, b) || isUnder(b, path)) return false;
    }
    return true;
  }

  get length(): number {
    return this.list.length;
  }

  private whereOf(path: string): string {
    for (let p: string | undefined = path; p !== undefined; p = parentPath(p)) {
      const from = this.origins.set.get(p);
      if (from !== undefined) return ` (from ${from})`;
    }
    for (let p: string | undefined = path; p !== undefined; p = parentPath(p)) {
      const line = this.origins.lines.get(p);
      if (line !== undefined) return ` (line ${line})`;
    }
    return '';
  }
}

/** True when `path` is strictly inside `parent` ("a.b[0]" is under "a.b" and "a"). */
function isUnder(path: string, parent: string): boolean {
  if (parent === '') return path !== '';
  return path.length > parent.length && path.startsWith(parent) && (path[parent.length] === '.' || path[parent.length] === '[');
}

/** "a.b[2].c" -> "a.b[2]" -> "a.b" -> "a" -> "" -> undefined. */
export function parentPath(path: string): string | undefined {
  if (path === '') return undefined;
  const dot = path.lastIndexOf('.');
  const br = path.lastIndexOf('[');
  const cut = Math.max(dot, br);
  return cut <= 0 ? '' : path.slice(0, cut);
}

export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

// ---------------------------------------------------------------------------------------------
// Suggestions

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  const d: number[][] = Array.from({ length: m + 1 }, (_, i) => Array.from({ length: n + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= m; i++) {
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[m]![n]!;
}

const squash = (s: string) => s.toLowerCase().replace(/[-_]/g, '');

/** The candidate the user most likely meant, or undefined when none is close. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  const w = squash(word);
  // Same word in another spelling: maxBytes, max-bytes, MAX_BYTES -> max_bytes.
  for (const c of candidates) if (squash(c) === w) return c;
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(w, squash(c));
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (best !== undefined && bestD <= Math.max(1, Math.min(3, Math.floor(w.length / 3)))) return best;
  // A cut-short name: "proto" -> "protocol".
  if (w.length >= 3) {
    const pre = candidates.filter((c) => squash(c).startsWith(w));
    if (pre.length === 1) return pre[0];
  }
  return undefined;
}

/** `; did you mean "x"?` or `; valid settings here are a, b, c`. */
export function unknownHint(word: string, candidates: readonly string[], what = 'settings here'): string {
  const s = suggest(word, candidates);
  if (s !== undefined) return `; did you mean "${s}"?`;
  return candidates.length > 0 ? `; valid ${what} are ${candidates.join(', ')}` : '';
}

// ---------------------------------------------------------------------------------------------
// Describing values and schemas in words

export function describe(v: unknown): string {
  if (v === null) return 'nothing (null)';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'string':
      return `${JSON.stringify(v)} (text)`;
    case 'number':
      return Number.isFinite(v) ? String(v) : 'a non-finite number';
    case 'boolean':
      return String(v);
    case 'object':
      return 'a mapping of settings';
    default:
      return typeof v;
  }
}

export const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

type Schema = Record<string, unknown>;

function constants(s: Schema): unknown[] | undefined {
  const any = s['anyOf'];
  if (!Array.isArray(any)) return undefined;
  const out: unknown[] = [];
  for (const b of any as Schema[]) {
    if (!('const' in b)) return undefined;
    out.push(b['const']);
  }
  return out;
}

function range(s: Schema): string {
  const min = s['minimum'] as number | undefined;
  const max = s['maximum'] as number | undefined;
  if (min !== undefined && max !== undefined) return ` from ${min} to ${max}`;
  if (min !== undefined) return ` of at least ${min}`;
  if (max !== undefined) return ` of at most ${max}`;
  return '';
}

/** What a value of this schema must be, in words. */
export function expectation(s: Schema): string {
  if ('const' in s) return JSON.stringify(s['const']);
  const cs = constants(s);
  if (cs !== undefined) return `one of ${cs.map((c) => JSON.stringify(c)).join(', ')}`;
  if (Array.isArray(s['anyOf'])) return (s['anyOf'] as Schema[]).map(expectation).join(', or ');
  switch (s['type']) {
    case 'integer':
      return `a whole number${range(s)}`;
    case 'number':
      return `a number${range(s)}`;
    case 'boolean':
      return 'true or false';
    case 'null':
      return 'null';
    case 'string':
      return 'text';
    case 'array':
      return 'a list';
    case 'object':
      return 'a mapping of settings';
    default:
      return 'a value';
  }
}

// ---------------------------------------------------------------------------------------------
// The walker

/** Checks `value` against `schema`; reports into `problems` at `path`. Returns true when valid. */
export function checkValue(schema: Schema, value: unknown, path: string, problems: Problems): boolean {
  if (value === null && !acceptsNull(schema)) {
    problems.add(path, `is empty (null); give ${expectation(schema)}, or remove the key to use the default`);
    return false;
  }
  const cs = constants(schema);
  if (cs !== undefined) {
    if (cs.includes(value)) return true;
    const words = cs.filter((c): c is string => typeof c === 'string');
    const hint = typeof value === 'string' ? suggest(value, words) : undefined;
    problems.add(path, `must be ${expectation(schema)}, got ${describe(value)}${hint !== undefined ? `; did you mean "${hint}"?` : ''}`);
    return false;
  }
  if (Array.isArray(schema['anyOf'])) return checkUnion(schema, schema['anyOf'] as Schema[], value, path, problems);
  if ('const' in schema) {
    if (value === schema['const']) return true;
    problems.add(path, `must be ${JSON.stringify(schema['const'])}, got ${describe(value)}`);
    return false;
  }
  switch (schema['type']) {
    case 'object':
      return checkObject(schema, value, path, problems);
    case 'array': {
      if (!Array.isArray(value)) {
        problems.add(path, `must be a list, got ${describe(value)}`);
        return false;
      }
      const min = schema['minItems'] as number | undefined;
      let ok = true;
      if (min !== undefined && value.length < min) {
        problems.add(path, `needs at least ${min} entr${min === 1 ? 'y' : 'ies'}; remove it to use the default`);
        ok = false;
      }
      const items = schema['items'] as Schema | undefined;
      if (items !== undefined) value.forEach((v, i) => (ok = checkValue(items, v, join(path, i), problems) && ok));
      return ok;
    }
    case 'string': {
      if (typeof value !== 'string') {
        problems.add(path, `must be text, got ${describe(value)}`);
        return false;
      }
      const min = schema['minLength'] as number | undefined;
      if (min !== undefined && value.length < min) {
        problems.add(path, 'must not be empty; remove it to use the default, or give a value');
        return false;
      }
      return true;
    }
    case 'integer':
    case 'number': {
      const whole = schema['type'] === 'integer';
      if (typeof value !== 'number' || !Number.isFinite(value) || (whole && !Number.isInteger(value))) {
        let tip = '';
        if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) tip = '; write the number without quotes';
        problems.add(path, `must be ${expectation(schema)}, got ${describe(value)}${tip}`);
        return false;
      }
      const min = schema['minimum'] as number | undefined;
      const max = schema['maximum'] as number | undefined;
      if ((min !== undefined && value < min) || (max !== undefined && value > max)) {
        problems.add(path, `must be ${expectation(schema)}, got ${value}`);
        return false;
      }
      return true;
    }
    case 'null':
      if (value === null) return true;
      problems.add(path, `must be null, got ${describe(value)}`);
      return false;
    case 'boolean':
      if (typeof value === 'boolean') return true;
      problems.add(path, `must be true or false, got ${describe(value)}${typeof value === 'string' && /^(true|false)$/i.test(value) ? '; write it without quotes' : ''}`);
      return false;
    default:
      return true;
  }
}

function checkObject(schema: Schema, value: unknown, path: string, problems: Problems): boolean {
  if (!isPlainObject(value)) {
    problems.add(path, `must be a mapping of settings, got ${describe(value)}`);
    return false;
  }
  const props = (schema['properties'] ?? {}) as Record<string, Schema>;
  const names = Object.keys(props);
  let ok = true;
  const patterns = Object.entries((schema['patternProperties'] ?? {}) as Record<string, Schema>);
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(props, key)) {
      const pattern = patterns.find(([re]) => new RegExp(re, 'u').test(key));
      if (pattern !== undefined) {
        ok = checkValue(pattern[1], value[key], join(path, key), problems) && ok;
      } else if (schema['additionalProperties'] === false) {
        problems.add(join(path, key), `unknown setting${unknownHint(key, names)}`);
        ok = false;
      }
      continue;
    }
    if (value[key] === undefined) continue;
    ok = checkValue(props[key]!, value[key], join(path, key), problems) && ok;
  }
  for (const key of (schema['required'] ?? []) as string[]) {
    if (value[key] === undefined) {
      const d = props[key]?.['description'];
      problems.add(join(path, key), `missing; it is required${typeof d === 'string' ? ` (${d})` : ''}`);
      ok = false;
    }
  }
  return ok;
}

function acceptsNull(s: Schema): boolean {
  if (s['type'] === 'null') return true;
  return Array.isArray(s['anyOf']) && (s['anyOf'] as Schema[]).some(acceptsNull);
}

/** The property whose constant tells the branches of a union of objects apart ("type"). */
export function discriminator(branches: Schema[]): string | undefined {
  if (branches.length === 0 || !branches.every((b) => b['type'] === 'object')) return undefined;
  const first = (branches[0]!['properties'] ?? {}) as Record<string, Schema>;
  for (const key of Object.keys(first)) {
    if (branches.every((b) => 'const' in (((b['properties'] ?? {}) as Record<string, Schema>)[key] ?? {}))) return key;
  }
  return undefined;
}

/** The branch of a discriminated union that `value` names, if any. */
export function branchOf(branches: Schema[], key: string, value: unknown): Schema | undefined {
  if (!isPlainObject(value)) return undefined;
  return branches.find((b) => ((b['properties'] as Record<string, Schema>)[key]!['const'] as unknown) === value[key]);
}

function checkUnion(schema: Schema, branches: Schema[], value: unknown, path: string, problems: Problems): boolean {
  const key = discriminator(branches);
  if (key !== undefined) {
    if (!isPlainObject(value)) {
      problems.add(path, `must be a mapping of settings with "${key}", got ${describe(value)}`);
      return false;
    }
    const kinds = branches.map((b) => (b['properties'] as Record<string, Schema>)[key]!['const'] as string);
    const chosen = branchOf(branches, key, value);
    if (chosen === undefined) {
      if (value[key] === undefined) {
        problems.add(join(path, key), `missing; it is required: one of ${kinds.map((k) => JSON.stringify(k)).join(', ')}`);
      } else {
        const v = value[key];
        const hint = typeof v === 'string' ? suggest(v, kinds) : undefined;
        problems.add(join(path, key), `must be one of ${kinds.map((k) => JSON.stringify(k)).join(', ')}, got ${describe(v)}${hint !== undefined ? `; did you mean "${hint}"?` : ''}`);
      }
      return false;
    }
    return checkValue(chosen, value, path, problems);
  }
  // Anything else: valid when one branch accepts it silently.
  for (const b of branches) if (checkValue(b, value, path, new Problems())) return true;
  problems.add(path, `must be ${expectation(schema)}, got ${describe(value)}`);
  return false;
}

/** Fills missing properties that have a `default` in the schema (in place), recursively. */
export function fillDefaults(schema: Schema, value: unknown): void {
  if (Array.isArray(schema['anyOf'])) {
    const branches = schema['anyOf'] as Schema[];
    const key = discriminator(branches);
    const b = key !== undefined ? branchOf(branches, key, value) : undefined;
    if (b !== undefined) fillDefaults(b, value);
    return;
  }
  if (schema['type'] === 'array' && Array.isArray(value) && schema['items'] !== undefined) {
    for (const v of value) fillDefaults(schema['items'] as Schema, v);
    return;
  }
  if (schema['type'] !== 'object' || !isPlainObject(value)) return;
  const props = (schema['properties'] ?? {}) as Record<string, Schema>;
  for (const [key, s] of Object.entries(props)) {
    if (value[key] === undefined && 'default' in s) value[key] = structuredClone(s['default']);
    if (value[key] !== undefined) fillDefaults(s, value[key]);
  }
}

/** A copy of `value` with keys in the schema's order and only the keys the schema knows. */
export function canonical(schema: Schema, value: unknown): unknown {
  if (Array.isArray(schema['anyOf'])) {
    const branches = schema['anyOf'] as Schema[];
    const key = discriminator(branches);
    const b = key !== undefined ? branchOf(branches, key, value) : undefined;
    return b !== undefined ? canonical(b, value) : value;
  }
  if (schema['type'] === 'array' && Array.isArray(value)) return value.map((v) => canonical((schema['items'] ?? {}) as Schema, v));
  if (schema['type'] !== 'object' || !isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries((schema['properties'] ?? {}) as Record<string, Schema>)) {
    if (value[key] !== undefined) out[key] = canonical(s, value[key]);
  }
  return out;
}

/** The schema of the property at a path of property names, through objects only. */
export function schemaAt(schema: Schema, keys: readonly string[]): Schema | undefined {
  let s: Schema | undefined = schema;
  for (const k of keys) {
    if (s === undefined || s['type'] !== 'object') return undefined;
    s = ((s['properties'] ?? {}) as Record<string, Schema>)[k];
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Addresses and subjects

export interface HostPort {
  address: string;
  port: number;
}

/**
 * Parses "ADDRESS:PORT" or "[IPv6]:PORT" with a literal address. Returns a message on error.
 */
export function parseHostPort(text: string): HostPort | string {
  const t = text.trim();
  let host: string;
  let portText: string;
  if (t.startsWith('[')) {
    const end = t.indexOf(']');
    if (end < 0 || t[end + 1] !== ':') return `"${text}" is not ADDRESS:PORT; write IPv6 as [ADDRESS]:PORT, e.g. [::]:2055`;
    host = t.slice(1, end);
    portText = t.slice(end + 2);
    if (isIP(host) !== 6) return `"${host}" in "${text}" is not an IPv6 address`;
  } else {
    const colon = t.lastIndexOf(':');
    if (colon < 0) {
      return /^\d+$/.test(t) ? `"${text}" has no address; write ADDRESS:PORT, e.g. 0.0.0.0:${t} (all IPv4) or [::]:${t} (IPv6 and IPv4)` : `"${text}" is not ADDRESS:PORT, e.g. 0.0.0.0:2055`;
    }
    host = t.slice(0, colon);
    portText = t.slice(colon + 1);
    if (host.includes(':')) return `"${text}": put an IPv6 address in brackets, e.g. [${host}]:${portText}`;
    if (host === '') return `"${text}" has no address; write e.g. 0.0.0.0${t} (all IPv4) or [::]${t} (IPv6 and IPv4)`;
    if (isIP(host) !== 4) {
      return `"${host}" in "${text}" is not an IP address; use a literal address (0.0.0.0 for all IPv4, [::] for IPv6 and IPv4), not a host name`;
    }
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) return `"${portText}" in "${text}" is not a port number (0 to 65535)`;
  return { address: host, port: Number(portText) };
}

/** "ADDRESS:PORT" with IPv6 in brackets. */
export function formatHostPort(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** A concrete NATS subject to publish to: dot-separated tokens, no wildcards, no spaces. */
export function subjectProblem(subject: string, wildcards: boolean): string | undefined {
  if (/\s/.test(subject)) return `"${subject}" contains white space; NATS subjects cannot`;
  const tokens = subject.split('.');
  if (tokens.some((t) => t === '')) return `"${subject}" has an empty token (a leading, trailing or doubled "."); write e.g. "flows.raw.netflow"`;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === '*' || t === '>') {
      if (!wildcards) return `"${subject}" contains the wildcard "${t}"; flows are published to concrete subjects, e.g. "flows.raw.netflow"`;
      if (t === '>' && i !== tokens.length - 1) return `"${subject}": ">" must be the last token`;
    } else if (t.includes('*') || t.includes('>')) {
      return `"${subject}": wildcards "*" and ">" must be whole tokens`;
    }
  }
  return undefined;
}

/** Whether a NATS subject filter (with * and >) matches a concrete subject. */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (f[i] !== '*' && f[i] !== s[i]) return false;
  }
  return f.length === s.length;
}
