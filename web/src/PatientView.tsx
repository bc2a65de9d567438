/**
 * One patient, as staff see them: demographics (withheld fields with their
 * reason), the timeline, and the break-glass flow when the patient's consent
 * withholds entries.
 */
import { useState, type FormEvent } from 'react';
import { useQuery } from 'urql';
import { errorAt, fieldErrors, topLevelErrors } from './errors';
import { formatDate } from './labels';
import { PatientHeaderQuery } from './operations';
import { isEmergency, type Session } from './session';
import { Timeline, type TimelineStatus } from './Timeline';
import { Field, WithheldReason } from './Withheld';

export function PatientHeader({ patientId }: { patientId: string }) {
  const [result] = useQuery({ query: PatientHeaderQuery, variables: { id: patientId } });
  const errors = fieldErrors(result.error);
  const patient = result.data?.patient;
  if (result.fetching && !result.data) return <p className="muted">Loading…</p>;
  if (!patient) {
    return (
      <div role="alert" className="error">
        {topLevelErrors(errors, 2).map((e, i) => <WithheldReason key={i} error={e} />)}
        {errors.length === 0 ? <p>No patient with this id among those you may see.</p> : null}
      </div>
    );
  }
  const at = (field: string) => errorAt(errors, ['patient', field]);
  return (
    <section aria-labelledby="patient-name" className="patient-header">
      <h1 id="patient-name">{patient.name?.[0]?.text ?? (at('name') ? 'Name withheld' : 'Unnamed patient')}</h1>
      <dl className="details">
        <Field label="Name" error={at('name')}>{patient.name?.[0]?.text}</Field>
        <Field label="Born" error={at('birthDate')}>{formatDate(patient.birthDate)}</Field>
        <Field label="Gender" error={at('gender')}>{patient.gender?.toLowerCase()}</Field>
        <Field label="Contact" error={at('telecom')}>{patient.telecom?.map((t) => t.value).join(' · ')}</Field>
        <Field label="Identifiers" error={at('identifiers')}>{patient.identifiers?.map((i) => `${i.type} ${i.value}${i.assigner ? ` (${i.assigner.name})` : ''}`).join(' · ')}</Field>
        <Field label="Patient id"><code>{patient.id}</code></Field>
      </dl>
    </section>
  );
}

export function PatientView({ session, patientId, onBreakGlass, onEndEmergency }: {
  session: Session;
  patientId: string;
  onBreakGlass: (reason: string) => Promise<void>;
  onEndEmergency: () => Promise<void>;
}) {
  const [status, setStatus] = useState<TimelineStatus>({ withheldCount: null, emergencyAccess: null });
  const emergency = isEmergency(session);
  return (
    <main className="card">
      {emergency ? (
        <div className="banner emergency" role="alert" data-testid="emergency-banner">
          <strong>Emergency access (break-glass).</strong>{' '}
          {status.emergencyAccess?.notice ?? 'Every access is recorded and flagged for review.'}{' '}
          Reason: <q>{status.emergencyAccess?.reason ?? session.request.breakGlassReason}</q>
          <button type="button" className="secondary" onClick={() => void onEndEmergency()}>End emergency access</button>
        </div>
      ) : status.withheldCount ? (
        <BreakGlassBanner withheld={status.withheldCount} onConfirm={onBreakGlass} />
      ) : null}
      <PatientHeader patientId={patientId} />
      <Timeline patientId={patientId} showWithheldCount onStatus={setStatus} />
    </main>
  );
}

function BreakGlassBanner({ withheld, onConfirm }: { withheld: number; onConfirm: (reason: string) => Promise<void> }) {
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (reason.trim().length < 5) {
      setError('Give the clinical reason (at least 5 characters).');
      return;
    }
    try {
      await onConfirm(reason.trim());
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <div className="banner warning" role="region" aria-label="Emergency access" data-testid="break-glass-banner">
      <p>
        The patient's consent withholds <strong>{withheld}</strong> {withheld === 1 ? 'entry' : 'entries'} from you. In an emergency you may break the
        glass: the access is recorded with your reason and reviewed.
      </p>
      {open ? (
        <form onSubmit={submit} className="stack">
          <label>
            Reason for emergency access
            <textarea name="reason" required minLength={5} rows={2} value={reason} onChange={(e) => setReason(e.target.value)} />
          </label>
          {error ? <p role="alert" className="error">{error}</p> : null}
          <div className="row">
            <button type="submit" className="danger">Break the glass</button>
            <button type="button" className="secondary" onClick={() => setOpen(false)}>Cancel</button>
          </div>
        </form>
      ) : (
        <button type="button" className="danger" onClick={() => setOpen(true)}>Emergency access…</button>
      )}
    </div>
  );
}
