/**
 * The Bulk Data export's batches (gateway/src/fhir/collect.ts splitBatch,
 * gateway/src/fhir/bulk/batches.ts): the answer of one `patients(ids: …)`
 * operation is cut into one answer per patient, shaped as the single-patient
 * operation's, so each patient is judged exactly as `$everything` judges it;
 * what concerns the whole operation stops the whole batch. The e2e tests
 * (bulk-export.e2e.test.ts) run the batches through the real gateway.
 */
import { describe, expect, it } from 'vitest';
import { splitBatch, type OperationResult } from '../gateway/src/fhir/collect.js';
import { FhirError } from '../gateway/src/fhir/outcome.js';
import { BatchSizer } from '../gateway/src/fhir/bulk/batches.js';

const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';
const C = '00000000-0000-4000-8000-00000000000c';

describe('splitBatch', () => {
  it('gives each patient its own answer: its data, its errors re-rooted at `patient`, its emergency access', () => {
    const result: OperationResult = {
      status: 200,
      data: { patients: [{ id: A, name: null }, null, { id: C }] },
      errors: [
        { message: 'withheld', path: ['patients', 0, 'name'], extensions: { code: 'CONSENT_DENIED' } },
        { message: 'bound elsewhere', path: ['patients', 2], extensions: { code: 'FORBIDDEN' } },
      ],
      extensions: { emergencyAccess: { reason: 'r', patients: [C] } },
    };
    const [a, b, c] = splitBatch(result, [A, B, C]);
    expect(a!.data).toEqual({ patient: { id: A, name: null } });
    expect(a!.errors).toEqual([{ message: 'withheld', path: ['patient', 'name'], extensions: { code: 'CONSENT_DENIED' } }]);
    expect(a!.extensions).toBeUndefined();
    expect(b!.data).toEqual({ patient: null });
    expect(b!.errors).toEqual([]);
    expect(c!.errors).toEqual([{ message: 'bound elsewhere', path: ['patient'], extensions: { code: 'FORBIDDEN' } }]);
    expect(c!.extensions).toEqual({ emergencyAccess: { reason: 'r', patients: [C] } });
  });

  it.each([
    ['the audit trail could not record it', { message: 'x', extensions: { code: 'AUDIT_UNAVAILABLE' } }, 503],
    ['a service did not answer for one patient', { message: 'x', path: ['patients', 1, 'observations'], extensions: { code: 'SUBGRAPH_UNAVAILABLE', service: 'labs' } }, 503],
    ['an error without a path (validation, limits)', { message: 'x', extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }, 500],
    ['an error on the list itself', { message: 'x', path: ['patients'], extensions: { code: 'BAD_USER_INPUT' } }, 502],
  ])('stops the whole batch when %s', (_, error, status) => {
    const result: OperationResult = { status: 200, data: { patients: [{ id: A }, { id: B }] }, errors: [error] };
    expect(() => splitBatch(result, [A, B])).toThrow(FhirError);
    try {
      splitBatch(result, [A, B]);
    } catch (e) {
      expect((e as FhirError).status).toBe(status);
    }
  });

  it('refuses an answer that does not hold one entry per id asked', () => {
    expect(() => splitBatch({ status: 200, data: { patients: [{ id: A }] } }, [A, B])).toThrow(FhirError);
    expect(() => splitBatch({ status: 200, data: null }, [A])).toThrow(FhirError);
  });
});

describe('BatchSizer', () => {
  it('starts small, then sizes batches by the bytes per patient observed, within the count limit', () => {
    const sizer = new BatchSizer(50, 1_000_000);
    expect(sizer.size).toBe(2);
    // 10 KB a patient: doubling each batch up to the count limit.
    const sizes: number[] = [];
    for (let i = 0; i < 6; i++) {
      sizes.push(sizer.size);
      sizer.observe(sizer.size, sizer.size * 10_000);
    }
    expect(sizes).toEqual([2, 4, 8, 16, 32, 50]);
    expect(sizer.size).toBe(50);
    sizer.observe(50, 50 * 190_000); // heavier patients: fewer per batch
    expect(sizer.size).toBeLessThan(50);
    expect(sizer.size).toBeGreaterThanOrEqual(1);
    for (let i = 0; i < 10; i++) sizer.observe(5, 5 * 2_000_000); // each patient past the byte limit alone: one at a time
    expect(sizer.size).toBe(1);
    // Never past the `patients` field's own limit.
    expect(new BatchSizer(500, 1e12).size).toBeLessThanOrEqual(100);
  });
});
