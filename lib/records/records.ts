/**
 * Small helpers shared by the resolvers of every subgraph: references to
 * entities other subgraphs own, and FHIR-shaped values.
 */
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

/** Fields every clinical record type resolves the same way. */
export const recordFields = {
  patient: patientOf,
  organization: organizationOf,
  sensitivityLabels: sensitivityLabelsOf,
};
