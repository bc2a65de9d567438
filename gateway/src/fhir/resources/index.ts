/**
 * The FHIR resource modules, one per resource type the product exchanges
 * (module.ts says what a module holds). Adding a record type adds its module
 * here (docs/adding-a-record-type.md).
 *
 * The order is the export's: a bundle is assembled module by module, so a
 * module whose resources link to others' comes after them (a Condition
 * after the Encounters it names, a DiagnosticReport after the Observations
 * it lists, a Task after the EpisodeOfCare it serves). Records held inside
 * another (a study's radiology report) follow each parent.
 */
import { RECORD_TYPES, type ConnectionName } from '../../../../lib/records/record-types.js';
import type { ExportPlan } from '../plan.js';
import { allergyIntolerance } from './allergy-intolerance.js';
import { carePlan } from './care-plan.js';
import { careTeam } from './care-team.js';
import { condition } from './condition.js';
import { diagnosticReport } from './diagnostic-report.js';
import { documentReference } from './document-reference.js';
import { encounter } from './encounter.js';
import { episodeOfCare } from './episode-of-care.js';
import { imagingStudy } from './imaging-study.js';
import { medication } from './medication.js';
import { medicationAdministration } from './medication-administration.js';
import { medicationRequest } from './medication-request.js';
import { medicationStatement } from './medication-statement.js';
import { immunization } from './immunization.js';
import type { FhirResourceModule, FromFhir, RecordExport } from './module.js';
import { observation } from './observation.js';
import { patient } from './patient.js';
import { procedure } from './procedure.js';
import { serviceRequest } from './service-request.js';
import { task } from './task.js';

export const RESOURCE_MODULES: readonly FhirResourceModule[] = [
  patient, encounter, condition, serviceRequest, observation, diagnosticReport, imagingStudy, immunization, episodeOfCare, task, allergyIntolerance,
  // After the Encounters and Conditions a procedure names.
  procedure,
  // A care plan links to its care team and the Conditions it addresses: after them.
  careTeam, carePlan,
  // After the encounters and diagnoses they name; an administration after the prescription it carries out.
  medicationRequest, medicationAdministration, medicationStatement, medication,
  documentReference,
];

const ALL_EXPORTS = RESOURCE_MODULES.flatMap((module) => module.exports ?? []);

/** The module that reads a published resource type (undefined: not accepted). */
export const fromFhirOf = (resourceType: string): FromFhir | undefined => RESOURCE_MODULES.find((m) => m.resourceType === resourceType)?.fromFhir;
/** The module of a resource type (what it keeps, for publishing's check that nothing is lost). */
export const moduleOf = (resourceType: string): FhirResourceModule | undefined => RESOURCE_MODULES.find((m) => m.resourceType === resourceType);

/** The resource types institutions may publish. */
export const PUBLISHED_TYPES = RESOURCE_MODULES.filter((m) => m.fromFhir).map((m) => m.resourceType);

/** The record type an export is of: its own, or the one its connection lists. */
export const recordTypeOfExport = (e: RecordExport) => e.recordType ?? RECORD_TYPES.find((row) => row.connection === e.from)!.graphqlType;

/** Every record type some module exports. */
export const EXPORTED_RECORD_TYPES = ALL_EXPORTS.map(recordTypeOfExport);

/**
 * The exports that run for a plan, grouped by the connection they read, in
 * assembly order: connections as the modules first name them, and on each
 * connection its own record type before the records held inside it.
 */
export function exportGroups(plan: ExportPlan): { connection: ConnectionName; exports: RecordExport[] }[] {
  const running = ALL_EXPORTS.filter((e) => plan.connections.includes(e.from) && (e.runs?.(plan) ?? true));
  const connections = [...new Set(running.map((e) => e.from))];
  return connections.map((connection) => ({
    connection,
    exports: running.filter((e) => e.from === connection).sort((a, b) => Number(!listsItself(a)) - Number(!listsItself(b))),
  }));
}

/** The GraphQL fields each exported connection is read with: what its exports map, nothing more. */
export function exportSelections(plan: ExportPlan): Partial<Record<ConnectionName, string>> {
  const fields: Partial<Record<ConnectionName, string[]>> = {};
  for (const { exports } of exportGroups(plan)) {
    for (const e of exports) {
      for (const [connection, selection] of Object.entries(e.select(plan)) as [ConnectionName, string][]) (fields[connection] ??= []).push(selection);
    }
  }
  // Every record's last-updated time (meta.lastUpdated, mapping.ts): asked once per connection, whatever its modules map.
  return Object.fromEntries(Object.entries(fields).map(([connection, list]) => [connection, ['lastUpdated', ...list!].join(' ')]));
}

/** Whether an export is of the record type its connection lists (not of a record held inside it). */
const listsItself = (e: RecordExport) => e.recordType === undefined;
