/**
 * Production bootstrap (docs/production.md, "Loading the registries"): an
 * administrator loads the alliance's organisations, practitioners and
 * programmes from a FHIR Bundle, through the gateway over HTTP
 * (`POST /admin/bootstrap`) and with `npm run bootstrap` (scripts/bootstrap.ts),
 * on every backend, production settings:
 *
 * - every entry is loaded (a member organisation listed before the one it is
 *   part of included), readable through GraphQL, and recorded in the change
 *   logs as the administrator's, all under the bootstrap's request id;
 * - loading the same Bundle again changes and records nothing;
 * - a bad entry is refused on its own, with an OperationOutcome naming it;
 *   non-administrators are refused as a whole; nothing is a 500;
 * - programmes have administrators' mutations (upsertProgram,
 *   deactivateProgram) like the other registries, refused to anyone else.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORGANIZATION_TYPE_SYSTEM, PRACTITIONER_ROLE_SYSTEM, RESPONSIBLE_ORGANIZATION_EXTENSION } from '../gateway/src/admin/bootstrap.js';
import { ROOT } from '../lib/runtime/subgraph.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';

type Json = Record<string, any>;
const run = promisify(execFile);

/** A registry Bundle with its own ids (suffix), the member organisation first. */
function registryBundle(suffix: string): Json {
  const org = (id: string, name: string, type: string, partOf?: string): Json => ({
    resource: {
      resourceType: 'Organization', id, name, active: true, address: [{ city: 'Yongtai' }],
      type: [{ coding: [{ system: ORGANIZATION_TYPE_SYSTEM, code: type }] }], ...(partOf ? { partOf: { reference: `Organization/${partOf}` } } : {}),
    },
  });
  const practitioner = (id: string, family: string, given: string, organization: string, role: string): Json[] => [
    { resource: { resourceType: 'Practitioner', id, active: true, name: [{ family, given: [given] }] } },
    { resource: { resourceType: 'PractitionerRole', practitioner: { reference: `Practitioner/${id}` }, organization: { reference: `Organization/${organization}` },
      code: [{ coding: [{ system: PRACTITIONER_ROLE_SYSTEM, code: role }] }] } },
  ];
  return {
    resourceType: 'Bundle', type: 'collection',
    entry: [
      org(`org-thc-east-${suffix}`, 'East Township Health Centre', 'township-health-centre', `org-county-east-${suffix}`),
      org(`org-county-east-${suffix}`, 'East County Hospital', 'COUNTY_HOSPITAL'),
      ...practitioner(`dr-east-${suffix}`, 'Liu', 'Mei', `org-county-east-${suffix}`, 'CLINICIAN'),
      ...practitioner(`nurse-east-${suffix}`, 'Chen', 'Hua', `org-thc-east-${suffix}`, 'nurse'),
      { resource: {
        resourceType: 'PlanDefinition', id: `prog-copd-${suffix}`, status: 'active', name: 'COPD', title: 'Chronic obstructive pulmonary disease management',
        identifier: [{ value: `COPD-${suffix.toUpperCase()}` }],
        extension: [{ url: RESPONSIBLE_ORGANIZATION_EXTENSION, valueReference: { reference: `Organization/org-thc-east-${suffix}` } }],
      } },
    ],
  };
}

describe.each(BACKENDS)('production bootstrap on %s', (backend) => {
  let stack: TestStack;
  let origin: string;
  let admin: string;
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'bootstrap-'));

  const post = async (body: unknown, token: string | null = admin) => {
    const response = await fetch(`${origin}/admin/bootstrap`, {
      method: 'POST', headers: { 'content-type': 'application/fhir+json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, requestId: response.headers.get('x-request-id'), body: (await response.json()) as Json };
  };
  const statuses = (answer: Json) => answer.entry.map((e: Json) => e.response.status);

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: 0 });
    origin = stack.url.replace(/\/graphql$/, '');
    admin = await stack.token({ sub: 'registry-admin', role: 'admin' });
  });
  afterAll(async () => {
    await stack?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('loads organisations, practitioners and programmes from a FHIR Bundle, audited; again, it changes nothing', async () => {
    const suffix = Date.now().toString(36);
    const bundle = registryBundle(suffix);
    const first = await post(bundle);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({ resourceType: 'Bundle', type: 'batch-response' });
    expect(statuses(first.body)).toEqual(['201 Created', '201 Created', '201 Created', '201 Created', '201 Created', '201 Created', '201 Created']);

    const read = await stack.graphql(admin, `query($thc: ID!, $county: ID!, $dr: ID!, $nurse: ID!, $prog: ID!) {
      thc: organization(id: $thc) { id name type city active partOf { id } }
      county: organization(id: $county) { id type partOf { id } }
      dr: practitioner(id: $dr) { id name { family given } role organization { id } active }
      nurse: practitioner(id: $nurse) { role organization { id } }
      program(id: $prog) { id code name active organization { id } } }`,
    { thc: `org-thc-east-${suffix}`, county: `org-county-east-${suffix}`, dr: `dr-east-${suffix}`, nurse: `nurse-east-${suffix}`, prog: `prog-copd-${suffix}` });
    expect(read.errors, JSON.stringify(read.errors)).toBeUndefined();
    expect(read.data).toEqual({
      thc: { id: `org-thc-east-${suffix}`, name: 'East Township Health Centre', type: 'TOWNSHIP_HEALTH_CENTRE', city: 'Yongtai', active: true, partOf: { id: `org-county-east-${suffix}` } },
      county: { id: `org-county-east-${suffix}`, type: 'COUNTY_HOSPITAL', partOf: null },
      dr: { id: `dr-east-${suffix}`, name: expect.objectContaining({ family: 'Liu', given: ['Mei'] }), role: 'CLINICIAN', organization: { id: `org-county-east-${suffix}` }, active: true },
      nurse: { role: 'NURSE', organization: { id: `org-thc-east-${suffix}` } },
      program: { id: `prog-copd-${suffix}`, code: `COPD-${suffix.toUpperCase()}`, name: 'Chronic obstructive pulmonary disease management', active: true, organization: { id: `org-thc-east-${suffix}` } },
    });

    // Audited: each change in its registry's log, as the administrator's, under the bootstrap's request id.
    const changes = await stack.graphql(admin, `query($prog: ID!) { registryChanges(first: 100) { edges { node { requestId actorSub entityId action } } }
      programChanges(programId: $prog) { requestId actorSub actorRole programId action after } }`, { prog: `prog-copd-${suffix}` });
    expect(changes.errors, JSON.stringify(changes.errors)).toBeUndefined();
    const mine = changes.data.registryChanges.edges.map((e: Json) => e.node).filter((n: Json) => n.entityId.endsWith(suffix));
    expect(mine.map((n: Json) => n.entityId).sort()).toEqual([`dr-east-${suffix}`, `nurse-east-${suffix}`, `org-county-east-${suffix}`, `org-thc-east-${suffix}`]);
    expect(mine.every((n: Json) => n.requestId === first.requestId && n.actorSub === 'registry-admin' && n.action === 'CREATED')).toBe(true);
    expect(changes.data.programChanges).toEqual([{ requestId: first.requestId, actorSub: 'registry-admin', actorRole: 'admin', programId: `prog-copd-${suffix}`, action: 'CREATED',
      after: expect.stringContaining(`"organizationId":"org-thc-east-${suffix}"`) }]);

    // The same Bundle again: every entry there, nothing changed, nothing recorded.
    const again = await post(bundle);
    expect(statuses(again.body)).toEqual(Array(7).fill('200 OK'));
    const after = await stack.graphql(admin, `query($prog: ID!) { registryChanges(first: 100) { edges { node { entityId } } } programChanges(programId: $prog) { action } }`, { prog: `prog-copd-${suffix}` });
    expect(after.data.registryChanges.edges.filter((e: Json) => e.node.entityId.endsWith(suffix))).toHaveLength(4);
    expect(after.data.programChanges).toHaveLength(1);
  });

  it('refuses a bad entry on its own, naming it, and loads the rest; refuses non-administrators and non-Bundles as a whole', async () => {
    const suffix = `b${Date.now().toString(36)}`;
    const bundle = registryBundle(suffix);
    bundle.entry[1].resource.type = [{ coding: [{ code: 'castle' }] }]; // the parent: its member cannot be loaded either
    bundle.entry.push({ resource: { resourceType: 'Patient', id: 'someone' } });
    bundle.entry.push({ resource: { resourceType: 'PlanDefinition', id: `prog-x-${suffix}`, name: 'X', title: 'No organisation' } });
    const answer = await post(bundle);
    expect(answer.status).toBe(200);
    const [member, parent, dr, drRole, nurse, nurseRole, program, patient, orphan] = answer.body.entry.map((e: Json) => e.response);
    expect(parent.status).toBe('400 Bad Request');
    expect(parent.outcome.issue[0].diagnostics).toMatch(new RegExp(`Organization/org-county-east-${suffix}: .*CASTLE.*OrganizationType`));
    expect(member.status).toBe('400 Bad Request');
    expect(member.outcome.issue[0].diagnostics).toMatch(/partOf/);
    expect(dr.status).toBe('400 Bad Request'); // its organisation was not loaded
    expect(drRole.status).toBe(dr.status);
    expect([nurse.status, nurseRole.status]).toEqual(['400 Bad Request', '400 Bad Request']);
    expect(program.status).toBe('400 Bad Request');
    expect(patient.status).toBe('400 Bad Request');
    expect(patient.outcome.issue[0].diagnostics).toMatch(/Patient is not loaded by the bootstrap/);
    expect(orphan.outcome.issue[0].diagnostics).toMatch(/responsible-organization/);

    const clinician = await stack.token({ sub: 'dr-north', role: 'clinician', org: 'org-county-north' });
    expect((await post(registryBundle(`c${suffix}`), clinician)).status).toBe(403);
    expect((await post(registryBundle(`d${suffix}`), null)).status).toBe(401);
    expect((await post('{"resourceType":"Patient"}')).status).toBe(400);
    expect((await post('not json')).status).toBe(400);
    const nothing = await stack.graphql(admin, 'query($id: ID!) { organization(id: $id) { id } }', { id: `org-county-east-c${suffix}` });
    expect(nothing.data.organization).toBeNull();
  });

  it('gives programmes administrators\' mutations like the other registries', async () => {
    const id = `prog-rehab-${Date.now().toString(36)}`;
    const UPSERT = 'mutation($input: ProgramInput!) { upsertProgram(input: $input) { id code name active organization { id } } }';
    const input = { id, code: `RH${Date.now().toString(36).toUpperCase()}`.slice(0, 20), name: 'Stroke rehabilitation', organizationId: 'org-county-south' };
    const nurse = await stack.token({ sub: 'nurse-south', role: 'nurse', org: 'org-county-south' });
    expect((await stack.graphql(nurse, UPSERT, { input })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const created = await stack.graphql(admin, UPSERT, { input });
    expect(created.errors, JSON.stringify(created.errors)).toBeUndefined();
    expect(created.data.upsertProgram).toEqual({ id, code: input.code, name: 'Stroke rehabilitation', active: true, organization: { id: 'org-county-south' } });
    // Refused: an organisation not in the registry, a code another programme has, a malformed code.
    expect((await stack.graphql(admin, UPSERT, { input: { ...input, organizationId: 'org-nowhere' } })).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await stack.graphql(admin, UPSERT, { input: { ...input, id: `${id}-2` } })).errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect((await stack.graphql(admin, UPSERT, { input: { ...input, code: 'no spaces' } })).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');

    const deactivated = await stack.graphql(admin, 'mutation($id: ID!) { deactivateProgram(id: $id) { id active } }', { id });
    expect(deactivated.data.deactivateProgram).toEqual({ id, active: false });
    const listed = await stack.graphql(admin, '{ active: programs { id } all: programs(includeInactive: true) { id active } }');
    expect(listed.data.active.map((p: Json) => p.id)).not.toContain(id);
    expect(listed.data.all).toContainEqual({ id, active: false });
    expect((await stack.graphql(admin, 'mutation($id: ID!) { deactivateProgram(id: $id) { id } }', { id: 'prog-none' })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const log = await stack.graphql(admin, 'query($id: ID!) { programChanges(programId: $id) { action } }', { id });
    expect(log.data.programChanges.map((c: Json) => c.action)).toEqual(['DEACTIVATED', 'CREATED']);
    expect((await stack.graphql(nurse, '{ programChanges { action } }')).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('npm run bootstrap loads a Bundle file as the README says, and says what it did', { timeout: 120_000 }, async () => {
    const suffix = `cli${Date.now().toString(36)}`;
    const file = path.join(scratch, 'registries.json');
    writeFileSync(file, JSON.stringify(registryBundle(suffix)));
    const cli = (args: string[], env: Record<string, string> = {}) => run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'bootstrap.ts'), ...args], { cwd: ROOT, env: { ...process.env, ...env } })
      .then(({ stdout, stderr }) => ({ code: 0, stdout, stderr }), (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }));
    const loaded = await cli([file, '--gateway', origin], { ADMIN_TOKEN: admin });
    expect(loaded, loaded.stderr).toMatchObject({ code: 0 });
    expect(loaded.stdout).toMatch(/^7 entries: 7 created, 0 updated or unchanged, 0 not loaded/);
    const again = await cli([file, '--gateway', origin, '--token', admin]);
    expect(again.stdout).toMatch(/^7 entries: 0 created, 7 updated or unchanged, 0 not loaded/);
    // Usage errors are one line and exit 2; a refused token exits 1.
    const missing = await cli([]);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect((await cli([file, '--gatway', origin])).code).toBe(2);
    const refused = await cli([file, '--gateway', origin, '--token', 'not-a-token']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/HTTP 401/);
  });
});
