/**
 * The code systems publishing recognises, and how each checks its codes
 * (issue 27: codes are accepted as sent in any recognised system, every
 * coding kept; a system with a format or check digit still has it checked).
 *
 * A coding of a system not listed here is a local code: kept as sent with its
 * system (any URI), unchecked. What the alliance *requires* of a concept (an
 * ICD-10 coding on a diagnosis, say) is not here: it is the coding policy,
 * configuration (../coding-policy.ts).
 */
import { SYSTEM, isCvxCode, isIcd10Code, isLoincCode, isSnomedCtId, looksLikeLoinc, looksLikeSnomedCt } from '../../../../lib/records/terminology.js';
import type { CodeCheck } from './elements.js';

/** ICD-10-CM (US clinical modification): the ICD-10 shape, with up to four characters after the dot and an optional placeholder x. */
export const ICD10_CM = 'http://hl7.org/fhir/sid/icd-10-cm';
export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
/** US National Drug Code. */
export const NDC = 'http://hl7.org/fhir/sid/ndc';

const isIcd10CmCode = (code: string) => /^[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?$/i.test(code);
/** RxNorm concept ids (RXCUI): digits. */
const isRxNormCode = (code: string) => /^\d{1,10}$/.test(code);
/** NDC: 10 or 11 digits, with or without hyphens (4-4-2, 5-3-2, 5-4-1, 5-4-2). */
const isNdcCode = (code: string) => /^(\d{4}-\d{4}-\d{2}|\d{5}-\d{3}-\d{2}|\d{5}-\d{4}-\d{1,2}|\d{10,11})$/.test(code);

/** Recognised systems → their check (name for messages, validity, shape to tell a wrong system from a wrong check digit). */
export const CODE_CHECKS: Readonly<Record<string, CodeCheck>> = {
  [SYSTEM.loinc]: { name: 'LOINC', valid: isLoincCode, shape: looksLikeLoinc },
  [SYSTEM.snomed]: { name: 'SNOMED CT', valid: isSnomedCtId, shape: looksLikeSnomedCt },
  [SYSTEM.icd10]: { name: 'ICD-10', valid: isIcd10Code },
  [ICD10_CM]: { name: 'ICD-10-CM', valid: isIcd10CmCode },
  [SYSTEM.cvx]: { name: 'CVX', valid: isCvxCode },
  [RXNORM]: { name: 'RxNorm', valid: isRxNormCode },
  [NDC]: { name: 'NDC', valid: isNdcCode },
};

/** The name of a system for messages: its recognised name, or the URI. */
export const systemName = (system: string) => CODE_CHECKS[system]?.name ?? system;
