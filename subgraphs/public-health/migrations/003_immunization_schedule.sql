-- Immunisation schedules: which dose of which vaccine (CVX) a programme
-- recommends at what age, and how long after that it counts as overdue. The
-- due list of a programme (Query.immunizationsDue) is this schedule applied to
-- each enrolled child's birth date, minus the doses already given.
--
-- program_id names a programme of the registry (prog-epi ...). It carries no
-- foreign key: programmes are reference data loaded after the migrations run.
CREATE TABLE immunization_schedule (
  id text PRIMARY KEY,
  program_id text NOT NULL,
  -- Position in the schedule (ties of the due list are broken by it).
  seq integer NOT NULL,
  vaccine_code text NOT NULL,
  vaccine_display text NOT NULL,
  dose_number integer NOT NULL CHECK (dose_number >= 1),
  -- Recommended age at the dose, in days after birth.
  recommended_age_days integer NOT NULL CHECK (recommended_age_days >= 0),
  -- The dose is overdue from (recommended age + this many days) on.
  overdue_after_days integer NOT NULL CHECK (overdue_after_days >= 1),
  UNIQUE (program_id, seq),
  UNIQUE (program_id, vaccine_code, dose_number)
);

-- The childhood immunisation programme (EPI). Ages are months of 30.44 days,
-- rounded (the generator's months); a dose is timely within about a month of
-- its recommended age, except the hepatitis B birth dose (first 24 hours),
-- BCG (first three months) and the 18-month boosters (until 24 months).
INSERT INTO immunization_schedule (id, program_id, seq, vaccine_code, vaccine_display, dose_number, recommended_age_days, overdue_after_days) VALUES
  ('epi-hepb-1', 'prog-epi', 1, '08', 'Hep B, adolescent or pediatric', 1, 0, 1),
  ('epi-bcg-1', 'prog-epi', 2, '19', 'BCG', 1, 0, 90),
  ('epi-hepb-2', 'prog-epi', 3, '08', 'Hep B, adolescent or pediatric', 2, 30, 30),
  ('epi-ipv-1', 'prog-epi', 4, '10', 'IPV', 1, 61, 30),
  ('epi-ipv-2', 'prog-epi', 5, '10', 'IPV', 2, 91, 30),
  ('epi-dtap-1', 'prog-epi', 6, '20', 'DTaP', 1, 91, 30),
  ('epi-dtap-2', 'prog-epi', 7, '20', 'DTaP', 2, 122, 30),
  ('epi-dtap-3', 'prog-epi', 8, '20', 'DTaP', 3, 152, 30),
  ('epi-hepb-3', 'prog-epi', 9, '08', 'Hep B, adolescent or pediatric', 3, 183, 30),
  ('epi-mmr-1', 'prog-epi', 10, '03', 'MMR', 1, 244, 30),
  ('epi-dtap-4', 'prog-epi', 11, '20', 'DTaP', 4, 548, 183),
  ('epi-mmr-2', 'prog-epi', 12, '03', 'MMR', 2, 548, 183);

-- Whether a patient already had a given dose (the due list's anti-join).
CREATE INDEX immunization_patient_vaccine_dose ON immunization (patient_id, vaccine_code, dose_number);
