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
 * (checked through /internal/registry, lib/records/recognition.ts).
 *
 * The demo alliance's entries come from lib/synthetic/recognition.ts (seeders only).
 */
import { badInput } from '../../../lib/runtime/errors.js';
import type { RecognitionTable } from '../../../lib/records/recognition.js';
import { isDicomModality, isSnomedCtId, looksLikeSnomedCt } from '../../../lib/records/terminology.js';

export const DEFAULT_WITHIN_DAYS = 180;

/** The imaging subgraph's recognition table: per DICOM modality. */
export const IMAGING_RECOGNITION: RecognitionTable = { table: 'imaging_result_recognition', codeColumn: 'modality', checkCode: modalityCode };

/** A DICOM modality code (a code string of CID 29, e.g. CT, MR, DX); refuses anything else with BAD_USER_INPUT. */
export function modalityCode(value: unknown): string {
  const code = typeof value === 'string' ? value.trim() : '';
  if (!isDicomModality(code)) throw badInput('modality must be a DICOM modality code in capitals, such as CT or MR');
  return code;
}

/** A SNOMED CT concept id (6 to 18 digits, Verhoeff check digit), e.g. 51185008; null when omitted. */
export function bodySiteCode(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const code = typeof value === 'string' ? value.trim() : '';
  if (!looksLikeSnomedCt(code)) throw badInput('bodySite must be a SNOMED CT concept id such as 51185008');
  if (!isSnomedCtId(code)) throw badInput(`bodySite ${code} is not a SNOMED CT identifier: its check digit is wrong`);
  return code;
}
