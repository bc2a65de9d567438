/**
 * `npm run token -- --role clinician --org org-county-north [--scope ...]
 *  [--patient <id>] [--client-id <app>] [--purpose ETREAT --reason "..."]
 *  [--sub <id>] [--expires 1h]`
 *
 * Prints a development token signed with the key `npm start` created under
 * .data/keys. The gateway trusts it only outside production.
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
import { defaultScope, mintDevToken, recordAppApproval } from '../lib/trust/dev-token.js';
import { ROLES } from '../lib/trust/actor.js';

const { values } = parseArgs({
  options: {
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
  },
});
if (process.env.NODE_ENV === 'production') {
  console.error('npm run token mints development tokens; production uses your identity provider.');
  process.exit(1);
}
if (!values.role || !(ROLES as readonly string[]).includes(values.role)) {
  console.error(`usage: npm run token -- --role <${ROLES.join('|')}> [--org <org-id>] [--patient <patient-id>] [--scope "<scopes>"] [--client-id <app>] [--purpose ETREAT --reason "<why>"] [--gateway <graphql url>] [--no-approval]`);
  process.exit(2);
}
const keys = await ensureDevKeys();
if (values.role === 'app' && values.patient && values['client-id'] && !values['no-approval']) {
  const graphqlUrl = values.gateway ?? `http://127.0.0.1:${process.env.GATEWAY_PORT ?? 4000}/graphql`;
  try {
    const id = await recordAppApproval({ graphqlUrl, issuerPrivateKey: keys.issuerPrivate, patientId: values.patient, clientId: values['client-id'], scope: values.scope ?? defaultScope('app') });
    if (id) console.error(`Recorded the patient's approval of ${values['client-id']} (consent directive ${id}); the patient revokes it under "My consents".`);
  } catch (error) {
    console.error(`${(error as Error).message}\nIs the gateway running (npm start) at ${graphqlUrl}? Without the patient's approval an app token reads nothing; --no-approval mints it anyway.`);
    process.exit(1);
  }
}
const token = await mintDevToken(
  keys.issuerPrivate,
  {
    sub: values.sub ?? `${values.role}-${values.org ?? values.patient ?? 'dev'}`,
    role: values.role,
    org: values.org,
    scope: values.scope,
    patient: values.patient,
    client_id: values['client-id'],
    purpose_of_use: values.purpose,
    break_glass_reason: values.reason,
  },
  { expiresIn: values.expires },
);
console.log(token);
