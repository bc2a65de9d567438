/**
 * The patient's own view: their record and timeline, who accessed it
 * (Patient.accessLog), and their consents (Patient.consents, grantConsent,
 * revokeConsent), the apps they approved at the authorization server among
 * them (revoking one ends the app's access at once), and the requests staff
 * recorded on their behalf waiting for their answer (approveConsentRequest,
 * declineConsentRequest).
 */
import { useEffect, useState, type FormEvent } from 'react';
import { useMutation, useQuery } from 'urql';
import { fieldErrors } from './errors';
import type { ConsentActorType, ConsentDecision, DataCategory } from './gql/graphql';
import { ACTOR_TYPES, CATEGORIES, formatDateTime } from './labels';
import {
  AccessLogQuery, ApproveConsentRequestMutation, ConsentsQuery, DeclineConsentRequestMutation, GrantConsentMutation, OrganizationsQuery, RevokeConsentMutation,
} from './operations';
import { PatientHeader } from './PatientView';
import { Timeline } from './Timeline';
import { useConnection } from './useConnection';
import { WithheldReason } from './Withheld';

type Tab = 'timeline' | 'access' | 'consents';
const TABS: { tab: Tab; label: string }[] = [
  { tab: 'timeline', label: 'My timeline' },
  { tab: 'access', label: 'Who saw my record' },
  { tab: 'consents', label: 'My consents' },
];

export function MyRecord({ patientId }: { patientId: string }) {
  const [tab, setTab] = useState<Tab>('access');
  return (
    <main className="card">
      <PatientHeader patientId={patientId} />
      <div role="tablist" aria-label="My record" className="tabs">
        {TABS.map(({ tab: t, label }) => (
          <button key={t} role="tab" type="button" id={`tab-${t}`} aria-selected={tab === t} aria-controls={`panel-${t}`} onClick={() => setTab(t)}>{label}</button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === 'timeline' ? <Timeline patientId={patientId} showWithheldCount={false} /> : null}
        {tab === 'access' ? <AccessLog patientId={patientId} /> : null}
        {tab === 'consents' ? <Consents patientId={patientId} /> : null}
      </div>
    </main>
  );
}

function AccessLog({ patientId }: { patientId: string }) {
  const log = useConnection(AccessLogQuery, { id: patientId, first: 20 }, (data) => data?.patient?.accessLog, ['patient', 'accessLog']);
  return (
    <section aria-labelledby="access-title">
      <h2 id="access-title">Who saw my record</h2>
      {log.errors.map((e, i) => <p key={i} role="alert"><WithheldReason error={e} /></p>)}
      <table className="table">
        <caption className="muted">Every access is recorded before the data is shown, newest first.</caption>
        <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Organisation</th><th scope="col">What</th><th scope="col">Why</th></tr></thead>
        <tbody>
          {log.entries.map(({ edge }) => (
            <tr key={edge.node.id} data-testid="access-log-entry" className={edge.node.breakGlass ? 'emergency-row' : undefined}>
              <td>{formatDateTime(edge.node.occurredAt)}</td>
              <td>{edge.node.actorSub} <span className="muted">({edge.node.actorRole}{edge.node.clientId ? `, app ${edge.node.clientId}` : ''})</span></td>
              <td>{edge.node.actorOrganization?.name ?? '—'}</td>
              <td>{edge.node.categories.map((c) => c.toLowerCase().replace('_', ' ')).join(', ')}</td>
              <td>{edge.node.breakGlass ? <strong>Emergency: {edge.node.breakGlassReason}</strong> : edge.node.purposeOfUse}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {log.hasNextPage ? <button type="button" className="secondary" onClick={log.loadMore}>Older accesses</button> : null}
      {!log.loading && log.entries.length === 0 ? <p className="muted">Nobody has accessed your record yet.</p> : null}
    </section>
  );
}

function Consents({ patientId }: { patientId: string }) {
  const [result, refetch] = useQuery({ query: ConsentsQuery, variables: { id: patientId } });
  const [, revoke] = useMutation(RevokeConsentMutation);
  const [, approve] = useMutation(ApproveConsentRequestMutation);
  const [, decline] = useMutation(DeclineConsentRequestMutation);
  const [message, setMessage] = useState<string | null>(null);
  const errors = fieldErrors(result.error);
  const all = result.data?.patient?.consents ?? [];
  // Requests staff recorded on the patient's behalf wait for the patient's answer; they apply only once approved.
  const pending = all.filter((c) => c.status === 'PENDING' && !c.revokedAt);
  const consents = all.filter((c) => !pending.includes(c));
  const refresh = () => refetch({ requestPolicy: 'network-only' });

  const onAnswer = async (id: string, yes: boolean) => {
    const response = await (yes ? approve({ id }) : decline({ id }));
    setMessage(response.error ? response.error.graphQLErrors[0]?.message ?? response.error.message : yes ? 'Request approved: it applies now.' : 'Request declined.');
    refresh();
  };

  const onRevoke = async (id: string) => {
    const response = await revoke({ id });
    setMessage(response.error ? response.error.graphQLErrors[0]?.message ?? response.error.message : 'Consent revoked.');
    refresh();
  };

  return (
    <section aria-labelledby="consents-title">
      <h2 id="consents-title">My consents</h2>
      {errors.map((e, i) => <p key={i} role="alert"><WithheldReason error={e} /></p>)}
      {message ? <p role="status" className="notice">{message}</p> : null}
      {pending.length ? (
        <section aria-labelledby="requests-title">
          <h3 id="requests-title">Requests waiting for your answer</h3>
          <ul className="consents" aria-label="Consent requests">
            {pending.map((c) => (
              <li key={c.id} data-testid="consent-request">
                <strong>{c.recordedAtOrganization?.name ?? 'Staff'}</strong> asks you to{' '}
                {c.decision === 'PERMIT' ? 'allow' : 'refuse'}{' '}
                {c.actorType === 'ALLIANCE' ? 'every organisation of the alliance' : `${(c.actorType ?? '').toLowerCase()} ${c.actorId}`}{': '}
                {c.categories?.length ? c.categories.map((x) => x.toLowerCase().replace('_', ' ')).join(', ') : 'everything'}
                {c.labels?.length ? ` (including ${c.labels.join(', ')})` : ''}
                <span className="muted small"> · recorded by {c.recordedBy} on {formatDateTime(c.createdAt)}{c.confirmation === 'PAPER' ? ' · paper form' : ''}</span>
                <button type="button" onClick={() => void onAnswer(c.id, true)} aria-label={`Approve the request of ${c.recordedAtOrganization?.name ?? 'staff'}`}>Approve</button>
                <button type="button" className="secondary" onClick={() => void onAnswer(c.id, false)} aria-label={`Decline the request of ${c.recordedAtOrganization?.name ?? 'staff'}`}>Decline</button>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      <ul className="consents" aria-label="Consents">
        {consents.map((c) => (
          <li key={c.id} data-testid="consent" data-active={c.active} className={c.active ? '' : 'revoked'}>
            <strong>{c.decision === 'PERMIT' ? 'Allow' : 'Refuse'}</strong>{' '}
            {c.actorType === 'ALLIANCE' ? 'every organisation of the alliance'
              : c.app ? <>the app <strong>{c.app.name}</strong> ({c.app.organization.name})</> : `${(c.actorType ?? '').toLowerCase()} ${c.actorId}`}{': '}
            {c.categories?.length ? c.categories.map((x) => x.toLowerCase().replace('_', ' ')).join(', ') : 'everything'}
            {c.approvedScope ? <span className="muted small"> · approved in the app's sign-in ({c.approvedScope})</span> : null}
            <span className="muted small"> · since {formatDateTime(c.createdAt)}{c.revokedAt ? ` · revoked ${formatDateTime(c.revokedAt)}` : ''}{c.status === 'DECLINED' ? ' · declined' : ''}</span>
            {c.active ? <button type="button" className="secondary" onClick={() => void onRevoke(c.id)} aria-label={c.app ? `Revoke the approval of ${c.app.name}` : `Revoke consent for ${c.actorId ?? 'the alliance'}`}>Revoke</button> : <span className="badge">revoked</span>}
          </li>
        ))}
      </ul>
      <GrantConsentForm patientId={patientId} onGranted={(text) => { setMessage(text); refresh(); }} />
    </section>
  );
}

function GrantConsentForm({ patientId, onGranted }: { patientId: string; onGranted: (message: string) => void }) {
  const [organizations] = useQuery({ query: OrganizationsQuery });
  const [, grant] = useMutation(GrantConsentMutation);
  const [decision, setDecision] = useState<ConsentDecision>('PERMIT');
  const [actorType, setActorType] = useState<ConsentActorType>('ORGANIZATION');
  const [actorId, setActorId] = useState('');
  const [categories, setCategories] = useState<DataCategory[]>([]);
  const [error, setError] = useState<string | null>(null);
  const orgs = organizations.data?.organizations ?? [];
  useEffect(() => {
    if (actorType === 'ORGANIZATION' && !actorId && orgs[0]) setActorId(orgs[0].id);
  }, [actorType, actorId, orgs]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    const response = await grant({
      input: { patientId, decision, actorType, actorId: actorType === 'ALLIANCE' ? null : actorId, categories, purposes: [] },
    });
    if (response.error) setError(response.error.graphQLErrors[0]?.message ?? response.error.message);
    else onGranted('Consent recorded.');
  };
  const toggle = (category: DataCategory) => setCategories((c) => (c.includes(category) ? c.filter((x) => x !== category) : [...c, category]));

  return (
    <form onSubmit={submit} className="stack grant" aria-labelledby="grant-title">
      <h3 id="grant-title">Give or refuse access</h3>
      <div className="row">
        <label>Decision
          <select name="decision" value={decision} onChange={(e) => setDecision(e.target.value as ConsentDecision)}>
            <option value="PERMIT">Allow</option>
            <option value="DENY">Refuse</option>
          </select>
        </label>
        <label>Who
          <select name="actorType" value={actorType} onChange={(e) => { setActorType(e.target.value as ConsentActorType); setActorId(''); }}>
            {ACTOR_TYPES.map((a) => <option key={a.type} value={a.type}>{a.label}</option>)}
          </select>
        </label>
        {actorType === 'ORGANIZATION' ? (
          <label>Organisation
            <select name="actorId" value={actorId} onChange={(e) => setActorId(e.target.value)}>
              {orgs.map((o) => <option key={o.id} value={o.id}>{o.name}</option>)}
            </select>
          </label>
        ) : actorType !== 'ALLIANCE' ? (
          <label>{actorType === 'APP' ? 'App (client id)' : 'Practitioner id'}
            <input name="actorId" required value={actorId} onChange={(e) => setActorId(e.target.value)} />
          </label>
        ) : null}
      </div>
      <fieldset>
        <legend>What (none ticked: everything)</legend>
        {CATEGORIES.map(({ category, label }) => (
          <label key={category} className="chip"><input type="checkbox" name="category" value={category} checked={categories.includes(category)} onChange={() => toggle(category)} />{label}</label>
        ))}
      </fieldset>
      {error ? <p role="alert" className="error">{error}</p> : null}
      <button type="submit">Record consent</button>
    </form>
  );
}
