/**
 * Scalars shared by every subgraph: `DateTime` (ISO 8601 instant) and `Date`
 * (calendar date). Bad values are refused with BAD_USER_INPUT before any
 * resolver runs.
 */
import { GraphQLScalarType, Kind } from 'graphql';
import { badInput } from './errors.js';

const DATE_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

function parseDateTime(value: unknown): Date {
  if (typeof value !== 'string' || !DATE_TIME.test(value) || Number.isNaN(Date.parse(value))) {
    throw badInput(`Invalid DateTime ${JSON.stringify(value)}: use ISO 8601, e.g. 2026-03-01T08:00:00Z or 2026-03-01`);
  }
  return new Date(value);
}

function parseDate(value: unknown): string {
  if (typeof value !== 'string' || !DATE.test(value) || Number.isNaN(Date.parse(value))) {
    throw badInput(`Invalid Date ${JSON.stringify(value)}: use YYYY-MM-DD`);
  }
  return value;
}

export const DateTimeScalar = new GraphQLScalarType({
  name: 'DateTime',
  description: 'An instant in ISO 8601 format with time zone, e.g. 2026-03-01T08:30:00.000Z.',
  serialize: (value) => (value instanceof Date ? value.toISOString() : new Date(String(value)).toISOString()),
  parseValue: parseDateTime,
  parseLiteral: (ast) => parseDateTime(ast.kind === Kind.STRING ? ast.value : undefined),
});

export const DateScalar = new GraphQLScalarType({
  name: 'Date',
  description: 'A calendar date in ISO 8601 format, YYYY-MM-DD.',
  serialize: (value) => (value instanceof Date ? value.toISOString().slice(0, 10) : String(value)),
  parseValue: parseDate,
  parseLiteral: (ast) => parseDate(ast.kind === Kind.STRING ? ast.value : undefined),
});

export const scalarResolvers = { DateTime: DateTimeScalar, Date: DateScalar };
