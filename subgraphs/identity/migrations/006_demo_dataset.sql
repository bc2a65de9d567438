-- Which synthetic data set this database holds, written by the seeding
-- commands (npm start, seed:large, the tests' stacks) and read only by them:
-- the seed, the anchor its dates are relative to, how many patients. Empty in
-- a deployment.
CREATE TABLE demo_dataset (
  id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  seed bigint NOT NULL,
  anchor date NOT NULL,
  patients integer NOT NULL,
  seeded_at timestamptz NOT NULL DEFAULT now()
);
