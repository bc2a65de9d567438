/**
 * `npm run compose`: composes the subgraph SDL files in schema/ into
 * schema/supergraph.graphql with @apollo/composition, and writes the public
 * API schema beside it (schema/api.graphql, for client code generation).
 * Exits non-zero and prints the errors when composition fails. `--check` only
 * compares with the checked-in files.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { API_SCHEMA_FILE, composeSupergraph, SUPERGRAPH_FILE } from '../gateway/src/supergraph.js';

const result = composeSupergraph();
if (result.errors) {
  for (const error of result.errors) console.error(`composition error: ${error}`);
  process.exit(1);
}
const outputs: [string, string][] = [[SUPERGRAPH_FILE, result.supergraphSdl!], [API_SCHEMA_FILE, result.apiSchemaSdl!]];
if (process.argv.includes('--check')) {
  let stale = false;
  for (const [file, sdl] of outputs) {
    if ((await readFile(file, 'utf8').catch(() => '')) === sdl) continue;
    console.error(`${path.relative(process.cwd(), file)} is stale: run npm run compose`);
    stale = true;
  }
  if (stale) process.exit(1);
  console.log('supergraph and API schema are up to date');
} else {
  for (const [file, sdl] of outputs) await writeFile(file, sdl);
  for (const hint of result.hints) console.log(`hint: ${hint}`);
  console.log(`wrote ${outputs.map(([file]) => path.relative(process.cwd(), file)).join(' and ')}`);
}
