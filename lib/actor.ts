/**
 * The actor: who is asking, derived once at the gateway from a verified token
 * and handed to every subgraph in a gateway-signed internal token. Resolvers
 * and policy code read the actor from the request context, never headers.
 */
import { parseScopes, ScopeError, type ParsedScopes } from './scopes.js';

export const ROLES = ['clinician', 'nurse', 'patient', 'app', 'public_health', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** HL7 v3 PurposeOfUse codes the product understands. */
export const PURPOSES = ['TREAT', 'ETREAT', 'HPAYMT', 'PUBHLTH', 'PATRQT'] as const;
export type PurposeOfUse = (typeof PURPOSES)[number];

export interface Actor {
  /** The user or client (token `sub`). */
  sub: string;
  role: Role;
  /** The staff member's organisation (clinician, nurse, public_health). */
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

export class ActorError extends Error {}

const STAFF_ROLES: Role[] = ['clinician', 'nurse', 'public_health'];

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
  if (STAFF_ROLES.includes(actor.role) && !actor.org) throw new ActorError(`role ${actor.role} needs an org claim`);
  if (actor.purposeOfUse === 'ETREAT') {
    if (!['clinician', 'nurse'].includes(actor.role)) throw new ActorError('only clinicians and nurses may break the glass');
    if (!actor.breakGlassReason || actor.breakGlassReason.trim().length < 5) throw new ActorError('break-glass (ETREAT) needs a reason');
  }
  return actor;
}

export const isStaff = (actor: Actor) => actor.role === 'clinician' || actor.role === 'nurse';
