/**
 * `npm run token -- --role clinician --org org-county-north [--scope ...]
 *  [--patient <id>] [--client-id <app>] [--purpose ETREAT --reason "..."]
 *  [--sub <id>] [--expires 1h]`
 *
 * Prints a development token signed with the key `npm start` created under
 * .data/keys. The gateway trusts it only outside production.
 *
 * The claims are checked the way the gateway checks a token's (a nurse needs
 * an organisation, break-glass a reason, a patient token its patient): a
 * token the gateway would refuse is refused here, in one line. A misspelt
 * flag is one line too, and `--help` prints the usage. When its output is
 * not a terminal (`T=$(npm run token -- ...)`), the command prints only the
 * token: everything else goes to standard error.
 *
 * An app token (`--role app`) is only useful under the patient's approval of
 * the app (consent rule 3): the command records one first, as the patient,
 * through the running gateway's `grantConsent` (a permit for the client id
 * covering the categories of the scopes), as the approval screen of the
 * authorization server would. `--gateway <graphql url>` names the gateway
 * (default http://127.0.0.1:$GATEWAY_PORT/graphql); `--no-approval` skips it.
 */
import { parseArgs } from 'node:util';
import { ensureDevKeys } from '../lib/trust/keys.js';
import { defaultScope, mintDevToken } from '../lib/trust/dev-token.js';
import { recordAppApproval } from '../lib/trust/dev-token.js';
import { ActorError, ROLES } from '../lib/trust/actor.js';
import { demoClaims } from '../gateway/src/dev-routes.js';

export const TOKEN_USAGE = `usage: npm run token -- --role <${ROLES.join('|')}> [options]

  --role <role>          who the token is for (required)
  --org <org-id>         the organisation of staff (clinician, nurse, public_health, system), e.g. org-county-north
  --patient <id>         the patient of a patient or app token
  --scope "<scopes>"     SMART scopes (default by role: user/*.cruds, patient/*.cruds, patient/*.rs, schema:read...)
  --client-id <app>      the app or system client id (app and system tokens)
  --purpose ETREAT       break the glass (clinicians and nurses) ...
  --reason "<why>"       ... with a reason (at least 5 characters)
  --sub <id>             the subject (default derived from role and org)
  --expires <duration>   lifetime, e.g. 1h, 30m (default 8h)
  --gateway <url>        the GraphQL endpoint an app token's approval is recorded at (default http://127.0.0.1:$GATEWAY_PORT/graphql)
  --no-approval          an app token without recording the patient's approval
  -h, --help             this text

Capture it:  T=$(npm run -s token -- --role admin)   (or without -s: only the token goes to a pipe)`;

const OPTIONS = {
  role: { type: 'string' },
  org: { type: 'string' },
  scope: { type: 'string' },
  patient: { type: 'string' },
  'client-id': { type: 'string' },
  purpose: { type: 'string' },
  reason: { type: 'string' },
  sub: { type: 'string' },
  expires: { type: 'string', default: '8h' },
  gateway: { type: 'string' },
  'no-approval': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

const fail = (message: string, code = 2): never => {
  console.error(`npm run token: ${message}`);
  process.exit(code);
};

let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>;
try {
  parsed = parseArgs({ options: OPTIONS, allowPositionals: false });
} catch (error) {
  // ERR_PARSE_ARGS_UNKNOWN_OPTION and friends: their message is already one sentence.
  fail(`${(error as Error).message.split('\n')[0]} (npm run token -- --help lists the options)`);
}
const values = parsed!.values;
if (values.help) {
  console.log(TOKEN_USAGE);
  process.exit(0);
}
if (process.env.NODE_ENV === 'production') fail('it mints development tokens; production uses your identity provider.', 1);
if (!values.role) fail(`--role is required, one of ${ROLES.join(', ')} (npm run token -- --help)`);
if (!/^-?\d+$|^\d+\s*(s|sec|secs|second|seconds|m|min|mins|minute|minutes|h|hr|hrs|hour|hours|d|day|days|w|week|weeks|y|yr|yrs|year|years)$/i.test(values.expires)) {
  fail(`--expires must be a duration such as 30m, 8h or 1d (got ${JSON.stringify(values.expires)})`);
}

// The claims the gateway would accept, or one line saying why not (the same check as POST /dev/token's).
let claims;
try {
  claims = demoClaims({
    role: values.role!, org: values.org, patient: values.patient, scope: values.scope, purposeOfUse: values.purpose,
    breakGlassReason: values.reason, clientId: values['client-id'], sub: values.sub ?? `${values.role}-${values.org ?? values.patient ?? 'dev'}`,
  });
} catch (error) {
  if (error instanceof ActorError) fail(`${error.message} (the gateway would refuse this token; npm run token -- --help)`);
  throw error;
}

const keys = await ensureDevKeys();
if (claims!.role === 'app' && claims!.patient && claims!.client_id && !values['no-approval']) {
  const graphqlUrl = values.gateway ?? `http://127.0.0.1:${process.env.GATEWAY_PORT ?? 4000}/graphql`;
  try {
    const id = await recordAppApproval({ graphqlUrl, issuerPrivateKey: keys.issuerPrivate, patientId: claims!.patient, clientId: claims!.client_id, scope: claims!.scope ?? defaultScope('app') });
    if (id) console.error(`Recorded the patient's approval of ${claims!.client_id} (consent directive ${id}); the patient revokes it under "My consents".`);
  } catch (error) {
    fail(`${(error as Error).message}. Is the gateway running (npm start) at ${graphqlUrl}? Without the patient's approval an app token reads nothing; --no-approval mints it anyway.`, 1);
  }
}
const expiresIn = /^-?\d+$/.test(values.expires) ? Number(values.expires) : values.expires;
const token = await mintDevToken(keys.issuerPrivate, claims!, { expiresIn });
// On a terminal, say whose token it is (on standard error: standard output carries the token alone).
if (process.stdout.isTTY) {
  const who = [claims!.role, claims!.org && `at ${claims!.org}`, claims!.patient && `for patient ${claims!.patient}`, claims!.purpose_of_use && `(${claims!.purpose_of_use})`].filter(Boolean).join(' ');
  console.error(`A development token: ${who}, scope "${claims!.scope ?? defaultScope(claims!.role)}", valid ${values.expires}. Use it as: authorization: Bearer <token>`);
}
console.log(token);
