/**
 * The immunisation due list of the childhood immunisation programme end to
 * end, through the gateway over real HTTP, on embedded PGlite and (with
 * TEST_DATABASE_URL) on the PostgreSQL server. The expected list is computed
 * here from the generator's output and the schedule written out below, not
 * from the service: which children are due or overdue for which dose, for
 * the programme's public-health staff and for a township's nurses; a dose
 * given removes the entry; consent, roles and other organisations; paging
 * without duplicates or gaps at a bounded cost; bad input.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHILDHOOD_SCHEDULE, VACCINES } from '../lib/synthetic/codes.js';
import { DEFAULT_SEED, generatePatient, type ImmunizationRecord } from '../lib/synthetic/generator.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';

const PATIENTS = 100;
const PROGRAM = 'prog-epi';
const CVX = 'http://hl7.org/fhir/sid/cvx';
const DAY = 86_400_000;
/** After the generator's reference time (2026-06-30): the infants' next doses have come due, none given. */
const AS_OF = '2027-03-01T00:00:00.000Z';

/** The childhood schedule as the programme publishes it: recommended age and grace period in days. */
const SCHEDULE = [
  { cvx: '08', dose: 1, ageDays: 0, overdueAfterDays: 1 },
  { cvx: '19', dose: 1, ageDays: 0, overdueAfterDays: 90 },
  { cvx: '08', dose: 2, ageDays: 30, overdueAfterDays: 30 },
  { cvx: '10', dose: 1, ageDays: 61, overdueAfterDays: 30 },
  { cvx: '10', dose: 2, ageDays: 91, overdueAfterDays: 30 },
  { cvx: '20', dose: 1, ageDays: 91, overdueAfterDays: 30 },
  { cvx: '20', dose: 2, ageDays: 122, overdueAfterDays: 30 },
  { cvx: '20', dose: 3, ageDays: 152, overdueAfterDays: 30 },
  { cvx: '08', dose: 3, ageDays: 183, overdueAfterDays: 30 },
  { cvx: '03', dose: 1, ageDays: 244, overdueAfterDays: 30 },
  { cvx: '20', dose: 4, ageDays: 548, overdueAfterDays: 183 },
  { cvx: '03', dose: 2, ageDays: 548, overdueAfterDays: 183 },
];

const bundles = Array.from({ length: PATIENTS }, (_, i) => generatePatient(DEFAULT_SEED, i));
const children = bundles.filter((b) => b.enrollments.some((e) => e.programId === PROGRAM));

const addDays = (date: string, days: number) => new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY).toISOString().slice(0, 10);

interface Entry {
  patient: { id: string };
  enrollment: { id: string };
  organization: { id: string };
  vaccineCode: { system: string; code: string };
  doseNumber: number;
  dueDate: string;
  overdueDate: string;
  status: 'DUE' | 'OVERDUE';
  lastDose: { id: string } | null;
}

/**
 * The due list as of `asOf`: for every child enrolled in the programme (only
 * those `organizationId` is responsible for, when given), each scheduled dose
 * not given by then whose due date has come. `lastDoseVisible` says whether
 * the caller may see a supporting dose.
 */
function expectedDueList(asOf: string, options: { extra?: ImmunizationRecord[]; organizationId?: string; lastDoseVisible?: (dose: ImmunizationRecord) => boolean } = {}): Entry[] {
  const asOfDate = asOf.slice(0, 10);
  const asOfTime = Date.parse(asOf);
  const entries: (Entry & { seq: number })[] = [];
  for (const child of children) {
    const enrollment = child.enrollments.find((e) => e.programId === PROGRAM && e.status === 'active')!;
    if (options.organizationId && enrollment.organizationId !== options.organizationId) continue;
    const given = [...child.immunizations, ...(options.extra ?? []).filter((i) => i.patientId === child.patient.id)].filter((i) => i.occurrence.getTime() <= asOfTime);
    SCHEDULE.forEach((dose, seq) => {
      if (given.some((i) => i.vaccineCode === dose.cvx && i.doseNumber === dose.dose)) return;
      const dueDate = addDays(child.patient.birthDate, dose.ageDays);
      if (dueDate > asOfDate) return;
      const overdueDate = addDays(dueDate, dose.overdueAfterDays);
      const last = given
        .filter((i) => i.vaccineCode === dose.cvx)
        .sort((a, b) => b.occurrence.getTime() - a.occurrence.getTime() || (b.id < a.id ? -1 : 1))[0];
      entries.push({
        seq,
        patient: { id: child.patient.id },
        enrollment: { id: enrollment.id },
        organization: { id: enrollment.organizationId },
        vaccineCode: { system: CVX, code: dose.cvx },
        doseNumber: dose.dose,
        dueDate,
        overdueDate,
        status: asOfDate >= overdueDate ? 'OVERDUE' : 'DUE',
        lastDose: last && (options.lastDoseVisible ?? (() => true))(last) ? { id: last.id } : null,
      });
    });
  }
  entries.sort((a, b) => (a.dueDate < b.dueDate ? -1 : a.dueDate > b.dueDate ? 1 : a.patient.id < b.patient.id ? -1 : a.patient.id > b.patient.id ? 1 : a.seq - b.seq));
  return entries.map(({ seq: _seq, ...entry }) => entry);
}

const DUE_LIST = /* GraphQL */ `
  query Due($programId: ID!, $asOf: DateTime, $status: ImmunizationDueStatus, $first: Int, $after: String) {
    immunizationsDue(programId: $programId, asOf: $asOf, status: $status, first: $first, after: $after) {
      edges {
        cursor
        node {
          patient { id }
          enrollment { id }
          organization { id }
          vaccineCode { system code }
          doseNumber
          dueDate
          overdueDate
          status
          lastDose { id }
        }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
`;

describe.each(BACKENDS)('immunisation due list (%s)', (backend) => {
  let stack: TestStack;
  let cdc: string;
  const extra: ImmunizationRecord[] = [];

  /** Every page of the list, following endCursor; fails on any error. */
  async function walk(token: string, variables: Record<string, unknown>, pageSize: number): Promise<{ entries: Entry[]; pages: number }> {
    const entries: Entry[] = [];
    let after: string | null = null;
    for (let pages = 1; pages < 100; pages++) {
      const response: { data?: any; errors?: unknown[] } = await stack.graphql(token, DUE_LIST, { programId: PROGRAM, ...variables, first: pageSize, after });
      expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
      const connection: { edges: { cursor: string; node: Entry }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } = response.data.immunizationsDue;
      expect(connection.edges.length).toBeLessThanOrEqual(pageSize);
      entries.push(...connection.edges.map((edge: { node: Entry }) => edge.node));
      if (!connection.pageInfo.hasNextPage) return { entries, pages };
      expect(connection.edges).toHaveLength(pageSize);
      expect(connection.pageInfo.endCursor).toBe(connection.edges.at(-1)!.cursor);
      after = connection.pageInfo.endCursor;
    }
    throw new Error('the list never ends');
  }

  const codeOf = async (token: string, variables: Record<string, unknown>) => {
    const response = await stack.graphql(token, DUE_LIST, { programId: PROGRAM, asOf: AS_OF, ...variables });
    return response.errors?.[0]?.extensions?.code;
  };

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: PATIENTS });
    cdc = await stack.token({ sub: 'ph-cdc', role: 'public_health', org: 'org-cdc' });
  });
  afterAll(async () => stack?.close());

  it('publishes the childhood schedule with the vaccines and doses the children are given', async () => {
    const response = await stack.graphql(cdc, `{ program(id: "${PROGRAM}") { immunizationSchedule { vaccineCode { system code display } doseNumber recommendedAgeDays overdueAfterDays } } }`);
    expect(response.errors).toBeUndefined();
    expect(response.data.program.immunizationSchedule.map((d: any) => ({ cvx: d.vaccineCode.code, dose: d.doseNumber, ageDays: d.recommendedAgeDays, overdueAfterDays: d.overdueAfterDays }))).toEqual(SCHEDULE);
    expect(response.data.program.immunizationSchedule.every((d: any) => d.vaccineCode.system === CVX && d.vaccineCode.display)).toBe(true);
    const generated = CHILDHOOD_SCHEDULE.map((d) => `${VACCINES[d.vaccine]!.cvx}/${d.dose}`).sort();
    expect(SCHEDULE.map((d) => `${d.cvx}/${d.dose}`).sort()).toEqual(generated);
  });

  it('lists, for the programme\'s public-health staff, every enrolled child due or overdue for a dose, earliest due first', async () => {
    const expected = expectedDueList(AS_OF);
    // The generated data makes the case interesting: doses missed years ago
    // (a birth dose among them), the infants' doses come due since mid-2026,
    // several children at several township health centres.
    expect(new Set(expected.map((e) => e.status))).toEqual(new Set(['DUE', 'OVERDUE']));
    expect(new Set(expected.map((e) => e.patient.id)).size).toBeGreaterThanOrEqual(4);
    expect(new Set(expected.map((e) => e.organization.id)).size).toBeGreaterThanOrEqual(2);
    expect(expected.some((e) => e.lastDose === null)).toBe(true);
    const { entries } = await walk(cdc, { asOf: AS_OF }, 100);
    expect(entries).toEqual(expected);

    // At the generator's reference time the infants' later doses are not due yet.
    const earlier = await walk(cdc, { asOf: '2026-06-30T00:00:00Z' }, 100);
    expect(earlier.entries).toEqual(expectedDueList('2026-06-30T00:00:00.000Z'));
    expect(earlier.entries.length).toBeLessThan(expected.length);

    // Without asOf: now.
    const before = new Date().toISOString();
    const now = await walk(cdc, {}, 100);
    const after = new Date().toISOString();
    if (after.slice(0, 10) === before.slice(0, 10)) expect(now.entries).toEqual(expectedDueList(after));
  });

  it('filters by status', async () => {
    for (const status of ['DUE', 'OVERDUE'] as const) {
      const { entries } = await walk(cdc, { asOf: AS_OF, status }, 100);
      expect(entries).toEqual(expectedDueList(AS_OF).filter((e) => e.status === status));
      expect(entries.length).toBeGreaterThan(0);
    }
  });

  it('pages without duplicates or gaps, at a cost that does not grow with the page', async () => {
    const expected = expectedDueList(AS_OF);
    for (const size of [1, 2, 3]) {
      const { entries, pages } = await walk(cdc, { asOf: AS_OF }, size);
      expect(entries).toEqual(expected);
      expect(pages).toBe(Math.max(1, Math.ceil(expected.length / size)));
    }
    const count = async (first: number) => {
      const before = { ph: stack.databases['public-health'].statementCount, identity: stack.databases.identity.statementCount };
      const response = await stack.graphql(cdc, DUE_LIST, { programId: PROGRAM, asOf: AS_OF, first });
      expect(response.errors).toBeUndefined();
      expect(response.data.immunizationsDue.edges).toHaveLength(Math.min(first, expected.length));
      return { ph: stack.databases['public-health'].statementCount - before.ph, identity: stack.databases.identity.statementCount - before.identity };
    };
    const small = await count(2);
    const large = await count(expected.length);
    expect(large).toEqual(small);
    // public-health: programme, candidates, enrolments of the actor's
    // programmes (consent rule 6), the page, the supporting doses.
    expect(small.ph).toBeLessThanOrEqual(5);
  });

  /** The township health centre with the most children on the list. */
  const busiestTownship = () => {
    const childrenOf = new Map<string, Set<string>>();
    for (const e of expectedDueList(AS_OF)) childrenOf.set(e.organization.id, (childrenOf.get(e.organization.id) ?? new Set()).add(e.patient.id));
    return [...childrenOf.entries()].sort((a, b) => b[1].size - a[1].size)[0]!;
  };

  it('shows a township\'s nurses only the children their organisation is responsible for, with the doses they may see', async () => {
    const [township] = busiestTownship();
    const nurse = await stack.token({ sub: 'nurse-epi', role: 'nurse', org: township });
    const { entries } = await walk(nurse, { asOf: AS_OF }, 3);
    // Doses given elsewhere (the birth doses at the maternity hospital) are not theirs to see.
    const expected = expectedDueList(AS_OF, { organizationId: township, lastDoseVisible: (dose) => dose.organizationId === township });
    expect(entries).toEqual(expected);
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.length).toBeLessThan(expectedDueList(AS_OF).length);
  });

  it('refuses everyone else', async () => {
    const token = (claims: Record<string, unknown>) => stack.token(claims as any);
    // Public-health staff of an organisation that does not run the programme.
    expect(await codeOf(await token({ sub: 'ph-mch', role: 'public_health', org: 'org-maternal-child' }), {})).toBe('FORBIDDEN');
    // Clinicians of organisations responsible for no enrolment in it (the maternity hospital gave birth doses, but is not responsible).
    expect(await codeOf(await token({ sub: 'dr-prov', role: 'clinician', org: 'org-provincial' }), {})).toBe('FORBIDDEN');
    expect(await codeOf(await token({ sub: 'dr-mch', role: 'clinician', org: 'org-maternal-child' }), {})).toBe('FORBIDDEN');
    expect(await codeOf(await token({ sub: 'admin', role: 'admin' }), {})).toBe('FORBIDDEN');
    expect(await codeOf(await token({ sub: 'parent', role: 'patient', patient: children[0]!.patient.id }), {})).toBe('FORBIDDEN');
    const township = children[0]!.enrollments.find((e) => e.programId === PROGRAM)!.organizationId;
    expect(await codeOf(await token({ sub: 'dr-er', role: 'clinician', org: township, purpose_of_use: 'ETREAT', break_glass_reason: 'emergency, due list test' }), {})).toBe('FORBIDDEN');
    // A token whose scopes do not reach immunisations sees nothing.
    const narrow = await token({ sub: 'ph-narrow', role: 'public_health', org: 'org-cdc', scope: 'user/Task.rs' });
    const response = await stack.graphql(narrow, DUE_LIST, { programId: PROGRAM, asOf: AS_OF });
    expect(response.errors).toBeUndefined();
    expect(response.data.immunizationsDue.edges).toEqual([]);
  });

  it('rejects bad input', async () => {
    expect(await codeOf(cdc, { programId: 'prog-nope' })).toBe('NOT_FOUND');
    expect(await codeOf(cdc, { after: 'not-a-cursor' })).toBe('BAD_USER_INPUT');
    expect(await codeOf(cdc, { after: Buffer.from(JSON.stringify(['2026-13-45', 'x', 1])).toString('base64url') })).toBe('BAD_USER_INPUT');
    expect(await codeOf(cdc, { first: 0 })).toBe('BAD_USER_INPUT');
    expect(await codeOf(cdc, { first: 101 })).toBe('BAD_USER_INPUT');
    expect(await codeOf(cdc, { asOf: 'yesterday' })).toBe('BAD_USER_INPUT');
    // A programme without a schedule has nothing due.
    const htn = await stack.graphql(cdc, DUE_LIST, { programId: 'prog-htn', asOf: AS_OF });
    expect(htn.errors).toBeUndefined();
    expect(htn.data.immunizationsDue.edges).toEqual([]);
  });

  it('audits each listed child for the public-health staff member', async () => {
    const auditor = await stack.token({ sub: 'ph-audited', role: 'public_health', org: 'org-cdc' });
    const response = await stack.graphql(auditor, DUE_LIST, { programId: PROGRAM, asOf: AS_OF, first: 4 });
    expect(response.errors).toBeUndefined();
    const listed = new Set<string>(response.data.immunizationsDue.edges.map((e: { node: Entry }) => e.node.patient.id));
    const events = await stack.databases.identity.query<{ patient_id: string; categories: string[] }>(
      "SELECT patient_id, categories FROM audit_event WHERE actor_sub = 'ph-audited'");
    expect(new Set(events.map((e) => e.patient_id))).toEqual(listed);
    expect(events.every((e) => e.categories.includes('immunizations'))).toBe(true);
  });

  it('follows the patient\'s consent: a deny for the township removes the child from its nurses\' list only', async () => {
    const [township, listed] = busiestTownship();
    expect(listed.size).toBeGreaterThanOrEqual(2);
    const child = children.find((c) => listed.has(c.patient.id))!;
    const nurse = await stack.token({ sub: 'nurse-consent', role: 'nurse', org: township });
    const parent = await stack.token({ sub: 'parent-consent', role: 'patient', patient: child.patient.id });
    const ids = async (token: string) => new Set((await walk(token, { asOf: AS_OF }, 100)).entries.map((e) => e.patient.id));
    expect((await ids(nurse)).has(child.patient.id)).toBe(true);
    const granted = await stack.graphql(parent, 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { id } }', {
      input: { patientId: child.patient.id, decision: 'DENY', actorType: 'ORGANIZATION', actorId: township, categories: ['IMMUNIZATIONS'] },
    });
    expect(granted.errors).toBeUndefined();
    try {
      const after = await ids(nurse);
      expect(after.has(child.patient.id)).toBe(false);
      expect(after.size).toBeGreaterThan(0);
      expect((await ids(cdc)).has(child.patient.id)).toBe(true);
    } finally {
      const revoked = await stack.graphql(parent, 'mutation($id: ID!) { revokeConsent(id: $id) { id } }', { id: granted.data.grantConsent.id });
      expect(revoked.errors).toBeUndefined();
    }
    expect((await ids(nurse)).has(child.patient.id)).toBe(true);
  });

  it('keeps a child another organisation is responsible for off a nurse\'s list, even when the patient shares the record', async () => {
    const [township] = busiestTownship();
    const elsewhere = expectedDueList(AS_OF).find((e) => e.organization.id !== township)!;
    const nurse = await stack.token({ sub: 'nurse-permit', role: 'nurse', org: township });
    const parent = await stack.token({ sub: 'parent-permit', role: 'patient', patient: elsewhere.patient.id });
    const granted = await stack.graphql(parent, 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { id } }', {
      input: { patientId: elsewhere.patient.id, decision: 'PERMIT', actorType: 'ORGANIZATION', actorId: township },
    });
    expect(granted.errors).toBeUndefined();
    try {
      // The permit opens the child's immunisations to the nurse...
      const record = await stack.graphql(nurse, 'query($id: ID!) { patient(id: $id) { immunizations(first: 1) { edges { node { id } } } } }', { id: elsewhere.patient.id });
      expect(record.errors).toBeUndefined();
      expect(record.data.patient.immunizations.edges).toHaveLength(1);
      // ...but the due list is the responsible organisation's worklist.
      const { entries } = await walk(nurse, { asOf: AS_OF }, 100);
      expect(entries.some((e) => e.patient.id === elsewhere.patient.id)).toBe(false);
      expect(entries.every((e) => e.organization.id === township)).toBe(true);
    } finally {
      expect((await stack.graphql(parent, 'mutation($id: ID!) { revokeConsent(id: $id) { id } }', { id: granted.data.grantConsent.id })).errors).toBeUndefined();
    }
  });

  it('drops an entry once the dose is given, and shows it as the last dose of the series', async () => {
    const before = expectedDueList(AS_OF);
    // A due dose followed, in the schedule, by a later dose of the same vaccine that is also due.
    const target = before.find((e) => before.some((o) => o.patient.id === e.patient.id && o.vaccineCode.code === e.vaccineCode.code && o.doseNumber > e.doseNumber))!;
    expect(target).toBeDefined();
    const enrollment = children.find((c) => c.patient.id === target.patient.id)!.enrollments.find((e) => e.programId === PROGRAM)!;
    const dose: ImmunizationRecord = {
      id: randomUUID(), patientId: target.patient.id, organizationId: enrollment.organizationId, programId: PROGRAM,
      vaccineCode: target.vaccineCode.code, vaccineDisplay: 'given in the due list test', doseNumber: target.doseNumber, lotNumber: 'LOTTEST',
      occurrence: new Date(Date.parse(AS_OF) - 3 * DAY), status: 'completed',
    };
    await stack.databases['public-health'].query(
      `INSERT INTO immunization (id, patient_id, organization_id, program_id, vaccine_code, vaccine_display, dose_number, lot_number, occurrence, status)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [dose.id, dose.patientId, dose.organizationId, dose.programId, dose.vaccineCode, dose.vaccineDisplay, dose.doseNumber, dose.lotNumber, dose.occurrence, dose.status]);
    extra.push(dose);
    const { entries } = await walk(cdc, { asOf: AS_OF }, 100);
    const after = expectedDueList(AS_OF, { extra });
    expect(entries).toEqual(after);
    expect(after).toHaveLength(before.length - 1);
    expect(entries.some((e) => e.patient.id === target.patient.id && e.vaccineCode.code === target.vaccineCode.code && e.doseNumber === target.doseNumber)).toBe(false);
    const next = entries.find((e) => e.patient.id === target.patient.id && e.vaccineCode.code === target.vaccineCode.code)!;
    expect(next.lastDose).toEqual({ id: dose.id });
    // Before the dose was given (an earlier asOf), the entry is still there.
    const earlier = new Date(Date.parse(AS_OF) - 5 * DAY).toISOString();
    expect((await walk(cdc, { asOf: earlier }, 100)).entries).toEqual(expectedDueList(earlier, { extra }));
    expect((await walk(cdc, { asOf: earlier }, 100)).entries.some((e) => e.patient.id === target.patient.id && e.vaccineCode.code === target.vaccineCode.code && e.doseNumber === target.doseNumber)).toBe(target.dueDate <= earlier.slice(0, 10));
  });
});
