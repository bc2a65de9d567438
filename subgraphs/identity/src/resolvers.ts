/**
 * Identity resolvers: patients, identifiers, organisations, practitioners.
 * Every lookup goes through a per-request DataLoader (one statement per type).
 */
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { isUuid, loadById } from '../../../lib/connection.js';
import { badInput } from '../../../lib/errors.js';
import type { SubgraphContext } from '../../../lib/subgraph.js';

type Row = Record<string, any>;

const MAX_IDS = 100;

function identifiersOf(context: SubgraphContext, patientId: string): Promise<Row[]> {
  return context
    .loader<string, Row[]>('identifiers', async (ids) => {
      const rows = await context.db.query<Row>('SELECT * FROM patient_identifier WHERE patient_id = ANY($1::uuid[]) ORDER BY type DESC, system', [[...ids]]);
      return ids.map((id) => rows.filter((row) => row.patient_id === id));
    })
    .load(patientId);
}

const textKeyLoader = (context: SubgraphContext, table: string, id: string) =>
  context
    .loader<string, Row | null>(`byId:${table}`, async (ids) => {
      const rows = await context.db.query<Row>(`SELECT * FROM ${table} WHERE id = ANY($1::text[])`, [[...ids]]);
      return ids.map((key) => rows.find((row) => row.id === key) ?? null);
    })
    .load(id);

const humanName = (family: string, given: string[]) => ({ family, given, text: `${family} ${given.join(' ')}`, use: 'official' });

export const resolvers: GraphQLResolverMap<SubgraphContext> = {
  Query: {
    patient: (_: unknown, { id }: { id: string }, context: SubgraphContext) => loadById(context, 'patient', id),
    patientByIdentifier: async (_: unknown, { system, value }: { system: string; value: string }, context: SubgraphContext) => {
      const rows = await context.db.query<Row>(
        'SELECT p.* FROM patient_identifier i JOIN patient p ON p.id = i.patient_id WHERE i.system = $1 AND i.value = $2',
        [system, value],
      );
      return rows[0] ?? null;
    },
    patients: (_: unknown, { ids }: { ids: string[] }, context: SubgraphContext) => {
      if (ids.length > MAX_IDS) throw badInput(`At most ${MAX_IDS} ids per call`);
      return Promise.all(ids.map((id) => loadById(context, 'patient', id)));
    },
    organizations: (_: unknown, __: unknown, context: SubgraphContext) => context.db.query('SELECT * FROM organization ORDER BY id'),
    organization: (_: unknown, { id }: { id: string }, context: SubgraphContext) => textKeyLoader(context, 'organization', id),
    practitioner: (_: unknown, { id }: { id: string }, context: SubgraphContext) => textKeyLoader(context, 'practitioner', id),
  },
  Patient: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => (isUuid(reference.id) ? loadById(context, 'patient', reference.id) : null),
    name: (row: Row) => [humanName(row.family, row.given)],
    birthDate: (row: Row) => row.birth_date,
    gender: (row: Row) => String(row.gender).toUpperCase(),
    telecom: (row: Row) => [
      ...(row.phone ? [{ system: 'phone', value: row.phone, use: 'mobile' }] : []),
      ...(row.email ? [{ system: 'email', value: row.email, use: 'home' }] : []),
    ],
    address: (row: Row) => (row.address_line ? [{ line: [row.address_line], city: row.address_city, postalCode: row.address_postal_code, country: 'CN' }] : []),
    identifiers: (row: Row, _: unknown, context: SubgraphContext) => identifiersOf(context, row.id),
  },
  Identifier: {
    type: (row: Row) => row.type,
    assigner: (row: Row, _: unknown, context: SubgraphContext) => (row.assigner_organization_id ? textKeyLoader(context, 'organization', row.assigner_organization_id) : null),
  },
  Organization: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => textKeyLoader(context, 'organization', reference.id),
    type: (row: Row) => String(row.type).toUpperCase().replace(/-/g, '_'),
    partOf: (row: Row, _: unknown, context: SubgraphContext) => (row.part_of ? textKeyLoader(context, 'organization', row.part_of) : null),
    practitioners: (row: Row, _: unknown, context: SubgraphContext) =>
      context
        .loader<string, Row[]>('practitionersByOrg', async (ids) => {
          const rows = await context.db.query<Row>('SELECT * FROM practitioner WHERE organization_id = ANY($1::text[]) ORDER BY id', [[...ids]]);
          return ids.map((id) => rows.filter((r) => r.organization_id === id));
        })
        .load(row.id),
  },
  Practitioner: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => textKeyLoader(context, 'practitioner', reference.id),
    name: (row: Row) => humanName(row.family, [row.given]),
    role: (row: Row) => String(row.role).toUpperCase(),
    organization: (row: Row, _: unknown, context: SubgraphContext) => textKeyLoader(context, 'organization', row.organization_id),
  },
};
