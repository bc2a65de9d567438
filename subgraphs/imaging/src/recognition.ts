/**
 * Mutual recognition of imaging studies ("avoid repeated tests").
 *
 * Before ordering a study, a clinician asks for the patient's recent studies
 * of the same DICOM modality (and body site) from every organisation whose
 * records they may see. Each study says whether it is recognised across the
 * alliance: an entry of `imaging_result_recognition` names the performing
 * organisation, the modality (or every modality) and the period during which
 * its studies count. Imaging keeps this table itself; administrators add and
 * end entries at run time (addImagingResultRecognition,
 * endImagingResultRecognition), for organisations of identity's registry
 * (checked through /internal/registry, lib/recognition.ts).
 *
 * The demo alliance's entries come from lib/synthetic/recognition.ts (seeders only).
 */
import { badInput } from '../../../lib/errors.js';
import type { RecognitionTable } from '../../../lib/recognition.js';

export const DEFAULT_WITHIN_DAYS = 180;

/** The imaging subgraph's recognition table: per DICOM modality. */
export const IMAGING_RECOGNITION: RecognitionTable = { table: 'imaging_result_recognition', codeColumn: 'modality', checkCode: modalityCode };

/** A DICOM modality code (a code string of CID 29, e.g. CT, MR, DX); refuses anything else with BAD_USER_INPUT. */
export function modalityCode(value: unknown): string {
  const code = typeof value === 'string' ? value.trim() : '';
  if (!/^[A-Z][A-Z0-9_]{1,15}$/.test(code)) throw badInput('modality must be a DICOM modality code in capitals, such as CT or MR');
  return code;
}

// Verhoeff tables: SNOMED CT identifiers end in a Verhoeff check digit.
const VERHOEFF_D = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6], [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
  [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1], [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
  [8, 7, 6, 5, 9, 3, 2, 1, 0, 4], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const VERHOEFF_P = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2], [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
  [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1], [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

/** A SNOMED CT concept id (6 to 18 digits, Verhoeff check digit), e.g. 51185008; null when omitted. */
export function bodySiteCode(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const code = typeof value === 'string' ? value.trim() : '';
  if (!/^[1-9]\d{5,17}$/.test(code)) throw badInput('bodySite must be a SNOMED CT concept id such as 51185008');
  let check = 0;
  [...code].reverse().forEach((digit, i) => {
    check = VERHOEFF_D[check]![VERHOEFF_P[i % 8]![Number(digit)]!]!;
  });
  if (check !== 0) throw badInput(`bodySite ${code} is not a SNOMED CT identifier: its check digit is wrong`);
  return code;
}
