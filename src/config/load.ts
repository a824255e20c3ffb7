/**
 * Loading the configuration of `flow-collector serve`.
 *
 * Precedence, lowest first: embedded defaults < file (JSON or YAML; or a ServiceRadar
 * flow-collector JSON file, mapped) < FLOW_COLLECTOR_* environment variables < command-line flags.
 * The merged settings are checked against FileConfigSchema, the defaults in the schema are
 * filled in, then the rules a schema cannot say are checked. Every problem is collected and
 * thrown together in one ConfigError.
 */
import { accessSync, constants as fsConstants, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, extname } from 'node:path';
import { isIP } from 'node:net';
import { Value } from '@sinclair/typebox/value';
import { LineCounter, parseDocument, isMap, isSeq, isPair, isScalar, type Node as YamlNode } from 'yaml';
import { resolveLimits, LimitsError, keyToken, type TemplateLimits } from '../templates/mod.js';
import { resolveSampling, SamplingConfigError } from '../decode/mod.js';
import {
  FileConfigSchema,
  CollectorConfigSchema,
  type CollectorConfig,
  type ListenerConfig,
  type TemplateLimitsConfig,
} from './schema.js';
import {
  ConfigError,
  Problems,
  newOrigins,
  checkValue,
  fillDefaults,
  canonical,
  schemaAt,
  expectation,
  describe,
  suggest,
  unknownHint,
  isPlainObject,
  join,
  parseHostPort,
  formatHostPort,
  subjectProblem,
  subjectMatches,
  type Origins,
} from './check.js';
import { isServiceRadarConfig, fromServiceRadar } from './serviceradar.js';

type Obj = Record<string, unknown>;
type Schema = Record<string, unknown>;
const FILE_SCHEMA = FileConfigSchema as unknown as Schema;

/** Command-line settings of `serve` that override the file and the environment. */
export interface ServeFlags {
  /** "ADDRESS:PORT" / "[IPv6]:PORT", repeatable; replaces the listeners (protocol auto). */
  listen?: string[];
  /** "stdout" or "file:PATH"; replaces the outputs. */
  output?: string;
  /** Format of every output. */
  format?: 'json' | 'flowpb';
  /** 0 = one per available CPU. */
  workers?: number;
  /** "ADDRESS:PORT" (port 0 allowed), or "off" / "none" to disable the metrics server. */
  metricsAddr?: string;
  logLevel?: string;
}

export interface LoadOptions {
  /** Configuration file; default: $FLOW_COLLECTOR_CONFIG, else none (embedded defaults). */
  file?: string;
  /** Environment to read FLOW_COLLECTOR_* from; default process.env. */
  env?: NodeJS.ProcessEnv;
  flags?: ServeFlags;
}

export interface LoadResult {
  config: CollectorConfig;
  /** Things that work but deserve a look (and every ServiceRadar mapping note). */
  warnings: string[];
  source: 'default' | 'file' | 'serviceradar';
}

export const ENV_PREFIX = 'FLOW_COLLECTOR_';
/** FLOW_COLLECTOR_* variables that are not setting overrides. */
export const ENV_NOT_OVERRIDES: ReadonlySet<string> = new Set(['FLOW_COLLECTOR_INGEST', 'FLOW_COLLECTOR_DEBUG', 'FLOW_COLLECTOR_CONFIG', 'FLOW_COLLECTOR_TRANSCODE']);

export function loadConfig(opts: LoadOptions = {}): LoadResult {
  const env = opts.env ?? process.env;
  const origins = newOrigins();
  const problems = new Problems(origins);
  const warnings: string[] = [];
  let raw: Obj = {};
  let source: LoadResult['source'] = 'default';
  const envFile = env['FLOW_COLLECTOR_CONFIG'];
  const file = opts.file ?? (envFile !== undefined && envFile !== '' ? envFile : undefined);
  let what = 'configuration';
  if (file !== undefined) {
    what = `configuration ${file}`;
    const parsed = readConfigFile(file, origins);
    if (parsed === null || parsed === undefined) {
      warnings.push(`${file}: the file is empty; using the defaults`);
    } else if (!isPlainObject(parsed)) {
      throw new ConfigError([`the file must hold a mapping of settings (key: value), got ${describe(parsed)}`], what);
    } else if (isServiceRadarConfig(parsed)) {
      source = 'serviceradar';
      what = `ServiceRadar flow-collector configuration ${file}`;
      const mapped = fromServiceRadar(parsed, origins);
      warnings.push(...mapped.warnings);
      raw = mapped.config;
      // Mapped settings have no line of their own in our terms.
      origins.lines.clear();
      if (mapped.problems.length > 0) {
        // Report the environment's and the flags' problems too, but do not check a half-mapped file.
        for (const p of mapped.problems) problems.addRaw(p);
        applyEnv(raw, env, problems);
        applyFlags(raw, opts.flags ?? {}, problems);
        throw new ConfigError(problems.list, what);
      }
    } else {
      source = 'file';
      raw = parsed;
    }
  }
  applyEnv(raw, env, problems);
  applyFlags(raw, opts.flags ?? {}, problems);
  const config = resolveConfig(raw, problems, warnings);
  if (config === undefined || problems.length > 0) throw new ConfigError(problems.list, what);
  return { config, warnings, source };
}

// ---------------------------------------------------------------------------------------------
// The file

/** Reads and parses a JSON or YAML file; records the line of every setting. Throws ConfigError. */
function readConfigFile(file: string, origins: Origins): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'does not exist; check the path given with --config or FLOW_COLLECTOR_CONFIG'
      : code === 'EACCES' ? 'cannot be read (permission denied)'
      : code === 'EISDIR' ? 'is a directory; give the configuration file inside it'
      : `cannot be read (${(err as Error).message})`;
    throw new ConfigError([`${file} ${why}`], 'configuration');
  }
  const ext = extname(file).toLowerCase();
  const json = ext === '.json' || (ext !== '.yaml' && ext !== '.yml' && /^\s*[{[]/.test(text));
  let value: unknown;
  if (json) {
    try {
      value = text.trim() === '' ? null : JSON.parse(text);
    } catch (err) {
      const msg = (err as Error).message;
      const pos = /position (\d+)/.exec(msg);
      let at = '';
      if (pos !== null) {
        const before = text.slice(0, Number(pos[1]));
        const line = before.split('\n').length;
        at = ` at line ${line}, column ${before.length - before.lastIndexOf('\n')}`;
      }
      throw new ConfigError([`not valid JSON${at}: ${msg.replace(/ in JSON at position \d+.*$/, '')}${ext === '.json' ? '' : ' (name the file .yaml for YAML)'}`], `configuration ${file}`);
    }
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: true });
  if (!json) {
    if (doc.errors.length > 0) {
      throw new ConfigError(
        doc.errors.map((e) => `not valid YAML: ${e.message.split('\n')[0]}`),
        `configuration ${file}`,
      );
    }
    value = doc.toJS({ maxAliasCount: 100 });
  }
  if (doc.errors.length === 0) recordLines(doc.contents as YamlNode | null, '', lineCounter, origins.lines);
  return value;
}

function recordLines(node: YamlNode | null, path: string, lc: LineCounter, lines: Map<string, number>): void {
  if (node === null) return;
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair) || !isScalar(pair.key)) continue;
      const key = String(pair.key.value);
      const p = join(path, key);
      const r = pair.key.range;
      if (r) lines.set(p, lc.linePos(r[0]).line);
      recordLines(pair.value as YamlNode | null, p, lc, lines);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const p = join(path, i);
      const r = (item as YamlNode).range;
      if (r) lines.set(p, lc.linePos(r[0]).line);
      recordLines(item as YamlNode, p, lc, lines);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Environment

/** Every FLOW_COLLECTOR_* variable that overrides a setting, with the setting's path. */
export function envVariables(): { name: string; path: string }[] {
  const out: { name: string; path: string }[] = [];
  const walk = (s: Schema, keys: string[]) => {
    for (const [k, sub] of Object.entries((s['properties'] ?? {}) as Record<string, Schema>)) {
      const ks = [...keys, k];
      out.push({ name: ENV_PREFIX + ks.map((x) => x.toUpperCase()).join('__'), path: ks.join('.') });
      if (sub['type'] === 'object') walk(sub, ks);
    }
  };
  walk(FILE_SCHEMA, []);
  return out;
}

function applyEnv(raw: Obj, env: NodeJS.ProcessEnv, problems: Problems): void {
  const known = envVariables();
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith(ENV_PREFIX) || ENV_NOT_OVERRIDES.has(name)) continue;
    const text = env[name];
    if (text === undefined || text === '') continue;
    const keys = name.slice(ENV_PREFIX.length).split('__').map((k) => k.toLowerCase());
    const schema = keys.some((k) => k === '') ? undefined : schemaAt(FILE_SCHEMA, keys);
    if (schema === undefined) {
      problems.addRaw(
        `${name}: unknown setting${unknownHint(name, known.map((k) => k.name), 'variables')}` +
          ' (FLOW_COLLECTOR_<SECTION>__<SETTING> names a setting of the file, "__" between levels)',
      );
      continue;
    }
    const path = keys.join('.');
    const parsed = fromText(schema, text, path);
    if (typeof parsed === 'object' && parsed !== null && 'error' in parsed) {
      problems.addRaw(`${name}=${JSON.stringify(text)}: ${path} ${parsed.error}`);
      continue;
    }
    setPath(raw, keys, parsed);
    problems.origins.set.set(path, name);
  }
}

/** A variable's text as a value of the schema's type, or { error }. */
function fromText(schema: Schema, text: string, path: string): unknown {
  const t = text.trim();
  const anyOf = schema['anyOf'] as Schema[] | undefined;
  if (anyOf !== undefined) {
    // Constants stay text (checked later with a suggestion); "auto" | integer tries a number first.
    if (anyOf.some((b) => b['type'] === 'integer') && /^[+-]?\d+$/.test(t)) return Number(t);
    if (anyOf.every((b) => b['type'] === 'object')) return fromJson(t);
    return t;
  }
  switch (schema['type']) {
    case 'integer':
    case 'number':
      if (/^[+-]?\d+(\.\d+)?$/.test(t)) return Number(t);
      return { error: `must be ${expectation(schema)}, got ${JSON.stringify(text)}` };
    case 'boolean':
      if (/^(true|1|yes|on)$/i.test(t)) return true;
      if (/^(false|0|no|off)$/i.test(t)) return false;
      return { error: `must be true or false (or 1/0, yes/no, on/off), got ${JSON.stringify(text)}` };
    case 'string':
      return text;
    case 'array': {
      const items = (schema['items'] ?? {}) as Schema;
      if (items['type'] === 'string') {
        if (t.startsWith('[')) return fromJson(t);
        return t.split(',').map((s) => s.trim()).filter((s) => s !== '');
      }
      if (path === 'listeners' && !t.startsWith('[')) {
        // Like --listen: "0.0.0.0:2055,[::]:6343".
        const out: Obj[] = [];
        for (const spec of t.split(/[\s,]+/).filter((s) => s !== '')) {
          const hp = parseHostPort(spec);
          if (typeof hp === 'string') return { error: `must be ADDRESS:PORT[,ADDRESS:PORT...] or a JSON list of listeners: ${hp}` };
          out.push({ address: hp.address, port: hp.port });
        }
        return out;
      }
      return fromJson(t);
    }
    case 'object':
      return fromJson(t);
    default:
      return text;
  }
}

function fromJson(t: string): unknown {
  try {
    return JSON.parse(t);
  } catch (err) {
    return { error: `must be JSON here (a list or mapping), which this is not: ${(err as Error).message}` };
  }
}

function setPath(root: Obj, keys: readonly string[], value: unknown): void {
  let o = root;
  for (const k of keys.slice(0, -1)) {
    if (!isPlainObject(o[k])) o[k] = {};
    o = o[k] as Obj;
  }
  o[keys[keys.length - 1]!] = value;
}

// ---------------------------------------------------------------------------------------------
// Flags

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** An --output value as an output, or a message. */
function parseOutputFlag(v: string): Obj | string {
  if (v === 'stdout') return { type: 'stdout' };
  if (v.startsWith('file:')) {
    const path = v.slice(5);
    return path === '' ? '"file:" needs a path, e.g. file:/var/log/flows.ndjson' : { type: 'file', path };
  }
  const s = suggest(v.split(':')[0]!, ['stdout', 'file']);
  return `"${v}" is not an output; use stdout or file:PATH${s !== undefined && s !== v ? ` (did you mean "${s === 'file' ? 'file:PATH' : s}"?)` : ''}`;
}

function applyFlags(raw: Obj, flags: ServeFlags, problems: Problems): void {
  const set = problems.origins.set;
  if (flags.listen !== undefined) {
    const ls: Obj[] = [];
    for (const spec of flags.listen) {
      const hp = parseHostPort(spec);
      if (typeof hp === 'string') problems.addRaw(`--listen: ${hp}`);
      else ls.push({ address: hp.address, port: hp.port });
    }
    if (flags.listen.length === 0) problems.addRaw('--listen: give at least one ADDRESS:PORT');
    raw['listeners'] = ls.length > 0 ? ls : raw['listeners'];
    set.set('listeners', '--listen');
  }
  if (flags.output !== undefined) {
    const out = parseOutputFlag(flags.output);
    if (typeof out === 'string') problems.addRaw(`--output: ${out}`);
    else {
      raw['outputs'] = [out];
      set.set('outputs', '--output');
    }
  }
  if (flags.format !== undefined) {
    if (raw['outputs'] === undefined) raw['outputs'] = [{ type: 'stdout' }];
    (Array.isArray(raw['outputs']) ? raw['outputs'] : []).forEach((o: unknown, i: number) => {
      if (isPlainObject(o)) {
        o['format'] = flags.format;
        set.set(`outputs[${i}].format`, '--format');
      }
    });
  }
  if (flags.workers !== undefined) {
    raw['workers'] = flags.workers;
    set.set('workers', '--workers');
  }
  if (flags.metricsAddr !== undefined) {
    const m: Obj = isPlainObject(raw['metrics']) ? raw['metrics'] : {};
    if (/^(off|none)$/i.test(flags.metricsAddr)) m['enabled'] = false;
    else {
      m['enabled'] = true;
      m['address'] = flags.metricsAddr;
    }
    raw['metrics'] = m;
    set.set('metrics.address', '--metrics-addr');
    set.set('metrics.enabled', '--metrics-addr');
  }
  if (flags.logLevel !== undefined) {
    const l: Obj = isPlainObject(raw['logging']) ? raw['logging'] : {};
    l['level'] = flags.logLevel;
    raw['logging'] = l;
    set.set('logging.level', '--log-level');
  }
}

export interface ParsedServeArgs {
  flags: ServeFlags;
  configFile?: string;
  checkConfig: boolean;
  help: boolean;
}

interface FlagSpec {
  short?: string;
  value?: string;
}
const SERVE_OPTIONS: Record<string, FlagSpec> = {
  '--config': { short: '-c', value: 'FILE' },
  '--check-config': {},
  '--help': { short: '-h' },
  '--listen': { value: 'ADDRESS:PORT' },
  '--output': { value: 'stdout|file:PATH' },
  '--format': { value: 'json|flowpb' },
  '--workers': { value: 'N|auto' },
  '--metrics-addr': { value: 'ADDRESS:PORT|off' },
  '--log-level': { value: LOG_LEVELS.join('|') },
};


/** Parses the arguments of `serve`. Throws ConfigError naming every bad option. */
export function parseServeArgs(argv: string[]): ParsedServeArgs {
  const problems: string[] = [];
  const flags: ServeFlags = {};
  const out: ParsedServeArgs = { flags, checkConfig: false, help: false };
  const shorts = new Map(Object.entries(SERVE_OPTIONS).filter(([, s]) => s.short !== undefined).map(([l, s]) => [s.short!, l]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-' || arg === '--') {
      problems.push(`unexpected argument "${arg}": serve takes options only${arg.startsWith('-') ? '' : ` (for a configuration file: --config ${arg})`}`);
      continue;
    }
    let name = arg;
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      name = arg.slice(0, eq);
      value = arg.slice(eq + 1);
    }
    name = shorts.get(name) ?? name;
    const spec = SERVE_OPTIONS[name];
    if (spec === undefined || !Object.hasOwn(SERVE_OPTIONS, name)) {
      const s = suggest(name.replace(/^-+/, ''), Object.keys(SERVE_OPTIONS).map((k) => k.slice(2)));
      problems.push(`unknown option "${name}"${s !== undefined ? `; did you mean "--${s}"?` : '; see flow-collector serve --help'}`);
      // Skip the value of the option that was probably meant, so it is not reported as well.
      const next = argv[i + 1];
      if (value === undefined && s !== undefined && SERVE_OPTIONS[`--${s}`]!.value !== undefined && next !== undefined && !next.startsWith('-')) i++;
      continue;
    }
    if (spec.value === undefined) {
      if (value !== undefined) {
        problems.push(`${name} takes no value, got "${value}"`);
        continue;
      }
      if (name === '--help') out.help = true;
      else if (name === '--check-config') out.checkConfig = true;
      continue;
    }
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('-') && next.length > 1 && !/^-\d/.test(next))) {
        problems.push(`${name} needs a value: ${spec.value}`);
        continue;
      }
      value = next;
      i++;
    }
    switch (name) {
      case '--config':
        if (value === '') problems.push('--config needs a file name');
        else out.configFile = value;
        break;
      case '--listen': {
        const hp = parseHostPort(value);
        if (typeof hp === 'string') problems.push(`--listen: ${hp}`);
        else (flags.listen ??= []).push(value);
        break;
      }
      case '--output': {
        const o = parseOutputFlag(value);
        if (typeof o === 'string') problems.push(`--output: ${o}`);
        else flags.output = value;
        break;
      }
      case '--format':
        if (value === 'json' || value === 'flowpb') flags.format = value;
        else problems.push(`--format: must be json or flowpb, got "${value}"${hintFor(value, ['json', 'flowpb'])}`);
        break;
      case '--workers':
        if (value === 'auto') flags.workers = 0;
        else if (/^\d+$/.test(value) && Number(value) <= 1024) flags.workers = Number(value);
        else problems.push(`--workers: must be a whole number from 0 to 1024 or "auto", got "${value}"`);
        break;
      case '--metrics-addr': {
        if (/^(off|none)$/i.test(value)) flags.metricsAddr = value.toLowerCase();
        else {
          const hp = parseHostPort(value);
          if (typeof hp === 'string') problems.push(`--metrics-addr: ${hp} (or "off" to disable metrics)`);
          else flags.metricsAddr = value;
        }
        break;
      }
      case '--log-level':
        if (LOG_LEVELS.includes(value)) flags.logLevel = value;
        else problems.push(`--log-level: must be one of ${LOG_LEVELS.join(', ')}, got "${value}"${hintFor(value, LOG_LEVELS)}`);
        break;
    }
  }
  if (problems.length > 0) throw new ConfigError(problems, 'the command line');
  return out;
}

function hintFor(v: string, words: string[]): string {
  const s = suggest(v, words);
  return s !== undefined ? `; did you mean "${s}"?` : '';
}

// ---------------------------------------------------------------------------------------------
// Resolving

/** Worker threads for "auto": available CPUs, lowered to a cgroup CPU limit when there is one. */
export function autoWorkers(): number {
  let n = availableParallelism();
  const quota = cgroupCpus();
  if (quota !== undefined && quota < n) n = quota;
  return Math.max(1, n);
}

function cgroupCpus(): number | undefined {
  try {
    const [q, p] = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    if (q !== undefined && q !== 'max' && p !== undefined) return Math.max(1, Math.ceil(Number(q) / Number(p)));
    return undefined;
  } catch {
    // cgroup v1, or none.
  }
  try {
    const q = Number(readFileSync('/sys/fs/cgroup/cpu/cpu.cfs_quota_us', 'utf8'));
    const p = Number(readFileSync('/sys/fs/cgroup/cpu/cpu.cfs_period_us', 'utf8'));
    if (q > 0 && p > 0) return Math.max(1, Math.ceil(q / p));
  } catch {
    // No cgroup limit readable.
  }
  return undefined;
}

/** Canonical text of an address, for comparing ("0:0::1" and "::1" are the same). */
function canonicalAddress(a: string): string {
  if (isIP(a) !== 6) return a;
  try {
    return new URL(`http://[${a}]`).hostname.slice(1, -1);
  } catch {
    return a.toLowerCase();
  }
}

/** Whether sockets bound to these two addresses on one port would both receive the same datagrams' port. */
function addressesOverlap(a: string, b: string): boolean {
  const x = canonicalAddress(a);
  const y = canonicalAddress(b);
  if (x === y) return true;
  const wild = (s: string) => s === '0.0.0.0' || s === '::';
  // "::" is dual-stack: it receives on every IPv4 and IPv6 address.
  if (x === '::' || y === '::') return true;
  if (x === '0.0.0.0') return isIP(y) === 4 || wild(y);
  if (y === '0.0.0.0') return isIP(x) === 4 || wild(x);
  return false;
}

function checkCidr(s: string): boolean {
  const parts = s.split('/');
  if (parts.length > 2) return false;
  const fam = isIP(parts[0]!);
  if (fam === 0) return false;
  if (parts.length === 1) return true;
  const max = fam === 4 ? 32 : 128;
  return /^\d{1,3}$/.test(parts[1]!) && Number(parts[1]) <= max;
}

function natsUrlProblem(s: string): string | undefined {
  const bad = `"${s}" is not a NATS server URL; write nats://HOST:4222 (or tls://, ws://, wss://, or HOST:PORT)`;
  try {
    const u = new URL(s.includes('://') ? s : `nats://${s}`);
    if (!['nats:', 'tls:', 'ws:', 'wss:'].includes(u.protocol) || u.hostname === '') return bad;
    return undefined;
  } catch {
    return bad;
  }
}

function fileReadable(path: string): string | undefined {
  try {
    const st = statSync(path);
    if (st.isDirectory()) return `"${path}" is a directory, not a file`;
    accessSync(path, fsConstants.R_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `"${path}" does not exist` : `"${path}" cannot be read (${code ?? (err as Error).message})`;
  }
}

function fileWritableProblem(path: string): string | undefined {
  try {
    const st = statSync(path);
    if (st.isDirectory()) return `"${path}" is a directory; name a file inside it, e.g. ${path.replace(/\/$/, '')}/flows.ndjson`;
    accessSync(path, fsConstants.W_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') return `"${path}" cannot be written (${code === 'EACCES' ? 'permission denied' : (code ?? (err as Error).message)})`;
  }
  const dir = dirname(path);
  try {
    if (!statSync(dir).isDirectory()) return `"${dir}" (the directory of "${path}") is not a directory`;
    accessSync(dir, fsConstants.W_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `the directory "${dir}" does not exist; create it (mkdir -p ${dir}) or choose another path`;
    return `the directory "${dir}" is not writable by this user${process.getuid ? ` (uid ${process.getuid()})` : ''}; fix its permissions or choose another path`;
  }
}

/** Checks, fills defaults and checks the rules between settings. Undefined when there were problems. */
function resolveConfig(raw: Obj, problems: Problems, warnings: string[]): CollectorConfig | undefined {
  checkValue(FILE_SCHEMA, raw, '', problems);
  const v = structuredClone(raw);
  fillDefaults(FILE_SCHEMA, v);
  const clean = (p: string) => problems.clean(p);

  // workers
  if (clean('workers') && (v['workers'] === 'auto' || v['workers'] === 0)) v['workers'] = autoWorkers();

  // templates (global)
  const global = v['templates'] as TemplateLimitsConfig;
  if (clean('templates')) {
    if (global.pending_max_bytes_per_scope > global.pending_max_bytes_total) {
      problems.add(
        'templates.pending_max_bytes_per_scope',
        `${global.pending_max_bytes_per_scope} exceeds templates.pending_max_bytes_total (${global.pending_max_bytes_total}); raise the total or lower the per-scope limit`,
      );
    } else {
      try {
        resolveLimits(global as unknown as Obj, 'templates');
      } catch (err) {
        if (!(err instanceof LimitsError)) throw err;
        problems.addRaw(err.message);
      }
    }
  }

  // sampling
  if (clean('sampling')) {
    const s = v['sampling'] as Obj;
    let ok = true;
    for (const list of ['defaults', 'overrides'] as const) {
      (s[list] as { exporter: string }[]).forEach((r, i) => {
        if (!checkCidr(r.exporter)) {
          ok = false;
          problems.add(`sampling.${list}[${i}].exporter`, `${JSON.stringify(r.exporter)} is not an IP address or CIDR (e.g. "192.0.2.1" or "10.0.0.0/8")`);
        }
      });
    }
    if (ok) {
      try {
        resolveSampling(s, 'sampling');
      } catch (err) {
        if (!(err instanceof SamplingConfigError)) throw err;
        problems.addRaw(err.message);
      }
    }
  }

  // outputs
  const outputs = Array.isArray(v['outputs']) ? (v['outputs'] as Obj[]) : [];
  const natsOutputs: number[] = [];
  if (Array.isArray(v['outputs'])) {
    let stdout = -1;
    const paths = new Map<string, number>();
    outputs.forEach((o, i) => {
      const p = `outputs[${i}]`;
      if (!clean(p)) return;
      if (o['type'] === 'stdout') {
        if (stdout >= 0) problems.add(p, `a second stdout output (outputs[${stdout}] is one); flows would be written twice, remove one`);
        else stdout = i;
      } else if (o['type'] === 'file') {
        const path = o['path'] as string;
        const prev = paths.get(path);
        if (prev !== undefined) problems.add(`${p}.path`, `"${path}" is also the path of outputs[${prev}]; two outputs cannot write one file`);
        else {
          paths.set(path, i);
          const why = fileWritableProblem(path);
          if (why !== undefined) problems.add(`${p}.path`, why);
        }
      } else if (o['type'] === 'nats') {
        natsOutputs.push(i);
        if (v['nats'] === undefined) {
          problems.add(p, 'a nats output needs the nats section: add nats: { servers: ["nats://HOST:4222"] }');
        }
        const sp = subjectProblem(o['subject'] as string, false);
        if (sp !== undefined) problems.add(`${p}.subject`, sp);
      }
    });
  }

  // listeners
  const listeners = Array.isArray(v['listeners']) ? (v['listeners'] as Obj[]) : [];
  if (Array.isArray(v['listeners'])) {
    const names = new Map<string, number>();
    listeners.forEach((l, i) => {
      if (!isPlainObject(l) || typeof l['name'] !== 'string' || !clean(`listeners[${i}].name`)) return;
      const prev = names.get(l['name']);
      if (prev !== undefined) problems.add(`listeners[${i}].name`, `"${l['name']}" is also the name of listeners[${prev}]; listener names must be unique`);
      else names.set(l['name'], i);
    });
    listeners.forEach((l) => {
      if (!isPlainObject(l) || l['name'] !== undefined) return;
      const proto = String(l['protocol']);
      const port = String(l['port']);
      let name = `${proto}-${port}`;
      if (names.has(name)) name = `${proto}-${String(l['address'])}-${port}`;
      for (let n = 2; names.has(name); n++) name = `${proto}-${port}-${n}`;
      l['name'] = name;
      names.set(name, -1);
    });
    listeners.forEach((l, i) => {
      const p = `listeners[${i}]`;
      if (!isPlainObject(l)) return;
      if (clean(`${p}.address`)) {
        const a = l['address'] as string;
        if (isIP(a) === 0) {
          const tip = /^\[.*\]$/.test(a) ? `; write it without brackets: "${a.slice(1, -1)}"` : '; use 0.0.0.0 (all IPv4), :: (IPv6 and IPv4) or an address of this host, not a host name';
          problems.add(`${p}.address`, `"${a}" is not a literal IP address${tip}`);
        }
      }
      if (clean(p)) {
        const o = l['templates'] as Partial<TemplateLimitsConfig> | undefined;
        if (o !== undefined && clean('templates')) {
          const merged = { ...global, ...o };
          if (merged.pending_max_bytes_per_scope > merged.pending_max_bytes_total) {
            const key = o.pending_max_bytes_per_scope !== undefined ? 'pending_max_bytes_per_scope' : 'pending_max_bytes_total';
            problems.add(
              `${p}.templates.${key}`,
              `pending_max_bytes_per_scope (${merged.pending_max_bytes_per_scope}${o.pending_max_bytes_per_scope === undefined ? ', from templates' : ''}) exceeds pending_max_bytes_total (${merged.pending_max_bytes_total}${o.pending_max_bytes_total === undefined ? ', from templates' : ''}); raise the total or lower the per-scope limit`,
            );
          } else {
            try {
              resolveLimits(merged as unknown as Obj, `${p}.templates`);
            } catch (err) {
              if (!(err instanceof LimitsError)) throw err;
              problems.addRaw(err.message);
            }
          }
        }
        if (typeof l['subject'] === 'string') {
          const sp = subjectProblem(l['subject'], false);
          if (sp !== undefined) problems.add(`${p}.subject`, sp);
          else if (natsOutputs.length === 0) warnings.push(`${p}.subject: there is no nats output; the subject has no effect`);
        }
        if (l['max_samples_per_datagram'] !== undefined && (l['protocol'] === 'netflow' || l['protocol'] === 'ipfix')) {
          warnings.push(`${p}.max_samples_per_datagram: applies to sFlow, and this listener's protocol is ${String(l['protocol'])}; it has no effect`);
        }
        if (l['spread'] !== 'none' && l['sockets_per_worker'] === 1 && v['workers'] === 1 && l['shared'] !== true) {
          warnings.push(`${p}.spread: one worker with one socket has nothing to spread over; raise sockets_per_worker or workers`);
        }
      }
    });
    // Two sockets receiving on the same address and port.
    for (let j = 0; j < listeners.length; j++) {
      const b = listeners[j]!;
      if (!clean(`listeners[${j}]`) || b['port'] === 0) continue;
      for (let i = 0; i < j; i++) {
        const a = listeners[i]!;
        if (!clean(`listeners[${i}]`) || a['port'] !== b['port'] || !addressesOverlap(a['address'] as string, b['address'] as string)) continue;
        const ap = formatHostPort(a['address'] as string, a['port'] as number);
        const bp = formatHostPort(b['address'] as string, b['port'] as number);
        if (canonicalAddress(a['address'] as string) === canonicalAddress(b['address'] as string)) {
          problems.add(`listeners[${j}]`, `${bp} is also the address and port of listeners[${i}] ("${String(a['name'])}"); remove one or change its port`);
        } else {
          const wild = ['0.0.0.0', '::'].includes(canonicalAddress(a['address'] as string)) ? ap : bp;
          problems.add(
            `listeners[${j}]`,
            `${bp} overlaps listeners[${i}] ("${String(a['name'])}") on ${ap}: ${wild} already receives on ${wild.startsWith('[') ? 'every IPv6 and IPv4 address' : 'every IPv4 address'} of that port; remove one or change its port`,
          );
        }
        break;
      }
    }
  }

  // metrics
  if (clean('metrics.address')) {
    const m = v['metrics'] as Obj;
    const hp = parseHostPort(m['address'] as string);
    if (typeof hp === 'string') problems.add('metrics.address', `${hp}${m['enabled'] === true ? '' : ' (it is checked even while metrics.enabled is false)'}`);
    else if (m['enabled'] === true && hp.port !== 0) {
      listeners.forEach((l, i) => {
        if (isPlainObject(l) && l['port'] === hp.port && typeof l['address'] === 'string' && addressesOverlap(l['address'], hp.address)) {
          warnings.push(
            `metrics.address ${String(m['address'])} has the port number of listeners[${i}] ("${String(l['name'])}"): metrics use TCP and listeners UDP, so both work, but check that this is what you meant`,
          );
        }
      });
    }
  }

  // health
  if (clean('health.address') && isPlainObject(v['health']) && v['health']['address'] !== undefined) {
    const h = v['health'] as Obj;
    const hp = parseHostPort(h['address'] as string);
    if (typeof hp === 'string') problems.add('health.address', hp);
    else if (isPlainObject(v['metrics']) && v['metrics']['enabled'] === true && typeof v['metrics']['address'] === 'string') {
      const mp = parseHostPort(v['metrics']['address']);
      if (typeof mp !== 'string' && mp.port === hp.port && mp.port !== 0 && v['metrics']['address'] !== h['address'] && addressesOverlap(mp.address, hp.address)) {
        problems.add('health.address', `${String(h['address'])} overlaps metrics.address ${String(v['metrics']['address'])} (the same port); give the same ADDRESS:PORT to serve both on one server, or another port`);
      }
    }
  }

  // nats
  const nats = v['nats'] as Obj | undefined;
  if (nats !== undefined && clean('nats')) {
    (nats['servers'] as string[]).forEach((s, i) => {
      const why = natsUrlProblem(s);
      if (why !== undefined) problems.add(`nats.servers[${i}]`, why);
    });
    const ways = [
      nats['creds_file'] !== undefined ? 'creds_file' : undefined,
      nats['nkey_seed_file'] !== undefined ? 'nkey_seed_file' : undefined,
      nats['user'] !== undefined || nats['password'] !== undefined ? 'user + password' : undefined,
      nats['token'] !== undefined ? 'token' : undefined,
    ].filter((w): w is string => w !== undefined);
    if (ways.length > 1) problems.add('nats', `give one way to authenticate, not ${ways.length}: ${ways.join(', ')}`);
    if (nats['user'] !== undefined && nats['password'] === undefined) problems.add('nats.password', 'missing: nats.user needs nats.password');
    if (nats['password'] !== undefined && nats['user'] === undefined) problems.add('nats.user', 'missing: nats.password needs nats.user');
    for (const key of ['creds_file', 'nkey_seed_file'] as const) {
      if (typeof nats[key] === 'string') {
        const why = fileReadable(nats[key] as string);
        if (why !== undefined) problems.add(`nats.${key}`, why);
      }
    }
    const tls = nats['tls'] as Obj | undefined;
    if (tls !== undefined) {
      for (const key of ['ca_file', 'cert_file', 'key_file'] as const) {
        if (typeof tls[key] === 'string') {
          const why = fileReadable(tls[key] as string);
          if (why !== undefined) problems.add(`nats.tls.${key}`, why);
        }
      }
      if ((tls['cert_file'] === undefined) !== (tls['key_file'] === undefined)) {
        problems.add(tls['cert_file'] === undefined ? 'nats.tls.cert_file' : 'nats.tls.key_file', 'missing: a client certificate needs both cert_file and key_file');
      }
    }
    const stream = nats['stream'] as Obj;
    if (/[\s.*>/\\]/.test(stream['name'] as string)) {
      problems.add('nats.stream.name', `"${String(stream['name'])}" is not a JetStream stream name: no spaces, ".", "*", ">", "/" or "\\"`);
    }
    const streamSubjects = stream['subjects'] as string[];
    let subjectsOk = true;
    streamSubjects.forEach((s, i) => {
      const sp = subjectProblem(s, true);
      if (sp !== undefined) {
        subjectsOk = false;
        problems.add(`nats.stream.subjects[${i}]`, sp);
      }
    });
    const prefix = nats['subject_prefix'] as string | undefined;
    if (prefix !== undefined) {
      const sp = subjectProblem(prefix, false);
      if (sp !== undefined) problems.add('nats.subject_prefix', sp);
    }
    if (stream['manage'] === true && subjectsOk && natsOutputs.length > 0) {
      const full = (s: string) => (prefix !== undefined ? `${prefix}.${s}` : s);
      const uncovered = (s: string) => !streamSubjects.some((f) => subjectMatches(f, full(s)));
      const tell = (path: string, s: string) =>
        problems.add(path, `flows published to "${full(s)}" would not be stored: nats.stream.subjects (${streamSubjects.join(', ')}) does not match it; add it there or change the subject`);
      for (const i of natsOutputs) {
        const s = outputs[i]!['subject'];
        if (typeof s === 'string' && clean(`outputs[${i}].subject`) && uncovered(s)) tell(`outputs[${i}].subject`, s);
      }
      listeners.forEach((l, i) => {
        const s = isPlainObject(l) ? l['subject'] : undefined;
        if (typeof s === 'string' && clean(`listeners[${i}].subject`) && uncovered(s)) tell(`listeners[${i}].subject`, s);
      });
    }
  }

  // template_store
  if (clean('template_store')) {
    const ts = v['template_store'] as Obj;
    if (ts['backend'] === 'nats_kv') {
      if (ts['servers'] === undefined && nats === undefined) {
        problems.add('template_store.backend', '"nats_kv" needs NATS servers: set template_store.servers or the nats section');
      }
    } else {
      const rawTs = isPlainObject(raw['template_store']) ? raw['template_store'] : {};
      const idle = Object.keys(rawTs).filter((k) => k !== 'backend');
      if (idle.length > 0) warnings.push(`template_store: ${idle.join(', ')} ha${idle.length === 1 ? 's' : 've'} no effect while backend is "local"`);
    }
    const ttl = ts['kv_ttl_s'] as number;
    const refresh = ts['kv_refresh_s'] as number;
    if (ttl > 0 && refresh >= ttl) {
      problems.add('template_store.kv_refresh_s', `${refresh} is not under kv_ttl_s (${ttl}): live templates would expire between refreshes; use at most ${Math.max(1, Math.floor(ttl / 2))} (or 0 for ${Math.max(1, Math.floor(ttl / 3))}, a third of the TTL)`);
    } else if (ttl > 0 && refresh > ttl / 2) {
      warnings.push(`template_store.kv_refresh_s (${refresh}) is more than half of kv_ttl_s (${ttl}): a template whose refresh write is delayed (NATS briefly down) may expire; consider ${Math.max(1, Math.floor(ttl / 3))}`);
    }
    if (ts['backend'] === 'nats_kv' && Array.isArray(v['listeners'])) {
      // Listener names are the first token of every key: two names that map to one token
      // would mix their template state.
      const tokens = new Map<string, number>();
      (v['listeners'] as Obj[]).forEach((l, i) => {
        if (!isPlainObject(l) || typeof l['name'] !== 'string') return;
        const t = keyToken(l['name']);
        const prev = tokens.get(t);
        if (prev !== undefined) {
          problems.add(`listeners[${i}].name`, `"${l['name']}" and listeners[${prev}].name both become "${t}" in template store keys ("." and ":" and other characters than letters, digits, "_" and "-" become "_"); rename one`);
        } else tokens.set(t, i);
      });
    }
    if (!/^[A-Za-z0-9_-]+$/.test(ts['kv_bucket'] as string)) {
      problems.add('template_store.kv_bucket', `"${String(ts['kv_bucket'])}" is not a bucket name: letters, digits, "_" and "-" only`);
    }
    (Array.isArray(ts['servers']) ? (ts['servers'] as string[]) : []).forEach((s, i) => {
      const why = natsUrlProblem(s);
      if (why !== undefined) problems.add(`template_store.servers[${i}]`, why);
    });
  }

  if (nats !== undefined && natsOutputs.length === 0 && isPlainObject(v['template_store']) && v['template_store']['backend'] !== 'nats_kv') {
    warnings.push('nats: there is no nats output and template_store.backend is not "nats_kv"; the NATS settings are not used');
  }

  if (problems.length > 0) return undefined;
  const config = canonical(CollectorConfigSchema as unknown as Schema, v) as CollectorConfig;
  if (!Value.Check(CollectorConfigSchema, config)) {
    const first = [...Value.Errors(CollectorConfigSchema, config)][0];
    throw new Error(`internal error: the resolved configuration does not match its schema at ${first?.path ?? '?'}: ${first?.message ?? '?'}`);
  }
  return config;
}

// ---------------------------------------------------------------------------------------------
// Output

/** The JSON Schema (draft-07) of the configuration file, e.g. for Helm's values.schema.json. */
export function configJsonSchema(): Record<string, unknown> {
  const s = JSON.parse(JSON.stringify(FileConfigSchema)) as Record<string, unknown>;
  delete s['$id'];
  return { $schema: 'http://json-schema.org/draft-07/schema#', ...s };
}

const REDACTED = '<redacted>';

/** The effective configuration as pretty JSON (for serve --check-config); secrets redacted. */
export function formatConfig(config: CollectorConfig): string {
  const c = structuredClone(config);
  if (c.nats !== undefined) {
    if (c.nats.password !== undefined) c.nats.password = REDACTED;
    if (c.nats.token !== undefined) c.nats.token = REDACTED;
    c.nats.servers = c.nats.servers.map(redactUrl);
  }
  if (c.template_store.servers !== undefined) c.template_store.servers = c.template_store.servers.map(redactUrl);
  return `${JSON.stringify(c, null, 2)}\n`;
}

function redactUrl(s: string): string {
  return s.replace(/^([a-z]+:\/\/)([^@/]*)@/i, (_m, scheme: string, cred: string) => `${scheme}${cred.includes(':') ? `${cred.split(':')[0]}:${REDACTED}` : REDACTED}@`);
}

/** The KV store's refresh interval in ms: kv_refresh_s, else a third of kv_ttl_s, else 0 (no refresh writes). */
export function kvRefreshMs(ts: { kv_refresh_s: number; kv_ttl_s: number }): number {
  if (ts.kv_refresh_s > 0) return ts.kv_refresh_s * 1000;
  return ts.kv_ttl_s > 0 ? Math.max(1, Math.floor(ts.kv_ttl_s / 3)) * 1000 : 0;
}

/** A listener's template limits: the global ones with the listener's overrides, as TemplateLimits. */
export function listenerLimits(config: CollectorConfig, listener: ListenerConfig): TemplateLimits {
  return resolveLimits({ ...config.templates, ...(listener.templates ?? {}) } as unknown as Obj, `listeners.${listener.name}.templates`);
}
