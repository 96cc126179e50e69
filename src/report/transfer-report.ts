// The report of a transfer evaluation (simclr transfer): each data set's table, every score drawn as
// a bar beside its number (the best of each column marked), and what the table says in words.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from '../data/source.js';
import { COLUMNS } from '../eval/compare.js';
import { transferHeads, transferRole, transferScore, type TransferResult } from '../eval/transfer.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readJsonFile } from '../io/json.js';
import { escapeHtml } from './chart.js';
import { htmlPage } from './report.js';

/** The tables' styles: each score's bar behind its number. */
export const TRANSFER_STYLE = `table.transfer td{position:relative;min-width:110px}table.transfer td .bar{position:absolute;left:0;top:0;bottom:0;background:#dbe8f5;z-index:0}
table.transfer td span{position:relative;z-index:1}table.transfer td.best{font-weight:bold}td.what{text-align:left;max-width:320px}
tr.random-init-encoder th,tr.raw-pixels th{color:#777}`;

/** Each data set's table (a heading at `level`), every score drawn as a bar, then its lines. */
export function transferTablesHtml(result: TransferResult, level = 2): string {
  const heads = transferHeads(result.fraction);
  return result.tables
    .map((t) => {
      const best = COLUMNS.map(([c]) => Math.max(...t.rows.map((r) => r.scores[c].accuracy)));
      const rows = t.rows
        .map((r) => {
          const cells = COLUMNS.map(([c], i) => {
            const s = r.scores[c];
            return `<td class="${s.accuracy === best[i] ? 'best' : ''}"><div class="bar" style="width:${(100 * s.accuracy).toFixed(1)}%"></div><span>${transferScore(r, c)}</span></td>`;
          }).join('');
          const notes = [r.adapted, r.cached ? 'from the baseline cache' : null].filter((n) => n !== null).join('; ');
          return `<tr class="${r.role.replace(/ /g, '-')}"><th>${escapeHtml(r.name)}</th><td class="what">${escapeHtml(transferRole(r))}${notes ? `<br><small>${escapeHtml(notes)}</small>` : ''}</td>${cells}</tr>`;
        })
        .join('');
      const split = t.split as { trainImages?: number; testImages?: number; kind?: string };
      return `<h${level}>${escapeHtml(t.data)}</h${level}>
<p>${split.trainImages?.toLocaleString('en')} training and ${split.testImages?.toLocaleString('en')} test images (${escapeHtml(String(split.kind))} test split), ${t.channels} channel${t.channels === 1 ? '' : 's'}; accuracy on the test split, %; the few-label columns: mean ± std of ${result.draws} draws.</p>
<table class="transfer"><tr><th>encoder</th><th>what it is here</th>${heads.map((h) => `<th>${h}</th>`).join('')}</tr>${rows}</table>
<ul>${t.lines.map((l) => `<li>${escapeHtml(l)}</li>`).join('')}</ul>`;
    })
    .join('\n');
}

/** The report page of a transfer evaluation (its transfer.json). */
export function buildTransferReport(result: TransferResult): string {
  const title = `SimCLR transfer: ${result.encoders.join(', ')}`;
  return htmlPage({
    title,
    style: TRANSFER_STYLE,
    body: `<h1>${escapeHtml(title)}</h1>
<p>Measured ${escapeHtml(result.date)} on ${escapeHtml(result.cpu)}, ${result.seconds.toFixed(0)} s; seed ${result.seed}.</p>
${transferTablesHtml(result)}`,
    data: { id: 'transfer-data', value: { tables: result.tables.map((t) => ({ data: t.data, rows: t.rows.length })) } },
    glue: `window.simclrTransfer = JSON.parse(document.getElementById('transfer-data').textContent);`,
  });
}

/** Whether `folder` holds a transfer evaluation (simclr transfer's transfer.json). */
export function isTransferFolder(folder: string): boolean {
  return existsSync(join(folder, 'transfer.json')) && !existsSync(join(folder, 'config.json'));
}

/**
 * Writes the report of the transfer evaluation in `folder` (atomically; default: report.html there)
 * and returns its path; `result` is its transfer.json, read when not given.
 */
export function writeTransferReport(folder: string, out = join(folder, 'report.html'), result = readTransfer(folder)!): string {
  writeFileAtomic(out, [Buffer.from(buildTransferReport(result))]);
  return out;
}

/** The transfer evaluation in `folder` (its transfer.json); null when there is none; a file that is not one is refused. */
export function readTransfer(folder: string): TransferResult | null {
  const file = join(folder, 'transfer.json');
  if (!existsSync(file)) return null;
  const result = readJsonFile(file) as TransferResult | null;
  if (result === null || result.format !== 'simclr-transfer/1' || !Array.isArray(result.tables)) throw new DataError(file, 'not a transfer evaluation (simclr transfer writes it)');
  return result;
}
