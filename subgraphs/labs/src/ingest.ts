/**
 * Publishing into the labs subgraph (lib/ingest/participant.ts): laboratory
 * results (Observation) grouped into reports (DiagnosticReport: lab panels,
 * ECG, pathology), from FHIR or from a laboratory's HL7 v2 ORU^R01 messages,
 * and the log of those messages (organisation, MSH-10 → the acknowledgement
 * given), so a replayed message creates nothing and gets the same answer.
 */
import type { Database, Queryable } from '../../../lib/runtime/db.js';
import type { KindHandlers, RefSpec, ResolvedEntry } from '../../../lib/ingest/participant.js';

/** hasMember / derivedFrom of a clinical observation: one reference field per position (`hasMember.0`…), gathered into the uuid[] columns on write. */
const MAX_LINKS = 20;
const linkRefs = (name: 'hasMember' | 'derivedFrom', column: string): Record<string, RefSpec> => Object.fromEntries(Array.from({ length: MAX_LINKS }, (_, n) => [
  `${name}.${n}`, { column, table: 'clinical_observation', kinds: ['clinical-observation'], expression: `${name}[${n}]` },
]));
const CLINICAL_COLUMNS = ['status', 'category_codes', 'categories', 'codes', 'code', 'value', 'value_quantity', 'data_absent_reason', 'interpretation', 'body_site', 'method',
  'components', 'notes', 'effective', 'effective_source', 'issued', 'performers', 'sensitivity_labels', 'encounter_id', 'reference_ranges', 'specimen'];

/** A clinical observation's row: its columns, the organisation and patient, and its links in the order sent. */
function clinicalRow(entry: ResolvedEntry, organizationId: string): Record<string, unknown> {
  const row: Record<string, unknown> = { id: entry.id, patient_id: entry.patientId, organization_id: organizationId };
  for (const column of CLINICAL_COLUMNS) row[column] = entry.record[column] ?? null;
  const gather = (name: string) => Array.from({ length: MAX_LINKS }, (_, n) => entry.resolved[`${name}.${n}`]).filter((id): id is string => Boolean(id));
  row.has_member = gather('hasMember');
  row.derived_from = gather('derivedFrom');
  return row;
}
const CLINICAL_WRITTEN = ['id', 'patient_id', 'organization_id', ...CLINICAL_COLUMNS, 'has_member', 'derived_from'];

export const ingestHandlers: KindHandlers = {
  'diagnostic-report': {
    table: 'diagnostic_report',
    category: 'labs',
    resourceType: 'DiagnosticReport',
    columns: ['code', 'display', 'category', 'status', 'effective', 'issued', 'conclusion', 'performer_id', 'sensitivity_labels', 'code_system', 'local_code', 'local_system', 'local_display', 'encounter_id'],
    order: 1,
  },
  observation: {
    table: 'observation',
    category: 'labs',
    resourceType: 'Observation',
    columns: ['code', 'display', 'category', 'status', 'value_quantity', 'value_string', 'value_concept', 'unit', 'reference_low', 'reference_high', 'interpretation', 'effective', 'issued', 'sensitivity_labels',
      'value_comparator', 'reference_text', 'code_system', 'local_code', 'local_system', 'local_display', 'note', 'encounter_id', 'performers', 'categories'],
    refs: { report: { column: 'report_id', table: 'diagnostic_report', kinds: ['diagnostic-report'], expression: 'id' } },
    order: 2,
  },
  // Clinical observations (vital signs, exam, survey, social history…), linked to one another by hasMember / derivedFrom.
  'clinical-observation': {
    table: 'clinical_observation',
    category: 'observations',
    resourceType: 'Observation',
    columns: CLINICAL_COLUMNS,
    refs: { ...linkRefs('hasMember', 'has_member'), ...linkRefs('derivedFrom', 'derived_from') },
    order: 4,
    insert: async (tx: Queryable, entries: ResolvedEntry[], organizationId: string) => {
      const columns = CLINICAL_WRITTEN.join(', ');
      await tx.query(`INSERT INTO clinical_observation (${columns}) SELECT ${columns} FROM jsonb_populate_recordset(NULL::clinical_observation, $1::jsonb)`,
        [JSON.stringify(entries.map((e) => clinicalRow(e, organizationId)))]);
    },
    // An update keeps the stored labels and adds the new ones (as every owner's generic update does).
    update: async (tx: Queryable, entries: ResolvedEntry[], organizationId: string) => {
      const set = CLINICAL_WRITTEN.filter((c) => c !== 'id').map((c) => (c === 'sensitivity_labels'
        ? 'sensitivity_labels = ARRAY(SELECT l FROM unnest(t.sensitivity_labels || s.sensitivity_labels) WITH ORDINALITY AS u(l, n) GROUP BY l ORDER BY min(n))'
        : `${c} = s.${c}`));
      await tx.query(`UPDATE clinical_observation AS t SET ${set.join(', ')} FROM jsonb_populate_recordset(NULL::clinical_observation, $1::jsonb) AS s WHERE t.id = s.id`,
        [JSON.stringify(entries.map((e) => clinicalRow(e, organizationId)))]);
    },
  },
  // Not a clinical record: the acknowledgement of an HL7 v2 message, written with the results it carried.
  'hl7v2-message': {
    table: 'hl7v2_message',
    category: 'labs',
    columns: ['control_id', 'ack', 'content_hash'],
    order: 3,
    keys: (entry) => [`hl7v2|${String(entry.record.control_id)}`],
    insert: async (tx: Queryable, entries: ResolvedEntry[], organizationId: string) => {
      await tx.query(
        `INSERT INTO hl7v2_message (organization_id, control_id, ack, content_hash)
         SELECT $1, m.control_id, m.ack, m.content_hash FROM jsonb_to_recordset($2::jsonb) AS m(control_id text, ack text, content_hash text) ON CONFLICT DO NOTHING`,
        [organizationId, JSON.stringify(entries.map((e) => e.record))]);
    },
    update: async () => undefined,
  },
};

/**
 * What labs knows of an HL7 v2 message before it is published: the
 * acknowledgement already given to its control id (with the digest of the
 * content it acknowledged: a replay has the same, a reused id other content),
 * and the results already stored under the message's order identifiers
 * (a correction updates them).
 */
export async function storedAck(db: Database, organizationId: string, body: unknown): Promise<{ ack: string | null; contentHash: string | null; results: Record<string, string> }> {
  const { controlId, resultSystem, resultValues } = (body ?? {}) as { controlId?: unknown; resultSystem?: unknown; resultValues?: unknown };
  const results: Record<string, string> = {};
  if (typeof resultSystem === 'string' && Array.isArray(resultValues) && resultValues.length && resultValues.length <= 10_000 && resultValues.every((v) => typeof v === 'string')) {
    const rows = await db.query<{ value: string; record_id: string }>(
      `SELECT value, record_id FROM record_identifier WHERE organization_id = $1 AND resource_type = 'Observation' AND system = $2 AND value = ANY($3::text[])`,
      [organizationId, resultSystem, resultValues]);
    for (const row of rows) results[row.value] = String(row.record_id);
  }
  if (typeof controlId !== 'string' || controlId.length > 200) return { ack: null, contentHash: null, results };
  const [row] = await db.query<{ ack: string; content_hash: string | null }>('SELECT ack, content_hash FROM hl7v2_message WHERE organization_id = $1 AND control_id = $2', [organizationId, controlId]);
  return { ack: row?.ack ?? null, contentHash: row?.content_hash ?? null, results };
}
