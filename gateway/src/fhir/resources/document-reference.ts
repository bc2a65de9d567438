/**
 * DocumentReference: a clinical note (imaging; category `clinical-note` of
 * US Core's DocumentReference categories), its kind LOINC coded, its text and
 * other attachments stored with it (base64 as sent, each at most
 * NOTE_MAX_ATTACHMENT_BYTES) or referenced (`url`, with contentType, size,
 * hash, title, creation).
 *
 * The same record type takes the notes EHR exports send as DiagnosticReports
 * (Synthea among them): a DiagnosticReport whose category is one of the
 * catalogue's LOINC note codes (NOTE_REPORT_CODES, lib/records/record-types.ts)
 * and carries no v2-0074 section (LAB, EC, PAT, RAD stay lab and radiology
 * reports). The DiagnosticReport module hands those to `readNoteReport`. A
 * note keeps the resource type it came as and is exported back as it, every
 * element kept as sent.
 *
 * The encounter it was written in (DocumentReference.context.encounter,
 * DiagnosticReport.encounter) is encounters' record: an existing
 * `Encounter/<id>` is kept by id, an Encounter of the same transaction gets the
 * record id encounters staged (`foreignLinks`, put in by the coordinator).
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { maxNoteAttachmentBytes } from '../../../../lib/ingest/limits.js';
import { listedRecordType, NOTE_REPORT_CODES, type FhirShape } from '../../../../lib/records/record-types.js';
import { SYSTEM, isLoincCode, looksLikeLoinc } from '../../../../lib/records/terminology.js';
import type { GqlCoding, GqlOrganization, GqlPeriod, GqlPractitioner } from '../graphql-types.js';
import {
  CODING_FIELDS, coding, codingsOf, instant, isObject, labelsOf, ORGANIZATION_FIELDS, ownOrganization, patientLink, PRACTITIONER_FIELDS, practitionerId, text,
  type CodeCheck, EVERY_CODING, REFERENCE,
} from './elements.js';
import { encounterOf } from './encounter-link.js';
import { type BundleContext, type EntryIssues, type ExportContext, type FhirResourceModule, type Json, type KeptObject, type Mapped, type Resource } from './module.js';

/** FHIR document-reference-status and composition-status (docStatus). */
const DOCUMENT_STATUS = new Set(['current', 'superseded', 'entered-in-error']);
const DOC_STATUS = new Set(['preliminary', 'final', 'amended', 'entered-in-error']);
/** FHIR diagnostic-report-status (a note sent as a DiagnosticReport). */
export const DIAGNOSTIC_REPORT_STATUS = new Set(['registered', 'partial', 'preliminary', 'final', 'amended', 'corrected', 'appended', 'cancelled', 'entered-in-error', 'unknown']);
const CLINICAL_NOTE = 'clinical-note';
const LOINC: Record<string, CodeCheck> = { [SYSTEM.loinc]: { name: 'LOINC', valid: isLoincCode, shape: looksLikeLoinc } };
const NOTE_CODES = new Set<string>(NOTE_REPORT_CODES);
const MAX_ATTACHMENTS = 20;
const BASE64 = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;

/** An attachment as kept (migration 006): every element as sent, dates as instants. */
interface StoredAttachment {
  contentType: string | null; language: string | null; data: string | null; url: string | null; size: number | null; hash: string | null;
  title: string | null; creation: string | null; format?: { system: string; code: string; display: string | null } | null;
}
interface GqlConcept { coding: GqlCoding[]; text: string | null }

export interface GqlClinicalNote {
  id: string; resourceType: string | null; status: string | null; docStatus: string | null; type: GqlConcept | null; category: GqlConcept[] | null;
  date: string | null; issued: string | null; period: GqlPeriod | null; description: string | null; attachments: StoredAttachment[] | null;
  author: GqlPractitioner | null; organization: GqlOrganization | null; encounter: { id: string } | null; sensitivityLabels: string[] | null;
}

/** An Attachment's elements, all kept. */
const ATTACHMENT: KeptObject = { contentType: true, language: true, data: true, url: true, size: true, hash: true, title: true, creation: true };

/** What a note sent as a DiagnosticReport keeps instead of a lab report's elements (readNoteReport's `keeps`). */
export const NOTE_REPORT_KEEPS: { [element: string]: KeptObject | true } = {
  identifier: { system: true, value: true }, status: true, category: EVERY_CODING, code: EVERY_CODING, subject: REFERENCE,
  effectiveDateTime: true, issued: true, performer: REFERENCE, presentedForm: { $max: MAX_ATTACHMENTS, ...ATTACHMENT }, encounter: { reference: true },
};

const CONCEPT_FIELDS = `{ coding ${CODING_FIELDS} text }`;
const concept = (c: GqlConcept | null | undefined) => (c ? { coding: c.coding.map(coding), text: c.text ?? undefined } : undefined);
const attachmentOut = (a: StoredAttachment) => ({
  contentType: a.contentType ?? undefined, language: a.language ?? undefined, data: a.data ?? undefined, url: a.url ?? undefined, size: a.size ?? undefined,
  hash: a.hash ?? undefined, title: a.title ?? undefined, creation: a.creation ?? undefined,
});

/** Whether a published DiagnosticReport is a clinical note: a LOINC note code among its categories, and no v2-0074 section. */
export function isNoteReport(resource: Json): boolean {
  const codings = (Array.isArray(resource.category) ? resource.category : []).flatMap((c: unknown) => (isObject(c) && Array.isArray(c.coding) ? c.coding : []));
  if (codings.some((c: Json) => c?.system === SYSTEM.diagnosticServiceSection)) return false;
  return codings.some((c: Json) => c?.system === SYSTEM.loinc && NOTE_CODES.has(c?.code));
}

/** A CodeableConcept kept whole: every coding as sent (LOINC checked) and the text. */
function conceptOf(value: unknown, issues: EntryIssues, element: string): { coding: { system: string; code: string; display: string | null }[]; text: string | null } | null {
  if (value === undefined || value === null) return null;
  const codings = codingsOf(value, issues, element, LOINC);
  const words = isObject(value) && value.text !== undefined ? text(value.text, issues, `${element}.text`, { max: 500 }) : null;
  return { coding: codings, text: words };
}

function listOf(value: unknown, issues: EntryIssues, element: string): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : issues.add(400, 'structure', `${element} must be a list`, element) ?? [];
}

/** One attachment: its data stored (within the size limit) or its url kept, every element as sent and checked against the others. */
function attachmentOf(value: unknown, issues: EntryIssues, at: string): StoredAttachment | null {
  if (!isObject(value)) return issues.add(400, 'structure', `${at} must be an Attachment`, at) ?? null;
  const contentType = text(value.contentType, issues, `${at}.contentType`, { max: 200 });
  const url = text(value.url, issues, `${at}.url`, { max: 2000 });
  const title = text(value.title, issues, `${at}.title`, { max: 500 });
  const language = text(value.language, issues, `${at}.language`, { max: 20 });
  const hash = text(value.hash, issues, `${at}.hash`, { max: 100 });
  const creation = instant(value.creation, issues, `${at}.creation`);
  let size: number | null = null;
  if (value.size !== undefined) {
    if (!Number.isSafeInteger(value.size) || (value.size as number) < 0) issues.add(400, 'value', `${at}.size must be a non-negative integer (bytes)`, `${at}.size`);
    else size = value.size as number;
  }
  let data: string | null = null;
  if (value.data !== undefined) {
    if (typeof value.data !== 'string' || !BASE64.test(value.data)) {
      issues.add(400, 'value', `${at}.data must be base64`, `${at}.data`);
    } else {
      const bytes = Buffer.from(value.data, 'base64');
      const limit = maxNoteAttachmentBytes();
      if (bytes.length > limit) {
        issues.add(422, 'business-rule', `${at}.data is ${bytes.length} bytes, more than the ${limit} an attachment may store (NOTE_MAX_ATTACHMENT_BYTES): send it as a reference (url) with its size and hash`, `${at}.data`);
      } else {
        // att-1: data needs its contentType; size and hash, where sent, must describe the data (a mismatch would be kept wrong).
        if (!contentType) issues.add(400, 'required', `${at}.contentType is required with data (att-1)`, `${at}.contentType`);
        if (size !== null && size !== bytes.length) issues.add(400, 'value', `${at}.size (${size}) is not the size of the data (${bytes.length} bytes)`, `${at}.size`);
        if (hash && hash !== createHash('sha1').update(bytes).digest('base64')) issues.add(400, 'value', `${at}.hash is not the SHA-1 (base64) of the data`, `${at}.hash`);
        data = value.data;
      }
    }
  }
  if (value.data === undefined && !url) issues.add(400, 'required', `${at} needs its data (base64) or a url where it is held`, at);
  return { contentType, language, data, url, size, hash, title, creation };
}

/** The columns a note shares whichever resource type it came as. */
function noteColumns(r: Json, issues: EntryIssues, resourceType: 'DocumentReference' | 'DiagnosticReport') {
  return { resource_type: resourceType, sensitivity_labels: labelsOf(r, issues) };
}

/** Reads a DiagnosticReport that is a clinical note (isNoteReport): the notes record type, kept as a DiagnosticReport. */
export function readNoteReport(r: Json, context: BundleContext, issues: EntryIssues): Mapped {
  const status = text(r.status, issues, 'status', { required: true });
  if (status && !DIAGNOSTIC_REPORT_STATUS.has(status)) issues.add(400, 'code-invalid', 'status is not a diagnostic-report-status code', 'status');
  const type = conceptOf(r.code, issues, 'code');
  if (!type) issues.add(400, 'required', 'code is required: the kind of note, LOINC coded', 'code');
  let authorId: string | null = null;
  listOf(r.performer, issues, 'performer').forEach((p, n) => {
    const ref = isObject(p) ? p.reference : undefined;
    if (typeof ref === 'string' && ref.startsWith('Practitioner/')) {
      if (authorId) issues.add(422, 'not-supported', 'A note keeps one practitioner performer (its author)', `performer[${n}]`);
      else authorId = practitionerId(p, issues, `performer[${n}]`);
    } else ownOrganization(p, context, issues, `performer[${n}]`);
  });
  const forms = listOf(r.presentedForm, issues, 'presentedForm');
  if (!forms.length) issues.add(400, 'required', 'A note sent as a DiagnosticReport carries its text in presentedForm', 'presentedForm');
  const encounter = encounterOf(r.encounter, context, issues, 'encounter');
  return {
    recordType: 'ClinicalNote', kind: 'clinical-note', refs: {}, patient: patientLink(r.subject, context, issues, 'subject'), patientElement: 'subject', keeps: NOTE_REPORT_KEEPS,
    ...(encounter.foreignLinks ? { foreignLinks: encounter.foreignLinks } : {}),
    record: {
      ...noteColumns(r, issues, 'DiagnosticReport'), encounter_id: encounter.encounterId,
      status, doc_status: null, type,
      categories: listOf(r.category, issues, 'category').map((c, n) => conceptOf(c, issues, `category[${n}]`)).filter(Boolean),
      date: instant(r.effectiveDateTime ?? r.issued, issues, r.effectiveDateTime === undefined && r.issued !== undefined ? 'issued' : 'effectiveDateTime', true),
      issued: instant(r.issued, issues, 'issued'), period_start: null, period_end: null, description: null, author_id: authorId,
      attachments: forms.slice(0, MAX_ATTACHMENTS).map((f, n) => attachmentOf(f, issues, `presentedForm[${n}]`)).filter(Boolean),
    },
  };
}

/** A note exported as a DiagnosticReport, as it came. */
function asReport(n: GqlClinicalNote, x: ExportContext): Resource {
  return {
    resourceType: 'DiagnosticReport',
    id: n.id,
    meta: x.meta(n, n.sensitivityLabels),
    status: n.status!,
    category: n.category?.map(concept),
    code: concept(n.type),
    subject: x.patientRef,
    encounter: x.link('Encounter', n.encounter?.id),
    effectiveDateTime: n.date,
    issued: n.issued,
    performer: [x.practitioner(n.author), x.org(n.organization)],
    presentedForm: n.attachments!.map(attachmentOut),
  };
}

export const documentReference: FhirResourceModule = {
  resourceType: 'DocumentReference',
  keeps: {
    identifier: { system: true, value: true }, status: true, docStatus: true, type: EVERY_CODING, category: EVERY_CODING, subject: REFERENCE, date: true,
    author: { $max: 1, ...REFERENCE }, custodian: REFERENCE, description: true,
    content: { $max: MAX_ATTACHMENTS, attachment: ATTACHMENT, format: { system: true, code: true, display: true } },
    context: { period: { start: true, end: true }, encounter: { $max: 1, reference: true } },
  },
  exports: [{
    from: 'clinicalNotes',
    select: () => ({
      clinicalNotes: `id resourceType status docStatus type ${CONCEPT_FIELDS} category ${CONCEPT_FIELDS} date issued period { start end } description
    attachments { contentType language data url size hash title creation format ${CODING_FIELDS} } author ${PRACTITIONER_FIELDS} organization ${ORGANIZATION_FIELDS} encounter { id } sensitivityLabels`,
    }),
    toFhir(n: GqlClinicalNote, x) {
      // Status and content are required (1..1, 1..*): without them (withheld) the resource would not be valid.
      if (!n.status || !n.attachments?.length) return x.masks.has(n, 'status') || x.masks.has(n, 'attachments') ? x.withheld() : null;
      if (n.resourceType === 'DiagnosticReport') return n.type ? asReport(n, x) : x.withheld();
      const encounter = x.link('Encounter', n.encounter?.id);
      return {
        resourceType: 'DocumentReference',
        id: n.id,
        meta: x.meta(n, n.sensitivityLabels),
        status: n.status,
        docStatus: n.docStatus,
        type: concept(n.type),
        category: n.category?.map(concept),
        subject: x.patientRef,
        date: n.date,
        author: n.author ? [x.practitioner(n.author)] : undefined,
        custodian: x.org(n.organization),
        description: n.description,
        content: n.attachments.map((a) => ({ attachment: attachmentOut(a), format: a.format ? coding(a.format) : undefined })),
        context: n.period || encounter ? {
          encounter: encounter ? [encounter] : undefined,
          period: n.period ? { start: n.period.start ?? undefined, end: n.period.end ?? undefined } : undefined,
        } : undefined,
      };
    },
  }],
  fromFhir(r, context, issues): Mapped {
    const status = text(r.status, issues, 'status', { required: true });
    if (status && !DOCUMENT_STATUS.has(status)) issues.add(400, 'code-invalid', 'status must be current, superseded or entered-in-error (document-reference-status)', 'status');
    const docStatus = text(r.docStatus, issues, 'docStatus');
    if (docStatus && !DOC_STATUS.has(docStatus)) issues.add(400, 'code-invalid', 'docStatus must be preliminary, final, amended or entered-in-error', 'docStatus');
    const categories = listOf(r.category, issues, 'category').map((c, n) => conceptOf(c, issues, `category[${n}]`));
    const noteCategory = listedRecordType('ClinicalNote').fhir as FhirShape;
    if (!categories.some((c) => c?.coding.some((k) => k.system === noteCategory.category?.system && noteCategory.category.codes.includes(k.code)))) {
      issues.add(422, 'not-supported', `Only clinical notes are kept: category needs ${noteCategory.category?.system}|${CLINICAL_NOTE}`, 'category');
    }
    const type = conceptOf(r.type, issues, 'type');
    if (!type || !type.coding.length) issues.add(400, 'required', 'type is required: the kind of note, LOINC coded', 'type');
    const authors = listOf(r.author, issues, 'author');
    const authorId = authors.length ? practitionerId(authors[0], issues, 'author[0]') : null;
    if (authors.length && isObject(authors[0]) && authors[0].reference === undefined) issues.add(422, 'not-supported', 'author[0] is kept as a Practitioner of the registry (Practitioner/{id})', 'author[0]');
    ownOrganization(r.custodian, context, issues, 'custodian');
    const contents = listOf(r.content, issues, 'content');
    if (!contents.length) issues.add(400, 'required', 'content is required: the note itself (an attachment with its data or url)', 'content');
    const attachments = contents.slice(0, MAX_ATTACHMENTS).map((c, n) => {
      const at = `content[${n}]`;
      if (!isObject(c)) return issues.add(400, 'structure', `${at} must be a content element`, at) ?? null;
      const attachment = isObject(c.attachment) ? attachmentOf(c.attachment, issues, `${at}.attachment`) : issues.add(400, 'required', `${at}.attachment is required`, `${at}.attachment`) ?? null;
      const format = c.format === undefined ? null : isObject(c.format) ? {
        system: text(c.format.system, issues, `${at}.format.system`, { required: true, max: 500 })!, code: text(c.format.code, issues, `${at}.format.code`, { required: true, max: 200 })!,
        display: text(c.format.display, issues, `${at}.format.display`, { max: 500 }),
      } : issues.add(400, 'structure', `${at}.format must be a Coding`, `${at}.format`) ?? null;
      return attachment ? { ...attachment, format } : null;
    }).filter(Boolean);
    const period = isObject(r.context) && isObject(r.context.period) ? r.context.period : null;
    const periodStart = period ? instant(period.start, issues, 'context.period.start') : null;
    const periodEnd = period ? instant(period.end, issues, 'context.period.end') : null;
    const encounters = isObject(r.context) ? listOf(r.context.encounter, issues, 'context.encounter') : [];
    const encounter = encounterOf(encounters[0], context, issues, 'context.encounter[0]');
    return {
      recordType: 'ClinicalNote', kind: 'clinical-note', refs: {}, patient: patientLink(r.subject, context, issues, 'subject'), patientElement: 'subject',
      ...(encounter.foreignLinks ? { foreignLinks: encounter.foreignLinks } : {}),
      record: {
        ...noteColumns(r, issues, 'DocumentReference'), encounter_id: encounter.encounterId,
        status, doc_status: docStatus, type, categories: categories.filter(Boolean),
        // Its place on the timeline: when it was written (or, not given, the start of the care it is about).
        date: instant(r.date ?? period?.start, issues, r.date === undefined && period?.start !== undefined ? 'context.period.start' : 'date', true),
        issued: null, period_start: periodStart, period_end: periodEnd,
        description: r.description === undefined ? null : text(r.description, issues, 'description', { max: 2000 }),
        author_id: authorId, attachments,
      },
    };
  },
};
