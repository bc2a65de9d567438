/**
 * The runtime's injection point for tests and benchmarks (lib/runtime/subgraph.ts,
 * ConsentInjection): the benchmark's "consent off" policy
 * (scripts/bench-consent-off.ts) reaches the services only through it, so
 * nothing of it is in the consent code or its SQL. Production refuses it;
 * in development it really opens every record, through the production SQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDevKeys, keyringOf } from '../lib/trust/keys.js';
import { startSubgraph } from '../lib/runtime/subgraph.js';
import { DEFAULT_SEED, generatePatient } from '../lib/synthetic/generator.js';
import { SUBGRAPH_MODULES } from '../subgraphs/index.js';
import { CONSENT_OFF } from '../scripts/bench-consent-off.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';

const PATIENTS = 12;
const bundles = Array.from({ length: PATIENTS }, (_, i) => generatePatient(DEFAULT_SEED, i));
/** A patient with lab results from more than one organisation, labelled ones among them. */
const patient = bundles.find((b) => new Set(b.observations.map((o) => o.organizationId)).size > 1 && b.observations.some((o) => o.sensitivityLabels.length)) ?? bundles[0]!;
const QUERY = `query($id: ID!) { patient(id: $id) { id name { family } observations(first: 100) { edges { node { id sensitivityLabels } } } timeline(first: 100) { edges { node { ... on Observation { id } } } } } }`;

describe.each(BACKENDS)('consent injection on %s', (backend) => {
  it('is refused by a production service', async () => {
    const keys = await generateDevKeys('inject-');
    const options = { databaseUrl: 'memory://', host: '127.0.0.1', port: 0, keyring: keyringOf(keys.internal, 'labs'), peers: () => 'http://127.0.0.1:1/graphql' };
    await expect(startSubgraph(SUBGRAPH_MODULES.labs.module, { ...options, production: true, consentInjection: CONSENT_OFF })).rejects.toThrow(/cannot be replaced in production/);
    // The same service in development starts with it.
    const running = await startSubgraph(SUBGRAPH_MODULES.labs.module, { ...options, production: false, consentInjection: CONSENT_OFF });
    await running.close();
  });

  describe('the benchmark\'s consent-off policy in development', () => {
    let stack: TestStack;
    beforeAll(async () => {
      stack = await startTestStack(backend, { patients: PATIENTS, production: false, consentInjection: CONSENT_OFF });
    });
    afterAll(async () => stack?.close());

    it('lets a stranger organisation\'s clinician see every record of the patient, labelled ones included, in lists and on the timeline', async () => {
      const token = await stack.token({ sub: 'dr-stranger', role: 'clinician', org: 'org-thc-baisha', scope: 'user/*.rs' });
      const response = await stack.graphql(token, QUERY, { id: patient.patient.id });
      expect(response.errors).toBeUndefined();
      const listed = response.data.patient.observations.edges.map((e: { node: { id: string } }) => e.node.id).sort();
      expect(listed).toEqual(patient.observations.map((o) => o.id).sort());
      const onTimeline = response.data.patient.timeline.edges.map((e: { node: { id?: string } }) => e.node.id).filter(Boolean).sort();
      expect(onTimeline).toEqual(listed);
      expect(response.data.patient.name[0].family).toBe(patient.patient.family);
    });
  });
});
