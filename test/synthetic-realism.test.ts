/**
 * The demo patients look like patients: what the generator gives a person
 * fits their age and sex, so a clinician trying the product recognises what
 * they see. Checked over 10,000 generated patients (the generator is pure and
 * fast; no stack needed), at the test anchor and at another one.
 *
 * - children (the demo's are 0–6) get a child's diagnoses, a blood count at
 *   most (no metabolic, lipid or HbA1c panels), plain radiography or
 *   ultrasound (no CT, MRI, mammography), no ECG, no HIV or genetic test, and
 *   the childhood immunisation programme with its vaccines;
 * - adults are never in the childhood programme nor given childhood vaccines;
 * - maternal care is for women of childbearing age only; mammography for
 *   women from 40; coronary disease from 40;
 * - nothing happens before the person was born.
 */
import { describe, expect, it } from 'vitest';
import { CHILD_DIAGNOSES, CHILD_IMAGING_MODALITIES, CHILD_LAB_PANEL_CODES, MAMMOGRAPHY_MIN_AGE, VACCINES } from '../lib/synthetic/codes.js';
import { DEFAULT_SEED, generatePatient, TEST_ANCHOR, type PatientBundle } from '../lib/synthetic/generator.js';
import { PROGRAMS } from '../lib/synthetic/registry.js';

const PATIENTS = 10_000;
const YEAR = 365.25 * 86_400_000;
const programCode = (id: string) => PROGRAMS.find((p) => p.id === id)!.code;
const ageAt = (bundle: PatientBundle, when: Date | string) => (new Date(when).getTime() - Date.parse(`${bundle.patient.birthDate}T00:00:00Z`)) / YEAR;
const CHILD_CODES = new Set(CHILD_DIAGNOSES.map((d) => d.code));
const CHILD_VACCINES = new Set(Object.entries(VACCINES).filter(([key]) => key !== 'flu').map(([, v]) => v.cvx));

/** Every rule broken by one patient, as sentences (empty: a plausible patient). */
function implausibilities(bundle: PatientBundle, anchor: string): string[] {
  const problems: string[] = [];
  const age = ageAt(bundle, `${anchor}T00:00:00Z`);
  const child = age < 18;
  const female = bundle.patient.sex === 'female';
  const born = Date.parse(`${bundle.patient.birthDate}T00:00:00Z`);
  for (const condition of bundle.conditions) {
    if (child && !CHILD_CODES.has(condition.code)) problems.push(`a child (${age.toFixed(1)} y) diagnosed ${condition.code} ${condition.display}`);
    if (condition.code === 'I25.1' && ageAt(bundle, anchor) < 40) problems.push(`coronary disease at ${age.toFixed(0)}`);
  }
  for (const report of bundle.diagnosticReports) {
    if (child && report.category === 'LAB' && !CHILD_LAB_PANEL_CODES.includes(report.code)) problems.push(`a child with ${report.display}`);
    if (child && report.category !== 'LAB') problems.push(`a child with a ${report.category} report`);
    if (report.effective.getTime() < born) problems.push(`${report.display} before birth`);
  }
  for (const study of bundle.imagingStudies) {
    if (child && !CHILD_IMAGING_MODALITIES.includes(study.modality)) problems.push(`a child with ${study.description}`);
    if (study.modality === 'MG' && (!female || age < MAMMOGRAPHY_MIN_AGE)) problems.push(`mammography for a ${bundle.patient.sex} of ${age.toFixed(0)}`);
  }
  const programmes = bundle.enrollments.map((e) => programCode(e.programId));
  if (child !== programmes.includes('EPI')) problems.push(child ? 'a child outside the childhood immunisation programme' : 'an adult in the childhood immunisation programme');
  if (programmes.includes('MCH') && (!female || age < 15 || age > 49)) problems.push(`maternal care for a ${bundle.patient.sex} of ${age.toFixed(0)}`);
  if (programmes.includes('ELD') && age < 65) problems.push(`the elderly programme at ${age.toFixed(0)}`);
  for (const immunization of bundle.immunizations) {
    if (!child && CHILD_VACCINES.has(immunization.vaccineCode)) problems.push(`an adult given ${immunization.vaccineDisplay}`);
    if (immunization.occurrence.getTime() < born) problems.push(`${immunization.vaccineDisplay} before birth`);
  }
  for (const encounter of bundle.encounters) if (encounter.periodStart.getTime() < born) problems.push('an encounter before birth');
  return problems;
}

describe('demo patients fit their age and sex', () => {
  for (const anchor of [TEST_ANCHOR, '2031-01-15']) {
    it(`holds for ${PATIENTS.toLocaleString('en')} generated patients (anchor ${anchor})`, () => {
      const found: string[] = [];
      let children = 0;
      let maternal = 0;
      for (let index = 0; index < PATIENTS; index++) {
        const bundle = generatePatient(DEFAULT_SEED, index, anchor);
        if (ageAt(bundle, anchor) < 18) children++;
        if (bundle.enrollments.some((e) => programCode(e.programId) === 'MCH')) maternal++;
        for (const problem of implausibilities(bundle, anchor)) if (found.length < 20) found.push(`patient ${index}: ${problem}`);
      }
      expect(found).toEqual([]);
      // The rules are not met by leaving people out: children and expectant mothers are there.
      expect(children).toBeGreaterThan(PATIENTS * 0.08);
      expect(maternal).toBeGreaterThan(PATIENTS * 0.01);
    });
  }

  it('catches what it is meant to: an implausible record fails the check', () => {
    const child = Array.from({ length: 200 }, (_, i) => generatePatient(DEFAULT_SEED, i)).find((b) => ageAt(b, `${TEST_ANCHOR}T00:00:00Z`) < 18 && b.conditions.length)!;
    const broken: PatientBundle = { ...child, conditions: [{ ...child.conditions[0]!, code: 'M54.5', display: 'Low back pain' }] };
    expect(implausibilities(broken, TEST_ANCHOR).join()).toMatch(/a child .* diagnosed M54.5/);
  });
});
