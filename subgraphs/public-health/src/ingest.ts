/**
 * Publishing into the public-health subgraph (lib/ingest/participant.ts):
 * programme enrolments (EpisodeOfCare, the programme by its code) and
 * immunisations (CVX; the programme, when given, by its code or name, as the
 * export writes it in protocolApplied.series), care plans and care teams.
 */
import type { Queryable } from '../../../lib/runtime/db.js';
import type { KindHandlers, ResolvedEntry } from '../../../lib/ingest/participant.js';

async function programOf(tx: Queryable, key: unknown): Promise<string | null> {
  if (typeof key !== 'string' || !key) return null;
  const [program] = await tx.query<{ id: string }>('SELECT id FROM program WHERE code = $1 OR name = $1 OR id = $1 ORDER BY id LIMIT 1', [key]);
  return program?.id ?? null;
}

export const ingestHandlers: KindHandlers = {
  careTeam: {
    table: 'care_team',
    category: 'care-plans',
    columns: ['status', 'period_start', 'period_end', 'participants', 'reason_codes', 'managed_by_producer', 'sensitivity_labels', 'encounter_id'],
    order: 3,
  },
  carePlan: {
    table: 'care_plan',
    category: 'care-plans',
    columns: ['status', 'intent', 'categories', 'period_start', 'period_end', 'activities', 'addresses_condition_ids', 'sensitivity_labels', 'encounter_id'],
    refs: { careTeam: { column: 'care_team_id', table: 'care_team', kinds: ['careTeam'], expression: 'careTeam[0]' } },
    // After the care team it names.
    order: 4,
  },
  enrollment: {
    table: 'program_enrollment',
    category: 'programs',
    columns: ['program_id', 'status', 'period_start', 'period_end', 'sensitivity_labels'],
    order: 1,
    check: async (tx, entry: ResolvedEntry) => {
      const program = await programOf(tx, entry.record.program);
      if (!program) return { status: 422, code: 'code-invalid', message: `No programme ${String(entry.record.program)} in the alliance`, expression: `${entry.path}.type[0].coding[0].code` };
      entry.record.program_id = program;
      return null;
    },
  },
  immunization: {
    table: 'immunization',
    category: 'immunizations',
    columns: ['program_id', 'vaccine_code', 'vaccine_display', 'dose_number', 'lot_number', 'occurrence', 'status', 'sensitivity_labels', 'encounter_id', 'location'],
    order: 2,
    check: async (tx, entry: ResolvedEntry) => {
      if (entry.record.program === undefined || entry.record.program === null) return null;
      const program = await programOf(tx, entry.record.program);
      if (!program) return { status: 422, code: 'code-invalid', message: `No programme ${String(entry.record.program)} in the alliance`, expression: `${entry.path}.protocolApplied[0].series` };
      entry.record.program_id = program;
      return null;
    },
  },
};
