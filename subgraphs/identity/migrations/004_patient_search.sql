-- searchPatients: the lookups it filters on, and its order (family name first).
CREATE INDEX IF NOT EXISTS patient_family ON patient (family, id);
CREATE INDEX IF NOT EXISTS patient_birth_date ON patient (birth_date);
CREATE INDEX IF NOT EXISTS patient_identifier_value ON patient_identifier (value);
