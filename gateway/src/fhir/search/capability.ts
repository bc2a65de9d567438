/**
 * GET /fhir/metadata: the CapabilityStatement, generated from what the
 * server really does — the searchable types and their parameters
 * (parameters.ts), the types institutions may publish (resources/index.ts),
 * the export operation, and, when the SMART authorization server runs, the
 * SMART security extension with its `oauth-uris`. Nothing here is listed by
 * hand, so it cannot drift from the routes.
 */
import { PUBLISHED_TYPES } from '../resources/index.js';
import { SEARCH_PARAMETERS, SEARCHABLE_TYPES } from './parameters.js';
import { HELD_TYPES } from './engine.js';

export interface OAuthUris { authorize: string; token: string; revoke: string; introspect: string }

const SMART = 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris';

const BULK_DATA = 'http://hl7.org/fhir/uv/bulkdata';

/** `bulkExport`: the Bulk Data export runs (docs/bulk-export.md): its operations and the Group resource are listed. */
export function capabilityStatement(options: { base: string; oauth?: OAuthUris; software: { name: string; version: string }; bulkExport?: boolean }) {
  const now = new Date().toISOString();
  const resource = SEARCHABLE_TYPES.map((type) => ({
    type,
    interaction: [
      { code: 'read' }, { code: 'search-type' },
      ...(PUBLISHED_TYPES.includes(type) ? [{ code: 'create' }, { code: 'update' }] : []),
    ],
    // Searches of a patient's records run per patient: `patient` (or the token's patient) is required for all but Patient.
    searchInclude: type === 'Patient' ? undefined
      : [`${type}:patient`, ...(SEARCH_PARAMETERS[type]!.find((p) => p.name === 'patient')!.paths[0] === 'subject' ? [`${type}:subject`] : []), ...(type === 'DiagnosticReport' ? ['DiagnosticReport:result'] : [])],
    searchParam: SEARCH_PARAMETERS[type]!.map((p) => ({ name: p.name, definition: p.definition, type: p.type, documentation: p.expression })),
    ...(type === 'Patient' ? { operation: [{ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' },
      ...(options.bulkExport ? [{ name: 'export', definition: `${BULK_DATA}/OperationDefinition/patient-export` }] : [])] } : {}),
  }));
  // Held with the records naming them (a Medication entry): read by id, searched by _id only (engine.ts HELD_TYPES).
  for (const type of HELD_TYPES) {
    (resource as Record<string, unknown>[]).push({
      type, interaction: [{ code: 'read' }, { code: 'search-type' }],
      searchParam: [{ name: '_id', definition: 'http://hl7.org/fhir/SearchParameter/Resource-id', type: 'token', documentation: `${type}.id` }],
    });
  }
  if (options.bulkExport) {
    (resource as Record<string, unknown>[]).push({
      type: 'Group', interaction: [{ code: 'read' }, { code: 'search-type' }],
      operation: [{ name: 'export', definition: `${BULK_DATA}/OperationDefinition/group-export` }],
    });
  }
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: now,
    kind: 'instance',
    software: options.software,
    implementation: { description: 'Federated patient record: FHIR R4 over the alliance supergraph', url: options.base },
    ...(options.bulkExport ? { instantiates: [`${BULK_DATA}/CapabilityStatement/bulk-data`] } : {}),
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [{
      mode: 'server',
      documentation: 'Every read and search runs through the consent rules, the SMART scopes and the audit trail of the GraphQL API. Paging by opaque next links.',
      security: {
        cors: true,
        service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
        description: 'SMART App Launch v2: bearer tokens with SMART scopes; discovery at .well-known/smart-configuration.',
        ...(options.oauth ? {
          extension: [{
            url: SMART,
            extension: [
              { url: 'authorize', valueUri: options.oauth.authorize },
              { url: 'token', valueUri: options.oauth.token },
              { url: 'revoke', valueUri: options.oauth.revoke },
              { url: 'introspect', valueUri: options.oauth.introspect },
            ],
          }],
        } : {}),
      },
      resource,
      interaction: PUBLISHED_TYPES.length ? [{ code: 'transaction' }, { code: 'batch' }] : [],
      ...(options.bulkExport ? { operation: [{ name: 'export', definition: `${BULK_DATA}/OperationDefinition/export` }] } : {}),
    }],
  };
}
