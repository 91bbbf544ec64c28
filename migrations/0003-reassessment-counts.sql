-- Version 3: the number of reassessments per org and status, kept by
-- triggers, so that `total` of GET /v1/reassessments (unfiltered or by
-- status) is read, not counted: a count(*) walks every row of the org and
-- grows with the table.
CREATE TABLE reassessment_counts (
  org_id TEXT NOT NULL REFERENCES orgs(id),
  status TEXT NOT NULL,
  n      INTEGER NOT NULL CHECK (n >= 0),
  PRIMARY KEY (org_id, status)
) WITHOUT ROWID;

INSERT INTO reassessment_counts (org_id, status, n)
  SELECT org_id, status, count(*) FROM reassessments GROUP BY org_id, status;

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
