#!/usr/bin/env node
// Generates src/decode/registry/iana.generated.ts from data/iana-ipfix-elements.csv.
//
//   node scripts/gen-registry.mjs                 write the committed file
//   node scripts/gen-registry.mjs --out <path>    write somewhere else (used by the up-to-date test)
//   node scripts/gen-registry.mjs --csv <path>    read another CSV
//
// The abstract data type codes are read from the `DataType` object in src/decode/record.ts so the
// generated table and the runtime contract cannot drift apart. Output is deterministic: rows are
// sorted by element id, string tables are sorted, and nothing time- or environment-dependent is
// written.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, resolve, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function parseArgs(argv) {
  const opts = {
    csv: resolve(root, 'data/iana-ipfix-elements.csv'),
    out: resolve(root, 'src/decode/registry/iana.generated.ts'),
    record: resolve(root, 'src/decode/record.ts'),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if ((a === '--out' || a === '--csv' || a === '--record') && v !== undefined) {
      opts[a.slice(2)] = resolve(v);
      i++;
    } else {
      throw new Error(`gen-registry: unknown argument ${a}`);
    }
  }
  return opts;
}

/** Reads `export const DataType = { name: code, ... } as const` out of record.ts. */
function readDataTypeCodes(recordPath) {
  const src = readFileSync(recordPath, 'utf8');
  const m = /export const DataType = \{([\s\S]*?)\} as const/.exec(src);
  if (!m) throw new Error(`gen-registry: no DataType object in ${recordPath}`);
  const codes = new Map();
  for (const entry of m[1].matchAll(/([A-Za-z0-9]+)\s*:\s*(\d+)\s*,/g)) {
    codes.set(entry[1], Number(entry[2]));
  }
  if (codes.size === 0) throw new Error('gen-registry: DataType object is empty');
  return codes;
}

/** Splits one CSV line (RFC 4180 quoting, no embedded newlines). */
function splitCsvLine(line, lineNo) {
  const out = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        if (i >= line.length) throw new Error(`gen-registry: unterminated quote on line ${lineNo}`);
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            v += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        v += line[i++];
      }
      out.push(v);
      if (i < line.length && line[i] !== ',') {
        throw new Error(`gen-registry: text after closing quote on line ${lineNo}`);
      }
      i++;
    } else {
      let j = line.indexOf(',', i);
      if (j === -1) j = line.length;
      out.push(line.slice(i, j));
      i = j + 1;
    }
  }
  return out;
}

function readCsv(csvPath, typeCodes) {
  const lines = readFileSync(csvPath, 'utf8').split(/\r?\n/);
  const header = splitCsvLine(lines[0], 1).map((h) => h.trim());
  const col = (name) => {
    const k = header.indexOf(name);
    if (k === -1) throw new Error(`gen-registry: CSV has no "${name}" column`);
    return k;
  };
  const cId = col('id');
  const cName = col('name');
  const cType = col('data_type');
  const cSem = col('semantics');
  const cUnits = col('units');
  const cStatus = col('status');
  const rows = [];
  const seen = new Set();
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n];
    if (line.trim() === '') continue;
    const f = splitCsvLine(line, n + 1).map((s) => s.trim());
    const id = Number(f[cId]);
    if (!Number.isInteger(id) || id < 0 || id > 32767) {
      throw new Error(`gen-registry: bad element id "${f[cId]}" on line ${n + 1}`);
    }
    if (seen.has(id)) throw new Error(`gen-registry: duplicate element id ${id}`);
    seen.add(id);
    const name = f[cName] ?? '';
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(name)) {
      throw new Error(`gen-registry: bad element name "${name}" for id ${id}`);
    }
    const typeName = f[cType] ?? '';
    const type = typeCodes.get(typeName);
    if (type === undefined) {
      throw new Error(`gen-registry: unknown data_type "${typeName}" for element ${id}`);
    }
    rows.push({
      id,
      name,
      type,
      semantics: f[cSem] ?? '',
      units: f[cUnits] ?? '',
      deprecated: (f[cStatus] ?? '') === 'deprecated',
    });
  }
  rows.sort((a, b) => a.id - b.id);
  return rows;
}

function stringTable(values) {
  const uniq = [...new Set(values.filter((v) => v !== ''))].sort();
  return ['', ...uniq];
}

function render(rows, csvRel) {
  const semantics = stringTable(rows.map((r) => r.semantics));
  const units = stringTable(rows.map((r) => r.units));
  const semIdx = new Map(semantics.map((s, i) => [s, i]));
  const unitIdx = new Map(units.map((s, i) => [s, i]));
  const q = (s) => JSON.stringify(s).replace(/'/g, "\\'").replace(/^"|"$/g, "'");
  const out = [];
  out.push('// GENERATED FILE - DO NOT EDIT.');
  out.push(`// Produced by scripts/gen-registry.mjs (npm run gen:registry) from ${csvRel}.`);
  out.push('// The test/registry.test.ts up-to-date check fails when this file and the CSV disagree.');
  out.push('');
  out.push('/** Data type semantics (RFC 7012 section 3.2) referenced by IANA_ROWS; index 0 = none. */');
  out.push(`export const IANA_SEMANTICS: readonly string[] = [${semantics.map(q).join(', ')}];`);
  out.push('');
  out.push('/** Units referenced by IANA_ROWS; index 0 = none. */');
  out.push('export const IANA_UNITS: readonly string[] = [');
  for (const u of units) out.push(`  ${q(u)},`);
  out.push('];');
  out.push('');
  out.push('/**');
  out.push(' * One row per IANA element, sorted by id:');
  out.push(' * [id, name, DataType code, IANA_SEMANTICS index, IANA_UNITS index, deprecated (1/0)].');
  out.push(' */');
  out.push(
    'export const IANA_ROWS: readonly (readonly [number, string, number, number, number, number])[] = [',
  );
  for (const r of rows) {
    const sem = semIdx.get(r.semantics);
    const unit = unitIdx.get(r.units);
    out.push(`  [${r.id}, ${q(r.name)}, ${r.type}, ${sem}, ${unit}, ${r.deprecated ? 1 : 0}],`);
  }
  out.push('];');
  out.push('');
  return out.join('\n');
}

const opts = parseArgs(process.argv.slice(2));
const typeCodes = readDataTypeCodes(opts.record);
const rows = readCsv(opts.csv, typeCodes);
const csvRel = relative(root, opts.csv).split('\\').join('/');
mkdirSync(dirname(opts.out), { recursive: true });
writeFileSync(opts.out, render(rows, csvRel));
