import { readFileSync } from 'node:fs';
import path from 'node:path';
import { datasets } from './helpers.js';

export const loghubDir = path.join(datasets, 'loghub');

/** RFC 4180 CSV, enough for the loghub files (quoted fields with commas). */
export function parseCsv(text: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n') {
      row.push(field.replace(/\r$/, ''));
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field || row.length) rows.push([...row, field]);
  const [header, ...body] = rows;
  return body.filter((r) => r.length === header!.length).map((r) => Object.fromEntries(header!.map((h, i) => [h, r[i]!])));
}

/** A loghub sample: its log text, its structured rows and its templates. */
export function loghub(name: string): { log: string; structured: Record<string, string>[]; templates: Record<string, string>[] } {
  return {
    log: readFileSync(path.join(loghubDir, `${name}.log`), 'utf8'),
    structured: parseCsv(readFileSync(path.join(loghubDir, `${name}.log_structured.csv`), 'utf8')),
    templates: parseCsv(readFileSync(path.join(loghubDir, `${name}.log_templates.csv`), 'utf8')),
  };
}
