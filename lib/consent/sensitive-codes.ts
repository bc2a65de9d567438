/**
 * The alliance's table of sensitive codes: results and diagnoses whose code
 * says more than the record's category (an HIV test, a depression
 * diagnosis, a pregnancy test) carry the HL7 v3 sensitivity label the code
 * calls for, however they arrive — labelled or not, FHIR or HL7 v2 (which
 * is mapped to FHIR and goes through the same mapping, the one place every
 * way in passes: gateway/src/fhir/ingest/map.ts). The labels a sender puts in
 * `meta.security` are kept; the table only adds.
 *
 * The default table below covers HIV, other sexually transmitted infections,
 * mental health, substance use, genetic tests and reproductive health in
 * LOINC, ICD-10 (WHO: three-character categories and ranges of them) and
 * SNOMED CT. An alliance replaces or extends it with a JSON file named by
 * SENSITIVE_CODES_FILE (docs/consent.md):
 *
 *   { "mode": "extend" | "replace",
 *     "codes": [ { "system": "http://loinc.org", "code": "56888-1", "labels": ["HIV"] },
 *                { "system": "http://hl7.org/fhir/sid/icd-10", "range": ["B20", "B24"], "labels": ["HIV"] } ] }
 *
 * An ICD-10 `code` also covers its subdivisions (F32 covers F32.1); a
 * `range` covers the three-character categories from..to. Every entry is
 * checked when the table loads (known system, a valid code with its check
 * digit, known labels): a gateway with a bad table refuses to start.
 */
import { readFileSync } from 'node:fs';
import { isIcd10Code, isLoincCode, isSnomedCtId, SENSITIVITY_LABELS, SYSTEM, type SensitivityLabel } from '../records/terminology.js';

export interface SensitiveCode {
  system: string;
  /** One code (ICD-10: with its subdivisions). */
  code?: string;
  /** ICD-10 only: the three-character categories from..to, inclusive. */
  range?: [string, string];
  labels: SensitivityLabel[];
  /** What the entry is, for people reading the table. */
  display?: string;
}

const LOINC = SYSTEM.loinc;
const ICD10 = SYSTEM.icd10;
const SNOMED = SYSTEM.snomed;

/** The default table (see the module comment). */
export const DEFAULT_SENSITIVE_CODES: SensitiveCode[] = [
  // HIV
  { system: LOINC, code: '56888-1', labels: ['HIV'], display: 'HIV 1+2 Ab + HIV1 p24 Ag [Presence] in Serum or Plasma by Immunoassay' },
  { system: LOINC, code: '75622-1', labels: ['HIV'], display: 'HIV 1+2 Ab + HIV1 p24 Ag [Presence] in Serum or Plasma by Immunoassay (4th generation)' },
  { system: LOINC, code: '7917-8', labels: ['HIV'], display: 'HIV 1 Ab [Presence] in Serum' },
  { system: LOINC, code: '68961-2', labels: ['HIV'], display: 'HIV 1 Ab [Presence] in Serum or Plasma by Immunoassay' },
  { system: LOINC, code: '31201-7', labels: ['HIV'], display: 'HIV 1+2 Ab [Presence] in Serum' },
  { system: LOINC, code: '5221-7', labels: ['HIV'], display: 'HIV 1 Ab [Presence] in Serum by Immunoblot' },
  { system: LOINC, code: '20447-9', labels: ['HIV'], display: 'HIV 1 RNA [#/volume] (viral load) in Serum or Plasma' },
  { system: ICD10, range: ['B20', 'B24'], labels: ['HIV'], display: 'HIV disease' },
  { system: ICD10, code: 'Z21', labels: ['HIV'], display: 'Asymptomatic HIV infection status' },
  { system: ICD10, code: 'R75', labels: ['HIV'], display: 'Inconclusive laboratory evidence of HIV' },
  { system: ICD10, code: 'O98.7', labels: ['HIV'], display: 'HIV disease complicating pregnancy, childbirth and the puerperium' },
  { system: SNOMED, code: '86406008', labels: ['HIV'], display: 'Human immunodeficiency virus infection' },
  { system: SNOMED, code: '165816005', labels: ['HIV'], display: 'HIV positive' },
  // Other sexually transmitted infections
  { system: LOINC, code: '20507-0', labels: ['STD'], display: 'Reagin Ab [Presence] in Serum by RPR' },
  { system: LOINC, code: '5292-8', labels: ['STD'], display: 'Reagin Ab [Presence] in Serum by VDRL' },
  { system: LOINC, code: '43304-5', labels: ['STD'], display: 'Chlamydia trachomatis rRNA [Presence] in Specimen by NAA with probe detection' },
  { system: LOINC, code: '21613-5', labels: ['STD'], display: 'Chlamydia trachomatis DNA [Presence] in Specimen by NAA with probe detection' },
  { system: LOINC, code: '43305-2', labels: ['STD'], display: 'Neisseria gonorrhoeae rRNA [Presence] in Specimen by NAA with probe detection' },
  { system: LOINC, code: '24111-7', labels: ['STD'], display: 'Neisseria gonorrhoeae DNA [Presence] in Specimen by NAA with probe detection' },
  { system: ICD10, range: ['A50', 'A64'], labels: ['STD'], display: 'Infections with a predominantly sexual mode of transmission' },
  { system: SNOMED, code: '76272004', labels: ['STD'], display: 'Syphilis' },
  { system: SNOMED, code: '15628003', labels: ['STD'], display: 'Gonorrhoea' },
  { system: SNOMED, code: '105629000', labels: ['STD'], display: 'Chlamydial infection' },
  // Mental health
  { system: LOINC, code: '44249-1', labels: ['PSY'], display: 'PHQ-9 quick depression assessment panel' },
  { system: LOINC, code: '44261-6', labels: ['PSY'], display: 'Patient Health Questionnaire 9 item (PHQ-9) total score' },
  { system: LOINC, code: '70274-6', labels: ['PSY'], display: 'Generalized anxiety disorder 7 item (GAD-7) total score' },
  { system: ICD10, range: ['F00', 'F09'], labels: ['PSY'], display: 'Organic mental disorders' },
  { system: ICD10, range: ['F20', 'F99'], labels: ['PSY'], display: 'Mental and behavioural disorders' },
  { system: ICD10, range: ['X60', 'X84'], labels: ['PSY'], display: 'Intentional self-harm' },
  { system: ICD10, code: 'R45.8', labels: ['PSY'], display: 'Other symptoms involving emotional state (suicidal ideation)' },
  { system: ICD10, code: 'Z91.5', labels: ['PSY'], display: 'Personal history of self-harm' },
  { system: SNOMED, code: '35489007', labels: ['PSY'], display: 'Depressive disorder' },
  { system: SNOMED, code: '69322001', labels: ['PSY'], display: 'Psychotic disorder' },
  // Substance use
  { system: ICD10, range: ['F10', 'F19'], labels: ['ETH'], display: 'Mental and behavioural disorders due to psychoactive substance use' },
  { system: ICD10, code: 'Z71.4', labels: ['ETH'], display: 'Alcohol abuse counselling and surveillance' },
  { system: ICD10, code: 'Z71.5', labels: ['ETH'], display: 'Drug abuse counselling and surveillance' },
  { system: SNOMED, code: '7200002', labels: ['ETH'], display: 'Alcoholism' },
  { system: SNOMED, code: '66214007', labels: ['ETH'], display: 'Substance abuse' },
  // Genetic tests and conditions
  { system: LOINC, code: '21636-6', labels: ['GDIS'], display: 'BRCA1 gene mutations tested for in Blood or Tissue by Molecular genetics method' },
  { system: LOINC, code: '21637-4', labels: ['GDIS'], display: 'BRCA2 gene mutations tested for in Blood or Tissue by Molecular genetics method' },
  { system: LOINC, code: '51969-4', labels: ['GDIS'], display: 'Genetic analysis report' },
  { system: ICD10, range: ['Q90', 'Q99'], labels: ['GDIS'], display: 'Chromosomal abnormalities' },
  { system: ICD10, code: 'Z14', labels: ['GDIS'], display: 'Genetic carrier' },
  { system: ICD10, code: 'Z15', labels: ['GDIS'], display: 'Genetic susceptibility to disease' },
  // Reproductive health
  { system: LOINC, code: '2106-3', labels: ['SEX'], display: 'Choriogonadotropin (pregnancy test) [Presence] in Urine' },
  { system: LOINC, code: '2118-8', labels: ['SEX'], display: 'Choriogonadotropin (pregnancy test) [Presence] in Serum or Plasma' },
  { system: ICD10, range: ['O00', 'O08'], labels: ['SEX'], display: 'Pregnancy with abortive outcome' },
  { system: ICD10, code: 'Z30', labels: ['SEX'], display: 'Contraceptive management' },
  { system: ICD10, code: 'Z31', labels: ['SEX'], display: 'Procreative management' },
];

export class SensitiveCodesError extends Error {}

const SYSTEMS = new Map<string, (code: string) => boolean>([[LOINC, isLoincCode], [ICD10, isIcd10Code], [SNOMED, isSnomedCtId]]);
const ICD10_CATEGORY = /^[A-Z][0-9][0-9A-Z]$/;

/** Checks one entry (see the module comment); throws naming what is wrong. */
function checked(entry: unknown, n: number): SensitiveCode {
  const e = entry as Partial<SensitiveCode> | null;
  const where = `codes[${n}]`;
  if (!e || typeof e !== 'object') throw new SensitiveCodesError(`${where} is not an object`);
  const valid = typeof e.system === 'string' ? SYSTEMS.get(e.system) : undefined;
  if (!valid) throw new SensitiveCodesError(`${where}.system must be one of ${[...SYSTEMS.keys()].join(', ')}`);
  if ((e.code === undefined) === (e.range === undefined)) throw new SensitiveCodesError(`${where} needs either code or range`);
  if (e.code !== undefined && (typeof e.code !== 'string' || !valid(e.code))) throw new SensitiveCodesError(`${where}.code ${String(e.code)} is not a valid code of ${e.system}`);
  if (e.range !== undefined && (e.system !== ICD10 || !Array.isArray(e.range) || e.range.length !== 2 || !e.range.every((c) => typeof c === 'string' && ICD10_CATEGORY.test(c)) || e.range[0]! > e.range[1]!)) {
    throw new SensitiveCodesError(`${where}.range is for ICD-10: two three-character categories, from and to (e.g. ["B20", "B24"])`);
  }
  if (!Array.isArray(e.labels) || !e.labels.length || !e.labels.every((l) => (SENSITIVITY_LABELS as readonly string[]).includes(l))) {
    throw new SensitiveCodesError(`${where}.labels must name at least one of ${SENSITIVITY_LABELS.join(', ')}`);
  }
  return { system: e.system!, ...(e.code ? { code: e.code } : { range: e.range as [string, string] }), labels: e.labels, ...(typeof e.display === 'string' ? { display: e.display } : {}) };
}

/** The table a configuration file gives (see the module comment), checked whole. */
export function parseSensitiveCodes(text: string, defaults: SensitiveCode[] = DEFAULT_SENSITIVE_CODES): SensitiveCode[] {
  let parsed: { mode?: unknown; codes?: unknown };
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SensitiveCodesError('The table of sensitive codes is not JSON');
  }
  if (!parsed || typeof parsed !== 'object' || !Array.isArray(parsed.codes)) throw new SensitiveCodesError('The table of sensitive codes is { "mode": "extend" | "replace", "codes": [...] }');
  if (parsed.mode !== 'extend' && parsed.mode !== 'replace') throw new SensitiveCodesError('mode must be "extend" (the default table and these) or "replace" (these only)');
  const codes = parsed.codes.map(checked);
  return parsed.mode === 'extend' ? [...defaults, ...codes] : codes;
}

/** Looks codes up in a table: exact for LOINC and SNOMED CT; ICD-10 by code with its subdivisions, and by category ranges. */
export class SensitiveCodeTable {
  private readonly exact = new Map<string, SensitivityLabel[]>();
  private readonly ranges: { from: string; to: string; labels: SensitivityLabel[] }[] = [];

  constructor(readonly codes: SensitiveCode[]) {
    for (const entry of codes) {
      if (entry.range) this.ranges.push({ from: entry.range[0], to: entry.range[1], labels: entry.labels });
      else this.exact.set(`${entry.system}|${entry.code}`, [...(this.exact.get(`${entry.system}|${entry.code}`) ?? []), ...entry.labels]);
    }
  }

  /** The labels the table gives a coding (none when it lists nothing for it). */
  labelsOf(system: unknown, code: unknown): SensitivityLabel[] {
    if (typeof system !== 'string' || typeof code !== 'string') return [];
    const value = code.trim();
    const labels = [...(this.exact.get(`${system}|${value}`) ?? [])];
    if (system === ICD10) {
      // F32.1 is listed under F32.1, F32 and every range covering category F32.
      for (let end = value.length - 1; end >= 3; end--) labels.push(...(this.exact.get(`${system}|${value.slice(0, end).replace(/\.$/, '')}`) ?? []));
      const category = value.slice(0, 3);
      for (const range of this.ranges) if (category >= range.from && category <= range.to) labels.push(...range.labels);
    }
    return [...new Set(labels)];
  }
}

let configured: SensitiveCodeTable | undefined;

/**
 * The table in force: SENSITIVE_CODES_FILE when set (checked whole: a bad
 * file throws, so the gateway refuses to start), else the default table.
 */
export function sensitiveCodeTable(): SensitiveCodeTable {
  if (configured) return configured;
  const file = process.env.SENSITIVE_CODES_FILE;
  let codes = DEFAULT_SENSITIVE_CODES;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      throw new SensitiveCodesError(`SENSITIVE_CODES_FILE ${file} cannot be read`);
    }
    codes = parseSensitiveCodes(text);
  }
  configured = new SensitiveCodeTable(codes);
  return configured;
}

/** Elements of a FHIR resource whose codes say what the record is about. */
const CODED_ELEMENTS = ['code', 'reasonCode', 'valueCodeableConcept', 'conclusionCode', 'medicationCodeableConcept'];

/**
 * The labels the table gives a FHIR resource: every coding of its code,
 * reason, coded value and conclusion (each a CodeableConcept or a list of
 * them), in any system the table lists.
 */
export function labelsForResource(resource: Record<string, unknown>, table: SensitiveCodeTable = sensitiveCodeTable()): SensitivityLabel[] {
  const labels = new Set<SensitivityLabel>();
  for (const element of CODED_ELEMENTS) {
    const value = resource[element];
    for (const concept of Array.isArray(value) ? value : [value]) {
      const codings = (concept as { coding?: unknown } | null)?.coding;
      if (!Array.isArray(codings)) continue;
      for (const coding of codings) for (const label of table.labelsOf((coding as { system?: unknown })?.system, (coding as { code?: unknown })?.code)) labels.add(label);
    }
  }
  return [...labels];
}
