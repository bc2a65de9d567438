/**
 * No disclosure without a stored audit event. Subgraphs report, in each
 * response's `extensions.disclosures`, which patients' records of which
 * categories they returned; the gateway gathers them per request and, before
 * the response leaves, stores one event per patient in identity's audit
 * trail. If that fails the caller gets AUDIT_UNAVAILABLE and no data.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import type { Disclosure } from '../../lib/consent/access.js';
import { INTERNAL_APIS, internalCaller, type InternalCallerOptions } from '../../lib/internal-api.js';
import type { Logger } from '../../lib/logger.js';
import type { GatewayContext } from './server.js';

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

export function auditPlugin(internal: Omit<InternalCallerOptions, 'requestId' | 'actor'>, logger: Logger): ApolloServerPlugin<GatewayContext> {
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
          const recorded = (outcome: 'ok' | 'error') => internal.telemetry?.metrics.auditWriteDuration.observe({ outcome }, (performance.now() - started) / 1000);
          try {
            const caller = internalCaller({ ...internal, requestId: contextValue.requestId, actor: contextValue.actor, traceparent: contextValue.log?.traceparent });
            const { stored } = await caller.call<{ stored: number }>(INTERNAL_APIS.auditEvents, { patients });
            if (stored !== patients.length) throw new Error('audit store acknowledged fewer events than sent');
            recorded('ok');
            internal.telemetry?.metrics.auditEvents.inc(stored);
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
