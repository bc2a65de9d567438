/**
 * `npm run -s bootstrap -- bundle.json [--gateway http://127.0.0.1:4000] [--token <admin token>]`
 *
 * Loads the alliance's organisations, practitioners and programmes from a
 * FHIR R4 Bundle file (Organization, Practitioner with PractitionerRole,
 * PlanDefinition) into a running gateway, through its administrators' API
 * (`POST /admin/bootstrap`, gateway/src/admin/bootstrap.ts): every change is
 * validated and recorded (registryChanges, programChanges) as the
 * administrator's. Loading the same file again changes nothing.
 *
 * The token is an administrator's (`role: admin`), from --token or
 * ADMIN_TOKEN; the gateway from --gateway or GATEWAY_ORIGIN (default
 * http://127.0.0.1:$GATEWAY_PORT). Prints one line per entry that was not
 * loaded and a summary; exits 0 when every entry was loaded, 1 when some
 * were not (fix them and load the file again), 2 on a usage error.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const USAGE = `usage: npm run -s bootstrap -- <bundle.json> [--gateway <origin>] [--token <admin token>]

  <bundle.json>          a FHIR R4 Bundle of Organization, Practitioner (+ PractitionerRole) and PlanDefinition
  --gateway <origin>     the gateway (default GATEWAY_ORIGIN, else http://127.0.0.1:$GATEWAY_PORT, port 4000)
  --token <jwt>          an administrator's token (default ADMIN_TOKEN)
  --help                 this text

docs/production.md, "Loading the registries", describes the Bundle.`;

function fail(message: string, code = 2): never {
  console.error(message);
  process.exit(code);
}

let parsed;
try {
  parsed = parseArgs({ allowPositionals: true, options: { gateway: { type: 'string' }, token: { type: 'string' }, help: { type: 'boolean' } } });
} catch (error) {
  fail(`bootstrap: ${(error as Error).message.split('\n')[0]} (--help for usage)`);
}
if (parsed.values.help) {
  console.log(USAGE);
  process.exit(0);
}
const file = parsed.positionals[0];
if (!file || parsed.positionals.length > 1) fail(`bootstrap: name one Bundle file (--help for usage)`);
const token = parsed.values.token ?? process.env.ADMIN_TOKEN;
if (!token) fail('bootstrap: an administrator\'s token is required: --token <jwt> or ADMIN_TOKEN');
const origin = (parsed.values.gateway ?? process.env.GATEWAY_ORIGIN ?? `http://127.0.0.1:${process.env.GATEWAY_PORT ?? 4000}`).replace(/\/+(graphql)?$/, '');

let body: string;
try {
  body = readFileSync(file, 'utf8');
  JSON.parse(body);
} catch (error) {
  fail(`bootstrap: cannot read ${file} as JSON: ${(error as Error).message.split('\n')[0]}`);
}

let response: Response;
try {
  response = await fetch(`${origin}/admin/bootstrap`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${token}` }, body });
} catch (error) {
  fail(`bootstrap: cannot reach the gateway at ${origin} (${(error as Error).message})`, 1);
}
const answer = (await response.json().catch(() => null)) as { resourceType?: string; entry?: { response: { status: string; location?: string; outcome?: { issue?: { diagnostics?: string }[] } } }[]; issue?: { diagnostics?: string }[] } | null;
if (!response.ok || answer?.resourceType !== 'Bundle') {
  fail(`bootstrap: the gateway refused the Bundle (HTTP ${response.status}): ${answer?.issue?.[0]?.diagnostics ?? 'no explanation'}`, 1);
}
const entries = answer.entry ?? [];
const count = (prefix: string) => entries.filter((e) => e.response.status.startsWith(prefix)).length;
const failed = entries.map((e, i) => ({ ...e.response, i })).filter((e) => !/^20[01]/.test(e.status));
for (const entry of failed) console.error(`entry ${entry.i}: ${entry.status}: ${entry.outcome?.issue?.[0]?.diagnostics ?? ''}`);
console.log(`${entries.length} entries: ${count('201')} created, ${count('200')} updated or unchanged, ${failed.length} not loaded (request ${response.headers.get('x-request-id') ?? ''})`);
process.exit(failed.length ? 1 : 0);
