/**
 * Who the client acts as. In development the gateway mints demo tokens
 * (`POST /dev/token`, signed with the development key); a production client
 * gets its token from the identity provider instead (OpenID Connect), and
 * nothing here changes but `signIn`. The session lives in sessionStorage:
 * it ends with the tab.
 */
export type Role = 'clinician' | 'nurse' | 'public_health' | 'patient';

export interface SignInRequest {
  role: Role;
  org?: string;
  patient?: string;
  /** Break-glass: `ETREAT` with a reason (clinicians and nurses). */
  purposeOfUse?: 'TREAT' | 'ETREAT';
  breakGlassReason?: string;
}

export interface Session {
  token: string;
  request: SignInRequest;
  sub: string;
}

const KEY = 'fpr.session';

export class SignInError extends Error {}

/** Mints a demo token from the development gateway. */
export async function signIn(request: SignInRequest): Promise<Session> {
  const response = await fetch('/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(request),
  });
  const body = (await response.json().catch(() => null)) as { token?: string; claims?: { sub: string }; errors?: { message: string }[] } | null;
  if (response.status === 404) throw new SignInError('Demo sign-in is available only from a development gateway (npm start).');
  if (!response.ok || !body?.token) throw new SignInError(body?.errors?.[0]?.message ?? `Sign-in failed (${response.status})`);
  const session: Session = { token: body.token, request, sub: body.claims?.sub ?? request.role };
  sessionStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

export function storedSession(): Session | null {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Session | null;
  } catch {
    return null;
  }
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
}

export const isEmergency = (session: Session) => session.request.purposeOfUse === 'ETREAT';

export const ROLE_LABELS: Record<Role, string> = {
  clinician: 'Clinician',
  nurse: 'Nurse',
  public_health: 'Public-health officer',
  patient: 'Patient',
};
