/**
 * A population of hospital records published at realistic size (issue 27):
 * synthetic patients (lib/synthetic/hospital-record.ts), each a transaction
 * of about 3 MB and 3,000 entries — years of visits, laboratory panels and
 * reports, imaging studies with their series and radiology reports,
 * immunizations, allergies, the Patient as an EHR export sends it — published
 * through the gateway over HTTP by three hospitals, on every backend. Each
 * is accepted whole, and every resource comes back from `$everything` and
 * from FHIR search element by element (test/support/round-trip.ts).
 *
 * Kept to three patients so the file runs in a couple of minutes per
 * backend; `npm run bench:ingest -- --history` publishes as many as asked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SEED } from '../lib/synthetic/generator.js';
import { hospitalRecord } from '../lib/synthetic/hospital-record.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';
import { fhirReader, fhirSender, type FhirBundle } from './support/publish.js';
import { lostElements, lostResources, SEARCHED_TYPES, searchedResources } from './support/round-trip.js';

type Json = Record<string, any>;
const HOSPITALS = ['org-county-north', 'org-county-south', 'org-provincial'];

describe.each(BACKENDS)('A population of hospital records on %s', (backend) => {
  let stack: TestStack;
  let base = '';
  const send = fhirSender(() => base);
  const read = fhirReader(() => base);

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: 1 });
    base = stack.url.replace(/\/graphql$/, '');
  });
  afterAll(async () => stack?.close());

  it('accepts each multi-MB transaction whole and gives back every resource element by element, from $everything and from search', async () => {
    for (const [index, org] of HOSPITALS.entries()) {
      const record = hospitalRecord(DEFAULT_SEED, index, { organizationId: org, registrySeed: DEFAULT_SEED, targetBytes: 3_000_000, run: backend });
      expect(record.bytes).toBeGreaterThan(2_900_000);
      const token = await stack.token({ sub: `${org}-his`, role: 'system', org, client_id: `${org}-his`, scope: 'system/*.cru' });
      const answer = await send('/fhir', token, record.bundle);
      expect(answer.status, answer.text.slice(0, 2000)).toBe(200);
      expect(answer.body.entry).toHaveLength(record.resources);
      expect(answer.body.entry.every((e: Json) => e.response.status === '201 Created')).toBe(true);
      const locations = new Map<string, string>(record.bundle.entry.map((e: Json, n: number) => [e.fullUrl, answer.body.entry[n].response.location]));

      const patientId = locations.get(record.bundle.entry[0].fullUrl)!.split('/')[1]!;
      const patientToken = await stack.token({ sub: `patient-${patientId}`, role: 'patient', patient: patientId, scope: 'patient/*.rs' });
      const exported = (await read(patientToken, `/fhir/Patient/${patientId}/$everything`)) as FhirBundle;
      const byLocation = new Map(exported.entry.map((e) => [`${e.resource.resourceType}/${e.resource.id}`, e.resource]));
      const lost: string[] = [];
      for (const entry of record.bundle.entry as Json[]) {
        const location = locations.get(entry.fullUrl)!;
        const back = byLocation.get(location);
        if (!back) lost.push(`${location}: not in $everything`);
        else lost.push(...lostElements(entry.resource, back, (ref) => locations.get(ref)).map((path) => `${location} ${path}`));
      }
      expect(lost.slice(0, 20)).toEqual([]);
      // Each published record once in the export.
      const published = new Set(locations.values());
      expect(exported.entry.filter((e) => published.has(`${e.resource.resourceType}/${e.resource.id}`))).toHaveLength(record.resources);

      // FHIR search gives back the same elements, links to other records included, every page followed.
      const found = await searchedResources((path) => read(patientToken, path), patientId);
      expect(lostResources(record.bundle, locations, found, { skip: (r) => !SEARCHED_TYPES.includes(r.resourceType) }).slice(0, 20)).toEqual([]);
    }
    // Three 3 MB transactions, each read back whole and searched page by page: minutes on a busy 2-core machine.
  }, 900_000);
});
