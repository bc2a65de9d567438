/**
 * SMART scopes in plain words, for the approval screen: which kinds of
 * record, and whether the app may only see them or also add and change them.
 */
import { parseScopes, type Category } from '../../../lib/trust/scopes.js';

const CATEGORY_WORDS: Record<Category, string> = {
  demographics: 'name, date of birth and contact details',
  identifiers: 'medical record and health card numbers',
  encounters: 'visits and hospital stays',
  diagnoses: 'diagnoses',
  allergies: 'allergies and intolerances',
  referrals: 'referrals between hospitals and clinics',
  labs: 'laboratory results and reports',
  imaging: 'imaging studies (X-ray, CT, MRI, ultrasound)',
  'imaging-reports': 'radiology reports',
  immunizations: 'vaccinations',
  programs: 'public-health programmes (chronic disease, maternal and child health…)',
  'follow-ups': 'follow-up tasks of the care team',
  'home-measurements': 'measurements taken at home (blood pressure, glucose…)',
  consents: 'consent choices (who may see what)',
  observations: 'vital signs, examinations, questionnaires and social history (smoking, alcohol) recorded by clinics',
  procedures: 'procedures and operations',
  'care-plans': 'care plans and the care teams that carry them out',
  medications: 'medicines prescribed, given and taken',
  notes: 'clinical notes (what doctors and nurses wrote)',
};

export interface ScopeWords {
  scope: string;
  /** "See", "See and add", "Add and change"... */
  access: string;
  /** The kinds of record, in words. */
  what: string;
  /** Whether it lets the app write. */
  writes: boolean;
}

/** One clinical scope in words; null for a scope that names no record (openid, launch/patient…). */
export function scopeInWords(scope: string, whose: 'your' | "your patients'" | "patients'" = 'your'): ScopeWords | null {
  let parsed;
  try {
    parsed = parseScopes(scope).clinical[0];
  } catch {
    return null;
  }
  if (!parsed) return null;
  const verbs = [parsed.read ? 'see' : null, parsed.create ? 'add' : null, parsed.update ? 'change' : null, /d/.test(scope.split('.').pop() ?? '') ? 'delete' : null]
    .filter(Boolean) as string[];
  const access = (verbs.length > 1 ? `${verbs.slice(0, -1).join(', ')} and ${verbs.at(-1)}` : verbs[0] ?? '').replace(/^./, (c) => c.toUpperCase());
  const what = parsed.categories.length === 0 ? 'nothing (no record of this kind)' : `${whose} ${parsed.categories.map((c) => CATEGORY_WORDS[c]).join('; ')}`;
  return { scope, access, what, writes: parsed.write };
}

/** What the context scopes mean, for the same screen. */
export const CONTEXT_SCOPE_WORDS: Record<string, string> = {
  openid: 'Know that it is you who signed in',
  fhirUser: 'Know who you are in the alliance\'s records (your patient or practitioner record)',
  'launch/patient': 'Work with your own record',
  offline_access: 'Stay connected when you are not using it (until you revoke it)',
};
