/**
 * `npm run token -- --role clinician --org org-county-north [--scope ...]
 *  [--patient <id>] [--client-id <app>] [--purpose ETREAT --reason "..."]
 *  [--sub <id>] [--expires 1h]`
 *
 * Prints a development token signed with the key `npm start` created under
 * .data/keys. The gateway trusts it only outside production.
 */
import { parseArgs } from 'node:util';
import { ensureDevKeys } from '../lib/keys.js';
import { mintDevToken } from '../lib/dev-token.js';
import { ROLES } from '../lib/actor.js';

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
  },
});
if (process.env.NODE_ENV === 'production') {
  console.error('npm run token mints development tokens; production uses your identity provider.');
  process.exit(1);
}
if (!values.role || !(ROLES as readonly string[]).includes(values.role)) {
  console.error(`usage: npm run token -- --role <${ROLES.join('|')}> [--org <org-id>] [--patient <patient-id>] [--scope "<scopes>"] [--client-id <app>] [--purpose ETREAT --reason "<why>"]`);
  process.exit(2);
}
const keys = await ensureDevKeys();
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
