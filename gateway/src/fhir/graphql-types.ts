/**
 * Shapes of the GraphQL results the export reads (the selections of
 * queries.ts). Every field a consent rule may withhold is nullable here, as it
 * is on the wire: the mapping must cope with a null that means "withheld"
 * (an error at that path) as well as one that means "not recorded".
 */

export interface GqlCoding { system: string; code: string; display: string | null }
export interface GqlOrganization { id: string; name: string | null; active?: boolean | null }
export interface GqlHumanName { family: string; given: string[]; text: string; use?: string | null }
export interface GqlPractitioner { id: string; name: GqlHumanName | null; active?: boolean | null }
export interface GqlPeriod { start: string | null; end: string | null }
export interface GqlProgram { id: string; code: string; name: string }

export interface GqlPatient {
  id: string;
  name?: GqlHumanName[] | null;
  birthDate?: string | null;
  gender?: 'FEMALE' | 'MALE' | 'OTHER' | 'UNKNOWN' | null;
  telecom?: { system: string; value: string; use: string | null }[] | null;
  address?: { line: string[]; city: string | null; postalCode: string | null; country: string | null }[] | null;
  identifiers?: { system: string; value: string; type: 'MR' | 'HC'; assigner: GqlOrganization | null }[] | null;
}

export interface GqlEncounter {
  id: string; status: string | null; class: string | null; period: GqlPeriod | null;
  organization: GqlOrganization | null; practitioner: GqlPractitioner | null; reason: GqlCoding | null;
  sensitivityLabels: string[] | null;
}

export interface GqlCondition {
  id: string; code: GqlCoding | null; clinicalStatus: string | null; recordedDate: string | null;
  encounter: { id: string } | null; organization: GqlOrganization | null; sensitivityLabels: string[] | null;
}

export interface GqlReferral {
  id: string; status: string | null; reason: GqlCoding | null; note: string | null; authoredOn: string | null;
  requester: GqlOrganization | null; performer: GqlOrganization | null;
  appointmentTime: string | null; sensitivityLabels: string[] | null;
}

export interface GqlObservation {
  id: string; status: string | null; category: string | null; code: GqlCoding | null;
  valueQuantity: { value: number; unit: string | null } | null; valueString: string | null;
  referenceRange: { low: number | null; high: number | null; unit: string | null; text: string | null } | null;
  interpretation: GqlCoding | null; effectiveDateTime: string | null; issued: string | null;
  organization: GqlOrganization | null; report: { id: string } | null; sensitivityLabels: string[] | null;
}

export interface GqlDiagnosticReport {
  id: string; category: string | null; code: GqlCoding | null; status: string | null; effectiveDateTime: string | null;
  issued: string | null; conclusion: string | null; performer: GqlPractitioner | null; organization: GqlOrganization | null;
  sensitivityLabels: string[] | null;
}

export interface GqlImagingStudy {
  id: string; studyInstanceUid: string | null; modality: GqlCoding | null; bodySite: GqlCoding | null; description: string | null;
  numberOfSeries: number | null; numberOfInstances: number | null; started: string | null; organization: GqlOrganization | null;
  report: {
    id: string; status: string | null; findings: string | null; impression: string | null; issued: string | null; radiologist: GqlPractitioner | null;
    sensitivityLabels: string[] | null;
  } | null;
  sensitivityLabels: string[] | null;
}

export interface GqlEnrollment {
  id: string; status: string | null; period: GqlPeriod | null; program: GqlProgram | null; organization: GqlOrganization | null;
  sensitivityLabels: string[] | null;
}

export interface GqlImmunization {
  id: string; vaccineCode: GqlCoding | null; doseNumber: number | null; lotNumber: string | null; occurrenceDateTime: string | null;
  status: string | null; organization: GqlOrganization | null; program: GqlProgram | null;
  sensitivityLabels: string[] | null;
}

export interface GqlFollowUpTask {
  id: string; description: string | null; dueDate: string | null; status: string | null; assignedRole: string | null;
  organization: GqlOrganization | null; program: GqlProgram | null; authoredOn: string | null; ruleCode: string | null;
  sensitivityLabels: string[] | null;
}

export interface GqlHomeMeasurement {
  id: string; kind: string | null; code: GqlCoding | null; systolic: number | null; diastolic: number | null; value: number | null;
  unit: string | null; effectiveDateTime: string | null; source: string | null; organization: GqlOrganization | null; fasting: boolean | null;
  sensitivityLabels: string[] | null;
}

export interface GqlNodes {
  encounters: GqlEncounter[];
  conditions: GqlCondition[];
  referrals: GqlReferral[];
  observations: GqlObservation[];
  diagnosticReports: GqlDiagnosticReport[];
  imagingStudies: GqlImagingStudy[];
  programEnrollments: GqlEnrollment[];
  immunizations: GqlImmunization[];
  followUpTasks: GqlFollowUpTask[];
  homeMeasurements: GqlHomeMeasurement[];
}
