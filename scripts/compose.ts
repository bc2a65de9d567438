/**
 * `npm run compose`: composes the subgraph SDL files in schema/ into
 * schema/supergraph.graphql with @apollo/composition. Exits non-zero and
 * prints the errors when composition fails. `--check` only compares with the
 * checked-in file.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { composeSupergraph, SUPERGRAPH_FILE } from '../gateway/src/supergraph.js';

const result = composeSupergraph();
if (result.errors) {
  for (const error of result.errors) console.error(`composition error: ${error}`);
  process.exit(1);
}
const current = await readFile(SUPERGRAPH_FILE, 'utf8').catch(() => '');
if (process.argv.includes('--check')) {
  if (current !== result.supergraphSdl) {
    console.error(`${path.relative(process.cwd(), SUPERGRAPH_FILE)} is stale: run npm run compose`);
    process.exit(1);
  }
  console.log('supergraph is up to date');
} else {
  await writeFile(SUPERGRAPH_FILE, result.supergraphSdl!);
  for (const hint of result.hints) console.log(`hint: ${hint}`);
  console.log(`wrote ${path.relative(process.cwd(), SUPERGRAPH_FILE)}`);
}
