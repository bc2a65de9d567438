/**
 * Result recognition ("avoid repeated tests") end to end, through the gateway
 * over real HTTP: before ordering a test, a clinician asks for the patient's
 * recent equivalent results (same LOINC code; same DICOM modality and body
 * site) from every organisation they may see. Results of other organisations
 * come back only under the patient's consent, sensitive ones only when a
 * permit names their label; each says whether it is recognised alliance-wide,
 * checked against the seeded recognition tables. Expectations are computed
 * from what the generator wrote and what the test inserted, never hard-coded.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SEED, dicomUid, generatePatient, type PatientBundle } from '../lib/synthetic/generator.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';

const PATIENTS = 60;
const DAY = 86_400_000;
const bundles = Array.from({ length: PATIENTS }, (_, i) => generatePatient(DEFAULT_SEED, i));
/** FHIR observation-status values of a released result: what counts as an equivalent result. */
const RELEASED = ['final', 'amended', 'corrected'];
const HIV_CODE = '56888-1';
const CHEST = '51185008';
const HEAD = '69536005';

interface LabRecord { id: string; patientId: string; organizationId: string; code: string; status: string; time: Date; labels: string[] }
interface StudyRecord { id: string; patientId: string; organizationId: string; modality: string; bodySite: string; time: Date; labels: string[] }
type Entry = Record<string, any>;

const labsOf = (b: PatientBundle): LabRecord[] => b.observations.map((o) => ({
  id: o.id, patientId: o.patientId, organizationId: o.organizationId, code: o.code, status: 'final', time: o.effective, labels: o.sensitivityLabels,
}));
const studiesOf = (b: PatientBundle): StudyRecord[] => b.imagingStudies.map((s) => ({
  id: s.id, patientId: s.patientId, organizationId: s.organizationId, modality: s.modality, bodySite: s.bodySite, time: s.started, labels: s.sensitivityLabels,
}));
const newestFirst = <T extends { time: Date; id: string }>(records: T[]) =>
  [...records].sort((a, b) => b.time.getTime() - a.time.getTime() || (b.id < a.id ? -1 : b.id > a.id ? 1 : 0));

/** Whether the seeded table recognises a result (entries read from the subgraph's database). */
const recognised = (entries: Entry[], key: 'code' | 'modality', organizationId: string, value: string, time: Date) =>
  entries.some((e) => e.organization_id === organizationId && (e[key] === null || e[key] === value)
    && new Date(e.period_start).getTime() <= time.getTime() && (e.period_end === null || time.getTime() < new Date(e.period_end).getTime()));

const countyOf = (b: PatientBundle) => b.patient.identifiers.find((i) => i.type === 'MR' && i.assignerOrganizationId?.startsWith('org-county-'))?.assignerOrganizationId ?? null;
const townshipOf = (b: PatientBundle) => b.patient.identifiers.find((i) => i.type === 'MR' && i.assignerOrganizationId?.startsWith('org-thc-'))!.assignerOrganizationId!;

const LAB_QUERY = `query($id: ID!, $code: String!, $days: Int, $first: Int, $after: String) { patient(id: $id) {
  equivalentLabResults(code: $code, withinDays: $days, first: $first, after: $after) {
    edges { cursor node { id code { system code } status effectiveDateTime organization { id } sensitivityLabels recognizedAllianceWide } }
    pageInfo { hasNextPage endCursor }
  } } }`;
const IMAGING_QUERY = `query($id: ID!, $modality: String!, $site: String, $days: Int) { patient(id: $id) {
  equivalentImagingStudies(modality: $modality, bodySite: $site, withinDays: $days, first: 100) {
    edges { node { id modality { system code } bodySite { code } started organization { id } sensitivityLabels recognizedAllianceWide } }
    pageInfo { hasNextPage }
  } } }`;

describe.each(BACKENDS)('result recognition on %s', (backend) => {
  let stack: TestStack;
  let labEntries: Entry[];
  let imagingEntries: Entry[];
  /** The patient of the cross-organisation scenario, the county hospital that registered them, their township centre. */
  let patient: PatientBundle;
  let county: string;
  let township: string;
  /** A code with results at both the county hospital and the township centre, recognised from the centre now; one that is not. */
  let recognisedCode: string;
  let unrecognisedCode: string;
  const labRecords: LabRecord[] = bundles.flatMap(labsOf);
  const studyRecords: StudyRecord[] = bundles.flatMap(studiesOf);
  let patientToken: string;
  let countyClinician: string;
  /** What the test inserted, by role in the scenario. */
  const lab: Record<string, LabRecord> = {};
  const study: Record<string, StudyRecord> = {};
  const flagsSeen = { labs: new Set<boolean>(), imaging: new Set<boolean>() };

  const grant = async (input: Record<string, unknown>) => {
    const response = await stack.graphql(patientToken, 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { id } }', { input: { patientId: patient.patient.id, ...input } });
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    return response.data.grantConsent.id as string;
  };
  const revoke = async (id: string) => {
    const response = await stack.graphql(patientToken, 'mutation($id: ID!) { revokeConsent(id: $id) { id active } }', { id });
    expect(response.data.revokeConsent.active).toBe(false);
  };

  /** Records inside the window at the server's clock, which lies between `start` and `end`; none may sit on the boundary. */
  function inWindow<T extends { time: Date }>(records: T[], days: number, start: number, end: number): T[] {
    const early = start - days * DAY;
    const late = end - days * DAY;
    expect(records.filter((r) => r.time.getTime() >= early && r.time.getTime() < late), 'a record sits on the window boundary').toEqual([]);
    return records.filter((r) => r.time.getTime() >= late);
  }

  /** Asks for equivalent lab results and checks them against the expectation, flags included. */
  async function checkLabs(token: string, code: string, days: number | undefined, visible: (r: LabRecord) => boolean, patientId = patient.patient.id) {
    const start = Date.now();
    const response = await stack.graphql(token, LAB_QUERY, { id: patientId, code, days, first: 100 });
    const end = Date.now();
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    const candidates = labRecords.filter((r) => r.patientId === patientId && r.code === code && RELEASED.includes(r.status) && visible(r));
    const expected = newestFirst(inWindow(candidates, days ?? 90, start, end));
    const connection = response.data.patient.equivalentLabResults;
    expect(connection.pageInfo.hasNextPage).toBe(false);
    expect(connection.edges.map((e: any) => e.node)).toEqual(expected.map((r) => ({
      id: r.id, code: { system: 'http://loinc.org', code }, status: r.status, effectiveDateTime: r.time.toISOString(),
      organization: { id: r.organizationId }, sensitivityLabels: r.labels,
      recognizedAllianceWide: recognised(labEntries, 'code', r.organizationId, code, r.time),
    })));
    for (const edge of connection.edges) flagsSeen.labs.add(edge.node.recognizedAllianceWide);
    return expected;
  }

  async function checkImaging(token: string, modality: string, bodySite: string | undefined, days: number | undefined, visible: (r: StudyRecord) => boolean) {
    const start = Date.now();
    const response = await stack.graphql(token, IMAGING_QUERY, { id: patient.patient.id, modality, site: bodySite, days });
    const end = Date.now();
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    const candidates = studyRecords.filter((r) => r.patientId === patient.patient.id && r.modality === modality && (!bodySite || r.bodySite === bodySite) && visible(r));
    const expected = newestFirst(inWindow(candidates, days ?? 180, start, end));
    const connection = response.data.patient.equivalentImagingStudies;
    expect(connection.pageInfo.hasNextPage).toBe(false);
    expect(connection.edges.map((e: any) => e.node)).toEqual(expected.map((r) => ({
      id: r.id, modality: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: modality }, bodySite: { code: r.bodySite },
      started: r.time.toISOString(), organization: { id: r.organizationId }, sensitivityLabels: r.labels,
      recognizedAllianceWide: recognised(imagingEntries, 'modality', r.organizationId, modality, r.time),
    })));
    for (const edge of connection.edges) flagsSeen.imaging.add(edge.node.recognizedAllianceWide);
    return expected;
  }

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: PATIENTS });
    labEntries = await stack.databases.labs.query<Entry>('SELECT * FROM lab_result_recognition');
    imagingEntries = await stack.databases.imaging.query<Entry>('SELECT * FROM imaging_result_recognition');
    const now = new Date();
    // A patient registered at a county hospital, with results of one code from
    // both the county hospital and their township centre, recognised from the
    // centre, and results of another code the centre is not recognised for.
    for (const candidate of bundles) {
      const c = countyOf(candidate);
      if (!c) continue;
      const t = townshipOf(candidate);
      const townshipCodes = [...new Set(candidate.observations.filter((o) => o.organizationId === t).map((o) => o.code))];
      const shared = townshipCodes.find((code) => recognised(labEntries, 'code', t, code, now) && candidate.observations.some((o) => o.organizationId === c && o.code === code));
      const other = townshipCodes.find((code) => !recognised(labEntries, 'code', t, code, now));
      if (shared && other) {
        [patient, county, township, recognisedCode, unrecognisedCode] = [candidate, c, t, shared, other];
        break;
      }
    }
    expect(patient, 'no generated patient fits the scenario').toBeDefined();
    const at = (daysAgo: number) => new Date(now.getTime() - daysAgo * DAY);
    const id = patient.patient.id;
    // Results the test controls: around the default window, other statuses and codes, a sensitive one.
    const labRow = (organizationId: string, code: string, status: string, daysAgo: number, labels: string[] = []): LabRecord =>
      ({ id: randomUUID(), patientId: id, organizationId, code, status, time: at(daysAgo), labels });
    Object.assign(lab, {
      townshipRecent: labRow(township, recognisedCode, 'final', 10),
      provincialOld: labRow('org-provincial', recognisedCode, 'final', 100),
      preliminary: labRow('org-provincial', recognisedCode, 'preliminary', 3),
      enteredInError: labRow('org-provincial', recognisedCode, 'entered-in-error', 4),
      amended: labRow('org-provincial', recognisedCode, 'amended', 5),
      otherCode: labRow(township, unrecognisedCode, 'final', 7),
      hiv: labRow('org-provincial', HIV_CODE, 'final', 15, ['HIV']),
    });
    const inserted = Object.values(lab);
    for (const r of inserted) {
      await stack.databases.labs.query(
        `INSERT INTO observation (id, patient_id, organization_id, code, display, status, value_string, effective, issued, sensitivity_labels)
         VALUES ($1, $2, $3, $4, 'inserted by the result recognition test', $5, 'Negative', $6::timestamptz, $6::timestamptz, $7::text[])`,
        [r.id, r.patientId, r.organizationId, r.code, r.status, r.time.toISOString(), r.labels]);
    }
    labRecords.push(...inserted);
    const studyRow = (organizationId: string, modality: string, bodySite: string, daysAgo: number, labels: string[] = []): StudyRecord =>
      ({ id: randomUUID(), patientId: id, organizationId, modality, bodySite, time: at(daysAgo), labels });
    Object.assign(study, {
      provincialChest: studyRow('org-provincial', 'CT', CHEST, 20),
      mentalHealthChest: studyRow('org-mental-health', 'CT', CHEST, 40),
      psyChest: studyRow('org-mental-health', 'CT', CHEST, 60, ['PSY']),
      countyChest: studyRow(county, 'CT', CHEST, 70),
      provincialHead: studyRow('org-provincial', 'CT', HEAD, 25),
      provincialOldChest: studyRow('org-provincial', 'CT', CHEST, 400),
      provincialMr: studyRow('org-provincial', 'MR', CHEST, 10),
      townshipDx: studyRow(township, 'DX', CHEST, 30),
    });
    const studies = Object.values(study);
    for (const s of studies) {
      await stack.databases.imaging.query(
        `INSERT INTO imaging_study (id, patient_id, organization_id, study_instance_uid, modality, body_site, number_of_series, number_of_instances, started, sensitivity_labels)
         VALUES ($1, $2, $3, $4, $5, $6, 1, 10, $7::timestamptz, $8::text[])`,
        [s.id, s.patientId, s.organizationId, dicomUid(s.id), s.modality, s.bodySite, s.time.toISOString(), s.labels]);
    }
    studyRecords.push(...studies);
    patientToken = await stack.token({ sub: 'patient-recognition', role: 'patient', patient: id });
    countyClinician = await stack.token({ sub: 'dr-recognition', role: 'clinician', org: county });
  });
  afterAll(async () => stack?.close());

  it('seeds the recognition registries: hospitals for everything, township centres for a short list only', async () => {
    const hospitals = ['org-provincial', 'org-county-north', 'org-county-south'];
    for (const org of hospitals) {
      expect(labEntries.some((e) => e.organization_id === org && e.code === null), org).toBe(true);
      expect(imagingEntries.some((e) => e.organization_id === org && e.modality === null), org).toBe(true);
    }
    const townshipEntries = labEntries.filter((e) => e.organization_id.startsWith('org-thc-'));
    expect(townshipEntries.length).toBeGreaterThan(0);
    expect(townshipEntries.every((e) => e.code !== null)).toBe(true);
    expect(labEntries.some((e) => e.organization_id === 'org-cdc')).toBe(false);
  });

  /** Staff of the county hospital: its own records, and others' under a permit naming every label they carry. */
  const own = (r: { organizationId: string }) => r.organizationId === county;
  const permitted = (labels: string[]) => (r: { organizationId: string; labels: string[] }) => own(r) || r.labels.every((l) => labels.includes(l));
  const ids = (records: { id: string }[]) => records.map((r) => r.id);

  it('shows a clinician results of other organisations only under the patient\'s consent, with the recognition flag', async () => {
    // Without consent: the county hospital's own results only.
    const before = await checkLabs(countyClinician, recognisedCode, 3650, own);
    expect(before.length).toBeGreaterThan(0);
    expect(ids(await checkLabs(countyClinician, recognisedCode, undefined, own))).not.toContain(lab.townshipRecent!.id);
    const permit = await grant({ decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: county, categories: ['LABS'] });
    try {
      // With a labs permit: the township centre's and the provincial hospital's too.
      const all = await checkLabs(countyClinician, recognisedCode, 3650, permitted([]));
      expect(all.some((r) => r.organizationId === township)).toBe(true);
      expect(all.some((r) => r.organizationId === 'org-provincial')).toBe(true);
      // The disclosure is audited with the number of results returned.
      const [event] = await stack.databases.identity.query<{ patient_id: string; record_counts: Record<string, number> }>(
        "SELECT patient_id, record_counts FROM audit_event WHERE actor_sub = 'dr-recognition' ORDER BY seq DESC LIMIT 1");
      expect(event).toMatchObject({ patient_id: patient.patient.id, record_counts: expect.objectContaining({ labs: all.length }) });
      // The default window (90 days): recent released results; never preliminary or entered-in-error ones.
      const recent = ids(await checkLabs(countyClinician, recognisedCode, undefined, permitted([])));
      expect(recent).toEqual(expect.arrayContaining([lab.townshipRecent!.id, lab.amended!.id]));
      for (const excluded of [lab.provincialOld!, lab.preliminary!, lab.enteredInError!]) expect(recent).not.toContain(excluded.id);
      expect(ids(await checkLabs(countyClinician, recognisedCode, 120, permitted([])))).toContain(lab.provincialOld!.id);
      expect(ids(await checkLabs(countyClinician, recognisedCode, 3, permitted([])))).not.toContain(lab.amended!.id);
      // Another code: the township centre's results, not recognised for it.
      const other = await checkLabs(countyClinician, unrecognisedCode, 3650, permitted([]));
      expect(ids(other)).toContain(lab.otherCode!.id);
      expect(ids(other)).not.toContain(lab.townshipRecent!.id);
      // The HIV-labelled result stays withheld until a permit names the label.
      expect(ids(await checkLabs(countyClinician, HIV_CODE, 3650, permitted([])))).not.toContain(lab.hiv!.id);
      const hiv = await grant({ decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: county, categories: ['LABS'], labels: ['HIV'] });
      try {
        expect(ids(await checkLabs(countyClinician, HIV_CODE, 3650, permitted(['HIV'])))).toContain(lab.hiv!.id);
      } finally {
        await revoke(hiv);
      }
      expect(ids(await checkLabs(countyClinician, HIV_CODE, 3650, permitted([])))).not.toContain(lab.hiv!.id);
    } finally {
      await revoke(permit);
    }
    // Revoked: back to the county hospital's own results on the next request.
    await checkLabs(countyClinician, recognisedCode, 3650, own);
    // A hospital that never registered the patient, without consent, sees nothing at all.
    const stranger = await stack.token({ sub: 'dr-stranger', role: 'clinician', org: 'org-maternal-child' });
    expect((await stack.graphql(stranger, LAB_QUERY, { id: patient.patient.id, code: recognisedCode, days: 3650 })).data.patient).toBeNull();
    expect(flagsSeen.labs).toEqual(new Set([true, false]));
  });

  it('returns a patient their own results from every organisation, sensitive ones included, page by page', async () => {
    await checkLabs(patientToken, recognisedCode, 3650, () => true);
    await checkLabs(patientToken, HIV_CODE, 3650, () => true);
    // Paging: two at a time, newest first, the same results as one page.
    const all = newestFirst(labRecords.filter((r) => r.patientId === patient.patient.id && r.code === recognisedCode && RELEASED.includes(r.status)));
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 50; page++) {
      const response: any = await stack.graphql(patientToken, LAB_QUERY, { id: patient.patient.id, code: recognisedCode, days: 3650, first: 2, after });
      const connection = response.data.patient.equivalentLabResults;
      seen.push(...connection.edges.map((e: any) => e.node.id));
      if (!connection.pageInfo.hasNextPage) break;
      after = connection.pageInfo.endCursor;
    }
    expect(seen).toEqual(all.map((r) => r.id));
    // The flag is the same wherever an observation is reached.
    const list = await stack.graphql(patientToken, 'query($id: ID!) { patient(id: $id) { observations(first: 100) { edges { node { id code { code } effectiveDateTime organization { id } recognizedAllianceWide } } } } }', { id: patient.patient.id });
    expect(list.errors).toBeUndefined();
    for (const { node } of list.data.patient.observations.edges) {
      expect(node.recognizedAllianceWide, node.id).toBe(recognised(labEntries, 'code', node.organization.id, node.code.code, new Date(node.effectiveDateTime)));
    }
  });

  it('finds equivalent imaging studies by modality and body site under the same consent', async () => {
    const ownChest = ids(await checkImaging(countyClinician, 'CT', CHEST, undefined, own));
    expect(ownChest).toContain(study.countyChest!.id);
    expect(ownChest).not.toContain(study.provincialChest!.id);
    const permit = await grant({ decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: county, categories: ['IMAGING'] });
    try {
      // Default window (180 days): recent chest CTs of three organisations; not the head CT, the old one, nor the PSY-labelled one.
      const chest = ids(await checkImaging(countyClinician, 'CT', CHEST, undefined, permitted([])));
      expect(chest).toEqual(expect.arrayContaining([study.provincialChest!.id, study.mentalHealthChest!.id, study.countyChest!.id]));
      for (const excluded of [study.provincialHead!, study.provincialOldChest!, study.psyChest!, study.provincialMr!]) expect(chest).not.toContain(excluded.id);
      expect(ids(await checkImaging(countyClinician, 'CT', undefined, undefined, permitted([])))).toContain(study.provincialHead!.id);
      expect(ids(await checkImaging(countyClinician, 'CT', CHEST, 3650, permitted([])))).toContain(study.provincialOldChest!.id);
      expect(ids(await checkImaging(countyClinician, 'DX', CHEST, 3650, permitted([])))).toContain(study.townshipDx!.id);
      expect(ids(await checkImaging(countyClinician, 'MR', undefined, 30, permitted([])))).toEqual([study.provincialMr!.id]);
      const psy = await grant({ decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: county, categories: ['IMAGING'], labels: ['PSY'] });
      try {
        expect(ids(await checkImaging(countyClinician, 'CT', CHEST, undefined, permitted(['PSY'])))).toContain(study.psyChest!.id);
      } finally {
        await revoke(psy);
      }
    } finally {
      await revoke(permit);
    }
    await checkImaging(countyClinician, 'CT', CHEST, 3650, own);
    expect(ids(await checkImaging(patientToken, 'CT', undefined, 3650, () => true))).toContain(study.psyChest!.id);
    expect(flagsSeen.imaging).toEqual(new Set([true, false]));
  });

  it('loads several patients in one statement per list and one for the recognition entries', async () => {
    const emergency = await stack.token({ sub: 'dr-er', role: 'clinician', org: 'org-provincial', purpose_of_use: 'ETREAT', break_glass_reason: 'statement count test for result recognition' });
    const query = `query($ids: [ID!]!, $code: String!) { patients(ids: $ids) { id
      equivalentLabResults(code: $code, withinDays: 3650, first: 100) { edges { node { id recognizedAllianceWide organization { id } } } }
      equivalentImagingStudies(modality: "CT", withinDays: 3650, first: 100) { edges { node { id recognizedAllianceWide organization { id } } } }
    } }`;
    const count = async (ids: string[]) => {
      const before = { labs: stack.databases.labs.statementCount, imaging: stack.databases.imaging.statementCount };
      const start = Date.now();
      const response = await stack.graphql(emergency, query, { ids, code: recognisedCode });
      const end = Date.now();
      expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
      response.data.patients.forEach((p: any, i: number) => {
        const labs = newestFirst(inWindow(labRecords.filter((r) => r.patientId === ids[i] && r.code === recognisedCode && RELEASED.includes(r.status)), 3650, start, end));
        expect(p.equivalentLabResults.edges.map((e: any) => e.node)).toEqual(labs.map((r) => ({
          id: r.id, organization: { id: r.organizationId }, recognizedAllianceWide: recognised(labEntries, 'code', r.organizationId, r.code, r.time),
        })));
        const studies = newestFirst(inWindow(studyRecords.filter((r) => r.patientId === ids[i] && r.modality === 'CT'), 3650, start, end));
        expect(p.equivalentImagingStudies.edges.map((e: any) => e.node.id)).toEqual(studies.map((r) => r.id));
      });
      return { labs: stack.databases.labs.statementCount - before.labs, imaging: stack.databases.imaging.statementCount - before.imaging };
    };
    const ids = [patient.patient.id, ...bundles.filter((b) => b !== patient).slice(0, 11).map((b) => b.patient.id)];
    const twelve = await count(ids);
    // labs: the results of every patient, the recognition entries of every organisation; imaging likewise.
    expect(twelve).toEqual({ labs: 2, imaging: 2 });
    expect(await count(ids.slice(0, 3))).toEqual(twelve);
  });

  it('refuses bad input with BAD_USER_INPUT', async () => {
    const id = patient.patient.id;
    const cases: [string, Record<string, unknown>, RegExp][] = [
      [LAB_QUERY, { id, code: recognisedCode, days: 0 }, /withinDays must be between 1 and 3650/],
      [LAB_QUERY, { id, code: recognisedCode, days: 3651 }, /withinDays must be between 1 and 3650/],
      [LAB_QUERY, { id, code: 'hemoglobin', days: 30 }, /LOINC code/],
      [LAB_QUERY, { id, code: '718-8', days: 30 }, /check digit/],
      [LAB_QUERY, { id, code: '', days: 30 }, /LOINC code/],
      [LAB_QUERY, { id, code: recognisedCode, days: 30, first: 0 }, /first must be between/],
      [LAB_QUERY, { id, code: recognisedCode, days: 30, after: 'garbage' }, /Invalid cursor/],
      [IMAGING_QUERY, { id, modality: 'ct' }, /DICOM modality code/],
      [IMAGING_QUERY, { id, modality: 'C T' }, /DICOM modality code/],
      [IMAGING_QUERY, { id, modality: 'CT', site: 'chest' }, /SNOMED CT concept id/],
      [IMAGING_QUERY, { id, modality: 'CT', site: '51185009' }, /check digit/],
      [IMAGING_QUERY, { id, modality: 'CT', days: -5 }, /withinDays must be between 1 and 3650/],
    ];
    for (const [query, variables, message] of cases) {
      const response = await stack.graphql(patientToken, query, variables);
      expect(response.errors?.[0]?.message, JSON.stringify(variables)).toMatch(message);
      expect(response.errors?.[0]?.extensions?.code, JSON.stringify(variables)).toBe('BAD_USER_INPUT');
    }
    // A missing code fails validation before any resolver runs.
    const missing = await stack.graphql(patientToken, `query($id: ID!) { patient(id: $id) { equivalentLabResults { edges { node { id } } } } }`, { id });
    expect(missing.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });
});
