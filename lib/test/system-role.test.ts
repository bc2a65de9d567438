/**
 * The `system` role (an institution's system publishing its organisation's
 * records), write scopes per interaction, and the shared code validators of
 * lib/records/terminology.ts.
 */
import { describe, expect, it } from 'vitest';
import { actorFromClaims, mayPublish, type Actor } from '../trust/actor.js';
import { decide, mayReachPatient, type PatientFacts } from '../consent/policy.js';
import { parseScopes, scopesAllowWrite } from '../trust/scopes.js';
import { isCvxCode, isDicomModality, isIcd10Code, isLoincCode, isSnomedCtId, sensitivityLabelOf } from '../records/terminology.js';

const NOW = new Date('2026-06-30T12:00:00Z');
const system = (overrides: Partial<Actor> = {}): Actor => ({
  sub: 'county-north-his', role: 'system', org: 'org-a', scope: 'system/*.cru', patient: null, purposeOfUse: 'TREAT',
  breakGlassReason: null, clientId: 'county-north-his', ...overrides,
});
const facts = (overrides: Partial<PatientFacts> = {}): PatientFacts => ({ patientId: 'p1', registeredOrganizationIds: ['org-a'], programmeOrganizationIds: [], directives: [], ...overrides });

describe('the system role', () => {
  it('needs an organisation and a client id, carries only system/ scopes, and is bound to no patient', () => {
    const base = { sub: 'his', role: 'system', org: 'org-a', client_id: 'his', scope: 'system/*.cu' };
    expect(actorFromClaims(base).role).toBe('system');
    expect(() => actorFromClaims({ ...base, org: undefined })).toThrow(/org/);
    expect(() => actorFromClaims({ ...base, client_id: undefined })).toThrow(/client_id/);
    expect(() => actorFromClaims({ ...base, scope: 'user/*.cu' })).toThrow(/system\//);
    expect(() => actorFromClaims({ ...base, patient: 'p1' })).toThrow(/patient/);
    expect(() => actorFromClaims({ ...base, purpose_of_use: 'ETREAT', break_glass_reason: 'an emergency' })).toThrow(/break the glass/);
  });

  it('reads what its organisation produced, and elsewhere only under a permit, as staff do', () => {
    const record = { patientId: 'p1', category: 'labs' as const, organizationId: 'org-a', sensitivityLabels: [] };
    expect(decide(system(), record, facts(), NOW).allow).toBe(true);
    expect(decide(system(), { ...record, organizationId: 'org-b' }, facts(), NOW)).toMatchObject({ allow: false, code: 'CONSENT_DENIED' });
    expect(mayReachPatient(system(), facts(), NOW)).toBe(true);
    expect(mayReachPatient(system(), facts({ registeredOrganizationIds: ['org-b'] }), NOW)).toBe(false);
  });

  it('never breaks the glass', () => {
    const record = { patientId: 'p1', category: 'labs' as const, organizationId: 'org-b', sensitivityLabels: [] };
    expect(decide(system({ purposeOfUse: 'ETREAT', breakGlassReason: 'forged into the actor' }), record, facts(), NOW).allow).toBe(false);
  });

  it('publishes (clinical staff too), patients, apps, public health and administrators do not', () => {
    expect(mayPublish(system())).toBe(true);
    expect(mayPublish(system({ role: 'clinician', clientId: null }))).toBe(true);
    for (const role of ['patient', 'app', 'public_health', 'admin'] as const) expect(mayPublish(system({ role }))).toBe(false);
    expect(mayPublish(system({ role: 'clinician', patient: 'p1' }))).toBe(false);
  });
});

describe('write scopes per interaction and resource type', () => {
  it.each([
    ['system/Observation.c', 'create', 'Observation', 'labs', true],
    ['system/Observation.c', 'update', 'Observation', 'labs', false],
    ['system/Observation.c', 'create', 'DiagnosticReport', 'labs', false],
    ['system/*.cu', 'update', 'Encounter', 'encounters', true],
    ['system/*.rs', 'create', 'Encounter', 'encounters', false],
    ['system/Observation.c?category=laboratory', 'create', 'Observation', 'labs', true],
    ['system/Observation.c?category=vital-signs', 'create', 'Observation', 'labs', false],
    ['user/Immunization.write', 'update', 'Immunization', 'immunizations', true],
  ] as const)('%s: %s %s (%s) is %s', (scope, interaction, resourceType, category, allowed) => {
    expect(scopesAllowWrite(parseScopes(scope), interaction, resourceType, category)).toBe(allowed);
  });
});

describe('code validators', () => {
  it('check LOINC check digits, ICD-10 and CVX shapes, DICOM modalities and SNOMED CT Verhoeff digits', () => {
    expect(['718-7', '4548-4', '56888-1', '85354-9'].every(isLoincCode)).toBe(true);
    expect(['718-8', '7187', 'abc-1', ''].some(isLoincCode)).toBe(false);
    expect(['I10', 'E11.9', 'Z04.4', 'J06.9', 'C4A.0'].every(isIcd10Code)).toBe(true);
    expect(['i10', '10', 'E11.', 'E119X.12345'].some(isIcd10Code)).toBe(false);
    expect(['08', '141', '3'].every(isCvxCode)).toBe(true);
    expect(['1411', 'MMR'].some(isCvxCode)).toBe(false);
    expect(['CT', 'MR', 'DX', 'MG'].every(isDicomModality)).toBe(true);
    expect(['ct', 'C'].some(isDicomModality)).toBe(false);
    expect(['51185008', '39607008', '3457005'].every(isSnomedCtId)).toBe(true);
    expect(['51185009', '012345'].some(isSnomedCtId)).toBe(false);
  });

  it('reads sensitivity labels from meta.security codings', () => {
    expect(sensitivityLabelOf({ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'HIV' })).toBe('HIV');
    expect(sensitivityLabelOf({ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'V' })).toBe('V');
    expect(sensitivityLabelOf({ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' })).toBeNull();
    expect(sensitivityLabelOf({ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'XYZ' })).toBeUndefined();
    expect(sensitivityLabelOf({ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'V' })).toBeUndefined();
  });
});
