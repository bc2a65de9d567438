/** The synthetic data generator is deterministic and uses real code systems. */
import { describe, expect, it } from 'vitest';
import { DIAGNOSES, GENETIC_RESULT, LAB_PANELS, VACCINES } from '../synthetic/codes.js';
import { anchorTime, DEFAULT_SEED, generatePatient, generatePatients, TEST_ANCHOR, todayAnchor } from '../synthetic/generator.js';
import { ORGANIZATIONS } from '../synthetic/registry.js';

describe('synthetic data generator', () => {
  it('produces the same patient for the same seed and index, independently of the others', () => {
    expect(generatePatient(DEFAULT_SEED, 42)).toEqual(generatePatient(DEFAULT_SEED, 42));
    expect([...generatePatients(DEFAULT_SEED, 40, 43)][2]).toEqual(generatePatient(DEFAULT_SEED, 42));
    expect(generatePatient(DEFAULT_SEED + 1, 42).patient.id).not.toBe(generatePatient(DEFAULT_SEED, 42).patient.id);
  });

  it('dates everything relative to its anchor: another anchor shifts every date, and nothing else', () => {
    const DAY = 86_400_000;
    /** Every Date and calendar date (YYYY-MM-DD) of a bundle moved by `days`. */
    const shifted = (value: unknown, days: number): unknown => {
      if (value instanceof Date) return new Date(value.getTime() + days * DAY);
      if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value)) return new Date(Date.parse(`${value}T00:00:00Z`) + days * DAY).toISOString().slice(0, 10);
      if (Array.isArray(value)) return value.map((v) => shifted(v, days));
      if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shifted(v, days)]));
      return value;
    };
    for (const index of [0, 7, 42, 199]) {
      expect(generatePatient(DEFAULT_SEED, index)).toEqual(generatePatient(DEFAULT_SEED, index, TEST_ANCHOR));
      expect(generatePatient(DEFAULT_SEED, index, '2026-11-29')).toEqual(shifted(generatePatient(DEFAULT_SEED, index), 152));
      expect(generatePatient(DEFAULT_SEED, index, '2025-01-01')).toEqual(shifted(generatePatient(DEFAULT_SEED, index), -545));
    }
    // Histories lead up to the anchor (an inpatient stay's last results may follow it by days).
    const anchor = '2031-03-15';
    for (const bundle of generatePatients(DEFAULT_SEED, 0, 100, anchor)) {
      for (const o of bundle.observations) expect(o.effective.getTime()).toBeLessThan(anchorTime(anchor) + 30 * DAY);
      expect(bundle.patient.birthDate < anchor).toBe(true);
    }
    expect(todayAnchor(new Date('2026-11-29T23:59:00+08:00'))).toBe('2026-11-29');
    for (const bad of ['2026-02-30', '26-06-30', '2026-6-30', 'today', '']) expect(() => anchorTime(bad), bad).toThrow(/YYYY-MM-DD/);
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
