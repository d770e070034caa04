import type { Response } from 'express';

/**
 * CSV per RFC 4180 (comma, CRLF, quotes doubled), made safe for spreadsheets: a text cell that starts with
 * `=`, `+`, `-`, `@` (or a tab / carriage return, which some spreadsheets skip before a formula) gets a
 * leading `'`, so a customer name such as `=HYPERLINK(…)` is shown as text instead of being evaluated.
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let s: string;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') s = value ? 'true' : 'false';
  else if (value instanceof Date) s = value.toISOString();
  else if (typeof value === 'object') s = JSON.stringify(value);
  else s = String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const csvRow = (values: unknown[]): string => `${values.map(csvCell).join(',')}\r\n`;

export type ExportFormat = 'csv' | 'json';

/** Writes respecting backpressure: resolves once the socket can take more (or has gone away). */
function write(res: Response, chunk: string): Promise<void> {
  if (res.write(chunk)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * Streams rows as CSV (header from `columns`) or as a JSON array, chunk by chunk, so an export of any size
 * uses constant memory. Stops early when the client disconnects.
 */
export async function streamExport<T extends object>(
  res: Response,
  opts: { format: ExportFormat; filename: string; columns: (keyof T & string)[]; bom?: boolean },
  source: AsyncIterable<T[]>,
): Promise<number> {
  const { format, columns } = opts;
  res.status(200);
  res.setHeader('Content-Type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8');
  res.setHeader('Content-Disposition', `attachment; filename="${opts.filename}.${format}"`);
  res.setHeader('Cache-Control', 'no-store');
  let n = 0;
  if (format === 'csv') await write(res, (opts.bom ? '\uFEFF' : '') + csvRow(columns));
  else await write(res, '[');
  for await (const chunk of source) {
    if (res.destroyed) break;
    let text = '';
    for (const item of chunk) {
      if (format === 'csv') text += csvRow(columns.map((c) => item[c]));
      else text += `${n === 0 ? '\n' : ',\n'}${JSON.stringify(item)}`;
      n++;
    }
    await write(res, text);
  }
  if (format === 'json') res.write(n === 0 ? ']\n' : '\n]\n');
  res.end();
  return n;
}

/** Parses CSV text produced by csvRow (used by tests and by operators' scripts to read an export back). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += c;
  }
  if (cell !== '' || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}
