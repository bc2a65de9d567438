/**
 * The web client's generated operation types (web/src/gql, from codegen.ts)
 * must be what GraphQL Code Generator makes of today's schema/api.graphql and
 * operations: run `npm run codegen` after changing either. Type-checking the
 * client (`npm run typecheck`, part of `npm test`) then proves every
 * operation's use against the API.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { generate } from '@graphql-codegen/cli';
import { describe, expect, it } from 'vitest';
import config, { CODEGEN_OUTPUT } from '../codegen.js';
import { ROOT } from '../lib/runtime/subgraph.js';

describe('generated client types', () => {
  it('match the checked-in web/src/gql (run npm run codegen)', async () => {
    const previous = process.cwd();
    process.chdir(ROOT);
    try {
      const files = await generate({ ...config, cwd: ROOT }, false);
      expect(files.length).toBeGreaterThanOrEqual(3);
      for (const file of files) {
        expect(path.relative(ROOT, path.resolve(ROOT, file.filename)).startsWith(path.normalize(CODEGEN_OUTPUT))).toBe(true);
        expect(readFileSync(path.resolve(ROOT, file.filename), 'utf8'), `${file.filename} is stale: run npm run codegen`).toBe(file.content);
      }
    } finally {
      process.chdir(previous);
    }
  }, 120_000);
});
