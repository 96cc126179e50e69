// JSON files a command reads back (a run's config and summary, a sweep's records).
import { existsSync, readFileSync } from 'node:fs';
import { DataError } from '../data/source.js';

/** A JSON file's value (null when the file is absent); one that does not parse is a DataError naming it. */
export function readJsonFile(file: string): unknown {
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new DataError(file, `not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
}
