-- Version 9: a reassessment's vendor entries and alert links keyed by an
-- integer that grows with each new reassessment, so that a create appends
-- them at the right edge of their b-trees instead of splitting a leaf in
-- the middle.
--
-- Up to version 8 both tables were keyed by the reassessment's text id,
-- which is random (API.md 1.3): a new reassessment's three entries landed
-- on a random leaf of reassessment_vendors, and its alert links on a
-- random leaf of reassessment_alerts, and those leaves were often full
-- (bench/count: 2.6 and 2.2 pages written per create of 3 vendors).
-- reassessments gains rid INTEGER PRIMARY KEY (its rowid, now named, so
-- that VACUUM cannot renumber it), id becomes its UNIQUE key, and the two
-- tables refer to rid.
--
-- reassessments cannot gain a primary key by ALTER TABLE, so it is
-- rebuilt, and with it assessments: renaming a table rewrites the
-- REFERENCES of the tables that name it, and dropping a parent table
-- with foreign keys on checks its children, so every table that refers to
-- reassessments is rebuilt in the same step. Rowids are kept (rid is the
-- old rowid; assessments' rowids too): "newest first" breaks ties by
-- them. The counts triggers and the indexes are made again after the
-- copy, so the copy counts nothing twice.

DROP TRIGGER reassessment_counts_insert;
DROP TRIGGER reassessment_counts_status;
DROP TRIGGER reassessment_counts_delete;
DROP INDEX reassessments_by_org;
DROP INDEX reassessments_by_status;
DROP INDEX reassessments_by_trigger;
DROP INDEX assessments_by_org;
ALTER TABLE reassessment_vendors RENAME TO reassessment_vendors_v8;
ALTER TABLE reassessment_alerts RENAME TO reassessment_alerts_v8;
ALTER TABLE assessments RENAME TO assessments_v8;
ALTER TABLE reassessments RENAME TO reassessments_v8;

CREATE TABLE reassessments (
  rid                INTEGER PRIMARY KEY,
  id                 TEXT NOT NULL UNIQUE
                       CHECK (id LIKE 'cbrsm\_%' ESCAPE '\'),
  org_id             TEXT NOT NULL REFERENCES orgs(id),
  status             TEXT NOT NULL DEFAULT 'draft'
                       CHECK (status IN
                         ('draft', 'confirmed', 'run', 'dismissed')),
  title              TEXT,
  assessment_plan_id TEXT REFERENCES assessment_plans(id),
  radar_event_id     TEXT REFERENCES radar_events(id),
  created_at         INTEGER NOT NULL,
  updated_at         INTEGER NOT NULL,
  trigger_id         TEXT REFERENCES reassessment_triggers(id),
  CHECK (status <> 'run' OR assessment_plan_id IS NOT NULL)
);
INSERT INTO reassessments (rid, id, org_id, status, title,
    assessment_plan_id, radar_event_id, created_at, updated_at, trigger_id)
  SELECT rowid, id, org_id, status, title, assessment_plan_id,
         radar_event_id, created_at, updated_at, trigger_id
  FROM reassessments_v8 ORDER BY rowid;

CREATE TABLE assessments (
  id                 TEXT PRIMARY KEY
                       CHECK (id LIKE 'cbqsrw\_%' ESCAPE '\'),
  org_id             TEXT NOT NULL REFERENCES orgs(id),
  vendor_id          TEXT NOT NULL REFERENCES vendors(id),
  name               TEXT NOT NULL,
  status             TEXT NOT NULL DEFAULT 'created',
  control_set_ids    TEXT NOT NULL DEFAULT '[]'
                       CHECK (json_valid(control_set_ids)),
  assessment_plan_id TEXT NOT NULL REFERENCES assessment_plans(id),
  reassessment_id    TEXT NOT NULL REFERENCES reassessments(id),
  created_at         INTEGER NOT NULL,
  updated_at         INTEGER NOT NULL,
  UNIQUE (reassessment_id, vendor_id)
);
INSERT INTO assessments (rowid, id, org_id, vendor_id, name, status,
    control_set_ids, assessment_plan_id, reassessment_id, created_at,
    updated_at)
  SELECT rowid, id, org_id, vendor_id, name, status, control_set_ids,
         assessment_plan_id, reassessment_id, created_at, updated_at
  FROM assessments_v8 ORDER BY rowid;

CREATE TABLE reassessment_vendors (
  rsm_rid         INTEGER NOT NULL REFERENCES reassessments(rid),
  vendor_id       TEXT NOT NULL REFERENCES vendors(id),
  position        INTEGER NOT NULL,
  source          TEXT NOT NULL CHECK (source IN ('matched', 'manual')),
  included        INTEGER NOT NULL DEFAULT 1 CHECK (included IN (0, 1)),
  assessment_id   TEXT REFERENCES assessments(id),
  PRIMARY KEY (rsm_rid, vendor_id)
) WITHOUT ROWID;
INSERT INTO reassessment_vendors (rsm_rid, vendor_id, position, source,
    included, assessment_id)
  SELECT r.rid, v.vendor_id, v.position, v.source, v.included,
         v.assessment_id
  FROM reassessment_vendors_v8 v JOIN reassessments r
    ON r.id = v.reassessment_id;

CREATE TABLE reassessment_alerts (
  rsm_rid  INTEGER NOT NULL REFERENCES reassessments(rid),
  alert_id TEXT NOT NULL REFERENCES radar_alerts(id),
  PRIMARY KEY (rsm_rid, alert_id)
) WITHOUT ROWID;
INSERT INTO reassessment_alerts (rsm_rid, alert_id)
  SELECT r.rid, a.alert_id
  FROM reassessment_alerts_v8 a JOIN reassessments r
    ON r.id = a.reassessment_id;

DROP TABLE reassessment_vendors_v8;
DROP TABLE reassessment_alerts_v8;
DROP TABLE assessments_v8;
DROP TABLE reassessments_v8;

CREATE INDEX reassessments_by_org ON reassessments(org_id, created_at);
CREATE INDEX reassessments_by_status
  ON reassessments(org_id, status, created_at);
CREATE UNIQUE INDEX reassessments_by_trigger
  ON reassessments(trigger_id, radar_event_id) WHERE trigger_id IS NOT NULL;
CREATE TRIGGER reassessment_counts_insert AFTER INSERT ON reassessments
BEGIN
  INSERT INTO reassessment_counts (org_id, status, n)
    VALUES (NEW.org_id, NEW.status, 1)
    ON CONFLICT (org_id, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER reassessment_counts_status AFTER UPDATE OF status
  ON reassessments WHEN OLD.status <> NEW.status
BEGIN
  UPDATE reassessment_counts SET n = n - 1
    WHERE org_id = OLD.org_id AND status = OLD.status;
  INSERT INTO reassessment_counts (org_id, status, n)
    VALUES (NEW.org_id, NEW.status, 1)
    ON CONFLICT (org_id, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER reassessment_counts_delete AFTER DELETE ON reassessments
BEGIN
  UPDATE reassessment_counts SET n = n - 1
    WHERE org_id = OLD.org_id AND status = OLD.status;
END;
CREATE INDEX assessments_by_org ON assessments(org_id, created_at);
