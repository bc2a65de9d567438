/**
 * The reference client: sign in as a demo role, find a patient, read their
 * timeline under the consent model (withheld fields with reasons, the count
 * of withheld entries, break-glass), and — signed in as the patient — see who
 * accessed the record and manage consents. Routes live in the URL hash
 * (#/patient/<id>), so the gateway serves one page for every path.
 */
import { useCallback, useEffect, useMemo, useState } from 'react';
import { Provider } from 'urql';
import { createClient } from './client';
import { MyRecord } from './MyRecord';
import { PatientSearch } from './PatientSearch';
import { PatientView } from './PatientView';
import { isEmergency, ROLE_LABELS, signIn, signOut, storedSession, type Session } from './session';
import { SignIn } from './SignIn';

type Route = { page: 'home' } | { page: 'patient'; id: string };

function parseRoute(hash: string): Route {
  const match = /^#\/patient\/([0-9a-fA-F-]{36})$/.exec(hash);
  return match ? { page: 'patient', id: match[1]! } : { page: 'home' };
}

export function App() {
  const [session, setSession] = useState<Session | null>(storedSession);
  const [route, setRoute] = useState<Route>(() => parseRoute(window.location.hash));
  const [expired, setExpired] = useState(false);

  useEffect(() => {
    const onHash = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  const end = useCallback(() => {
    signOut();
    setSession(null);
  }, []);
  const client = useMemo(() => createClient(session?.token ?? null, () => { setExpired(true); end(); }), [session?.token, end]);

  const reauthenticate = async (change: Partial<Session['request']>) => {
    if (!session) return;
    const { purposeOfUse: _p, breakGlassReason: _r, ...base } = session.request;
    setSession(await signIn({ ...base, ...change }));
  };

  return (
    <Provider value={client}>
      <header className="topbar">
        <a href="#/" className="brand">Patient record</a>
        {session ? (
          <div className="who">
            <span data-testid="signed-in-as">
              {ROLE_LABELS[session.request.role]} · {session.request.org ?? 'own record'}
              {isEmergency(session) ? <strong className="badge danger"> emergency access</strong> : null}
            </span>
            <button type="button" className="secondary" onClick={end}>Sign out</button>
          </div>
        ) : null}
      </header>
      {expired && !session ? <p role="alert" className="error card narrow">Your session ended: sign in again.</p> : null}
      {!session ? (
        <SignIn onSignedIn={(s) => { setExpired(false); setSession(s); }} />
      ) : session.request.role === 'patient' ? (
        <MyRecord patientId={session.request.patient!} />
      ) : route.page === 'patient' ? (
        <>
          <nav className="crumbs" aria-label="Breadcrumb"><a href="#/">← Find a patient</a></nav>
          <PatientView
            key={route.id}
            session={session}
            patientId={route.id}
            onBreakGlass={(reason) => reauthenticate({ purposeOfUse: 'ETREAT', breakGlassReason: reason })}
            onEndEmergency={() => reauthenticate({})}
          />
        </>
      ) : (
        <PatientSearch onOpen={(id) => { window.location.hash = `#/patient/${id}`; }} />
      )}
    </Provider>
  );
}
