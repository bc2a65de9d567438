/**
 * `npm run app -- <command>`: administrators register apps with the SMART
 * authorization server from the command line. Every command is a GraphQL
 * call to the gateway (upsertApp, deactivateApp, rotateAppSecret, apps), so
 * it is checked and recorded in the registry change log exactly as in the
 * API. The administrator's token comes from --token or FPR_ADMIN_TOKEN; in
 * development, without one, a development administrator token is minted.
 *
 *   npm run app -- register --client-id bp-diary --name "BP Diary" --org org-county-north \
 *     --kind patient --type public --redirect-uri https://diary.example.org/callback \
 *     --scope "launch/patient openid fhirUser offline_access patient/Observation.rs"
 *   npm run app -- register --client-id county-north-his --name "County North HIS" --org org-county-north \
 *     --kind backend --type asymmetric --jwks-file his.jwks.json --scope "system/*.cru"
 *   npm run app -- list
 *   npm run app -- deactivate bp-diary
 *   npm run app -- rotate-secret clinic-portal
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { mintDevToken } from '../lib/trust/dev-token.js';
import { ensureDevKeys } from '../lib/trust/keys.js';

const KINDS: Record<string, string> = { patient: 'PATIENT_APP', staff: 'STAFF_APP', backend: 'BACKEND_SERVICE' };
const TYPES: Record<string, string> = { public: 'PUBLIC', symmetric: 'CONFIDENTIAL_SYMMETRIC', asymmetric: 'CONFIDENTIAL_ASYMMETRIC' };
const APP_FIELDS = 'clientId name kind clientType redirectUris scope jwksUri active organization { id name }';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'client-id': { type: 'string' },
    name: { type: 'string' },
    org: { type: 'string' },
    kind: { type: 'string' },
    type: { type: 'string', default: 'public' },
    'redirect-uri': { type: 'string', multiple: true },
    scope: { type: 'string' },
    'jwks-uri': { type: 'string' },
    'jwks-file': { type: 'string' },
    inactive: { type: 'boolean', default: false },
    gateway: { type: 'string' },
    token: { type: 'string' },
  },
});

const usage = `usage: npm run app -- register --client-id <id> --name <name> --org <org-id> --kind <patient|staff|backend>
         [--type <public|symmetric|asymmetric>] [--redirect-uri <uri>]... --scope "<scopes>" [--jwks-uri <url> | --jwks-file <file>]
       npm run app -- list [--inactive]
       npm run app -- deactivate <client-id>
       npm run app -- rotate-secret <client-id>
  options: --gateway <graphql url> (default http://127.0.0.1:$GATEWAY_PORT/graphql), --token <admin token> (or FPR_ADMIN_TOKEN)`;

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

async function adminToken(): Promise<string> {
  const given = values.token ?? process.env.FPR_ADMIN_TOKEN;
  if (given) return given;
  if (process.env.NODE_ENV === 'production') fail('Give an administrator token: --token or FPR_ADMIN_TOKEN');
  return mintDevToken((await ensureDevKeys()).issuerPrivate, { sub: 'admin-cli', role: 'admin' }, { expiresIn: '5m' });
}

async function graphql(query: string, variables: Record<string, unknown>): Promise<Record<string, any>> {
  const url = values.gateway ?? `http://127.0.0.1:${process.env.GATEWAY_PORT ?? 4000}/graphql`;
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${await adminToken()}` }, body: JSON.stringify({ query, variables }) });
  } catch {
    return fail(`The gateway did not answer at ${url} (is it running?)`);
  }
  const answer = (await response.json()) as { data?: Record<string, any>; errors?: { message: string; extensions?: { code?: string; field?: string } }[] };
  if (answer.errors?.length) {
    const [error] = answer.errors;
    return fail(`${error!.extensions?.code ?? 'ERROR'}: ${error!.message}`);
  }
  return answer.data!;
}

const [command, argument] = positionals;
switch (command) {
  case 'register': {
    const kind = KINDS[values.kind ?? ''] ?? fail(`--kind must be patient, staff or backend\n${usage}`);
    const clientType = TYPES[values.type ?? ''] ?? fail(`--type must be public, symmetric or asymmetric\n${usage}`);
    if (!values['client-id'] || !values.name || !values.org || !values.scope) fail(usage);
    const jwks = values['jwks-file'] ? await readFile(values['jwks-file'], 'utf8') : undefined;
    const data = await graphql(`mutation Register($input: AppInput!) { upsertApp(input: $input) { clientSecret app { ${APP_FIELDS} } } }`, {
      input: {
        clientId: values['client-id'], name: values.name, organizationId: values.org, kind, clientType, redirectUris: values['redirect-uri'] ?? [],
        scope: values.scope, jwksUri: values['jwks-uri'], jwks, active: true,
      },
    });
    console.log(JSON.stringify(data.upsertApp.app, null, 2));
    if (data.upsertApp.clientSecret) console.log(`\nClient secret (shown once, keep it safe): ${data.upsertApp.clientSecret}`);
    break;
  }
  case 'list': {
    const data = await graphql(`query Apps($all: Boolean) { apps(includeInactive: $all) { ${APP_FIELDS} } }`, { all: values.inactive });
    for (const app of data.apps) console.log(`${app.active ? ' ' : '-'} ${app.clientId.padEnd(28)} ${app.kind.padEnd(16)} ${app.clientType.padEnd(24)} ${app.organization.id.padEnd(20)} ${app.scope}`);
    break;
  }
  case 'deactivate': {
    if (!argument) fail(usage);
    const data = await graphql(`mutation Deactivate($id: ID!) { deactivateApp(clientId: $id) { ${APP_FIELDS} } }`, { id: argument });
    console.log(`${data.deactivateApp.clientId} deactivated: it gets no more tokens, and its grants ended.`);
    break;
  }
  case 'rotate-secret': {
    if (!argument) fail(usage);
    const data = await graphql(`mutation Rotate($id: ID!) { rotateAppSecret(clientId: $id) { clientSecret app { clientId } } }`, { id: argument });
    console.log(`New client secret of ${data.rotateAppSecret.app.clientId} (shown once; the old one no longer works): ${data.rotateAppSecret.clientSecret}`);
    break;
  }
  default:
    fail(usage);
}
