/**
 * The GraphQL operations the FHIR export sends through the gateway.
 *
 * The export is an ordinary client of the supergraph: it asks only for fields
 * of schema/supergraph.graphql, so every consent rule, scope ceiling and audit
 * report of the subgraphs applies to it exactly as to any other caller.
 *
 * One operation fetches the patient and the first page (100, the maximum) of
 * every connection the export plan includes (plan.ts: what the token's scopes
 * name); the next operations ask only for the connections that
 * still have a next page, each from its own cursor. A typical patient needs a
 * single operation, so a typical export leaves a single audit event.
 *
 * Selections are deliberately minimal: every field asked for is a field
 * disclosed (and counted in the audit trail), so nothing is fetched that the
 * FHIR mapping does not use. Links between records (a condition's encounter,
 * an observation's report) are read as ids on one side only.
 */

/** Page size: the largest `first` the connections accept. */
export const PAGE_SIZE = 100;

const CODING = '{ system code display }';
const ORGANIZATION = '{ id name active }';
const PRACTITIONER = '{ id name { family given text } active }';

export const PATIENT_FIELDS = `
  id
  name { family given text use }
  birthDate
  gender
  telecom { system value use }
  address { line city postalCode country }
  identifiers { system value type assigner ${ORGANIZATION} }`;

/** The Patient connections exported, and the fields of each node. */
export const CONNECTIONS = {
  encounters: `id status class period { start end } organization ${ORGANIZATION} practitioner ${PRACTITIONER} reason ${CODING} sensitivityLabels`,
  conditions: `id code ${CODING} clinicalStatus recordedDate encounter { id } organization ${ORGANIZATION} sensitivityLabels`,
  referrals: `id status reason ${CODING} note authoredOn requester ${ORGANIZATION} performer ${ORGANIZATION} appointmentTime sensitivityLabels`,
  observations: `id status category code ${CODING} valueQuantity { value unit } valueString referenceRange { low high unit text }
    interpretation ${CODING} effectiveDateTime issued organization ${ORGANIZATION} sensitivityLabels`,
  diagnosticReports: `id category code ${CODING} status effectiveDateTime issued conclusion performer ${PRACTITIONER} organization ${ORGANIZATION} sensitivityLabels`,
  imagingStudies: `id studyInstanceUid modality ${CODING} bodySite ${CODING} description numberOfSeries numberOfInstances started organization ${ORGANIZATION} sensitivityLabels`,
  programEnrollments: `id status period { start end } program { id code name } organization ${ORGANIZATION} sensitivityLabels`,
  immunizations: `id vaccineCode ${CODING} doseNumber lotNumber occurrenceDateTime status organization ${ORGANIZATION} program { id code name } sensitivityLabels`,
  followUpTasks: `id description dueDate status assignedRole organization ${ORGANIZATION} program { id code name } authoredOn ruleCode sensitivityLabels`,
  homeMeasurements: `id kind code ${CODING} systolic diastolic value unit effectiveDateTime source organization ${ORGANIZATION} fasting sensitivityLabels`,
} as const;

/** The radiology report of an imaging study, asked for only when the export may carry it (plan.radiologyReports). */
const IMAGING_REPORT = `report { id status findings impression issued radiologist ${PRACTITIONER} sensitivityLabels }`;
/** An observation's report, asked for only when reports are exported too (plan.reportLinks). */
const REPORT_LINK = 'report { id }';

export type ConnectionName = keyof typeof CONNECTIONS;
export const CONNECTION_NAMES = Object.keys(CONNECTIONS) as ConnectionName[];

/** Where each connection resumes: absent for the first page, else the previous page's endCursor. */
export type Cursors = Partial<Record<ConnectionName, string | null>>;

/**
 * Builds one operation: the patient's own fields when `patientFields`, and
 * one page of each connection named in `cursors`. Cursors travel as
 * variables, never spliced into the text, so the operation text is one of a
 * small fixed set (and the subgraph actor tokens bind to text and variables).
 */
export function buildOperation(
  options: { patientFields: boolean; radiologyReports: boolean; reportLinks: boolean },
  cursors: Cursors,
): { query: string; variables: Record<string, unknown> } {
  const names = CONNECTION_NAMES.filter((name) => name in cursors);
  const variables: Record<string, unknown> = {};
  const declarations = ['$id: ID!'];
  const selections: string[] = options.patientFields ? [PATIENT_FIELDS] : ['id'];
  for (const name of names) {
    const variable = `after_${name}`;
    declarations.push(`$${variable}: String`);
    variables[variable] = cursors[name] ?? null;
    let fields: string = CONNECTIONS[name];
    if (name === 'imagingStudies' && options.radiologyReports) fields += ` ${IMAGING_REPORT}`;
    if (name === 'observations' && options.reportLinks) fields += ` ${REPORT_LINK}`;
    selections.push(`${name}(first: ${PAGE_SIZE}, after: $${variable}) { edges { node { ${fields} } } pageInfo { hasNextPage endCursor } }`);
  }
  const query = `query FhirPatientEverything(${declarations.join(', ')}) {\n  patient(id: $id) {\n${selections.join('\n')}\n  }\n}`;
  return { query, variables };
}
