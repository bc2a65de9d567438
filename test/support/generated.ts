/**
 * The generated patients a test stack is seeded with (`startTestStack(…, {
 * patients })` seeds `generatePatient(DEFAULT_SEED, 0…n-1)`), and a finder for
 * the one a test needs, so the expectations come from the generator rather
 * than from the stack under test.
 */
import { DEFAULT_SEED, generatePatient, type PatientBundle } from '../../lib/synthetic/generator.js';

export interface GeneratedPatients {
  bundles: PatientBundle[];
  /** The first generated patient that fits, other than `except`; throws when none does (the test's premise is gone). */
  find(predicate: (b: PatientBundle) => boolean, except?: PatientBundle[]): PatientBundle;
}

export function generatedPatients(count: number): GeneratedPatients {
  const bundles = Array.from({ length: count }, (_, i) => generatePatient(DEFAULT_SEED, i));
  return {
    bundles,
    find(predicate, except = []) {
      const found = bundles.find((b) => predicate(b) && !except.includes(b));
      if (!found) throw new Error('no generated patient fits this test');
      return found;
    },
  };
}
