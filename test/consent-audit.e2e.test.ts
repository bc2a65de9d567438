/**
 * Consent and audit end to end, through the gateway: directives granted and
 * revoked by the patient change what staff elsewhere see on the next request,
 * labels need naming, denies beat own-organisation access, break-glass is
 * flagged, field rules hide an imaging report while the study shows, and
 * every disclosure leaves exactly one chained audit event per patient, or the
 * data is withheld.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PatientBundle } from '../lib/synthetic/generator.js';
import { verifyAuditChain } from '../subgraphs/identity/src/audit.js';
import { AuditBatcher } from '../gateway/src/audit.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';
import { internalSigners, staffActor } from './support/internal.js';
import { generatedPatients } from './support/generated.js';

const PATIENTS = 60;
const { bundles, find } = generatedPatients(PATIENTS);
/** A patient with an HIV-labelled result from their county hospital. */
const hivPatient = find((b) => b.observations.some((o) => o.sensitivityLabels.includes('HIV')) && b.observations.some((o) => o.sensitivityLabels.length === 0 && o.organizationId === b.observations.find((x) => x.sensitivityLabels.includes('HIV'))!.organizationId));
const hivOrg = hivPatient.observations.find((o) => o.sensitivityLabels.includes('HIV'))!.organizationId;
/** A patient with a reported imaging study. */
const imagingPatient = find((b) => b.imagingStudies.some((s) => s.report));
const imagingStudy = imagingPatient.imagingStudies.find((s) => s.report)!;
/** An organisation that produced none of a patient's records and never registered them. */
const outsider = (b: PatientBundle) => ['org-county-north', 'org-county-south', 'org-provincial', 'org-mental-health', 'org-thc-baisha'].find(
  (org) => !b.patient.identifiers.some((i) => i.assignerOrganizationId === org) && ![...b.observations, ...b.imagingStudies, ...b.encounters].some((r) => r.organizationId === org),
)!;

const LABS = `query($id: ID!) { patient(id: $id) { id observations(first: 100) { edges { node { id organization { id } sensitivityLabels valueQuantity { value } valueString } } } } }`;
const OBSERVATIONS_ONLY = `query($id: ID!) { observation(id: $id) { id valueString } }`;

describe.each(BACKENDS)('consent and audit on %s', (backend) => {
  let stack: TestStack;
  let patientToken: string;
  let admin: string;

  const grant = async (token: string, input: Record<string, unknown>) => {
    const response = await stack.graphql(token, 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { id active decision categories labels } }', { input });
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    return response.data.grantConsent.id as string;
  };
  const revoke = async (token: string, id: string) => stack.graphql(token, 'mutation($id: ID!) { revokeConsent(id: $id) { id active revokedAt } }', { id });
  const auditCount = async () => Number((await stack.databases.identity.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_event'))[0]!.n);

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: PATIENTS });
    patientToken = await stack.token({ sub: 'patient-hiv', role: 'patient', patient: hivPatient.patient.id });
    admin = await stack.token({ sub: 'admin-1', role: 'admin' });
  });
  afterAll(async () => stack?.close());

  it('shows staff of another organisation nothing until the patient permits, labels only when named, and nothing again after revocation', async () => {
    const org = outsider(hivPatient);
    const clinician = await stack.token({ sub: 'dr-outside', role: 'clinician', org });
    const before = await stack.graphql(clinician, LABS, { id: hivPatient.patient.id });
    expect(before.data.patient).toBeNull();

    const demographics = await grant(patientToken, { patientId: hivPatient.patient.id, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: org, categories: ['DEMOGRAPHICS', 'LABS'] });
    const unlabelled = hivPatient.observations.filter((o) => o.sensitivityLabels.length === 0);
    const withPermit = await stack.graphql(clinician, LABS, { id: hivPatient.patient.id });
    const seen = withPermit.data.patient.observations.edges.map((e: any) => e.node);
    expect(seen.length).toBe(Math.min(100, unlabelled.length));
    expect(seen.every((o: any) => o.sensitivityLabels.length === 0)).toBe(true);

    const hiv = await grant(patientToken, { patientId: hivPatient.patient.id, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: org, categories: ['LABS'], labels: ['HIV'] });
    const withLabel = await stack.graphql(clinician, LABS, { id: hivPatient.patient.id });
    expect(withLabel.data.patient.observations.edges.some((e: any) => e.node.sensitivityLabels.includes('HIV'))).toBe(true);

    expect((await revoke(patientToken, hiv)).data.revokeConsent.active).toBe(false);
    expect((await revoke(patientToken, hiv)).errors?.[0]?.extensions?.code).toBe('CONFLICT');
    await revoke(patientToken, demographics);
    const after = await stack.graphql(clinician, LABS, { id: hivPatient.patient.id });
    expect(after.data.patient).toBeNull();
    // Direct lookups follow the same rule.
    const hivResult = hivPatient.observations.find((o) => o.sensitivityLabels.includes('HIV'))!;
    expect((await stack.graphql(clinician, OBSERVATIONS_ONLY, { id: hivResult.id })).data.observation).toBeNull();
    // The patient's history keeps both, revoked.
    const history = await stack.graphql(patientToken, 'query($id: ID!) { patient(id: $id) { consents { id active revokedAt } } }', { id: hivPatient.patient.id });
    expect(history.data.patient.consents.filter((c: any) => [hiv, demographics].includes(c.id)).every((c: any) => !c.active && c.revokedAt)).toBe(true);
  });

  it('lets a deny naming the practitioner override their own organisation', async () => {
    const clinician = await stack.token({ sub: 'dr-relative', role: 'clinician', org: hivOrg });
    const own = await stack.graphql(clinician, LABS, { id: hivPatient.patient.id });
    expect(own.data.patient.observations.edges.length).toBeGreaterThan(0);
    const deny = await grant(patientToken, { patientId: hivPatient.patient.id, decision: 'DENY', actorType: 'PRACTITIONER', actorId: 'dr-relative' });
    const denied = await stack.graphql(clinician, LABS, { id: hivPatient.patient.id });
    expect(denied.data.patient).toBeNull();
    const colleague = await stack.token({ sub: 'dr-colleague', role: 'clinician', org: hivOrg });
    expect((await stack.graphql(colleague, LABS, { id: hivPatient.patient.id })).data.patient.observations.edges.length).toBeGreaterThan(0);
    await revoke(patientToken, deny);
  });

  it('opens the record in an emergency, says so in the response, and flags the access for review', async () => {
    const org = outsider(hivPatient);
    const emergency = await stack.token({ sub: 'dr-er', role: 'clinician', org, purpose_of_use: 'ETREAT', break_glass_reason: 'Unconscious patient in the emergency room' });
    const response = await stack.graphql(emergency, LABS, { id: hivPatient.patient.id });
    expect(response.data.patient.observations.edges.length).toBe(Math.min(100, hivPatient.observations.length));
    expect(response.extensions?.emergencyAccess).toMatchObject({ breakGlass: true, patients: [hivPatient.patient.id], reason: 'Unconscious patient in the emergency room' });
    const review = await stack.graphql(admin, '{ breakGlassAccesses(first: 5) { edges { node { actorSub patientId breakGlass breakGlassReason purposeOfUse categories } } } }');
    expect(review.data.breakGlassAccesses.edges[0].node).toEqual({
      actorSub: 'dr-er', patientId: hivPatient.patient.id, breakGlass: true, breakGlassReason: 'Unconscious patient in the emergency room', purposeOfUse: 'ETREAT',
      categories: expect.arrayContaining(['LABS', 'DEMOGRAPHICS']),
    });
  });

  it('shows an imaging study but refuses its report, field by field, when only imaging is permitted', async () => {
    const org = outsider(imagingPatient);
    const clinician = await stack.token({ sub: 'dr-imaging', role: 'clinician', org });
    const owner = await stack.token({ sub: 'patient-img', role: 'patient', patient: imagingPatient.patient.id });
    await grant(owner, { patientId: imagingPatient.patient.id, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: org, categories: ['DEMOGRAPHICS', 'IMAGING'] });
    const response = await stack.graphql(clinician, 'query($id: ID!) { imagingStudy(id: $id) { id studyInstanceUid modality { code } report { impression } } }', { id: imagingStudy.id });
    expect(response.data.imagingStudy).toEqual({ id: imagingStudy.id, studyInstanceUid: imagingStudy.studyInstanceUid, modality: { code: imagingStudy.modality }, report: null });
    expect(response.errors).toHaveLength(1);
    expect(response.errors![0]!.path).toEqual(['imagingStudy', 'report']);
    expect(response.errors![0]!.extensions?.code).toBe('CONSENT_DENIED');
  });

  it('keeps administrators out of clinical data but lets them search the audit trail', async () => {
    const response = await stack.graphql(admin, LABS, { id: hivPatient.patient.id });
    expect(response.data.patient).toBeNull();
    const search = await stack.graphql(admin, 'query($p: ID!) { auditEvents(patientId: $p, actorSub: "dr-relative", first: 10) { edges { node { actorSub actorOrganization { id } patientId } } } }', { p: hivPatient.patient.id });
    expect(search.data.auditEvents.edges.length).toBeGreaterThan(0);
    expect(search.data.auditEvents.edges.every((e: any) => e.node.actorSub === 'dr-relative' && e.node.actorOrganization.id === hivOrg)).toBe(true);
    const clinician = await stack.token({ sub: 'dr-x', role: 'clinician', org: hivOrg });
    expect((await stack.graphql(clinician, '{ auditEvents { edges { node { id } } } }')).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('writes one event per disclosed patient per request, and lets the patient read who looked', async () => {
    const clinician = await stack.token({ sub: 'dr-three', role: 'clinician', org: 'org-thc-baisha' });
    const baishaPatients = bundles.filter((b) => b.patient.identifiers.some((i) => i.assignerOrganizationId === 'org-thc-baisha')).slice(0, 3);
    const countBefore = await auditCount();
    const response = await stack.graphql(clinician, 'query($ids: [ID!]!) { patients(ids: $ids) { id name { text } encounters(first: 3) { edges { node { id } } } } }', { ids: baishaPatients.map((b) => b.patient.id) });
    expect(response.data.patients.every(Boolean)).toBe(true);
    const events = await stack.databases.identity.query<{ patient_id: string; request_id: string; record_counts: Record<string, number> }>(
      'SELECT patient_id, request_id, record_counts FROM audit_event ORDER BY seq DESC LIMIT 3');
    expect(await auditCount()).toBe(countBefore + 3);
    expect(new Set(events.map((e) => e.patient_id))).toEqual(new Set(baishaPatients.map((b) => b.patient.id)));
    expect(new Set(events.map((e) => e.request_id))).toEqual(new Set([response.requestId]));
    for (const event of events) expect(event.record_counts.demographics).toBe(1);

    const owner = await stack.token({ sub: 'p3', role: 'patient', patient: baishaPatients[0]!.patient.id });
    const log = await stack.graphql(owner, 'query($id: ID!) { patient(id: $id) { accessLog(first: 5) { edges { node { actorSub actorRole categories } } } } }', { id: baishaPatients[0]!.patient.id });
    expect(log.data.patient.accessLog.edges.map((e: any) => e.node.actorSub)).toContain('dr-three');
    const staffReadingLog = await stack.graphql(clinician, 'query($id: ID!) { patient(id: $id) { accessLog { edges { node { actorSub } } } } }', { id: baishaPatients[0]!.patient.id });
    expect(staffReadingLog.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('stores each of many concurrent requests\' events under its own actor and request id', async () => {
    const orgs = ['org-thc-baisha', 'org-thc-meixi', 'org-county-north'];
    const readers = await Promise.all(orgs.map((org, i) => stack.token({ sub: `dr-concurrent-${i}`, role: 'clinician', org })));
    const asked = orgs.flatMap((org, i) => bundles.filter((b) => b.patient.identifiers.some((id) => id.assignerOrganizationId === org)).slice(0, 8)
      .map((b) => ({ reader: i, patientId: b.patient.id })));
    const responses = await Promise.all(asked.map(({ reader, patientId }) => stack.graphql(readers[reader]!, 'query($id: ID!) { patient(id: $id) { id name { text } } }', { id: patientId })));
    for (const [i, response] of responses.entries()) {
      expect(response.data?.patient?.id, JSON.stringify(response.errors)).toBe(asked[i]!.patientId);
      const events = await stack.databases.identity.query<{ patient_id: string; actor_sub: string; actor_organization_id: string }>(
        'SELECT patient_id, actor_sub, actor_organization_id FROM audit_event WHERE request_id = $1', [response.requestId]);
      expect(events).toEqual([{ patient_id: asked[i]!.patientId, actor_sub: `dr-concurrent-${asked[i]!.reader}`, actor_organization_id: orgs[asked[i]!.reader] }]);
    }
    expect((await verifyAuditChain(stack.databases.identity)).firstBroken).toBeNull();
  });

  it('groups the requests that finish while an append is on its way into the next call, in order', async () => {
    const batcher = new AuditBatcher({ auth: internalSigners(stack.keys).as('gateway'), url: (name) => stack.subgraphs[name].url, timeoutMs: 5_000 });
    const patientIds = bundles.slice(0, 5).map((b) => b.patient.id);
    const requestIds = patientIds.map((_, i) => `group-commit-${backend}-${i}`);
    // Five requests finish together: the first goes at once, the other four wait for it and go in one call.
    await Promise.all(patientIds.map((patientId, i) => batcher.append(requestIds[i]!, staffActor('org-thc-baisha', { sub: `dr-group-${i}` }),
      [{ patientId, recordCounts: { demographics: 1 }, breakGlass: false }])));
    const events = await stack.databases.identity.query<{ request_id: string; actor_sub: string; patient_id: string; occurred_at: Date }>(
      'SELECT request_id, actor_sub, patient_id, occurred_at FROM audit_event WHERE request_id = ANY($1) ORDER BY seq', [requestIds]);
    expect(events.map((e) => [e.request_id, e.actor_sub, e.patient_id])).toEqual(requestIds.map((id, i) => [id, `dr-group-${i}`, patientIds[i]]));
    // One call appends with one timestamp: the last four share one.
    expect(new Set(events.slice(1).map((e) => new Date(e.occurred_at).toISOString())).size).toBe(1);
    expect((await verifyAuditChain(stack.databases.identity)).firstBroken).toBeNull();
  });

  it('returns no data, only AUDIT_UNAVAILABLE, while the audit store fails, and loses no event', async () => {
    const clinician = await stack.token({ sub: 'dr-audit', role: 'clinician', org: 'org-thc-meixi' });
    const ids = bundles.filter((b) => b.patient.identifiers.some((i) => i.assignerOrganizationId === 'org-thc-meixi')).slice(0, 4).map((b) => b.patient.id);
    const query = 'query($id: ID!) { patient(id: $id) { id name { text } } }';
    const countBefore = await auditCount();
    let succeeded = 0;
    let refused = 0;
    for (let round = 0; round < 3; round++) {
      // The store fails in the middle round (the table disappears), then comes back.
      if (round === 1) await stack.databases.identity.query('ALTER TABLE audit_event RENAME TO audit_event_offline');
      const responses = await Promise.all(ids.map((id) => stack.graphql(clinician, query, { id })));
      if (round === 1) await stack.databases.identity.query('ALTER TABLE audit_event_offline RENAME TO audit_event');
      for (const response of responses) {
        if (response.data?.patient) succeeded++;
        else {
          expect(response.status).toBe(503);
          expect(response.data).toBeUndefined();
          expect(response.errors?.[0]?.extensions?.code).toBe('AUDIT_UNAVAILABLE');
          refused++;
        }
      }
    }
    expect(refused).toBe(ids.length);
    expect(succeeded).toBe(2 * ids.length);
    expect(await auditCount()).toBe(countBefore + succeeded);
  });

  it('chains events by hash, refuses changes, and the verifier finds the first broken link', async () => {
    const db = stack.databases.identity;
    const intact = await verifyAuditChain(db);
    expect(intact.firstBroken).toBeNull();
    expect(intact.events).toBe(await auditCount());
    await expect(db.query("UPDATE audit_event SET actor_sub = 'someone-else' WHERE seq = 2")).rejects.toThrow(/append-only/);
    await expect(db.query('DELETE FROM audit_event WHERE seq = 2')).rejects.toThrow(/append-only/);
    // A superuser can disable the trigger; the chain still shows the tampering.
    await db.query('ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update');
    await db.query("UPDATE audit_event SET actor_sub = 'someone-else' WHERE seq = 2");
    await db.query('ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_update');
    const broken = await verifyAuditChain(db);
    expect(broken.firstBroken).toMatchObject({ seq: 2, reason: expect.stringMatching(/changed/) });
    expect(broken.events).toBe(1);
  });
});
