/**
 * Property test of what publishing lets through (issue #25): random records
 * with random sensitivity labels, published by random institutions through
 * random ways in (transaction, batch, single POST, POST then PUT, HL7 v2),
 * for a patient two institutions registered (the second by the health card),
 * under random directives (the patient's permits and denies, and permits
 * staff recorded that the patient never confirmed); then every read path
 * (READ_PATHS below: GraphQL lists, lookups, the timeline, `$everything`, FHIR
 * search by patient over every page, and the timeline's withheld count) must show each record to exactly those whom
 * the README's rules allow, with its labels as stored.
 *
 * The oracle (`visible`, `storedLabels`, `withheldFor`) is written from the
 * README's rules ("Consent", "Institutions publish records"), not by calling
 * the policy function:
 * - the patient sees every record of theirs;
 * - staff (and an institution's system) see what their organisation produced;
 *   records from elsewhere only under an active permit the patient gave
 *   (naming their organisation or the whole alliance) covering the category,
 *   which must also name every label the record carries; a deny naming their
 *   organisation closes even its own records, an alliance-wide deny what comes
 *   from elsewhere; a permit staff recorded and the patient never confirmed
 *   counts for nothing; registering the patient (by the card) opens nothing;
 * - break-glass (clinicians) opens what that closes, except V; a system never
 *   breaks the glass;
 * - a radiology report is read under its study's labels and its own;
 * - labels stored = those sent (meta.security, or HL7 v2 ORC-28) and those the
 *   table of sensitive codes gives the codes, and an update adds to them,
 *   never removes; every path exports them as stored;
 * - the withheld count is told to clinical staff the patient authorised (any
 *   active permit for them or the alliance), and counts the unlabelled records
 *   they may not see.
 *
 * PUBLISHING_PROPERTY_CASES sets the number of cases per backend (default 5).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM } from '../lib/records/terminology.js';
import { hl7v2IdentifierSystem } from '../gateway/src/fhir/ingest/hl7v2.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';
import { fhirSender } from './support/publish.js';

type Json = Record<string, any>;
const CASES = Number(process.env.PUBLISHING_PROPERTY_CASES ?? 5);
const A = 'org-county-north';
const B = 'org-county-south';
const C = 'org-provincial';
const ACT = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const CONF = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const LOINC = 'http://loinc.org';
const ICD10 = 'http://hl7.org/fhir/sid/icd-10';
const LABELS = ['HIV', 'PSY', 'V'] as const;
type Label = (typeof LABELS)[number] | 'STD' | 'ETH' | 'GDIS' | 'SEX' | 'SDV';
let sequence = 0;
const unique = (prefix: string) => `${prefix}${Date.now().toString(36).toUpperCase()}${++sequence}`;

// ---------------------------------------------------------------- the cases

type Kind = 'Observation' | 'Condition' | 'Encounter' | 'Immunization' | 'ImagingStudy';
type Way = 'transaction' | 'batch' | 'post' | 'put' | 'hl7v2';
const WAYS: Record<Kind, Way[]> = {
  Observation: ['transaction', 'batch', 'post', 'put', 'hl7v2'],
  Condition: ['transaction', 'batch', 'post', 'put'],
  Encounter: ['transaction', 'batch', 'post', 'put'],
  Immunization: ['transaction', 'batch', 'post', 'put'],
  ImagingStudy: ['transaction', 'post'],
};
/** Codes the table of sensitive codes lists (README: HIV tests, depression): the record gets the label whatever it was sent with. */
const TABLE_CODES: Partial<Record<Kind, { code: string; label: Label }>> = { Observation: { code: '56888-1', label: 'HIV' }, Condition: { code: 'F32.1', label: 'PSY' } };

interface RecordSpec {
  kind: Kind;
  producer: string;
  way: Way;
  labels: Label[];
  sensitiveCode: boolean;
  /** put: the labels the update sends (none: it leaves meta.security out). */
  updateLabels: Label[];
  /** ImagingStudy: its radiology report's own labels (null: no report). */
  reportLabels: Label[] | null;
}

interface DirectiveSpec {
  by: 'patient' | 'staff';
  decision: 'permit' | 'deny';
  target: string | 'alliance';
  categories: string[];
  labels: Label[];
}

const CATEGORY: Record<Kind, string> = { Observation: 'labs', Condition: 'diagnoses', Encounter: 'encounters', Immunization: 'immunizations', ImagingStudy: 'imaging' };
const CATEGORY_ENUM = (category: string) => category.toUpperCase().replace(/-/g, '_');

const labelsArb = fc.subarray([...LABELS]) as fc.Arbitrary<Label[]>;
const recordArb = (bRegistered: boolean): fc.Arbitrary<RecordSpec> => fc.constantFrom<Kind>('Observation', 'Observation', 'Condition', 'Encounter', 'Immunization', 'ImagingStudy').chain((kind) => fc.record({
  kind: fc.constant(kind),
  producer: bRegistered ? fc.constantFrom(A, B) : fc.constant(A),
  way: fc.constantFrom(...WAYS[kind]),
  labels: labelsArb,
  sensitiveCode: TABLE_CODES[kind] ? fc.boolean() : fc.constant(false),
  updateLabels: labelsArb,
  reportLabels: kind === 'ImagingStudy' ? fc.option(labelsArb, { nil: null }) : fc.constant(null),
}));
const directiveArb: fc.Arbitrary<DirectiveSpec> = fc.record({
  by: fc.constantFrom<'patient' | 'staff'>('patient', 'patient', 'staff'),
  decision: fc.constantFrom<'permit' | 'deny'>('permit', 'permit', 'permit', 'deny'),
  target: fc.constantFrom(A, B, C, 'alliance'),
  categories: fc.oneof(fc.constant([] as string[]), fc.subarray(['labs', 'diagnoses', 'encounters', 'immunizations', 'imaging', 'imaging-reports'], { minLength: 1, maxLength: 3 })),
  labels: labelsArb,
});
const caseArb = fc.boolean().chain((bRegistered) => fc.record({
  bRegistered: fc.constant(bRegistered),
  records: fc.array(recordArb(bRegistered), { minLength: 1, maxLength: 5 }),
  directives: fc.array(directiveArb, { maxLength: 3 }),
}));

// ---------------------------------------------------------------- what was published

/** One published record as the oracle sees it. */
interface Published {
  id: string;
  kind: Kind | 'DiagnosticReport' | 'ImagingReport';
  category: string;
  producer: string;
  /** Labels as stored (README: sent ∪ the table's, an update only adds). */
  labels: string[];
  /** The labels it is read under (a report: its study's and its own). */
  readUnder: string[];
  /** A radiology report's study. */
  studyId?: string;
}

/** The README's rule for one reader and one record (see the module comment). */
interface Reader {
  name: string;
  role: 'patient' | 'clinician' | 'system';
  org: string | null;
  breakGlass: boolean;
}

function visible(reader: Reader, record: Published, directives: DirectiveSpec[]): boolean {
  if (reader.role === 'patient') return true;
  const confirmed = directives.filter((d) => d.by === 'patient');
  const covers = (d: DirectiveSpec) => d.categories.length === 0 || d.categories.includes(record.category);
  // README rule 4: a deny that names labels closes only the records carrying one of them.
  const denies = (d: DirectiveSpec) => d.decision === 'deny' && covers(d) && (d.labels.length === 0 || record.readUnder.some((label) => d.labels.includes(label as Label)));
  const namesReader = (d: DirectiveSpec) => d.target === reader.org;
  let open: boolean;
  if (confirmed.some((d) => denies(d) && namesReader(d))) open = false;
  else if (record.producer === reader.org) open = true;
  else if (confirmed.some((d) => denies(d) && d.target === 'alliance')) open = false;
  else {
    const permits = confirmed.filter((d) => d.decision === 'permit' && (namesReader(d) || d.target === 'alliance') && covers(d));
    open = permits.length > 0 && record.readUnder.every((label) => permits.some((p) => p.labels.includes(label as Label)));
  }
  if (open) return true;
  return reader.breakGlass && reader.role === 'clinician' && !record.readUnder.includes('V');
}

/** docs/consent.md: a radiology report is reached through its study, so it is shown only to a reader who may see the study too. */
function shown(reader: Reader, record: Published, records: Published[], directives: DirectiveSpec[]): boolean {
  if (!visible(reader, record, directives)) return false;
  const study = record.kind === 'ImagingReport' ? records.find((r) => r.id === record.studyId) : undefined;
  return !study || visible(reader, study, directives);
}

/** Whether the reader may reach the patient at all (README: their record is open to them, they registered them, or a permit names them). */
function reaches(reader: Reader, registered: string[], directives: DirectiveSpec[]): boolean {
  if (reader.role === 'patient' || reader.breakGlass) return true;
  const confirmed = directives.filter((d) => d.by === 'patient');
  if (confirmed.some((d) => d.decision === 'deny' && d.target === reader.org && d.categories.length === 0 && d.labels.length === 0)) return false;
  return registered.includes(reader.org!) || confirmed.some((d) => d.decision === 'permit' && (d.target === reader.org || d.target === 'alliance'));
}

/** README: clinical staff the patient authorised learn how many unlabelled entries they may not see; everyone else, null. */
function withheldFor(reader: Reader, records: Published[], directives: DirectiveSpec[]): number | null {
  if (reader.role !== 'clinician') return null;
  const authorised = directives.some((d) => d.by === 'patient' && d.decision === 'permit' && (d.target === reader.org || d.target === 'alliance'));
  if (!authorised) return null;
  return records.filter((r) => r.kind !== 'ImagingReport' && r.labels.length === 0 && !visible(reader, r, directives)).length;
}

// ---------------------------------------------------------------- the read paths

/** What a path shows: record id → its labels as exported (undefined where the path carries none). */
type Seen = Map<string, string[] | undefined>;
interface ReadPath {
  name: string;
  /** The records this path can show. */
  covers: (record: Published) => boolean;
  read: (stack: TestStack, token: string, patientId: string, records: Published[]) => Promise<Seen>;
}

const sorted = (labels: string[] | null | undefined) => [...(labels ?? [])].sort();
const LIST_QUERY = `query($id: ID!) { patient(id: $id) {
  observations(first: 100) { edges { node { id sensitivityLabels } } }
  diagnosticReports(first: 100) { edges { node { id sensitivityLabels } } }
  conditions(first: 100) { edges { node { id sensitivityLabels } } }
  encounters(first: 100) { edges { node { id sensitivityLabels } } }
  immunizations(first: 100) { edges { node { id sensitivityLabels } } }
  imagingStudies(first: 100) { edges { node { id sensitivityLabels report { id sensitivityLabels } } } } } }`;
const LOOKUP_FIELD: Partial<Record<Published['kind'], string>> = {
  Observation: 'observation', DiagnosticReport: 'diagnosticReport', Encounter: 'encounter', Immunization: 'immunization', ImagingStudy: 'imagingStudy',
};

const READ_PATHS: ReadPath[] = [
  {
    name: 'GraphQL lists',
    covers: () => true,
    read: async (stack, token, patientId) => {
      const seen: Seen = new Map();
      const patient = (await stack.graphql(token, LIST_QUERY, { id: patientId })).data?.patient;
      for (const connection of Object.values(patient ?? {}) as Json[]) {
        for (const { node } of connection?.edges ?? []) {
          seen.set(node.id, sorted(node.sensitivityLabels));
          if (node.report) seen.set(node.report.id, sorted(node.report.sensitivityLabels));
        }
      }
      return seen;
    },
  },
  {
    name: 'GraphQL lookups',
    covers: (r) => Boolean(LOOKUP_FIELD[r.kind]) || r.kind === 'ImagingReport',
    read: async (stack, token, _patientId, records) => {
      const asked = records.filter((r) => LOOKUP_FIELD[r.kind]);
      const query = `{ ${asked.map((r, i) => `r${i}: ${LOOKUP_FIELD[r.kind]}(id: "${r.id}") { id sensitivityLabels ${r.kind === 'ImagingStudy' ? 'report { id sensitivityLabels }' : ''} }`).join(' ')} }`;
      const data = (await stack.graphql(token, query)).data ?? {};
      const seen: Seen = new Map();
      for (const node of Object.values(data) as Json[]) {
        if (!node) continue;
        seen.set(node.id, sorted(node.sensitivityLabels));
        if (node.report) seen.set(node.report.id, sorted(node.report.sensitivityLabels));
      }
      return seen;
    },
  },
  {
    name: 'timeline',
    covers: (r) => r.kind !== 'ImagingReport',
    read: async (stack, token, patientId) => {
      const response = await stack.graphql(token, `query($id: ID!) { patient(id: $id) { timeline(first: 100) { edges { node {
        ... on Observation { id } ... on DiagnosticReport { id } ... on Condition { id } ... on Encounter { id } ... on Immunization { id } ... on ImagingStudy { id } } } } } }`, { id: patientId });
      return new Map((response.data?.patient?.timeline?.edges ?? []).map((e: Json) => [e.node.id, undefined]));
    },
  },
  {
    name: '$everything',
    covers: () => true,
    read: async (stack, token, patientId) => {
      const response = await fetch(`${stack.url.replace(/\/graphql$/, '')}/fhir/Patient/${patientId}/$everything`, { headers: { authorization: `Bearer ${token}` } });
      if (response.status !== 200) return new Map();
      const bundle = await response.json();
      return new Map(bundle.entry.filter((e: Json) => e.search?.mode === 'match' && e.resource.resourceType !== 'Patient').map((e: Json) => [e.resource.id, fhirLabels(e.resource)]));
    },
  },
  {
    // FHIR search by patient, every type a case publishes, every page (a radiology report is a DiagnosticReport there).
    name: 'FHIR search',
    covers: () => true,
    read: async (stack, token, patientId) => {
      const seen: Seen = new Map();
      for (const type of ['Observation', 'DiagnosticReport', 'Condition', 'Encounter', 'Immunization', 'ImagingStudy']) {
        let url: string | undefined = `${stack.url.replace(/\/graphql$/, '')}/fhir/${type}?patient=${patientId}&_count=100`;
        while (url) {
          const response: Response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
          // A patient the reader may not reach answers like one that does not exist; anything else is a failure of the path.
          expect([200, 403, 404], `FHIR search ${type}: ${response.status}`).toContain(response.status);
          if (response.status !== 200) break;
          const bundle = (await response.json()) as Json;
          for (const e of bundle.entry ?? []) if (e.search?.mode === 'match') seen.set(e.resource.id, fhirLabels(e.resource));
          url = bundle.link?.find((l: Json) => l.relation === 'next')?.url;
        }
      }
      return seen;
    },
  },
];

/** The sensitivity labels of an exported FHIR resource (meta.security: v3 ActCode, and V of the confidentiality codes). */
function fhirLabels(resource: Json): string[] {
  return sorted((resource.meta?.security ?? []).filter((c: Json) => (c.system === ACT || (c.system === CONF && c.code === 'V')) && c.code !== 'REDACTED').map((c: Json) => c.code));
}

// ---------------------------------------------------------------- publishing a case

const security = (labels: string[]) => (labels.length ? { security: labels.map((l) => (l === 'V' ? { system: CONF, code: 'V' } : { system: ACT, code: l })) } : undefined);

function resourceOf(spec: RecordSpec, subject: Json, labels: string[]): Json {
  const meta = security(labels);
  switch (spec.kind) {
    case 'Observation':
      return { resourceType: 'Observation', meta, status: 'final', subject, code: { coding: [{ system: LOINC, code: spec.sensitiveCode ? '56888-1' : '718-7' }] }, effectiveDateTime: '2026-02-01T09:10:00Z', valueQuantity: { value: 13.4, unit: 'g/dL' } };
    case 'Condition':
      return { resourceType: 'Condition', meta, subject, code: { coding: [{ system: ICD10, code: spec.sensitiveCode ? 'F32.1' : 'I10' }] }, clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] }, recordedDate: '2026-02-01T09:00:00Z' };
    case 'Encounter':
      return { resourceType: 'Encounter', meta, status: 'finished', subject, class: { system: ACT, code: 'AMB' }, period: { start: '2026-02-01T08:00:00Z' } };
    case 'Immunization':
      return { resourceType: 'Immunization', meta, status: 'completed', patient: subject, vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '08' }] }, occurrenceDateTime: '2026-01-10T10:00:00Z' };
    case 'ImagingStudy':
      return { resourceType: 'ImagingStudy', meta, status: 'available', subject, started: '2026-02-01T10:00:00Z', identifier: [{ system: 'urn:dicom:uid', value: `urn:oid:1.2.826.0.1.3680043.8.498.${Date.now()}${++sequence}` }],
        modality: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'CT' }], numberOfSeries: 1, numberOfInstances: 10 };
  }
}
const reportOf = (subject: Json, study: Json, labels: string[]) => ({
  resourceType: 'DiagnosticReport', meta: security(labels), status: 'final', subject, category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'RAD' }] }],
  code: { coding: [{ system: LOINC, code: '18748-4' }] }, effectiveDateTime: '2026-02-01T10:00:00Z', imagingStudy: [study], conclusion: 'Impression',
});
const idOf = (location: string | null | undefined) => String(location).split('/')[1]!.split('?')[0]!;

describe.each(BACKENDS)('publishing property on %s: every read path shows each record to exactly those the README allows', (backend) => {
  let stack: TestStack;
  const send = fhirSender(() => stack.url.replace(/\/graphql$/, ''));
  const system = (org: string) => stack.token({ sub: `${org}-his`, role: 'system', org, client_id: `${org}-his`, scope: 'system/*.cruds' });

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: 0 });
  });
  afterAll(async () => stack?.close());

  /** Publishes one record the way the case says; returns it (and its report) as the oracle sees them. */
  async function publish(spec: RecordSpec, patientId: string, card: string, mrn: Record<string, string>): Promise<Published[]> {
    const token = await system(spec.producer);
    const subject = { reference: `Patient/${patientId}` };
    const table = spec.sensitiveCode ? [TABLE_CODES[spec.kind]!.label] : [];
    const stored = [...new Set([...spec.labels, ...table, ...(spec.way === 'put' ? spec.updateLabels : [])])].sort();
    const record = (id: string): Published => ({ id, kind: spec.kind, category: CATEGORY[spec.kind], producer: spec.producer, labels: stored, readUnder: stored });
    const ok = (status: number, text: string, expected = 200) => expect(status, `${spec.way} ${spec.kind}: ${text}`).toBe(expected);
    if (spec.way === 'hl7v2') {
      const control = unique('CTL');
      // Each message its own order (placer and filler numbers): a laboratory never reuses one for another patient, and a
      // result sent again under the same order is a correction of the first (HL7 v2 OBX-11), which may not change its patient.
      const [placer, filler] = [`${control}-P`, `${control}-F`];
      const orc = ['ORC', 'RE', placer, filler, ...Array<string>(24).fill(''), spec.labels.map((l) => `${l}^label^HL70177`).join('~')].join('|');
      const message = `MSH|^~\\&|LIS|LAB|FPR|ALLIANCE|20260301083000||ORU^R01^ORU_R01|${control}|P|2.5.1\rPID|1||${card}^^^^HC~${mrn[spec.producer]}^^^${spec.producer}^MR||Lin^Tao||19900102|M\r`
        + `${orc}\rOBR|1|${placer}|${filler}|58410-2^CBC panel^LN|||20260301080000|||||||||||||||20260301083000|||F\r`
        + `OBX|1|ST|${spec.sensitiveCode ? '56888-1' : '718-7'}^Test^LN||Negative||||||F|||20260301080000`;
      const response = await send('/hl7v2', token, message, { contentType: 'x-application/hl7-v2+er7' });
      expect(response.text.split('\r')[1], response.text).toMatch(/^MSA\|AA\|/);
      const ids = await stack.databases.labs.query<{ value: string; record_id: string }>('SELECT value, record_id FROM record_identifier WHERE system = $1 AND value LIKE $2',
        [hl7v2IdentifierSystem(spec.producer), `${control}/%`]);
      const report = ids.find((i) => i.value === `${control}/OBR/1`)!.record_id;
      const observation = ids.find((i) => i.value.endsWith('/OBX/1'))!.record_id;
      const panel = [...spec.labels].sort();
      return [record(observation), { id: report, kind: 'DiagnosticReport', category: 'labs', producer: spec.producer, labels: panel, readUnder: panel }];
    }
    const resource = resourceOf(spec, subject, spec.labels);
    if (spec.kind === 'ImagingStudy') {
      const studyLabels = stored;
      let studyId: string;
      let reportId: string | null = null;
      if (spec.way === 'transaction') {
        const entries: Json[] = [{ fullUrl: 'urn:uuid:00000000-0000-4000-8000-0000000000a1', request: { method: 'POST', url: 'ImagingStudy' }, resource }];
        if (spec.reportLabels) entries.push({ request: { method: 'POST', url: 'DiagnosticReport' }, resource: reportOf(subject, { reference: 'urn:uuid:00000000-0000-4000-8000-0000000000a1' }, spec.reportLabels) });
        const response = await send('/fhir', token, { resourceType: 'Bundle', type: 'transaction', entry: entries });
        ok(response.status, response.text);
        studyId = idOf(response.body.entry[0].response.location);
        if (spec.reportLabels) reportId = idOf(response.body.entry[1].response.location);
      } else {
        const response = await send('/fhir/ImagingStudy', token, resource);
        ok(response.status, response.text, 201);
        studyId = idOf(response.headers.get('location'));
        if (spec.reportLabels) {
          const report = await send('/fhir/DiagnosticReport', token, reportOf(subject, { reference: `ImagingStudy/${studyId}` }, spec.reportLabels));
          ok(report.status, report.text, 201);
          reportId = idOf(report.headers.get('location'));
        }
      }
      const out: Published[] = [{ ...record(studyId), labels: studyLabels, readUnder: studyLabels }];
      if (reportId) {
        const own = [...new Set(spec.reportLabels!)].sort();
        out.push({ id: reportId, kind: 'ImagingReport', category: 'imaging-reports', producer: spec.producer, labels: own, readUnder: [...new Set([...own, ...studyLabels])].sort(), studyId });
      }
      return out;
    }
    if (spec.way === 'transaction' || spec.way === 'batch') {
      const response = await send('/fhir', token, { resourceType: 'Bundle', type: spec.way, entry: [{ request: { method: 'POST', url: spec.kind }, resource }] });
      ok(response.status, response.text);
      expect(response.body.entry[0].response.status, response.text).toBe('201 Created');
      return [record(idOf(response.body.entry[0].response.location))];
    }
    const created = await send(`/fhir/${spec.kind}`, token, resource);
    ok(created.status, created.text, 201);
    const id = idOf(created.headers.get('location'));
    if (spec.way === 'put') {
      // The update sends its own labels, or none at all: the stored ones stay (README).
      const updated = await send(`/fhir/${spec.kind}/${id}`, token, { ...resourceOf(spec, subject, spec.updateLabels), id }, { method: 'PUT' });
      ok(updated.status, updated.text);
    }
    return [record(id)];
  }

  it(`holds for ${CASES} random publications, directives and readers`, async () => {
    await fc.assert(fc.asyncProperty(caseArb, async (c) => {
      // The patient: registered by A, and (sometimes) by B with the card.
      const card = unique('HC');
      const mrn: Record<string, string> = { [A]: unique('A'), [B]: unique('B') };
      const patientResource = (org: string) => ({ resourceType: 'Patient', gender: 'male', birthDate: '1990-01-02', name: [{ family: 'Lin', given: ['Tao'] }],
        identifier: [{ system: SYSTEM.healthCard, value: card }, { system: SYSTEM.mrnPrefix + org, value: mrn[org]! }] });
      const created = await send('/fhir/Patient', await system(A), patientResource(A));
      expect(created.status, created.text).toBe(201);
      const patientId = idOf(created.headers.get('location'));
      const registered = [A];
      if (c.bRegistered) {
        const joined = await send('/fhir/Patient', await system(B), patientResource(B));
        expect(joined.status, joined.text).toBe(201);
        expect(idOf(joined.headers.get('location'))).toBe(patientId);
        registered.push(B);
      }
      const records: Published[] = [];
      for (const spec of c.records) records.push(...(await publish(spec, patientId, card, mrn)));

      const patientToken = await stack.token({ sub: `patient-${patientId}`, role: 'patient', patient: patientId, scope: 'patient/*.cruds' });
      for (const d of c.directives) {
        const input = { patientId, decision: d.decision.toUpperCase(), actorType: d.target === 'alliance' ? 'ALLIANCE' : 'ORGANIZATION', ...(d.target === 'alliance' ? {} : { actorId: d.target }),
          categories: d.categories.map(CATEGORY_ENUM), labels: d.labels };
        // Staff of the registering organisation record it for the patient to confirm; the patient never does here.
        const token = d.by === 'patient' ? patientToken : await stack.token({ sub: 'dr-recorder', role: 'clinician', org: A, scope: 'user/*.cruds' });
        const response = await stack.graphql(token, 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { status } }',
          { input: d.by === 'patient' ? input : { ...input, confirmation: 'PATIENT_APP' } });
        expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
        expect(response.data.grantConsent.status).toBe(d.by === 'patient' ? 'ACTIVE' : 'PENDING');
      }

      const readers: (Reader & { token: string })[] = [
        { name: 'the patient', role: 'patient', org: null, breakGlass: false, token: patientToken },
        ...await Promise.all([A, B, C].map(async (org) => ({ name: `clinician at ${org}`, role: 'clinician' as const, org, breakGlass: false, token: await stack.token({ sub: `dr-${org}`, role: 'clinician', org }) }))),
        { name: `system of ${B}`, role: 'system', org: B, breakGlass: false, token: await stack.token({ sub: `${B}-his`, role: 'system', org: B, client_id: `${B}-his`, scope: 'system/*.rs' }) },
        { name: `emergency clinician at ${C}`, role: 'clinician', org: C, breakGlass: true,
          token: await stack.token({ sub: 'dr-er', role: 'clinician', org: C, purpose_of_use: 'ETREAT', break_glass_reason: 'Unconscious in the emergency room' }) },
      ];
      const context = JSON.stringify({ case: c, records });
      for (const reader of readers) {
        const reach = reaches(reader, registered, c.directives);
        for (const path of READ_PATHS) {
          const seen = await path.read(stack, reader.token, patientId, records);
          const expected = records.filter((r) => path.covers(r) && (reach || path.name === 'GraphQL lookups') && shown(reader, r, records, c.directives));
          const where = `${path.name}, ${reader.name}: ${context}`;
          expect([...seen.keys()].filter((id) => records.some((r) => r.id === id)).sort(), where).toEqual(expected.map((r) => r.id).sort());
          for (const record of expected) if (seen.get(record.id) !== undefined) expect(seen.get(record.id), `${where} labels of ${record.id}`).toEqual(record.labels);
        }
        const count = await stack.graphql(reader.token, 'query($id: ID!) { patient(id: $id) { timeline(first: 1) { withheldCount } } }', { id: patientId });
        expect(count.data?.patient?.timeline?.withheldCount ?? null, `withheldCount, ${reader.name}: ${context}`).toBe(reach ? withheldFor(reader, records, c.directives) : null);
      }
    }), { numRuns: CASES });
    // Heavy on a busy two-core machine (no timed assertion).
  }, 120_000 + CASES * 60_000);
});
