/**
 * Keyset paging with a per-row check (lib/trust/keyset.ts): pages are full past
 * the rows the check leaves out, cursors continue strictly after the last row
 * returned, and malformed cursors are refused.
 */
import { describe, expect, it } from 'vitest';
import { decodeKeyset, encodeKeyset, fillPage, isText, type KeyPart } from '../trust/keyset.js';
import { isUuid, type Page } from '../records/connection.js';

const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
/** 250 rows ordered by (name, id); every third one fails the check. */
const rows = Array.from({ length: 250 }, (_, i) => ({ name: `n${String(Math.floor(i / 2)).padStart(3, '0')}`, id: uuid(i) }));
const key = (row: (typeof rows)[number]): KeyPart[] => [row.name, row.id];
const after = (position: KeyPart[] | null) => (row: (typeof rows)[number]) =>
  !position || row.name > String(position[0]) || (row.name === position[0] && row.id > String(position[1]));

describe('fillPage', () => {
  it('pages through exactly the rows the check keeps, in order, every page full but the last', async () => {
    const kept = rows.filter((_, i) => i % 3 !== 0);
    const batches: number[] = [];
    for (const first of [1, 7, 20, 100]) {
      const seen: string[] = [];
      let cursor: string | null = null;
      for (;;) {
        const page: Page<(typeof rows)[number]> = await fillPage({
          first,
          after: cursor ? decodeKeyset(cursor, [isText(), isUuid]) : null,
          key,
          fetch: async (position, limit) => {
            batches.push(limit);
            return rows.filter(after(position)).slice(0, limit);
          },
          keep: async (batch) => batch.map((row) => Number(row.id.slice(-12)) % 3 !== 0),
        });
        seen.push(...page.edges.map((e) => e.node.id));
        if (!page.pageInfo.hasNextPage) break;
        expect(page.edges).toHaveLength(first);
        expect(page.pageInfo.endCursor).toBe(page.edges.at(-1)!.cursor);
        cursor = page.pageInfo.endCursor;
      }
      expect(seen).toEqual(kept.map((r) => r.id));
    }
    expect(Math.max(...batches)).toBeLessThanOrEqual(1000);
  });

  it('scans on, in growing batches, when few rows pass', async () => {
    const page = await fillPage({
      first: 2, after: null, key,
      fetch: async (position, limit) => rows.filter(after(position)).slice(0, limit),
      keep: async (batch) => batch.map((row) => row.id === uuid(240) || row.id === uuid(249)),
    });
    expect(page.edges.map((e) => e.node.id)).toEqual([uuid(240), uuid(249)]);
    expect(page.pageInfo.hasNextPage).toBe(false);
  });

  it('refuses cursors it did not make', () => {
    expect(() => decodeKeyset('nope', [isText(), isUuid])).toThrow(/Invalid cursor/);
    expect(() => decodeKeyset(encodeKeyset(['a', 'not-a-uuid']), [isText(), isUuid])).toThrow(/Invalid cursor/);
    expect(() => decodeKeyset(encodeKeyset(['a']), [isText(), isUuid])).toThrow(/Invalid cursor/);
    expect(decodeKeyset(encodeKeyset(['a', uuid(1)]), [isText(), isUuid])).toEqual(['a', uuid(1)]);
  });
});
