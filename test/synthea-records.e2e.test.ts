/**
 * Issue 27 as an integrator tries it: patient files in the shape Synthea R4
 * exports them (lib/synthetic/synthea-bundle.ts: urn:uuid fullUrls, the
 * Patient's US Core extensions and five identifiers, SNOMED CT encounters
 * and conditions with onset and abatement, vital signs, laboratory, survey
 * and social-history observations, procedures, RxNorm prescriptions, CVX
 * immunizations, allergies, a care plan and team, notes both ways, imaging
 * studies, Claims and ExplanationOfBenefits, a Provenance), changed only as
 * docs/records.md ("What an integrator changes in a typical EHR export")
 * asks, published through the gateway over HTTP on every backend. Each is
 * accepted whole, and every element comes back as sent from `$everything`
 * and from FHIR search (test/support/round-trip.ts); what the product does
 * not keep yet (the docs' "Known gaps") is refused by name when left in,
 * never accepted and dropped.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SEED } from '../lib/synthetic/generator.js';
import { generatePractitioners } from '../lib/synthetic/registry.js';
import { integratorChanges, KNOWN_GAPS, NOT_HELD, syntheaPatientBundle, type SyntheaExport } from '../lib/synthetic/synthea-bundle.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';
import { fhirReader, fhirSender, type FhirBundle } from './support/publish.js';
import { lostResources, SEARCHED_TYPES, searchedResources } from './support/round-trip.js';

type Json = Record<string, any>;
const ORG = 'org-county-south';
/** The types FHIR search serves (docs/fhir.md) that a Synthea file carries. */
const SEARCHED = SEARCHED_TYPES;

describe.each(BACKENDS)('Synthea-shaped patient files on %s', (backend) => {
  let stack: TestStack;
  let base = '';
  const send = fhirSender(() => base);
  const system = () => stack.token({ sub: `${ORG}-his`, role: 'system', org: ORG, client_id: `${ORG}-his`, scope: 'system/*.cru' });
  // The hospital's own table from its clinicians' NPIs to their registry ids (step 5 of the docs).
  const clinicians = generatePractitioners(DEFAULT_SEED).filter((p) => p.organizationId === ORG && p.role === 'clinician').map((p) => p.id);
  const registryByNpi = (file: SyntheaExport) => new Map(file.practitioners.map((p, n) => [p.npi, clinicians[n % clinicians.length]!]));

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: 1 });
    base = stack.url.replace(/\/graphql$/, '');
  });
  afterAll(async () => stack?.close());

  const read = fhirReader(() => base);

  it('accepts each file whole after the documented changes, and every element comes back from $everything and search', async () => {
    for (const index of [0, 1]) {
      const run = `${backend}-${index}-${Date.now()}`;
      const file = syntheaPatientBundle(DEFAULT_SEED, index, { targetBytes: 800_000, run, deceased: index === 1 });
      expect(JSON.stringify(file.bundle).length).toBeGreaterThan(750_000);
      // The export holds what the issue lists: every type, billing included.
      const exportedTypes = new Set(file.bundle.entry.map((e: Json) => e.resource.resourceType));
      expect([...exportedTypes].sort()).toEqual(['AllergyIntolerance', 'CarePlan', 'CareTeam', 'Claim', 'Condition', 'DiagnosticReport', 'DocumentReference', 'Encounter',
        'ExplanationOfBenefit', 'ImagingStudy', 'Immunization', 'MedicationRequest', 'Observation', 'Patient', 'Procedure', 'Provenance']);
      const bundle = integratorChanges(file, { organizationId: ORG, healthCard: `HC-SY-${run}`, mrn: `MRN-SY-${run}`, registryByNpi: registryByNpi(file), run });
      const answer = await send('/fhir', await system(), bundle);
      expect(answer.status, answer.text.slice(0, 30000)).toBe(200);
      expect(answer.body.entry.map((e: Json) => e.response.status)).toEqual(bundle.entry.map(() => '201 Created'));
      const locations = new Map<string, string>(bundle.entry.map((e: Json, n: number) => [e.fullUrl, answer.body.entry[n].response.location]));
      const patientId = locations.get(bundle.entry[0].fullUrl)!.split('/')[1]!;
      const token = await stack.token({ sub: `patient-${patientId}`, role: 'patient', patient: patientId, scope: 'patient/*.rs' });

      const everything = (await read(token, `/fhir/Patient/${patientId}/$everything`)) as FhirBundle;
      expect(lostResources(bundle, locations, everything.entry.map((e) => e.resource)).slice(0, 30)).toEqual([]);
      const published = new Set(locations.values());
      expect(everything.entry.filter((e) => published.has(`${e.resource.resourceType}/${e.resource.id}`))).toHaveLength(bundle.entry.length);

      // FHIR search gives back the same elements, every page followed.
      const found = await searchedResources((path) => read(token, path), patientId);
      // Every element as sent, links to other records included (its encounter, a report's results…), wherever those records are.
      expect(lostResources(bundle, locations, found, { skip: (r) => !SEARCHED.includes(r.resourceType) }).slice(0, 30)).toEqual([]);
    }
  });

  it('refuses the file with the known gaps left in, naming each of them, and writes nothing', async () => {
    const run = `${backend}-gaps-${Date.now()}`;
    const file = syntheaPatientBundle(DEFAULT_SEED, 2, { targetBytes: 200_000, run });
    const bundle = integratorChanges(file, { organizationId: ORG, healthCard: `HC-SG-${run}`, mrn: `MRN-SG-${run}`, registryByNpi: registryByNpi(file), run, keepGaps: true });
    const answer = await send('/fhir', await system(), bundle);
    expect(answer.status, answer.text.slice(0, 2000)).toBe(422);
    expect(answer.body.resourceType).toBe('OperationOutcome');
    // Each issue names one of the known gaps; each known gap the file carries is named.
    const named = answer.body.issue.flatMap((i: Json) => i.expression ?? []) as string[];
    const gapOf = (expression: string) => {
      const match = /^Bundle\.entry\[(\d+)\]\.resource\.(.+)$/.exec(expression)!;
      const type = bundle.entry[Number(match[1])].resource.resourceType as string;
      return `${type}.${match[2]!.replace(/\[\d+\]/g, '')}`;
    };
    const gaps = Object.entries(KNOWN_GAPS).flatMap(([type, paths]) => paths.map((p) => `${type}.${p}`));
    expect([...new Set(named.map(gapOf))].sort()).toEqual(gaps.sort());
    // Nothing of it was written: the same file without the gaps creates every record (a record left behind would come back matched, 200, not created).
    const clean = integratorChanges(file, { organizationId: ORG, healthCard: `HC-SG-${run}`, mrn: `MRN-SG-${run}`, registryByNpi: registryByNpi(file), run });
    const accepted = await send('/fhir', await system(), clean);
    expect(accepted.status, accepted.text.slice(0, 2000)).toBe(200);
    expect(accepted.body.entry.map((e: Json) => e.response.status)).toEqual(clean.entry.map(() => '201 Created'));
  });

  it('keeps what real files send that was refused by name before: reference ranges and specimens of clinical observations, a lab result\'s practitioner, performed[x] as text, age or range', async () => {
    const run = `${backend}-kept-${Date.now()}`;
    const patient = 'urn:uuid:5e1d0000-0000-4000-8000-000000000001';
    const subject = { reference: patient };
    const ucum = (value: number, unit: string) => ({ value, unit, system: 'http://unitsofmeasure.org', code: unit });
    const entry = (n: number, resource: Json) => ({ fullUrl: `urn:uuid:5e1d0000-0000-4000-8000-00000000000${n}`, resource, request: { method: 'POST', url: resource.resourceType } });
    const vitalSigns = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }];
    const bundle = {
      resourceType: 'Bundle', type: 'transaction', entry: [
        entry(1, { resourceType: 'Patient', identifier: [{ system: 'https://fhir.alliance.example.org/sid/health-card', value: `HC-K-${run}` }, { system: `https://fhir.alliance.example.org/sid/mrn/${ORG}`, value: `MRN-K-${run}` }], name: [{ family: 'Mokoena', given: ['Lerato'] }], gender: 'female', birthDate: '1961-04-02' }),
        entry(2, {
          resourceType: 'Observation', status: 'final', category: vitalSigns, code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] }, subject,
          effectiveDateTime: '2026-02-01T09:00:00+02:00', valueQuantity: ucum(72, '/min'),
          referenceRange: [
            { low: ucum(60, '/min'), high: ucum(100, '/min'), type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/referencerange-meaning', code: 'normal' }] }, age: { low: { value: 18, unit: 'a', system: 'http://unitsofmeasure.org', code: 'a' } } },
            { text: 'Athletes: from 40 /min', appliesTo: [{ text: 'Endurance athletes' }] },
          ],
          specimen: { identifier: { system: 'https://lab.example.org/specimen', value: `S-${run}` }, display: 'Capillary blood' },
        }),
        entry(3, {
          resourceType: 'Observation', status: 'final', category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
          code: { coding: [{ system: 'http://loinc.org', code: '718-7', display: 'Hemoglobin [Mass/volume] in Blood' }] }, subject, effectiveDateTime: '2026-02-01T09:10:00+02:00',
          performer: [{ reference: `Organization/${ORG}` }, { type: 'Practitioner', identifier: { system: 'http://hl7.org/fhir/sid/us-npi', value: '9999912345' }, display: 'Dr. Ana Ruiz' }],
          valueQuantity: ucum(13.1, 'g/dL'),
        }),
        entry(4, { resourceType: 'Procedure', status: 'completed', code: { coding: [{ system: 'http://snomed.info/sct', code: '80146002', display: 'Appendectomy (procedure)' }] }, subject, performedString: 'as a child' }),
        entry(5, { resourceType: 'Procedure', status: 'completed', code: { coding: [{ system: 'http://snomed.info/sct', code: '73761001', display: 'Colonoscopy (procedure)' }] }, subject, performedAge: { value: 50, unit: 'a', system: 'http://unitsofmeasure.org', code: 'a' } }),
        entry(6, { resourceType: 'Procedure', status: 'completed', code: { coding: [{ system: 'http://snomed.info/sct', code: '45595009', display: 'Laparoscopic cholecystectomy (procedure)' }] }, subject, performedRange: { low: { value: 30, unit: 'a' }, high: { value: 35, unit: 'a' } } }),
      ],
    };
    const answer = await send('/fhir', await system(), bundle);
    expect(answer.status, answer.text.slice(0, 2000)).toBe(200);
    const locations = new Map<string, string>(bundle.entry.map((e, n) => [e.fullUrl, answer.body.entry[n].response.location]));
    const patientId = locations.get(patient)!.split('/')[1]!;
    const token = await stack.token({ sub: `patient-${patientId}`, role: 'patient', patient: patientId, scope: 'patient/*.rs' });
    const everything = (await read(token, `/fhir/Patient/${patientId}/$everything`)) as FhirBundle;
    expect(lostResources(bundle, locations, everything.entry.map((e) => e.resource))).toEqual([]);
    // A read by id gives the same.
    const observations = await Promise.all([2, 3].map((n) => read(token, `/fhir/${locations.get(bundle.entry[n - 1]!.fullUrl)}`)));
    expect(lostResources({ entry: bundle.entry.slice(1, 3) }, locations, observations)).toEqual([]);
  });

  it('the docs name every element and type the integrator leaves out', () => {
    const docs = readFileSync(new URL('../docs/records.md', import.meta.url), 'utf8');
    for (const [type, paths] of Object.entries(KNOWN_GAPS)) for (const path of paths) expect(docs, `${type}.${path}`).toContain(`\`${type}.${path}\``);
    for (const type of NOT_HELD) expect(docs).toContain(type);
  });
});
