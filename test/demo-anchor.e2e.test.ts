/**
 * The demo set as `npm start` seeds it on a fresh database: dated relative to
 * the day it runs, so the README's examples, read from README.md as written,
 * return results today for the patient and the clinician token `npm start`
 * prints (the chart, the timeline, equivalent lab results within 90 days,
 * equivalent imaging studies within 180 days), and its examples for
 * administrators run as written. Also: the anchor is recorded, and the data
 * is the generator's for that anchor.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../lib/runtime/subgraph.js';
import { DEFAULT_SEED, generatePatient, todayAnchor } from '../lib/synthetic/generator.js';
import { demoClinicianClaims, demoExample, README_EXAMPLES, type DemoExample } from '../scripts/demo.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';

/** npm start's default (DEMO_PATIENTS). */
const DEMO_PATIENTS = 200;
/** The README and docs/: the examples a user reads, wherever they now live. */
const DOCUMENTATION = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const README = DOCUMENTATION.map((file) => readFileSync(path.join(ROOT, file), 'utf8')).join('\n');

/** A GraphQL example of the documentation, by its operation name, exactly as written there. */
function readmeOperation(name: string): string {
  const block = [...README.matchAll(/```graphql\n([\s\S]*?)```/g)].map((m) => m[1]!).find((text) => new RegExp(`^query ${name}\\b`).test(text.trim()));
  expect(block, `the documentation has a graphql example "query ${name}"`).toBeDefined();
  return block!;
}

/** The GraphQL examples of one document, in order. */
function readmeExamples(file: string): string[] {
  return [...readFileSync(path.join(ROOT, file), 'utf8').matchAll(/```graphql\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** A field call the README quotes in its prose, e.g. `Patient.equivalentLabResults(code: "718-7", withinDays: 90)`. */
function readmeCall(field: string): string {
  const call = new RegExp(`\`Patient\\.(${field}\\([^)\`]*\\))\``).exec(README)?.[1];
  expect(call, `README.md quotes Patient.${field}(…)`).toBeDefined();
  return call!;
}

describe.each(BACKENDS)('a fresh demo set anchored on today on %s', (backend) => {
  const anchor = todayAnchor();
  let stack: TestStack;
  let example: DemoExample;
  let clinician: string;

  const ok = async (query: string, variables: Record<string, unknown>) => {
    const response = await stack.graphql(clinician, query, variables);
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    return response.data;
  };

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: DEMO_PATIENTS, anchor, production: false });
    example = (await demoExample(stack.databases))!;
    clinician = await stack.token(demoClinicianClaims(example.organizationId));
  });
  afterAll(async () => stack?.close());

  it('records the anchor it used, and holds the generator\'s patients for that anchor', async () => {
    expect(stack.demo).toEqual({ seed: DEFAULT_SEED, anchor, patients: DEMO_PATIENTS });
    const index = (await stack.databases.identity.query<{ value: string }>(
      `SELECT value FROM patient_identifier WHERE patient_id = $1 AND type = 'HC'`, [example.patientId]))[0]!.value;
    // The health card number carries the patient's index (HC<seed % 100><index, 9 digits><4 digits>).
    const bundle = generatePatient(DEFAULT_SEED, Number(index.slice(4, 13)), anchor);
    expect(bundle.patient.id).toBe(example.patientId);
    const encounters = await stack.databases.encounters.query<{ id: string; period_start: Date }>('SELECT id, period_start FROM encounter WHERE patient_id = $1', [example.patientId]);
    expect(Object.fromEntries(encounters.map((e) => [e.id, new Date(e.period_start).toISOString()])))
      .toEqual(Object.fromEntries(bundle.encounters.map((e) => [e.id, e.periodStart.toISOString()])));
  });

  it('prints a patient of a county hospital and a clinician of that hospital', async () => {
    const [registration] = await stack.databases.identity.query(
      `SELECT 1 FROM patient_identifier i JOIN organization o ON o.id = i.assigner_organization_id
       WHERE i.patient_id = $1 AND i.assigner_organization_id = $2 AND i.type = 'MR' AND o.type = 'county-hospital'`, [example.patientId, example.organizationId]);
    expect(registration).toBeDefined();
    // An adult: a clinician trying the product recognises an adult's history (the demo's children are under seven).
    const [person] = await stack.databases.identity.query<{ adult: boolean }>(
      `SELECT birth_date <= (now() - interval '18 years')::date AS adult FROM patient WHERE id = $1`, [example.patientId]);
    expect(person!.adult).toBe(true);
    expect(demoClinicianClaims(example.organizationId)).toMatchObject({ role: 'clinician', org: example.organizationId, scope: 'user/*.cruds schema:read' });
  });

  it('answers the README\'s equivalent-result examples with recent results', async () => {
    const lab = readmeCall('equivalentLabResults');
    const imaging = readmeCall('equivalentImagingStudies');
    expect(lab).toBe(`equivalentLabResults(code: "${README_EXAMPLES.lab.code}", withinDays: ${README_EXAMPLES.lab.withinDays})`);
    expect(imaging).toBe(`equivalentImagingStudies(modality: "${README_EXAMPLES.imaging.modality}", bodySite: "${README_EXAMPLES.imaging.bodySite}", withinDays: ${README_EXAMPLES.imaging.withinDays})`);
    const data = await ok(`query($id: ID!) { patient(id: $id) {
      ${lab} { edges { node { id effectiveDateTime organization { id } recognizedAllianceWide } } }
      ${imaging} { edges { node { id started organization { id } recognizedAllianceWide } } }
    } }`, { id: example.patientId });
    const now = Date.now();
    const results = data.patient.equivalentLabResults.edges.map((e: any) => e.node);
    const studies = data.patient.equivalentImagingStudies.edges.map((e: any) => e.node);
    expect(results.length).toBeGreaterThan(0);
    expect(studies.length).toBeGreaterThan(0);
    for (const r of results) expect(now - Date.parse(r.effectiveDateTime)).toBeLessThan(90 * 86_400_000);
    for (const s of studies) expect(now - Date.parse(s.started)).toBeLessThan(180 * 86_400_000);
    // The example's own county hospital is recognised for everything.
    expect(results.some((r: any) => r.organization.id === example.organizationId && r.recognizedAllianceWide)).toBe(true);
  });

  it('answers the README\'s chart and timeline examples with the patient\'s record', async () => {
    const chart = (await ok(readmeOperation('Chart'), { id: example.patientId })).patient;
    expect(chart.name[0].text).toBeTruthy();
    expect(chart.identifiers.length).toBeGreaterThan(1);
    for (const list of ['encounters', 'observations', 'imagingStudies']) expect(chart[list].edges.length, list).toBeGreaterThan(0);
    const timeline = (await ok(readmeOperation('Timeline'), { id: example.patientId })).patient.timeline;
    expect(timeline.edges.length).toBeGreaterThan(0);
    expect(timeline.edges.map((e: any) => e.kind)).toEqual(expect.arrayContaining(['ENCOUNTER', 'LAB_RESULT', 'IMAGING_STUDY']));
    // Newest first, and recent: the record reaches up to the anchor.
    expect(Date.now() - Date.parse(timeline.edges[0].occurredAt)).toBeLessThan(180 * 86_400_000);
  });

  it('runs the README\'s examples for administrators as written', async () => {
    const admin = await stack.token({ sub: 'admin-readme', role: 'admin' });
    const examples = readmeExamples('docs/administrators.md');
    expect(examples.length).toBeGreaterThanOrEqual(3);
    const answers = [];
    for (const example of examples) {
      const response = await stack.graphql(admin, example);
      expect(response.errors, `${example}\n${JSON.stringify(response.errors)}`).toBeUndefined();
      answers.push(response.data);
    }
    expect(answers[0]).toMatchObject({ upsertOrganization: { id: 'org-thc-lianjiang', active: true }, upsertPractitioner: { organization: { id: 'org-thc-lianjiang' }, active: true } });
    expect(answers[1].registryChanges.edges.map((e: any) => [e.node.action, e.node.actorSub])).toEqual([['CREATED', 'admin-readme']]);
    expect(answers[2]).toMatchObject({ addLabResultRecognition: { code: '2345-7', recordedBy: 'admin-readme' }, addImagingResultRecognition: { modality: 'CT', active: true } });
  });
});
