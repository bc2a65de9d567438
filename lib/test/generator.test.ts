/** The synthetic data generator is deterministic and uses real code systems. */
import { describe, expect, it } from 'vitest';
import { DIAGNOSES, GENETIC_RESULT, LAB_PANELS, VACCINES } from '../synthetic/codes.js';
import { DEFAULT_SEED, generatePatient, generatePatients } from '../synthetic/generator.js';
import { ORGANIZATIONS } from '../synthetic/registry.js';

describe('synthetic data generator', () => {
  it('produces the same patient for the same seed and index, independently of the others', () => {
    expect(generatePatient(DEFAULT_SEED, 42)).toEqual(generatePatient(DEFAULT_SEED, 42));
    expect([...generatePatients(DEFAULT_SEED, 40, 43)][2]).toEqual(generatePatient(DEFAULT_SEED, 42));
    expect(generatePatient(DEFAULT_SEED + 1, 42).patient.id).not.toBe(generatePatient(DEFAULT_SEED, 42).patient.id);
  });

  it('draws codes from LOINC, ICD-10, CVX and DICOM and ids from the registry', () => {
    const loinc = new Set(LAB_PANELS.flatMap((p) => [p.loinc, ...p.tests.map((t) => t.loinc)]).concat(['56888-1', '11524-6', '60567-5', GENETIC_RESULT.loinc]));
    const organizations = new Set(ORGANIZATIONS.map((o) => o.id));
    const cvx = new Set(Object.values(VACCINES).map((v) => v.cvx));
    for (const bundle of generatePatients(DEFAULT_SEED, 0, 300)) {
      for (const o of bundle.observations) {
        expect(o.code).toMatch(/^\d{1,5}-\d$/);
        expect(loinc.has(o.code)).toBe(true);
        expect(organizations.has(o.organizationId)).toBe(true);
      }
      for (const c of bundle.conditions) expect(c.code).toMatch(/^[A-Z]\d{2}(\.\d{1,2})?$/);
      for (const i of bundle.immunizations) expect(cvx.has(i.vaccineCode)).toBe(true);
      for (const s of bundle.imagingStudies) {
        expect(['CT', 'MR', 'DX', 'US', 'MG']).toContain(s.modality);
        expect(s.studyInstanceUid).toMatch(/^2\.25\.\d{1,39}$/);
        expect(s.studyInstanceUid.length).toBeLessThanOrEqual(64);
      }
    }
    expect(DIAGNOSES.length).toBeGreaterThan(5);
  });

  it('makes a realistic alliance: patients known to several hospitals, and some sensitive results', () => {
    const bundles = [...generatePatients(DEFAULT_SEED, 0, 500)];
    const multiHospital = bundles.filter((b) => b.patient.identifiers.filter((i) => i.type === 'MR').length > 1);
    expect(multiHospital.length).toBeGreaterThan(250);
    expect(bundles.some((b) => b.observations.some((o) => o.sensitivityLabels.includes('HIV')))).toBe(true);
    expect(bundles.some((b) => b.encounters.some((e) => e.sensitivityLabels.includes('PSY')))).toBe(true);
    // Very restricted (V) records that break-glass never opens: assault examinations and genetic tests.
    expect(bundles.filter((b) => b.encounters.some((e) => e.sensitivityLabels.includes('V'))).length).toBeGreaterThan(5);
    expect(bundles.filter((b) => b.observations.some((o) => o.sensitivityLabels.includes('V'))).length).toBeGreaterThan(3);
    const healthCards = new Set(bundles.map((b) => b.patient.identifiers.find((i) => i.type === 'HC')!.value));
    expect(healthCards.size).toBe(500);
  });
});
