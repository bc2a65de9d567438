/** SMART App Launch scope parsing (v2, granular, v1) and the actor rules. */
import { describe, expect, it } from 'vitest';
import { actorFromClaims } from '../trust/actor.js';
import { CATEGORIES, categoriesOfScopes, narrowScopes, parseScopes, scopesAllow } from '../trust/scopes.js';

describe('SMART scopes', () => {
  it.each([
    ['patient/Observation.rs', 'labs', 'read', true],
    ['patient/Observation.rs', 'home-measurements', 'read', true],
    ['patient/Observation.rs', 'labs', 'write', false],
    ['patient/Observation.rs?category=vital-signs', 'labs', 'read', false],
    ['patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs', 'home-measurements', 'read', true],
    ['patient/Observation.cu?category=vital-signs', 'home-measurements', 'write', true],
    ['user/*.rs', 'imaging', 'read', true],
    ['user/*.rs', 'imaging', 'write', false],
    ['patient/Immunization.read', 'immunizations', 'read', true],
    ['patient/Immunization.read', 'immunizations', 'write', false],
    ['patient/Immunization.write', 'immunizations', 'write', true],
    ['user/*.*', 'diagnoses', 'write', true],
    ['system/Immunization.rs', 'immunizations', 'read', true],
    ['patient/DiagnosticReport.rs?category=RAD', 'imaging-reports', 'read', true],
    ['patient/DiagnosticReport.rs?category=RAD', 'labs', 'read', false],
    ['openid fhirUser launch/patient', 'labs', 'read', false],
  ] as const)('%s allows %s %s: %s', (scope, category, access, allowed) => {
    expect(scopesAllow(parseScopes(scope), category, access)).toBe(allowed);
  });

  it.each([
    ['patient/Observation.rs', 'Observation', true],
    ['patient/Observation.rs', 'DiagnosticReport', false],
    ['patient/DiagnosticReport.rs?category=LAB', 'DiagnosticReport', true],
    ['patient/DiagnosticReport.rs?category=LAB', 'Observation', false],
    ['user/*.rs', 'DiagnosticReport', true],
  ] as const)('%s reads labs of resource type %s: %s', (scope, resourceType, allowed) => {
    expect(scopesAllow(parseScopes(scope), 'labs', 'read', resourceType)).toBe(allowed);
  });

  it('rejects malformed permissions and unknown resource types', () => {
    expect(() => parseScopes('patient/Observation.xyz')).toThrow();
    expect(() => parseScopes('patient/Observation.sr')).toThrow(); // v2 order is c r u d s
    expect(() => parseScopes('patient/Spaceship.rs')).toThrow();
  });

  it('recognises schema:read', () => {
    expect(parseScopes('schema:read').schemaRead).toBe(true);
    expect(parseScopes('user/*.rs').schemaRead).toBe(false);
  });
});

describe('actor from token claims', () => {
  const base = { sub: 'u1', role: 'clinician', org: 'org-county-north', scope: 'user/*.rs' };
  it('derives the actor', () => {
    expect(actorFromClaims({ ...base, client_id: 'ehr' })).toEqual({
      sub: 'u1', role: 'clinician', org: 'org-county-north', scope: 'user/*.rs', patient: null, purposeOfUse: 'TREAT', breakGlassReason: null, clientId: 'ehr',
    });
  });
  it.each([
    [{ ...base, role: 'superuser' }, /role/],
    [{ ...base, org: undefined }, /org/],
    [{ ...base, scope: 'patient/*.rs' }, /patient claim/],
    [{ sub: 'p', role: 'patient', scope: 'patient/*.rs' }, /patient claim/],
    [{ sub: 'p', role: 'patient', patient: 'x', scope: 'user/*.rs' }, /only patient\//],
    [{ sub: 'a', role: 'app', patient: 'x', scope: 'patient/*.rs' }, /client_id/],
    [{ ...base, purpose_of_use: 'ETREAT' }, /reason/],
    [{ ...base, purpose_of_use: 'SPYING' }, /purpose/],
    [{ ...base, role: 'public_health', purpose_of_use: 'ETREAT', break_glass_reason: 'cardiac arrest' }, /break the glass/],
    [{ ...base, sub: undefined }, /subject/],
  ])('refuses %j', (claims, message) => {
    expect(() => actorFromClaims(claims as Record<string, unknown>)).toThrow(message);
  });
});

describe('narrowing requested scopes to a registration (an app gets less, never more)', () => {
  it.each([
    // requested, registered, granted
    ['patient/Observation.rs', 'patient/Observation.rs', ['patient/Observation.rs']],
    ['patient/Observation.read', 'patient/Observation.rs', ['patient/Observation.read']],
    ['patient/*.rs', 'patient/Observation.rs patient/Immunization.rs', ['patient/Observation.rs', 'patient/Immunization.rs']],
    ['patient/Observation.cruds', 'patient/Observation.rs', ['patient/Observation.rs']],
    ['patient/Observation.rs', 'patient/Observation.rs?category=laboratory', ['patient/Observation.rs?category=laboratory']],
    ['patient/Observation.rs?category=vital-signs', 'patient/Observation.rs?category=laboratory', []],
    ['patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory', 'patient/*.rs',
      ['patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory']],
    ['user/Observation.rs', 'patient/Observation.rs', []],
    ['patient/Encounter.rs', 'patient/Observation.rs', []],
    ['patient/Observation.c', 'patient/Observation.rs', []],
    ['openid fhirUser launch/patient', 'patient/*.rs', []],
    ['system/*.cruds', 'system/Observation.cru system/Encounter.r', ['system/Observation.cru', 'system/Encounter.r']],
  ] as const)('%s against %s gives %j', (requested, registered, granted) => {
    expect(narrowScopes(requested.split(' '), registered.split(' '))).toEqual(granted);
  });

  it('property: what is granted never lets a token read or write a category the registration does not', () => {
    const scopes = ['patient/*.rs', 'patient/*.cruds', 'patient/Observation.rs', 'patient/Observation.cu?category=vital-signs', 'patient/Observation.rs?category=laboratory',
      'patient/DiagnosticReport.rs?category=RAD', 'patient/Encounter.read', 'patient/Immunization.*', 'patient/Condition.s', 'user/*.rs'];
    for (const requested of scopes) {
      for (const registered of scopes) {
        const granted = parseScopes(narrowScopes([requested], [registered]).join(' '));
        const allowed = parseScopes(registered);
        for (const category of CATEGORIES) {
          for (const access of ['read', 'write'] as const) {
            if (scopesAllow(granted, category, access)) expect(scopesAllow(allowed, category, access), `${requested} / ${registered} / ${category} ${access}`).toBe(true);
          }
        }
      }
    }
  });

  it('categoriesOfScopes lists what an approval of the scopes covers', () => {
    expect(categoriesOfScopes('launch/patient patient/Observation.rs?category=laboratory patient/Patient.rs')).toEqual(['demographics', 'identifiers', 'labs']);
    expect(categoriesOfScopes('openid fhirUser')).toEqual([]);
  });
});
