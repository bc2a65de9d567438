/**
 * Vitest setup file: every fast-check property in the suite runs from one fixed
 * seed, so a CI run is reproducible and a counterexample found once is found
 * again on the next run of the same commit. `PROPERTY_SEED=<n>` explores other
 * inputs (a failure prints its seed and path, which reproduce it).
 */
import fc from 'fast-check';

const seed = Number(process.env.PROPERTY_SEED ?? 20261207);
if (!Number.isSafeInteger(seed)) throw new Error(`PROPERTY_SEED must be an integer, got ${process.env.PROPERTY_SEED}`);
fc.configureGlobal({ ...fc.readConfigureGlobal(), seed });
