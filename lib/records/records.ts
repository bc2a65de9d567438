/**
 * Small helpers shared by the resolvers of every subgraph: references to
 * entities other subgraphs own, and FHIR-shaped values.
 */
import { LAST_UPDATED_COLUMN } from './record-types.js';

export type Row = Record<string, any>;

/** A reference to an entity another subgraph owns; the gateway resolves its fields. */
export const entityRef = (id: string | null | undefined) => (id ? { id } : null);

export const coding = (system: string, code: string | null | undefined, display?: string | null) =>
  code ? { system, code, display: display ?? null } : null;

/** The `patient` field of any clinical record. */
export const patientOf = (row: Row) => ({ id: row.patient_id });
/** The `organization` field of any clinical record: the producing organisation. */
export const organizationOf = (row: Row) => ({ id: row.organization_id });
export const sensitivityLabelsOf = (row: Row): string[] => row.sensitivity_labels ?? [];
/** The `lastUpdated` field of any record: when its row last changed (lib/records/record-types.ts, LAST_UPDATED_COLUMN). */
export const lastUpdatedOf = (row: Row): Date | null => row[LAST_UPDATED_COLUMN] ?? null;

/** Fields every clinical record type resolves the same way. */
export const recordFields = {
  patient: patientOf,
  organization: organizationOf,
  sensitivityLabels: sensitivityLabelsOf,
  /** The catalogue's last-updated column (LAST_UPDATED_COLUMN), set by the owner's database. */
  lastUpdated: lastUpdatedOf,
};
