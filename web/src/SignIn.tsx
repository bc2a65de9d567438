/** Sign in as a demo role (development gateway only). */
import { useEffect, useState, type FormEvent } from 'react';
import { createClient } from './client';
import { OrganizationsQuery } from './operations';
import { ROLE_LABELS, signIn, SignInError, type Role, type Session } from './session';

interface Organization { id: string; name: string; type: string }

/** The alliance's organisations, read through the API with a short-lived administrator token (registries are open to them). */
async function loadOrganizations(): Promise<Organization[]> {
  const response = await fetch('/dev/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ role: 'admin' }) });
  if (!response.ok) throw new SignInError(response.status === 404 ? 'Demo sign-in is available only from a development gateway (npm start).' : 'Could not reach the gateway');
  const { token } = (await response.json()) as { token: string };
  const result = await createClient(token, () => undefined).query(OrganizationsQuery, {}).toPromise();
  if (result.error) throw new SignInError(result.error.message);
  return result.data?.organizations ?? [];
}

/** The demo patient npm start prints and the organisation that registered them (GET /dev/demo), so the defaults see that patient. */
async function loadDemo(): Promise<{ organizationId: string; patientId: string | null } | null> {
  const response = await fetch('/dev/demo').catch(() => null);
  return response?.ok ? ((await response.json()) as { organizationId: string; patientId: string | null }) : null;
}

export function SignIn({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [role, setRole] = useState<Role>('clinician');
  const [org, setOrg] = useState('org-county-north');
  const [patient, setPatient] = useState('');
  const [organizations, setOrganizations] = useState<Organization[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    loadOrganizations().then(setOrganizations, (e: Error) => setError(e.message));
    loadDemo().then((demo) => {
      if (!demo) return;
      setOrg(demo.organizationId);
      if (demo.patientId) setPatient((current) => current || demo.patientId!);
    }, () => undefined);
  }, []);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await signIn(role === 'patient' ? { role, patient: patient.trim() } : { role, org }));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="card narrow" aria-labelledby="sign-in-title">
      <h1 id="sign-in-title">Sign in</h1>
      <p className="muted">Development demo: the gateway issues a token for the role you pick. In production, sign-in goes through your identity provider.</p>
      <form onSubmit={submit} className="stack">
        <label>
          Role
          <select name="role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {(Object.keys(ROLE_LABELS) as Role[]).map((r) => <option key={r} value={r}>{ROLE_LABELS[r]}</option>)}
          </select>
        </label>
        {role === 'patient' ? (
          <label>
            Patient id
            <input name="patient" required pattern="[0-9a-fA-F-]{36}" placeholder="e.g. 0b7c…-…" value={patient} onChange={(e) => setPatient(e.target.value)} />
          </label>
        ) : (
          <label>
            Organisation
            <select name="org" value={org} onChange={(e) => setOrg(e.target.value)}>
              {(organizations.length ? organizations : [{ id: org, name: org, type: '' }]).map((o) => <option key={o.id} value={o.id}>{o.name} ({o.id})</option>)}
            </select>
          </label>
        )}
        {error ? <p role="alert" className="error">{error}</p> : null}
        <button type="submit" disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
    </main>
  );
}
