/**
 * Publishing into the labs subgraph (lib/ingest/participant.ts): laboratory
 * results (Observation) grouped into reports (DiagnosticReport: lab panels,
 * ECG, pathology), from FHIR or from a laboratory's HL7 v2 ORU^R01 messages,
 * and the log of those messages (organisation, MSH-10 → the acknowledgement
 * given), so a replayed message creates nothing and gets the same answer.
 */
import type { Database, Queryable } from '../../../lib/db.js';
import type { KindHandlers, ResolvedEntry } from '../../../lib/ingest/participant.js';

export const ingestHandlers: KindHandlers = {
  'diagnostic-report': {
    table: 'diagnostic_report',
    category: 'labs',
    resourceType: 'DiagnosticReport',
    columns: ['code', 'display', 'category', 'status', 'effective', 'issued', 'conclusion', 'performer_id', 'sensitivity_labels'],
    order: 1,
  },
  observation: {
    table: 'observation',
    category: 'labs',
    resourceType: 'Observation',
    columns: ['code', 'display', 'category', 'status', 'value_quantity', 'value_string', 'value_concept', 'unit', 'reference_low', 'reference_high', 'interpretation', 'effective', 'issued', 'sensitivity_labels'],
    refs: { report: { column: 'report_id', table: 'diagnostic_report', kinds: ['diagnostic-report'], expression: 'id' } },
    order: 2,
  },
  // Not a clinical record: the acknowledgement of an HL7 v2 message, written with the results it carried.
  'hl7v2-message': {
    table: 'hl7v2_message',
    category: 'labs',
    columns: ['control_id', 'ack'],
    order: 3,
    keys: (entry) => [`hl7v2|${String(entry.record.control_id)}`],
    insert: async (tx: Queryable, entries: ResolvedEntry[], organizationId: string) => {
      await tx.query(
        `INSERT INTO hl7v2_message (organization_id, control_id, ack)
         SELECT $1, m.control_id, m.ack FROM jsonb_to_recordset($2::jsonb) AS m(control_id text, ack text) ON CONFLICT DO NOTHING`,
        [organizationId, JSON.stringify(entries.map((e) => e.record))]);
    },
    update: async () => undefined,
  },
};

/** The acknowledgement already given to a message of this organisation, if any. */
export async function storedAck(db: Database, organizationId: string, body: unknown): Promise<{ ack: string | null }> {
  const controlId = (body as { controlId?: unknown } | null)?.controlId;
  if (typeof controlId !== 'string' || controlId.length > 200) return { ack: null };
  const [row] = await db.query<{ ack: string }>('SELECT ack FROM hl7v2_message WHERE organization_id = $1 AND control_id = $2', [organizationId, controlId]);
  return { ack: row?.ack ?? null };
}
