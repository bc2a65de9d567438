/**
 * Relay connections over lists ordered by something other than (time, id)
 * alone — patients by name, tasks by due date — and lists whose rows the
 * consent policy checks one by one after SQL has ordered them.
 *
 * A cursor is the key of the last row returned (its sort columns, ending in
 * the row's id), so the next page continues strictly after it: stable while
 * rows arrive. `fillPage` scans in key order, batch after batch, keeping the
 * rows the check admits, until the page is full or the list is exhausted: a
 * page is short only at the end.
 */
import { isUuid, type Page } from '../records/connection.js';
import { badInput } from '../runtime/errors.js';

export type KeyPart = string | number;

export function encodeKeyset(key: KeyPart[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/**
 * Decodes a cursor made by `encodeKeyset` for a key of `shape` (one check per
 * part; the last part is the row's id, a UUID).
 */
export function decodeKeyset(cursor: string, shape: ((part: unknown) => boolean)[]): KeyPart[] {
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (!Array.isArray(key) || key.length !== shape.length || !shape.every((check, i) => check(key[i]))) throw new Error();
    if (!isUuid(key.at(-1))) throw new Error();
    return key as KeyPart[];
  } catch {
    throw badInput('Invalid cursor: pass an endCursor returned by this field');
  }
}

export const isText = (max = 500) => (part: unknown) => typeof part === 'string' && part.length <= max;
export const isIsoDate = (part: unknown) => typeof part === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(part) && !Number.isNaN(Date.parse(part));
export const isIsoInstant = (part: unknown) => typeof part === 'string' && part.length <= 40 && !Number.isNaN(Date.parse(part));

/** Largest batch scanned at once (the consent facts of a batch are fetched in one call). */
export const MAX_SCAN_BATCH = 1000;

export interface FillPageOptions<Row> {
  first: number;
  /** The key to continue after (decoded cursor), or null from the start. */
  after: KeyPart[] | null;
  /** Rows strictly after `after` in key order, at most `limit`. */
  fetch(after: KeyPart[] | null, limit: number): Promise<Row[]>;
  /** Which rows of a batch to keep (one call per batch, so checks batch). */
  keep(rows: Row[]): Promise<boolean[]>;
  key(row: Row): KeyPart[];
}

/** One full page (or the rest of the list), with cursors. */
export async function fillPage<Row>(options: FillPageOptions<Row>): Promise<Page<Row>> {
  const { first } = options;
  const kept: Row[] = [];
  let position = options.after;
  // Most rows pass: start with a little more than a page, grow when many do not.
  let batch = Math.min(Math.max(first + 1, 20), MAX_SCAN_BATCH);
  for (;;) {
    const rows = await options.fetch(position, batch);
    if (rows.length === 0) break;
    const verdicts = await options.keep(rows);
    rows.forEach((row, i) => verdicts[i] && kept.push(row));
    if (kept.length > first || rows.length < batch) break;
    position = options.key(rows.at(-1)!);
    batch = Math.min(batch * 2, MAX_SCAN_BATCH);
  }
  const page = kept.slice(0, first);
  const edges = page.map((node) => ({ cursor: encodeKeyset(options.key(node)), node }));
  return { edges, pageInfo: { hasNextPage: kept.length > first, endCursor: edges.at(-1)?.cursor ?? null } };
}
