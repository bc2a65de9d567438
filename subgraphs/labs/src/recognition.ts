/**
 * Mutual recognition of laboratory results ("avoid repeated tests").
 *
 * Before ordering a test, a clinician asks for the patient's recent results of
 * the same LOINC code from every organisation whose records they may see. Each
 * result says whether it is recognised across the alliance: an entry of
 * `lab_result_recognition` names the producing organisation, the code (or
 * every code) and the period during which its specimens count. Labs keeps this
 * table itself; administrators add and end entries at run time
 * (addLabResultRecognition, endLabResultRecognition), for organisations of
 * identity's registry (checked through /internal/registry, lib/records/recognition.ts).
 *
 * The demo alliance's entries come from lib/synthetic/recognition.ts (seeders only).
 */
import { badInput } from '../../../lib/runtime/errors.js';
import type { RecognitionTable } from '../../../lib/records/recognition.js';
import { isLoincCode, looksLikeLoinc } from '../../../lib/records/terminology.js';

/** FHIR observation-status values of a released result (amended and corrected included). */
export const RELEASED_STATUSES = ['final', 'amended', 'corrected'];

export const DEFAULT_WITHIN_DAYS = 90;

/** The labs subgraph's recognition table: per LOINC code. */
export const LAB_RECOGNITION: RecognitionTable = { table: 'lab_result_recognition', codeColumn: 'code', checkCode: loincCode };

/** A LOINC code with a valid check digit (mod 10), e.g. 718-7; refuses anything else with BAD_USER_INPUT. */
export function loincCode(value: unknown): string {
  const code = typeof value === 'string' ? value.trim() : '';
  if (!looksLikeLoinc(code)) throw badInput('code must be a LOINC code such as 718-7 (digits, a hyphen, the check digit)');
  if (!isLoincCode(code)) throw badInput(`code ${code} is not a LOINC code: its check digit is wrong`);
  return code;
}
