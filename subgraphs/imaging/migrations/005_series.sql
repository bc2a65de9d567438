-- The study's series as the institution sent it (issue 27: nothing accepted
-- is lost): its DICOM Series Instance UID, number, modality, body site,
-- description and instance count, FHIR JSON (ImagingStudy.series[0]); the
-- body site stays in body_site too (recognition and search read it). Null for
-- studies recorded without one.
ALTER TABLE imaging_study ADD COLUMN IF NOT EXISTS series jsonb;
