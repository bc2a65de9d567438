-- Clinical notes (issue 27): FHIR DocumentReference (category clinical-note)
-- and DiagnosticReports whose category is a LOINC note code, kept as the
-- resource type they came as (resource_type) and exported back as it. Owned by
-- imaging, which already holds narrative reports and references to large
-- binaries. Every element kept is stored as sent:
-- - type: the note's kind, a CodeableConcept {coding: [{system, code, display}], text}
--   (DocumentReference.type / DiagnosticReport.code), every coding with its system;
-- - categories: [CodeableConcept] as sent (DocumentReference.category / DiagnosticReport.category);
-- - attachments: [{contentType, language, data, url, size, hash, title, creation, format}],
--   data the base64 text as sent (at most NOTE_MAX_ATTACHMENT_BYTES decoded), or a reference (url);
--   format the DocumentReference.content.format Coding.
CREATE TABLE clinical_note (
  id uuid PRIMARY KEY,
  patient_id uuid NOT NULL,
  organization_id text NOT NULL,
  resource_type text NOT NULL CHECK (resource_type IN ('DocumentReference', 'DiagnosticReport')),
  status text NOT NULL,
  doc_status text,
  type jsonb,
  categories jsonb NOT NULL DEFAULT '[]',
  -- Its place on the timeline: DocumentReference.date, DiagnosticReport.effectiveDateTime.
  date timestamptz NOT NULL,
  issued timestamptz,
  period_start timestamptz,
  period_end timestamptz,
  description text,
  author_id text,
  attachments jsonb NOT NULL DEFAULT '[]',
  sensitivity_labels text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX clinical_note_patient_time ON clinical_note (patient_id, date DESC, id DESC);
