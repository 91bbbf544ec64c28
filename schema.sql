-- reassess: the database schema, version 1.
--
-- This file is the single source of truth: the Makefile builds it into the
-- binary, and `reassess init` applies it inside one transaction and then
-- records the version in PRAGMA user_version.
--
-- Conventions:
--   * Every public object has `id TEXT PRIMARY KEY` of the form
--     <prefix>_<32 lowercase hex> and an `org_id`; every query that a key
--     makes names its org, so one org never sees another's rows.
--   * Timestamps are INTEGER Unix seconds, UTC.
--   * Tables keep their implicit rowid: "newest first" is
--     `created_at DESC, rowid DESC`, and the indexes below end in
--     created_at so that SQLite walks them backwards instead of sorting.
--   * Booleans are INTEGER 0/1 with a CHECK.
--   * Lists of strings that are only ever read whole (control set ids,
--     impact types) are JSON arrays in TEXT, checked with json_valid().

-- An organization: the unit of isolation. Made by `reassess org create`.
CREATE TABLE orgs (
  id         TEXT PRIMARY KEY CHECK (id LIKE 'cborg\_%' ESCAPE '\'),
  name       TEXT NOT NULL,                   -- free text, for the operator
  created_at INTEGER NOT NULL
);

-- API keys. The secret itself is never stored: only its SHA-256.
CREATE TABLE api_keys (
  id          TEXT PRIMARY KEY CHECK (id LIKE 'cbak\_%' ESCAPE '\'),
  org_id      TEXT NOT NULL REFERENCES orgs(id),
  name        TEXT,                           -- operator's label, may be NULL
  secret_hash BLOB NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
  created_at  INTEGER NOT NULL,
  revoked_at  INTEGER                         -- NULL while the key is live
);
CREATE INDEX api_keys_by_org ON api_keys(org_id, created_at);

-- Vendors (3.1).
CREATE TABLE vendors (
  id          TEXT PRIMARY KEY CHECK (id LIKE 'cbvndr\_%' ESCAPE '\'),
  org_id      TEXT NOT NULL REFERENCES orgs(id),
  external_id TEXT,                           -- client's own id; not unique
  name        TEXT NOT NULL CHECK (name <> ''),
  website     TEXT,
  description TEXT,
  hq_location TEXT,
  use_case    TEXT,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);
-- GET /v1/vendors, newest first; also serves the name filter (a scan of
-- the org's rows: a substring match cannot use an index).
CREATE INDEX vendors_by_org ON vendors(org_id, created_at);
-- GET /v1/vendors?external_id=...
CREATE INDEX vendors_by_external_id ON vendors(org_id, external_id);

-- Idempotency-Key replays for POST /v1/vendors (1.6). The key is stored
-- as its SHA-256 so that a client's key of any length costs 32 bytes.
CREATE TABLE idempotency_keys (
  org_id     TEXT NOT NULL REFERENCES orgs(id),
  endpoint   TEXT NOT NULL,                   -- "POST /v1/vendors"
  key_hash   BLOB NOT NULL CHECK (length(key_hash) = 32),
  status     INTEGER NOT NULL,                -- first response's status
  body       TEXT NOT NULL,                   -- first response's body, verbatim
  created_at INTEGER NOT NULL,                -- first use; window is 24 h
  PRIMARY KEY (org_id, endpoint, key_hash)
);
-- Expiry sweep.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys(created_at);

-- Radar events (3.2).
CREATE TABLE radar_events (
  id                     TEXT PRIMARY KEY CHECK (id LIKE 'cbrevent\_%' ESCAPE '\'),
  org_id                 TEXT NOT NULL REFERENCES orgs(id),
  name                   TEXT NOT NULL,
  summary                TEXT NOT NULL,
  primary_impact_type    TEXT NOT NULL CHECK (primary_impact_type IN (
                           'Infosec', 'Financial', 'Operational', 'Legal',
                           'Compliance', 'Reputational', 'Contractual', 'ESG',
                           'Corporate', 'Geopolitical & External',
                           'Inapplicable', 'Other')),
  secondary_impact_types TEXT NOT NULL DEFAULT '[]'
                           CHECK (json_valid(secondary_impact_types)),
  source_url             TEXT,
  source_name            TEXT,
  occurred_at            INTEGER NOT NULL,
  is_archived            INTEGER NOT NULL DEFAULT 0 CHECK (is_archived IN (0, 1)),
  created_at             INTEGER NOT NULL,
  updated_at             INTEGER NOT NULL
);
-- GET /v1/radar/events, newest first, archived hidden by default.
CREATE INDEX radar_events_by_org ON radar_events(org_id, created_at);

-- The vendors an event is linked to, in the order they were given.
CREATE TABLE radar_event_vendors (
  event_id  TEXT NOT NULL REFERENCES radar_events(id),
  vendor_id TEXT NOT NULL REFERENCES vendors(id),
  PRIMARY KEY (event_id, vendor_id)
);

-- Radar alerts (detector results). Made here only by POST /v1/radar/events
-- with create_alert; detector_id, source_id and data_id are always NULL.
CREATE TABLE radar_alerts (
  id               TEXT PRIMARY KEY CHECK (id LIKE 'cbrdrres\_%' ESCAPE '\'),
  org_id           TEXT NOT NULL REFERENCES orgs(id),
  vendor_id        TEXT NOT NULL REFERENCES vendors(id),
  event_id         TEXT REFERENCES radar_events(id),
  summary          TEXT NOT NULL,
  severity         TEXT NOT NULL CHECK (severity IN
                     ('informational', 'low', 'medium', 'high')),
  confidence       TEXT NOT NULL DEFAULT 'medium'
                     CHECK (confidence IN ('low', 'medium', 'high')),
  should_alert     INTEGER NOT NULL DEFAULT 1 CHECK (should_alert IN (0, 1)),
  is_dismissed     INTEGER NOT NULL DEFAULT 0 CHECK (is_dismissed IN (0, 1)),
  dismiss_reason   TEXT,
  dismissed_at     INTEGER,
  suppress_similar INTEGER NOT NULL DEFAULT 0 CHECK (suppress_similar IN (0, 1)),
  is_archived      INTEGER NOT NULL DEFAULT 0 CHECK (is_archived IN (0, 1)),
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  -- A dismissed alert has its time; an active one has neither time nor reason.
  CHECK (is_dismissed = (dismissed_at IS NOT NULL)),
  CHECK (is_dismissed = 1 OR dismiss_reason IS NULL)
);
-- GET /v1/radar/alerts, newest first.
CREATE INDEX radar_alerts_by_org ON radar_alerts(org_id, created_at);
-- GET /v1/radar/alerts?vendor_id=...
CREATE INDEX radar_alerts_by_vendor ON radar_alerts(vendor_id, created_at);
-- A reassessment's alert_ids: the event's alerts, oldest first.
CREATE INDEX radar_alerts_by_event ON radar_alerts(event_id, created_at);

-- Assessment plans (3.3).
CREATE TABLE assessment_plans (
  id              TEXT PRIMARY KEY CHECK (id LIKE 'cbasmtpl\_%' ESCAPE '\'),
  org_id          TEXT NOT NULL REFERENCES orgs(id),
  name            TEXT NOT NULL,
  description     TEXT,
  control_set_ids TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(control_set_ids)),
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX assessment_plans_by_org ON assessment_plans(org_id, created_at);

-- Reassessments (2).
CREATE TABLE reassessments (
  id                 TEXT PRIMARY KEY CHECK (id LIKE 'cbrsm\_%' ESCAPE '\'),
  org_id             TEXT NOT NULL REFERENCES orgs(id),
  status             TEXT NOT NULL DEFAULT 'draft'
                       CHECK (status IN ('draft', 'confirmed', 'run', 'dismissed')),
  title              TEXT,
  assessment_plan_id TEXT REFERENCES assessment_plans(id),
  radar_event_id     TEXT REFERENCES radar_events(id),
  created_at         INTEGER NOT NULL,
  updated_at         INTEGER NOT NULL,
  -- A run reassessment always had a plan.
  CHECK (status <> 'run' OR assessment_plan_id IS NOT NULL)
);
-- GET /v1/reassessments, newest first, with or without ?status=.
CREATE INDEX reassessments_by_org ON reassessments(org_id, created_at);
CREATE INDEX reassessments_by_status ON reassessments(org_id, status, created_at);
-- GET /v1/reassessments?radar_event_id=...
CREATE INDEX reassessments_by_event ON reassessments(radar_event_id, created_at);

-- A reassessment's vendor entries, in the order the vendors joined
-- (rowid order).
CREATE TABLE reassessment_vendors (
  reassessment_id TEXT NOT NULL REFERENCES reassessments(id),
  vendor_id       TEXT NOT NULL REFERENCES vendors(id),
  source          TEXT NOT NULL CHECK (source IN ('matched', 'manual')),
  included        INTEGER NOT NULL DEFAULT 1 CHECK (included IN (0, 1)),
  assessment_id   TEXT UNIQUE REFERENCES assessments(id),
  PRIMARY KEY (reassessment_id, vendor_id)
);
-- GET /v1/reassessments?vendor_id=...
CREATE INDEX reassessment_vendors_by_vendor ON reassessment_vendors(vendor_id);

-- A reassessment's alert_ids, computed at creation and whenever the event
-- or the vendor set changes; read back oldest alert first.
CREATE TABLE reassessment_alerts (
  reassessment_id TEXT NOT NULL REFERENCES reassessments(id),
  alert_id        TEXT NOT NULL REFERENCES radar_alerts(id),
  PRIMARY KEY (reassessment_id, alert_id)
);

-- Assessments (3.4), made only by a reassessment run.
CREATE TABLE assessments (
  id                 TEXT PRIMARY KEY CHECK (id LIKE 'cbqsrw\_%' ESCAPE '\'),
  org_id             TEXT NOT NULL REFERENCES orgs(id),
  vendor_id          TEXT NOT NULL REFERENCES vendors(id),
  name               TEXT NOT NULL,           -- "<plan name>: <vendor name>"
  status             TEXT NOT NULL DEFAULT 'created',
  control_set_ids    TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(control_set_ids)),
  assessment_plan_id TEXT NOT NULL REFERENCES assessment_plans(id),
  reassessment_id    TEXT NOT NULL REFERENCES reassessments(id),
  created_at         INTEGER NOT NULL,
  updated_at         INTEGER NOT NULL,
  -- One assessment per vendor per reassessment, whatever races happen.
  UNIQUE (reassessment_id, vendor_id)
);
CREATE INDEX assessments_by_org ON assessments(org_id, created_at);
CREATE INDEX assessments_by_vendor ON assessments(vendor_id, created_at);
