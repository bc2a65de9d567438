/**
 * The actor: who is asking, derived once at the gateway from a verified token
 * and handed to every subgraph in a gateway-signed internal token. Resolvers
 * and policy code read the actor from the request context, never headers.
 */
import { parseScopes, ScopeError, type ParsedScopes } from './scopes.js';

/**
 * `system`: an institution's system (SMART backend services) publishing the
 * records its organisation produces; it reads as that organisation's staff
 * would, and never breaks the glass.
 */
export const ROLES = ['clinician', 'nurse', 'patient', 'app', 'public_health', 'admin', 'system'] as const;
export type Role = (typeof ROLES)[number];

/** HL7 v3 PurposeOfUse codes the product understands. */
export const PURPOSES = ['TREAT', 'ETREAT', 'HPAYMT', 'PUBHLTH', 'PATRQT'] as const;
export type PurposeOfUse = (typeof PURPOSES)[number];

export interface Actor {
  /** The user or client (token `sub`). */
  sub: string;
  role: Role;
  /** The staff member's or the institution's system's organisation (clinician, nurse, public_health, system). */
  org: string | null;
  /** The raw scope string, as granted. */
  scope: string;
  /** The patient in context: patients and third-party apps see only this patient. */
  patient: string | null;
  purposeOfUse: PurposeOfUse;
  /** Required with `ETREAT` (break-glass). */
  breakGlassReason: string | null;
  /** The third-party app. */
  clientId: string | null;
}

/** The fields of an actor an audit event records (the gateway reports them with each request's disclosures). */
export type AuditActor = Pick<Actor, 'sub' | 'role' | 'org' | 'clientId' | 'purposeOfUse' | 'breakGlassReason'>;

export class ActorError extends Error {}

const STAFF_ROLES: Role[] = ['clinician', 'nurse', 'public_health', 'system'];

/**
 * Builds an actor from verified token claims, refusing combinations that make
 * no sense (a `patient/` scope without a patient, staff without an
 * organisation, break-glass without a reason, an app without a client id).
 */
export function actorFromClaims(claims: Record<string, unknown>): Actor {
  const text = (name: string): string | null => {
    const value = claims[name];
    if (value === undefined || value === null || value === '') return null;
    if (typeof value !== 'string') throw new ActorError(`claim ${name} must be a string`);
    return value;
  };
  const sub = text('sub');
  if (!sub) throw new ActorError('token has no subject');
  const role = text('role');
  if (!role || !(ROLES as readonly string[]).includes(role)) throw new ActorError('token has no valid role');
  const scope = Array.isArray(claims.scope) ? (claims.scope as unknown[]).join(' ') : text('scope') ?? '';
  const purpose = text('purpose_of_use') ?? 'TREAT';
  if (!(PURPOSES as readonly string[]).includes(purpose)) throw new ActorError('unknown purpose_of_use');
  const actor: Actor = {
    sub,
    role: role as Role,
    org: text('org'),
    scope,
    patient: text('patient'),
    purposeOfUse: purpose as PurposeOfUse,
    breakGlassReason: text('break_glass_reason') ?? text('purpose_of_use_reason'),
    clientId: text('client_id') ?? text('azp'),
  };
  let scopes: ParsedScopes;
  try {
    scopes = parseScopes(scope);
  } catch (error) {
    throw new ActorError(error instanceof ScopeError ? error.message : 'malformed scope');
  }
  if (scopes.clinical.some((s) => s.context === 'patient') && !actor.patient) throw new ActorError('patient/ scopes need a patient claim');
  if ((actor.role === 'patient' || actor.role === 'app') && !actor.patient) throw new ActorError(`role ${actor.role} needs a patient claim`);
  if (actor.role === 'patient' && scopes.clinical.some((s) => s.context !== 'patient')) throw new ActorError('a patient token carries only patient/ scopes');
  if (actor.role === 'app' && !actor.clientId) throw new ActorError('an app token needs client_id');
  // An institution's system acts for its organisation, never for one patient, and only with system/ scopes.
  if (actor.role === 'system') {
    if (!actor.clientId) throw new ActorError('a system token needs client_id');
    if (actor.patient) throw new ActorError('a system token is not bound to a patient');
    if (scopes.clinical.some((s) => s.context !== 'system')) throw new ActorError('a system token carries only system/ scopes');
  }
  if (STAFF_ROLES.includes(actor.role) && !actor.org) throw new ActorError(`role ${actor.role} needs an org claim`);
  if (actor.purposeOfUse === 'ETREAT') {
    if (!isStaff(actor)) throw new ActorError('only clinicians and nurses may break the glass');
    if (!actor.breakGlassReason || actor.breakGlassReason.trim().length < 5) throw new ActorError('break-glass (ETREAT) needs a reason');
  }
  return actor;
}

export const isStaff = (actor: Actor) => actor.role === 'clinician' || actor.role === 'nurse';

/**
 * Whether the actor breaks the glass (consent rule 5): clinical staff acting
 * in an emergency (purpose of use ETREAT) with a reason. The one place that
 * says who is eligible: the policy, the SQL record filter and patient search
 * all ask it.
 */
export const breaksGlass = (actor: Actor) => isStaff(actor) && actor.purposeOfUse === 'ETREAT' && Boolean(actor.breakGlassReason);

/**
 * Whether the actor reads patient records as staff of its organisation do
 * (consent rule 4, without break-glass for `system`): clinicians, nurses and
 * an institution's system.
 */
export const readsAsStaff = (actor: Actor) => isStaff(actor) || actor.role === 'system';

/** Who may publish records (FHIR writes, HL7 v2): an institution's system, and clinical staff with write scopes. */
export const mayPublish = (actor: Actor) => readsAsStaff(actor) && Boolean(actor.org) && !actor.patient;
