/**
 * Mutual recognition of laboratory results ("avoid repeated tests").
 *
 * Before ordering a test, a clinician asks for the patient's recent results of
 * the same LOINC code from every organisation whose records they may see. Each
 * result says whether it is recognised across the alliance: an entry of
 * `lab_result_recognition` names the producing organisation, the code (or
 * every code) and the period during which its specimens count. Labs keeps this
 * table itself; it never reads identity's registry.
 *
 * The demo alliance's entries are derived here from the registry's
 * organisation types, deterministically: provincial and county hospital
 * laboratories for every code, specialty hospitals and township health
 * centres only for a short list of basic tests, the public-health agency for
 * none.
 */
import { badInput } from '../../../lib/errors.js';
import { recognitionEntries, type RecognitionPolicy, type RecognitionTable } from '../../../lib/recognition.js';

/** FHIR observation-status values of a released result (amended and corrected included). */
export const RELEASED_STATUSES = ['final', 'amended', 'corrected'];

export const DEFAULT_WITHIN_DAYS = 90;

/**
 * Basic tests recognised from every laboratory in the alliance's external
 * quality-control programme: hemoglobin, leukocytes, platelets, glucose.
 */
export const BASIC_TESTS = ['718-7', '6690-2', '777-3', '14749-6'];

/** The labs subgraph's recognition table: per LOINC code. */
export const LAB_RECOGNITION: RecognitionTable = { table: 'lab_result_recognition', codeColumn: 'code' };

const POLICY: RecognitionPolicy = {
  'provincial-hospital': { codes: null, since: '2018-01-01T00:00:00Z', basis: 'ISO 15189 accredited clinical laboratory' },
  'county-hospital': { codes: null, since: '2021-01-01T00:00:00Z', basis: 'Provincial clinical laboratory quality-control centre, full accreditation' },
  'specialty-hospital': { codes: BASIC_TESTS, since: '2022-01-01T00:00:00Z', basis: 'Alliance external quality assessment, basic tests' },
  'township-health-centre': { codes: BASIC_TESTS, since: '2024-01-01T00:00:00Z', basis: 'Alliance external quality assessment, basic tests' },
  'public-health-agency': null,
};

/** The demo alliance's recognition entries, in a fixed order. */
export const labRecognitionEntries = () => recognitionEntries('lab', POLICY);

/** A LOINC code with a valid check digit (mod 10), e.g. 718-7; refuses anything else with BAD_USER_INPUT. */
export function loincCode(value: unknown): string {
  const code = typeof value === 'string' ? value.trim() : '';
  const match = /^(\d{1,7})-(\d)$/.exec(code);
  if (!match) throw badInput('code must be a LOINC code such as 718-7 (digits, a hyphen, the check digit)');
  let sum = 0;
  [...match[1]!].reverse().forEach((digit, i) => {
    const n = Number(digit) * (i % 2 === 0 ? 2 : 1);
    sum += Math.floor(n / 10) + (n % 10);
  });
  if ((10 - (sum % 10)) % 10 !== Number(match[2])) throw badInput(`code ${code} is not a LOINC code: its check digit is wrong`);
  return code;
}
