/**
 * `npm run audit:verify`: walks the audit trail in identity's database
 * (IDENTITY_DATABASE_URL, or the embedded store of `npm start`), across its
 * monthly partitions and its chains (the one written before the trail was
 * sharded, then each shard's, anchored on it: migration 030), and reports the
 * first broken link: which event, in which chain and partition, and why.
 * Exits 1 when the trail is broken.
 */
import { SUBGRAPHS, databaseUrl } from '../lib/runtime/services.js';
import { openSubgraphDatabase } from '../lib/runtime/subgraph.js';
import { verifyAuditChain } from '../subgraphs/identity/src/audit.js';

const db = await openSubgraphDatabase('identity', databaseUrl(SUBGRAPHS.identity));
const started = Date.now();
const report = await verifyAuditChain(db);
await db.close();
const chains = Object.keys(report.chains ?? {}).length;
const partitions = Object.keys(report.partitions ?? {}).length;
if (report.firstBroken) {
  const { seq, id, reason, shard, partition } = report.firstBroken;
  const where = [shard === undefined ? null : shard === null ? 'in the chain before sharding' : `in shard ${shard}`, partition ? `partition ${partition}` : null].filter(Boolean).join(', ');
  console.error(`Audit chain BROKEN at event #${seq}${id ? ` (${id})` : ''}${where ? ` ${where}` : ''}: ${reason}. ${report.events} events before it verified.`);
  process.exit(1);
}
console.log(`Audit chain intact: ${report.events} events verified in ${chains} chain(s) across ${partitions} partition(s) in ${Date.now() - started} ms.`);
