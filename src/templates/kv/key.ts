/**
 * Keys of the template bucket: readable, `.`-separated tokens, so one exporter (or one listener)
 * can be watched or listed alone with a wildcard filter:
 *
 *   <listener>.<proto>.<exporter>[.<port>].<domain>.<kind>.<id>
 *
 *   netflow.v9.10_0_0_1.0.t.256            data or options template 256 of 10.0.0.1, source id 0
 *   ipfix.ipfix.2001_db8__1.5.o.3_9f2c…    an options row (template 3) of 2001:db8::1, domain 5
 *
 * `proto` is v9 or ipfix; `.` and `:` of the exporter address become `_`; the port is there only
 * when the listener scopes templates by port (`scope_includes_port`); kind `t` is a template (id =
 * template id), `o` an options data row (id = template id + `_` + 16 hex digits of a hash of the
 * row's scope key). docs/scaling.md describes the format.
 */
import { createHash } from 'node:crypto';
import type { ScopeRef } from '../store.js';

export type KeyKind = 't' | 'o';

/** A listener name as one key token: characters outside letters, digits, `_`, `-` become `_`. */
export function keyToken(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '_');
}

/** An exporter address as one token: `.` and `:` become `_`. */
export function exporterToken(address: string): string {
  return address.replace(/[.:]/g, '_');
}

/** The address of an exporter token (IPv4 dotted quads, else IPv6). */
export function exporterFromToken(token: string): string {
  if (/^\d{1,3}_\d{1,3}_\d{1,3}_\d{1,3}$/.test(token)) return token.replace(/_/g, '.');
  return token.replace(/_/g, ':');
}

/** Options row identity inside a scope: template id and scope key, as one key token. */
export function optionsId(templateId: number, rowScopeKey: string): string {
  const h = createHash('sha256').update(rowScopeKey).digest('hex').slice(0, 16);
  return `${templateId}_${h}`;
}

/** The key prefix of a scope (everything before the kind). */
export function scopePrefix(s: ScopeRef, withPort: boolean): string {
  const proto = s.protocol === 10 ? 'ipfix' : 'v9';
  const port = withPort ? `.${s.port}` : '';
  return `${keyToken(s.listener)}.${proto}.${exporterToken(s.exporter)}${port}.${s.domain}`;
}

export function templateKey(s: ScopeRef, withPort: boolean, id: number): string {
  return `${scopePrefix(s, withPort)}.t.${id}`;
}

export function optionsKey(s: ScopeRef, withPort: boolean, templateId: number, rowScopeKey: string): string {
  return `${scopePrefix(s, withPort)}.o.${optionsId(templateId, rowScopeKey)}`;
}

export interface ParsedKey {
  /** The listener token (map it back with the configured listeners). */
  listenerToken: string;
  protocol: 9 | 10;
  exporter: string;
  port: number;
  domain: number;
  kind: KeyKind;
  /** Template id (kind t) or options id text (kind o). */
  id: string;
}

/**
 * Parses a key; `withPort(listenerToken)` says whether that listener's keys carry the port.
 * Undefined for a key this collector does not write.
 */
export function parseKey(key: string, withPort: (listenerToken: string) => boolean | undefined): ParsedKey | undefined {
  const t = key.split('.');
  const wp = withPort(t[0] ?? '');
  if (wp === undefined || t.length !== (wp ? 7 : 6)) return undefined;
  const [listenerToken, proto, exp] = t as [string, string, string];
  const protocol = proto === 'v9' ? 9 : proto === 'ipfix' ? 10 : 0;
  if (protocol === 0) return undefined;
  let i = 3;
  const port = wp ? Number(t[i++]) : 0;
  const domain = Number(t[i++]);
  const kind = t[i++];
  const id = t[i]!;
  if (!Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  if (!Number.isInteger(domain) || domain < 0 || domain > 0xffffffff) return undefined;
  if (kind !== 't' && kind !== 'o') return undefined;
  if (kind === 't' && !/^\d{1,5}$/.test(id)) return undefined;
  return { listenerToken, protocol, exporter: exporterFromToken(exp), port, domain, kind, id };
}
