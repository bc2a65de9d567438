/**
 * The encounter a record was made in (Observation.encounter,
 * DiagnosticReport.encounter, a note's DocumentReference.context.encounter; issue 27: EHR exports such as Synthea name it
 * on every one). The Encounter is the encounters subgraph's record, which
 * labs and imaging cannot look up while they store their own: an existing one
 * (`Encounter/<id>`) is kept by id (the export links it when the caller may
 * see it), an Encounter of the same transaction gets its record id from the
 * coordinator once encounters has staged it (`Mapped.foreignLinks`).
 */
import { recordRef } from './elements.js';
import { entryLink, type BundleContext, type EntryIssues, type Json, type Mapped } from './module.js';

/** What keeps names for the element: its reference only. */
export const ENCOUNTER_KEEPS = { reference: true } as const;

/** The GraphQL selection of the exported encounter. */
export const ENCOUNTER_SELECTION = 'encounter { id }';

/**
 * `record.encounter_id` and the foreign link for the coordinator, from a published resource's reference to its
 * Encounter (`encounter` of an Observation or a DiagnosticReport, `context.encounter[0]` of a DocumentReference).
 */
export function encounterOf(reference: unknown, context: BundleContext, issues: EntryIssues, element = 'encounter'): { encounterId: string | null; foreignLinks?: Mapped['foreignLinks'] } {
  const ref = recordRef(reference, ['Encounter'], context, issues, element);
  if (!ref) return { encounterId: null };
  if ('id' in ref) return { encounterId: ref.id };
  return { encounterId: entryLink(ref.entry), foreignLinks: [{ column: 'encounter_id', expression: element }] };
}
