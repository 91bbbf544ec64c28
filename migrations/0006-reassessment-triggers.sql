-- Version 6: reassessment triggers (API.md 7): a radar event, when it is
-- created, makes a draft reassessment for each enabled trigger it matches.
--
-- A new table for the triggers, and reassessments.trigger_id, the trigger
-- that made a draft (NULL for one made by hand), with a partial UNIQUE
-- index: at most one reassessment per (trigger, event), and the rows of
-- GET /v1/reassessments?trigger_id=. Partial, so that a reassessment made
-- by hand (trigger_id NULL) writes no entry to it.

CREATE TABLE reassessment_triggers (
  id                   TEXT PRIMARY KEY
                         CHECK (id LIKE 'cbrtrg\_%' ESCAPE '\'),
  org_id               TEXT NOT NULL REFERENCES orgs(id),
  name                 TEXT NOT NULL,
  assessment_plan_id   TEXT REFERENCES assessment_plans(id),
  primary_impact_types TEXT NOT NULL DEFAULT '[]'
                         CHECK (json_valid(primary_impact_types)),
  min_alert_severity   TEXT NOT NULL DEFAULT 'informational'
                         CHECK (min_alert_severity IN
                           ('informational', 'low', 'medium', 'high')),
  vendor_ids           TEXT CHECK (vendor_ids IS NULL OR json_valid(vendor_ids)),
  enabled              INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  deleted_at           INTEGER,
  created_at           INTEGER NOT NULL,
  updated_at           INTEGER NOT NULL
);
CREATE INDEX reassessment_triggers_by_org
  ON reassessment_triggers(org_id, created_at);

ALTER TABLE reassessments ADD COLUMN
  trigger_id TEXT REFERENCES reassessment_triggers(id);
CREATE UNIQUE INDEX reassessments_by_trigger
  ON reassessments(trigger_id, radar_event_id) WHERE trigger_id IS NOT NULL;
