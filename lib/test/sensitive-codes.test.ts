/**
 * The table of sensitive codes (lib/consent/sensitive-codes.ts) and the
 * notifier configuration (lib/consent/notifier.ts): the default table is valid code by
 * code, lookups follow ICD-10's hierarchy, a configuration file extends or
 * replaces it and is refused whole when anything in it is wrong; production
 * refuses the development notifier.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_SENSITIVE_CODES, labelsForResource, parseSensitiveCodes, SensitiveCodesError, SensitiveCodeTable, sensitiveCodeTable,
} from '../consent/sensitive-codes.js';
import { createLogger } from '../runtime/logger.js';
import { NotifierConfigError, notifierFromEnvironment } from '../consent/notifier.js';
import { isIcd10Code, isLoincCode, isSnomedCtId, SYSTEM } from '../records/terminology.js';

const table = new SensitiveCodeTable(DEFAULT_SENSITIVE_CODES);

describe('the default table of sensitive codes', () => {
  it('lists only valid codes (LOINC and SNOMED CT check digits, ICD-10 shapes), for every sensitive domain', () => {
    for (const entry of DEFAULT_SENSITIVE_CODES) {
      if (!entry.code) continue;
      const valid = entry.system === SYSTEM.loinc ? isLoincCode(entry.code) : entry.system === SYSTEM.icd10 ? isIcd10Code(entry.code) : isSnomedCtId(entry.code);
      expect(valid, `${entry.system} ${entry.code}`).toBe(true);
    }
    expect(new Set(DEFAULT_SENSITIVE_CODES.flatMap((e) => e.labels))).toEqual(new Set(['HIV', 'STD', 'PSY', 'ETH', 'GDIS', 'SEX']));
    expect(() => parseSensitiveCodes(JSON.stringify({ mode: 'replace', codes: DEFAULT_SENSITIVE_CODES }))).not.toThrow();
  });

  it('labels by exact code, ICD-10 subdivisions and category ranges, in every coded element', () => {
    expect(table.labelsOf(SYSTEM.loinc, '56888-1')).toEqual(['HIV']);
    expect(table.labelsOf(SYSTEM.loinc, '718-7')).toEqual([]);
    expect(table.labelsOf(SYSTEM.icd10, 'B20')).toEqual(['HIV']);
    expect(table.labelsOf(SYSTEM.icd10, 'B23.8')).toEqual(['HIV']);
    expect(table.labelsOf(SYSTEM.icd10, 'F32.1')).toEqual(['PSY']);
    expect(table.labelsOf(SYSTEM.icd10, 'F10.2')).toEqual(['ETH']);
    expect(table.labelsOf(SYSTEM.icd10, 'R45.85')).toEqual(['PSY']);
    expect(table.labelsOf(SYSTEM.icd10, 'I10')).toEqual([]);
    expect(table.labelsOf(SYSTEM.snomed, '86406008')).toEqual(['HIV']);
    expect(table.labelsOf('http://example.org/other', '56888-1')).toEqual([]);
    expect(labelsForResource({ code: { coding: [{ system: SYSTEM.loinc, code: '718-7' }] }, valueCodeableConcept: { coding: [{ system: SYSTEM.snomed, code: '165816005' }] } }, table)).toEqual(['HIV']);
    expect(labelsForResource({ reasonCode: [{ coding: [{ system: SYSTEM.icd10, code: 'O04' }] }, { coding: [{ system: SYSTEM.icd10, code: 'A54.0' }] }] }, table).sort()).toEqual(['SEX', 'STD']);
  });
});

describe('a configured table', () => {
  afterEach(() => {
    delete process.env.SENSITIVE_CODES_FILE;
  });

  it('extends or replaces the default', () => {
    const extra = { system: SYSTEM.loinc, code: '718-7', labels: ['GDIS'] };
    const extended = new SensitiveCodeTable(parseSensitiveCodes(JSON.stringify({ mode: 'extend', codes: [extra] })));
    expect(extended.labelsOf(SYSTEM.loinc, '718-7')).toEqual(['GDIS']);
    expect(extended.labelsOf(SYSTEM.loinc, '56888-1')).toEqual(['HIV']);
    const replaced = new SensitiveCodeTable(parseSensitiveCodes(JSON.stringify({ mode: 'replace', codes: [extra] })));
    expect(replaced.labelsOf(SYSTEM.loinc, '56888-1')).toEqual([]);
  });

  it.each([
    ['not JSON', 'nope'],
    ['no mode', JSON.stringify({ codes: [] })],
    ['a wrong check digit', JSON.stringify({ mode: 'extend', codes: [{ system: SYSTEM.loinc, code: '56888-2', labels: ['HIV'] }] })],
    ['an unknown label', JSON.stringify({ mode: 'extend', codes: [{ system: SYSTEM.loinc, code: '56888-1', labels: ['SECRET'] }] })],
    ['an unknown system', JSON.stringify({ mode: 'extend', codes: [{ system: 'urn:x', code: '1', labels: ['HIV'] }] })],
    ['a range outside ICD-10', JSON.stringify({ mode: 'extend', codes: [{ system: SYSTEM.loinc, range: ['1', '2'], labels: ['HIV'] }] })],
    ['an inverted range', JSON.stringify({ mode: 'extend', codes: [{ system: SYSTEM.icd10, range: ['B24', 'B20'], labels: ['HIV'] }] })],
  ])('refuses a file with %s, whole', (_, text) => {
    expect(() => parseSensitiveCodes(text)).toThrow(SensitiveCodesError);
  });

  it('is read from SENSITIVE_CODES_FILE', () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'codes-')), 'codes.json');
    writeFileSync(file, JSON.stringify({ mode: 'replace', codes: [{ system: SYSTEM.icd10, code: 'I10', labels: ['PSY'] }] }));
    process.env.SENSITIVE_CODES_FILE = file;
    expect(sensitiveCodeTable().labelsOf(SYSTEM.icd10, 'I10')).toEqual(['PSY']);
  });
});

describe('the notifier configuration', () => {
  const logger = createLogger('test', { level: 'silent' });
  it('logs codes in development, and refuses that in production', () => {
    expect([...notifierFromEnvironment({}, logger, false).reaches].sort()).toEqual(['email', 'sms']);
    expect(() => notifierFromEnvironment({}, logger, true)).toThrow(NotifierConfigError);
    expect(() => notifierFromEnvironment({ CONSENT_NOTIFIER: 'log' }, logger, true)).toThrow(NotifierConfigError);
  });

  it('needs the gateway settings it names, and combines SMS and e-mail', () => {
    expect(() => notifierFromEnvironment({ CONSENT_NOTIFIER: 'smtp' }, logger, true)).toThrow(/CONSENT_NOTIFIER_SMTP_URL/);
    expect(() => notifierFromEnvironment({ CONSENT_NOTIFIER: 'http-sms' }, logger, true)).toThrow(/CONSENT_NOTIFIER_SMS_URL/);
    expect(() => notifierFromEnvironment({ CONSENT_NOTIFIER: 'pigeon' }, logger, true)).toThrow(/Unknown/);
    const both = notifierFromEnvironment({ CONSENT_NOTIFIER: 'smtp,http-sms', CONSENT_NOTIFIER_SMTP_URL: 'smtp://127.0.0.1:2525', CONSENT_NOTIFIER_FROM: 'a@b', CONSENT_NOTIFIER_SMS_URL: 'http://127.0.0.1:1/' }, logger, true);
    expect([...both.reaches].sort()).toEqual(['email', 'sms']);
  });
});
