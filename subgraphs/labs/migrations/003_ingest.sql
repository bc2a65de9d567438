
-- HL7 v2 messages received from laboratory systems, by sending organisation
-- and message control id (MSH-10): a replayed message gets the acknowledgement
-- the first one got, and creates nothing.
CREATE TABLE IF NOT EXISTS hl7v2_message (
  organization_id text NOT NULL,
  control_id text NOT NULL,
  ack text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, control_id)
);
