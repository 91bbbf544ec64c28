-- Version 5: a reassessment's vendor entries and alert links in fewer
-- b-trees, so that a create or a run writes fewer pages.
--
-- reassessment_vendors was a rowid table with four indexes besides it (the
-- primary key's, the UNIQUE on assessment_id, by_vendor and in_order): a
-- create of three vendors wrote about twelve pages to it. It becomes a
-- WITHOUT ROWID table clustered by its primary key, so one reassessment's
-- entries sit together on one leaf, with the joining order in a column of
-- its own (position) instead of the rowid. Gone: the in_order index (the
-- primary key holds one reassessment's entries together; a read sorts its
-- few entries by position) and the UNIQUE index on assessment_id, whose
-- NULL entries every unrun vendor paid for (assessments' own UNIQUE
-- (reassessment_id, vendor_id) keeps one assessment per entry).
--
-- reassessment_alerts likewise becomes WITHOUT ROWID: its primary key was
-- a second b-tree beside the rowid table.
--
-- Each table is rebuilt under its own name (the old one renamed, copied,
-- dropped), so that its CREATE text is schema.sql's.
--
-- And the indexes that no statement uses go: EXPLAIN QUERY PLAN of every
-- statement (bench/count.c prints it) shows that the list filters, written
-- "?N IS NULL OR column = ?N" so that one statement serves every
-- combination, walk the org's rows newest first and never use an index on
-- the filtered column, while every write paid a page or more for each:
-- reassessments_by_event, reassessment_vendors_by_vendor (the vendor
-- filter probes each candidate's primary key instead), assessments_by_vendor
-- (a leaf per vendor of every run), radar_alerts_by_vendor and
-- vendors_by_external_id.

ALTER TABLE reassessment_vendors RENAME TO reassessment_vendors_v4;
CREATE TABLE reassessment_vendors (
  reassessment_id TEXT NOT NULL REFERENCES reassessments(id),
  vendor_id       TEXT NOT NULL REFERENCES vendors(id),
  position        INTEGER NOT NULL,
  source          TEXT NOT NULL CHECK (source IN ('matched', 'manual')),
  included        INTEGER NOT NULL DEFAULT 1 CHECK (included IN (0, 1)),
  assessment_id   TEXT REFERENCES assessments(id),
  PRIMARY KEY (reassessment_id, vendor_id)
) WITHOUT ROWID;
INSERT INTO reassessment_vendors (reassessment_id, vendor_id, position,
    source, included, assessment_id)
  SELECT reassessment_id, vendor_id,
         row_number() OVER (PARTITION BY reassessment_id ORDER BY rowid),
         source, included, assessment_id
  FROM reassessment_vendors_v4;
DROP TABLE reassessment_vendors_v4;

ALTER TABLE reassessment_alerts RENAME TO reassessment_alerts_v4;
CREATE TABLE reassessment_alerts (
  reassessment_id TEXT NOT NULL REFERENCES reassessments(id),
  alert_id        TEXT NOT NULL REFERENCES radar_alerts(id),
  PRIMARY KEY (reassessment_id, alert_id)
) WITHOUT ROWID;
INSERT INTO reassessment_alerts (reassessment_id, alert_id)
  SELECT reassessment_id, alert_id FROM reassessment_alerts_v4;
DROP TABLE reassessment_alerts_v4;

DROP INDEX reassessments_by_event;
DROP INDEX assessments_by_vendor;
DROP INDEX radar_alerts_by_vendor;
DROP INDEX vendors_by_external_id;
