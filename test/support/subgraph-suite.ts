/**
 * The checks every subgraph passes on its own: idempotent migrations, health,
 * refusal of unsigned calls, entity resolution for the gateway with the
 * patient's records as the generator wrote them, and the disclosure report
 * the audit trail relies on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SubgraphName } from '../../lib/runtime/services.js';
import { migrateSubgraph } from '../../lib/runtime/subgraph.js';
import { DEFAULT_SEED, generatePatient, type PatientBundle } from '../../lib/synthetic/generator.js';
import { postGraphQL } from './harness.js';
import { patientActor, startSubgraphUnderTest, type SubgraphUnderTest } from './subgraph-harness.js';

export interface SubgraphExpectation {
  /** An `_entities` selection on Patient (or a root query) for one patient. */
  query: string;
  /** The ids the query must return for the patient, in order. */
  expectedIds(bundle: PatientBundle): string[];
  /** Reads the ids from the response data. */
  idsOf(data: any): string[];
  /** Category reported as disclosed when ids are returned. */
  category: string;
}

export function subgraphSuite(name: SubgraphName, expectation: SubgraphExpectation): void {
  describe(`${name} subgraph on its own`, () => {
    let under: SubgraphUnderTest;
    const bundle = Array.from({ length: 20 }, (_, i) => generatePatient(DEFAULT_SEED, i)).find((b) => expectation.expectedIds(b).length > 0)!;

    beforeAll(async () => {
      under = await startSubgraphUnderTest(name);
    });
    afterAll(async () => under?.close());

    it('applies its migrations and the publishing protocol\'s once (a second run changes nothing)', async () => {
      expect(await migrateSubgraph(under.subgraph.db, name)).toEqual([]);
      const versions = (await under.subgraph.db.query<{ version: string }>('SELECT version FROM schema_migrations')).map((r) => r.version);
      expect(versions).toContain('publishing/001_publishing.sql');
    });

    it('reports liveness and readiness', async () => {
      const health = await (await fetch(under.subgraph.url.replace(/graphql$/, 'health'))).json();
      expect(health).toEqual({ status: 'ok', service: name });
      const ready = await fetch(under.subgraph.url.replace(/graphql$/, 'ready'));
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', ready: true, service: name, database: 'pglite' });
    });

    it('refuses calls that do not come from the gateway', async () => {
      const response = await postGraphQL(under.subgraph.url, {}, { query: expectation.query, variables: { id: bundle.patient.id } });
      expect(response.status).toBe(401);
      expect(response.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    });

    it('resolves the patient\'s records for the gateway and reports the disclosure', async () => {
      const response = await under.call(patientActor(bundle.patient.id), expectation.query, { id: bundle.patient.id });
      expect(response.errors).toBeUndefined();
      expect(expectation.idsOf(response.data)).toEqual(expectation.expectedIds(bundle));
      expect(response.extensions?.disclosures).toContainEqual(expect.objectContaining({ patientId: bundle.patient.id, category: expectation.category }));
    });

    it('returns nothing of this patient to a token bound to another patient', async () => {
      const response = await under.call(patientActor('00000000-0000-4000-8000-000000000001'), expectation.query, { id: bundle.patient.id });
      expect(response.data ? expectation.idsOf(response.data) : []).toEqual([]);
      expect(response.extensions?.disclosures ?? []).toEqual([]);
    });
  });
}
