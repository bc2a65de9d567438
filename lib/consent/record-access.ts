/**
 * How the consent policy sees the rows of one record type: its category, and
 * where a row keeps the facts the policy decides on (the producing
 * organisation, the organisations it is addressed to, the patient). One
 * description serves every way a record is read: lists filtered in SQL
 * (lib/records/connection.ts, lib/records/timeline.ts), lookups and references, and the
 * field rules (shield.ts). The facts come from the catalogue of record types
 * (lib/records/record-types.ts).
 */
import type { Category } from './categories.js';
import { ALL_RECORD_TYPES, recordTypeOf, type RecordTypeFacts } from '../records/record-types.js';
import type { ConsentAccess } from './access.js';
import type { Decision, RecordFacts } from './policy.js';

type Row = Record<string, any>;

export interface RecordAccess {
  category: Category;
  /** Column of the producing organisation (default organization_id); null for the Patient record (registrations count). */
  organizationColumn?: string | null;
  /** Column of the patient id (default patient_id). */
  patientColumn?: string;
  /**
   * Column (text[]) of organisations the record is addressed to besides its
   * producer (a referral's receiving organisation, the organisations taking
   * part in a remote consultation): their staff see it as the producer's do.
   */
  addresseesColumn?: string;
  /** FHIR resource type, where the category spans several (see RecordFacts.resourceType); applies to the record's own category. */
  resourceType?: string;
  /**
   * The producing organisation when it is no plain column (a Patient row is the patient's record, null, or
   * an organisation's registration of them; a directive is its recorder's): overrides organizationColumn.
   */
  organization?: (row: Row) => string | null;
}

/** The access of a catalogue row: its category spans several FHIR resource types only where another row shares it. */
export function accessOfRow(row: RecordTypeFacts): RecordAccess {
  const spansTypes = ALL_RECORD_TYPES.some((other) => other.category === row.category && other.fhir.resourceType !== row.fhir.resourceType);
  return {
    category: row.category,
    ...(row.organizationColumn !== undefined ? { organizationColumn: row.organizationColumn } : {}),
    ...(row.patientColumn ? { patientColumn: row.patientColumn } : {}),
    ...(row.addresseesColumn ? { addresseesColumn: row.addresseesColumn } : {}),
    ...(spansTypes ? { resourceType: row.fhir.resourceType } : {}),
  };
}

/** The access of a record type, by its GraphQL type (a catalogue row or a view of one). */
export function recordAccess(graphqlType: string): RecordAccess {
  const row = recordTypeOf(graphqlType);
  if (!row) throw new Error(`${graphqlType} is not in the catalogue of record types (lib/records/record-types.ts)`);
  return accessOfRow(row);
}

/**
 * The Patient record (demographics) as the policy sees it on another
 * owner's rows (their patient_id): no producing organisation, the
 * organisations that registered the patient count instead.
 */
export const PATIENT_RECORD: RecordAccess = { category: 'demographics', organizationColumn: null };

/** The policy's facts of one row, for `category` (the record's own, or that of one of its fields). */
export function recordFacts(access: RecordAccess, row: Row, category: Category): RecordFacts {
  const organizationColumn = access.organizationColumn === undefined ? 'organization_id' : access.organizationColumn;
  return {
    patientId: row[access.patientColumn ?? 'patient_id'],
    category,
    organizationId: access.organization ? access.organization(row) : organizationColumn === null ? null : row[organizationColumn] ?? '',
    sensitivityLabels: row.sensitivity_labels ?? [],
    // A field of another category (an imaging study's report) is another resource.
    ...(access.resourceType && category === access.category ? { resourceType: access.resourceType } : {}),
  };
}

/**
 * The policy's decision for one row: as its producer's record, or, when that
 * is denied, as the record of any organisation it is addressed to.
 */
export async function decideRow(consent: ConsentAccess, access: RecordAccess, row: Row, category: Category): Promise<{ facts: RecordFacts; decision: Decision }> {
  const facts = recordFacts(access, row, category);
  const decision = await consent.decide(facts);
  if (decision.allow || !access.addresseesColumn) return { facts, decision };
  for (const organizationId of (row[access.addresseesColumn] as string[] | null) ?? []) {
    const asAddressee = await consent.decide({ ...facts, organizationId });
    if (asAddressee.allow) return { facts, decision: asAddressee };
  }
  return { facts, decision };
}
