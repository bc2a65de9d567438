/**
 * No disclosure without a stored audit event. Subgraphs report, in each
 * response's `extensions.disclosures`, which patients' records of which
 * categories they returned; the gateway gathers them per request and, before
 * the response leaves, stores one event per patient in identity's audit
 * trail. If that fails the caller gets AUDIT_UNAVAILABLE and no data.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import type { Disclosure } from '../../lib/consent/access.js';
import { INTERNAL_APIS, internalCaller, type InternalCallerOptions } from '../../lib/runtime/internal-api.js';
import type { Logger } from '../../lib/runtime/logger.js';
import type { Actor, AuditActor } from '../../lib/trust/actor.js';
import type { Telemetry } from '../../lib/runtime/telemetry.js';
import type { GatewayContext } from './context.js';

export interface PatientDisclosure {
  patientId: string;
  recordCounts: Record<string, number>;
  breakGlass: boolean;
}

/**
 * Folds the subgraphs' reports into one entry per patient, counting each
 * record once per category even when two subgraphs report it (identity lists
 * a timeline entry, its owner resolves the node).
 */
export function byPatient(disclosures: Disclosure[]): PatientDisclosure[] {
  const patients = new Map<string, { ids: Map<string, Set<string>>; breakGlass: boolean }>();
  for (const d of disclosures) {
    const patient = patients.get(d.patientId) ?? { ids: new Map<string, Set<string>>(), breakGlass: false };
    const ids = patient.ids.get(d.category) ?? new Set<string>();
    for (const id of d.ids) ids.add(id);
    patient.ids.set(d.category, ids);
    patient.breakGlass ||= d.breakGlass;
    patients.set(d.patientId, patient);
  }
  return [...patients].map(([patientId, p]) => ({
    patientId,
    recordCounts: Object.fromEntries([...p.ids].map(([category, ids]) => [category, ids.size])),
    breakGlass: p.breakGlass,
  }));
}

/**
 * Takes what a subgraph reports for the gateway out of its response (the
 * caller never sees it): the disclosures to audit, and identity's consent
 * facts (a facts token) to relay to the subgraphs called next.
 */
export function collectDisclosures(context: GatewayContext, extensions: Record<string, unknown> | undefined): void {
  if (!extensions) return;
  const reported = extensions.disclosures;
  if (Array.isArray(reported)) context.disclosures.push(...(reported as Disclosure[]));
  delete extensions.disclosures;
  if (typeof extensions.consentFacts === 'string' && /^[\w.~,-]+$/.test(extensions.consentFacts)) {
    context.consentFacts ??= [];
    if (!context.consentFacts.includes(extensions.consentFacts) && context.consentFacts.length < 8) context.consentFacts.push(extensions.consentFacts);
  }
  delete extensions.consentFacts;
}

/**
 * Group commit of audit events. A request's events must be stored before its
 * answer leaves; they need not be stored alone. While one append is on its
 * way to identity, the requests that finish meanwhile queue, and go together
 * in the next call: one call and one acquisition of the chain lock for the
 * whole group, instead of one per request. Each request still waits for its
 * own events to be stored, and a call that fails fails every request in it
 * (AUDIT_UNAVAILABLE, no data), exactly as a call of its own would.
 */
/** What an audit event records of an actor (not its scopes or patient claim). */
const auditActor = ({ sub, role, org, clientId, purposeOfUse, breakGlassReason }: Actor): AuditActor => ({ sub, role, org, clientId, purposeOfUse, breakGlassReason });

export class AuditBatcher {
  private readonly queue: { requestId: string; actor: Actor; patients: PatientDisclosure[]; traceparent?: string; done: (error?: unknown) => void }[] = [];
  private sending = false;

  constructor(private readonly internal: Omit<InternalCallerOptions, 'requestId' | 'actor'>) {}

  /** Stores one request's events; resolves once identity has them. */
  append(requestId: string, actor: Actor, patients: PatientDisclosure[], traceparent?: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ requestId, actor, patients, traceparent, done: (error) => (error ? reject(error) : resolve()) });
      if (!this.sending) void this.send();
    });
  }

  private async send(): Promise<void> {
    this.sending = true;
    while (this.queue.length) {
      // At most 100 requests or about 2,000 patients a call (identity takes bodies up to 1 MB).
      let patients = 0;
      let count = 0;
      while (count < this.queue.length && count < 100 && (count === 0 || patients + this.queue[count]!.patients.length <= 2000)) patients += this.queue[count++]!.patients.length;
      const group = this.queue.splice(0, count);
      const first = group[0]!;
      try {
        // The call token names the first request (identity's log line); each request's own id and actor travel in the body.
        const caller = internalCaller({ ...this.internal, requestId: first.requestId, actor: first.actor, traceparent: first.traceparent });
        const requests = group.map(({ requestId, actor, patients: disclosed }) => ({ requestId, actor: auditActor(actor), patients: disclosed }));
        const { stored } = await caller.call<{ stored: number[] }>(INTERNAL_APIS.auditEvents, { requests });
        if (!Array.isArray(stored) || stored.length !== group.length || group.some((g, i) => stored[i] !== g.patients.length)) {
          throw new Error('audit store acknowledged other events than sent');
        }
        this.internal.telemetry?.metrics.auditEvents.inc(patients);
        for (const g of group) g.done();
      } catch (error) {
        for (const g of group) g.done(error);
      }
    }
    this.sending = false;
  }
}

export function auditPlugin(batcher: AuditBatcher, telemetry: Telemetry | undefined, logger: Logger): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response, contextValue }) {
          // Every answer names its request, the id its audit events carry (support, the patient's access log).
          if (contextValue.requestId) response.http.headers.set('x-request-id', contextValue.requestId);
          if (response.body.kind !== 'single' || contextValue.disclosures.length === 0) return;
          const patients = byPatient(contextValue.disclosures);
          const result = response.body.singleResult;
          const started = performance.now();
          const recorded = (outcome: 'ok' | 'error') => telemetry?.metrics.auditWriteDuration.observe({ outcome }, (performance.now() - started) / 1000);
          try {
            await batcher.append(contextValue.requestId, contextValue.actor, patients, contextValue.log?.traceparent);
            recorded('ok');
          } catch (error) {
            recorded('error');
            contextValue.log?.errorCodes.add('AUDIT_UNAVAILABLE');
            logger.error({ rid: contextValue.requestId, trace: contextValue.log?.traceId, err: error }, 'audit trail unavailable: data withheld');
            response.body.singleResult = {
              errors: [{ message: 'The audit trail could not record this access, so no data is returned. Try again later.', extensions: { code: 'AUDIT_UNAVAILABLE' } }],
            } as typeof result;
            response.http.status = 503;
            return;
          }
          const emergency = patients.filter((p) => p.breakGlass).map((p) => p.patientId);
          if (emergency.length) {
            result.extensions = {
              ...result.extensions,
              emergencyAccess: { breakGlass: true, reason: contextValue.actor.breakGlassReason, patients: emergency, notice: 'Emergency access: recorded and flagged for review' },
            };
          }
        },
      };
    },
  };
}
