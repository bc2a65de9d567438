/**
 * `npm run audit:verify`: walks the audit trail's hash chain in identity's
 * database (IDENTITY_DATABASE_URL, or the embedded store of `npm start`) and
 * reports the first broken link. Exits 1 when the chain is broken.
 */
import { SUBGRAPHS, databaseUrl } from '../lib/runtime/services.js';
import { openSubgraphDatabase } from '../lib/runtime/subgraph.js';
import { verifyAuditChain } from '../subgraphs/identity/src/audit.js';

const db = await openSubgraphDatabase('identity', databaseUrl(SUBGRAPHS.identity));
const started = Date.now();
const report = await verifyAuditChain(db);
await db.close();
if (report.firstBroken) {
  const { seq, id, reason } = report.firstBroken;
  console.error(`Audit chain BROKEN at event #${seq} (${id}): ${reason}. ${report.events} events before it verified.`);
  process.exit(1);
}
console.log(`Audit chain intact: ${report.events} events verified in ${Date.now() - started} ms.`);
