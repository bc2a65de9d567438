-- A radiology report carries its own sensitivity labels (HL7 v3, meta.security
-- as published, and the alliance's table of sensitive codes): a report read as
-- PSY is PSY even when its study is not. The report is read under its study's
-- labels and its own.
ALTER TABLE imaging_report ADD COLUMN IF NOT EXISTS sensitivity_labels text[] NOT NULL DEFAULT '{}';
