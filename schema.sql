-- reassess: the database schema, version 9.
--
-- This is the schema that a fresh database gets, whole: `reassess init` on
-- an empty file runs this file and sets PRAGMA user_version = 9, in one
-- transaction. The Makefile builds it into the binary
-- (scripts/embed-sql.sh). Read it to know what a table looks like.
--
-- A database made by an older release gets here another way: `reassess
-- init` applies the upgrade steps of migrations/ to it in order
-- (NNNN-*.sql takes version NNNN - 1 to NNNN), never this file. Both paths
-- must give the same schema, and tests/schema.bats checks that they do: a
-- change to the schema is a new migration AND the same change here
-- (migrations/README says how).
--
-- Versions: 1 reassessments and what they refer to; 2 webhooks (0002);
-- 3 reassessment_counts and its triggers (0003); 4 the index
-- reassessment_vendors_in_order (0004); 5 reassessment_vendors and
-- reassessment_alerts WITHOUT ROWID, the indexes no statement used
-- dropped (0005); 6 reassessment_triggers and reassessments.trigger_id
-- (0006); 7 key scopes and expiry, the org's IP allowlist, the audit log
-- (0007); 8 webhook secret rotation, six delivery attempts (0008); 9
-- reassessments.rid, the key of their vendor entries and alert links
-- (0009).
--
-- Conventions:
--   * Every public object has `id TEXT PRIMARY KEY` of the form
--     <prefix>_<32 lowercase hex> (reassessments: `id TEXT NOT NULL
--     UNIQUE` beside their `rid`) and an `org_id`; every query that a key
--     makes names its org, so one org never sees another's rows.
--   * Timestamps are INTEGER Unix seconds, UTC.
--   * Tables of objects keep their rowid (reassessments name it rid):
--     "newest first" is `created_at DESC, rowid DESC`, and the indexes
--     below end in created_at so that SQLite walks them backwards instead
--     of sorting.
--   * Booleans are INTEGER 0/1 with a CHECK.
--   * Lists of strings that are only ever read whole (control set ids,
--     impact types, a webhook's event types) are JSON arrays in TEXT,
--     checked with json_valid().
--   * SQLite keeps the text of each CREATE as written, comments inside it
--     included: `sqlite3 reassess.db .schema` shows the column comments.
--     A table's indexes (and triggers) are listed in the order a migrated
--     database created them, which is the order SQLite considers them in.

-- ------------------------------------------------------------------------
-- Orgs and their keys (version 1)
-- ------------------------------------------------------------------------

-- An organization: the unit of isolation. Made by `reassess org create`;
-- every other row belongs to one, directly or through its parent row.
CREATE TABLE orgs (
  id         TEXT PRIMARY KEY                 -- "cborg_" and 32 hex digits
               CHECK (id LIKE 'cborg\_%' ESCAPE '\'),
  name       TEXT NOT NULL,                   -- free text, for the operator
  created_at INTEGER NOT NULL,                -- when it was made
  -- API.md 6.3: a JSON array of CIDRs or addresses, IPv4 or IPv6; empty:
  -- a key of the org may call from anywhere.
  api_ip_allowlist TEXT NOT NULL DEFAULT '[]'
  CHECK (json_valid(api_ip_allowlist)),
  updated_at INTEGER                          -- last change; NULL: never
);

-- API keys. The secret itself is never stored: only its SHA-256.
CREATE TABLE api_keys (
  id          TEXT PRIMARY KEY                -- "cbak_" and 32 hex digits;
                                              -- not the secret
                CHECK (id LIKE 'cbak\_%' ESCAPE '\'),
  org_id      TEXT NOT NULL REFERENCES orgs(id),  -- all the key can see
  name        TEXT,                           -- operator's label, may be NULL
  -- SHA-256 of the secret "ak_live_..."; a request's Bearer secret is
  -- hashed and looked up here (the UNIQUE's index).
  secret_hash BLOB NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
  created_at  INTEGER NOT NULL,               -- when it was made
  revoked_at  INTEGER,                        -- NULL while the key is live
  -- API.md 6.1: a JSON array of "keys:manage", "audit:read"; granted
  -- only on the command line.
  scopes TEXT NOT NULL DEFAULT '[]'
  CHECK (json_valid(scopes)),
  expires_at INTEGER,                         -- NULL: never expires
  -- Set from the batched API-call records, so it may lag by a minute.
  last_used_at INTEGER,
  -- The key whose POST /v1/api-keys (or rotate) made this one; NULL when
  -- made on the command line.
  created_by TEXT REFERENCES api_keys(id)
);
-- `reassess key list ORG_ID`, oldest first.
CREATE INDEX api_keys_by_org ON api_keys(org_id, created_at);

-- ------------------------------------------------------------------------
-- Vendors, radar events and alerts, plans (version 1)
-- ------------------------------------------------------------------------

-- Vendors (API.md 3.1).
CREATE TABLE vendors (
  id          TEXT PRIMARY KEY                -- "cbvndr_" and 32 hex digits
                CHECK (id LIKE 'cbvndr\_%' ESCAPE '\'),
  org_id      TEXT NOT NULL REFERENCES orgs(id),  -- the owning org
  external_id TEXT,                           -- client's own id; not unique
  name        TEXT NOT NULL CHECK (name <> ''),   -- required, non-empty
  website     TEXT,                           -- free text, NULL if not given
  description TEXT,                           -- free text, NULL if not given
  hq_location TEXT,                           -- free text, NULL if not given
  use_case    TEXT,                           -- free text, NULL if not given
  created_at  INTEGER NOT NULL,               -- POST time
  updated_at  INTEGER NOT NULL                -- last change
);
-- GET /v1/vendors, newest first; also serves the name and external_id
-- filters, which walk the org's rows (a substring match cannot use an
-- index, and the list's one statement for every combination of filters,
-- "?N IS NULL OR ...", uses none; an index per filter would cost every
-- write a page: version 5 dropped vendors_by_external_id).
CREATE INDEX vendors_by_org ON vendors(org_id, created_at);

-- Idempotency-Key replays for POST /v1/vendors (API.md 1.6). The key is
-- stored as its SHA-256 so that a client's key of any length costs 32
-- bytes.
CREATE TABLE idempotency_keys (
  org_id     TEXT NOT NULL REFERENCES orgs(id),  -- keys are per org
  endpoint   TEXT NOT NULL,                   -- "POST /v1/vendors"
  key_hash   BLOB NOT NULL CHECK (length(key_hash) = 32),  -- SHA-256 of key
  status     INTEGER NOT NULL,                -- first response's status
  body       TEXT NOT NULL,                   -- first response's body, verbatim
  created_at INTEGER NOT NULL,                -- first use; window is 24 h
  PRIMARY KEY (org_id, endpoint, key_hash)    -- the replay lookup
);
-- Expiry sweep.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys(created_at);

-- Radar events (API.md 3.2).
CREATE TABLE radar_events (
  id                     TEXT PRIMARY KEY     -- "cbrevent_" and 32 hex digits
                           CHECK (id LIKE 'cbrevent\_%' ESCAPE '\'),
  org_id                 TEXT NOT NULL REFERENCES orgs(id),  -- owning org
  name                   TEXT NOT NULL,       -- required
  summary                TEXT NOT NULL,       -- required; copied to alerts
  -- One of the impact types of API.md 3.2, case as written.
  primary_impact_type    TEXT NOT NULL CHECK (primary_impact_type IN (
                           'Infosec', 'Financial', 'Operational', 'Legal',
                           'Compliance', 'Reputational', 'Contractual', 'ESG',
                           'Corporate', 'Geopolitical & External',
                           'Inapplicable', 'Other')),
  -- JSON array of impact types (checked by the program), read whole.
  secondary_impact_types TEXT NOT NULL DEFAULT '[]'
                           CHECK (json_valid(secondary_impact_types)),
  source_url             TEXT,                -- where it was reported; NULL
  source_name            TEXT,                -- who reported it; NULL
  occurred_at            INTEGER NOT NULL,    -- client's time, default: POST
  -- Archived events are hidden from lists unless asked for.
  is_archived            INTEGER NOT NULL DEFAULT 0
                           CHECK (is_archived IN (0, 1)),
  created_at             INTEGER NOT NULL,    -- POST time
  updated_at             INTEGER NOT NULL     -- last change
);
-- GET /v1/radar/events, newest first, archived hidden by default.
CREATE INDEX radar_events_by_org ON radar_events(org_id, created_at);

-- The vendors an event is linked to, in the order they were given (rowid
-- order).
CREATE TABLE radar_event_vendors (
  event_id  TEXT NOT NULL REFERENCES radar_events(id),  -- the event
  vendor_id TEXT NOT NULL REFERENCES vendors(id),       -- a linked vendor
  PRIMARY KEY (event_id, vendor_id)           -- each vendor once per event
);

-- Radar alerts (detector results). Made here only by POST /v1/radar/events
-- with create_alert; detector_id, source_id and data_id are always NULL
-- in the API and have no column.
CREATE TABLE radar_alerts (
  id               TEXT PRIMARY KEY           -- "cbrdrres_" and 32 hex digits
                     CHECK (id LIKE 'cbrdrres\_%' ESCAPE '\'),
  org_id           TEXT NOT NULL REFERENCES orgs(id),      -- owning org
  vendor_id        TEXT NOT NULL REFERENCES vendors(id),   -- alerted vendor
  event_id         TEXT REFERENCES radar_events(id),  -- the event that made it
  summary          TEXT NOT NULL,             -- the event's summary
  -- The event's alert_severity (default medium).
  severity         TEXT NOT NULL CHECK (severity IN
                     ('informational', 'low', 'medium', 'high')),
  -- Always 'medium' here: there are no detectors to be surer or less sure.
  confidence       TEXT NOT NULL DEFAULT 'medium'
                     CHECK (confidence IN ('low', 'medium', 'high')),
  -- Whether it should notify; always 1 here.
  should_alert     INTEGER NOT NULL DEFAULT 1 CHECK (should_alert IN (0, 1)),
  -- POST .../dismiss sets it, .../undismiss clears it.
  is_dismissed     INTEGER NOT NULL DEFAULT 0 CHECK (is_dismissed IN (0, 1)),
  dismiss_reason   TEXT,                      -- the dismisser's reason; NULL
  dismissed_at     INTEGER,                   -- NULL while active
  -- The dismisser's request to hide alerts like it; stored, not acted on.
  suppress_similar INTEGER NOT NULL DEFAULT 0
                     CHECK (suppress_similar IN (0, 1)),
  -- Archived alerts are hidden from lists unless asked for.
  is_archived      INTEGER NOT NULL DEFAULT 0 CHECK (is_archived IN (0, 1)),
  created_at       INTEGER NOT NULL,          -- when the event made it
  updated_at       INTEGER NOT NULL,          -- last dismiss or undismiss
  -- A dismissed alert has its time; an active one has neither time nor reason.
  CHECK (is_dismissed = (dismissed_at IS NOT NULL)),
  CHECK (is_dismissed = 1 OR dismiss_reason IS NULL)
);
-- GET /v1/radar/alerts, newest first, and its filters (which walk the
-- org's rows; version 5 dropped radar_alerts_by_vendor, which no
-- statement used).
CREATE INDEX radar_alerts_by_org ON radar_alerts(org_id, created_at);
-- A reassessment's alert_ids: the event's alerts, oldest first.
CREATE INDEX radar_alerts_by_event ON radar_alerts(event_id, created_at);

-- Assessment plans (API.md 3.3): what a run assesses each vendor against.
CREATE TABLE assessment_plans (
  id              TEXT PRIMARY KEY            -- "cbasmtpl_" and 32 hex digits
                    CHECK (id LIKE 'cbasmtpl\_%' ESCAPE '\'),
  org_id          TEXT NOT NULL REFERENCES orgs(id),  -- owning org
  name            TEXT NOT NULL,              -- required; names assessments
  description     TEXT,                       -- free text; NULL
  -- JSON array of strings; copied to each assessment a run makes.
  control_set_ids TEXT NOT NULL DEFAULT '[]'
                    CHECK (json_valid(control_set_ids)),
  created_at      INTEGER NOT NULL,           -- POST time
  updated_at      INTEGER NOT NULL            -- last change
);
-- GET /v1/assessment_plans, newest first.
CREATE INDEX assessment_plans_by_org ON assessment_plans(org_id, created_at);

-- ------------------------------------------------------------------------
-- Reassessments (version 1; counts version 3; entries version 5; trigger_id
-- version 6; rid version 9)
-- ------------------------------------------------------------------------

-- Reassessments (API.md 2): draft -> confirmed -> run, or dismissed.
CREATE TABLE reassessments (
  -- Its rowid, named so that VACUUM keeps it: it grows with each new
  -- reassessment, and the vendor entries and alert links are keyed by it,
  -- so a create appends them at the right edge of their b-trees instead of
  -- splitting a leaf at a random place, as the random text id did (version
  -- 9). Never shown: the API knows a reassessment by its id.
  rid                INTEGER PRIMARY KEY,
  id                 TEXT NOT NULL UNIQUE     -- "cbrsm_" and 32 hex digits
                       CHECK (id LIKE 'cbrsm\_%' ESCAPE '\'),
  org_id             TEXT NOT NULL REFERENCES orgs(id),  -- owning org
  -- draft and confirmed can change; run and dismissed are terminal.
  status             TEXT NOT NULL DEFAULT 'draft'
                       CHECK (status IN
                         ('draft', 'confirmed', 'run', 'dismissed')),
  title              TEXT,                    -- free text; NULL
  -- The plan a run uses; NULL until given (run refuses without one).
  assessment_plan_id TEXT REFERENCES assessment_plans(id),
  -- The radar event it answers; required at creation, may be re-linked.
  radar_event_id     TEXT REFERENCES radar_events(id),
  created_at         INTEGER NOT NULL,        -- POST time
  updated_at         INTEGER NOT NULL,        -- last change that changed it
  -- The trigger that made it as a draft when its radar event was created
  -- (API.md 7); NULL for one made by hand (version 6).
  trigger_id         TEXT REFERENCES reassessment_triggers(id),
  -- A run reassessment always had a plan.
  CHECK (status <> 'run' OR assessment_plan_id IS NOT NULL)
);
-- GET /v1/reassessments, newest first, with or without ?status=.
CREATE INDEX reassessments_by_org ON reassessments(org_id, created_at);
CREATE INDEX reassessments_by_status
  ON reassessments(org_id, status, created_at);
-- At most one reassessment per (trigger, event), and GET
-- /v1/reassessments?trigger_id=... Partial: a reassessment made by hand
-- (trigger_id NULL) writes no entry here (version 6).
CREATE UNIQUE INDEX reassessments_by_trigger
  ON reassessments(trigger_id, radar_event_id) WHERE trigger_id IS NOT NULL;

-- The number of reassessments per org and status, kept by the three
-- triggers below, so that `total` of GET /v1/reassessments (unfiltered or
-- by status) is read, not counted: a count(*) walks every row of the org
-- and grows with the table. A status that has had rows keeps its row,
-- possibly at 0. (Version 3; a migrated database filled it from the rows
-- it held.)
CREATE TABLE reassessment_counts (
  org_id TEXT NOT NULL REFERENCES orgs(id),   -- the org counted
  status TEXT NOT NULL,                       -- a reassessments.status
  n      INTEGER NOT NULL CHECK (n >= 0),     -- its reassessments in status
  PRIMARY KEY (org_id, status)                -- one count per org and status
) WITHOUT ROWID;

-- A new reassessment counts in its status.
CREATE TRIGGER reassessment_counts_insert AFTER INSERT ON reassessments
BEGIN
  INSERT INTO reassessment_counts (org_id, status, n)
    VALUES (NEW.org_id, NEW.status, 1)
    ON CONFLICT (org_id, status) DO UPDATE SET n = n + 1;
END;

-- A change of status moves it from one count to the other.
CREATE TRIGGER reassessment_counts_status AFTER UPDATE OF status
  ON reassessments WHEN OLD.status <> NEW.status
BEGIN
  UPDATE reassessment_counts SET n = n - 1
    WHERE org_id = OLD.org_id AND status = OLD.status;
  INSERT INTO reassessment_counts (org_id, status, n)
    VALUES (NEW.org_id, NEW.status, 1)
    ON CONFLICT (org_id, status) DO UPDATE SET n = n + 1;
END;

-- A deleted reassessment (no endpoint deletes one) leaves its count.
CREATE TRIGGER reassessment_counts_delete AFTER DELETE ON reassessments
BEGIN
  UPDATE reassessment_counts SET n = n - 1
    WHERE org_id = OLD.org_id AND status = OLD.status;
END;

-- A reassessment's vendor entries. WITHOUT ROWID, clustered by the primary
-- key, so that one reassessment's entries sit together: a create writes
-- them to one leaf, and a read finds them with one seek (version 5); the
-- owner is its rid, so a new reassessment's entries go at the end
-- (version 9).
CREATE TABLE reassessment_vendors (
  rsm_rid         INTEGER NOT NULL REFERENCES reassessments(rid),  -- owner
  vendor_id       TEXT NOT NULL REFERENCES vendors(id),        -- the vendor
  -- The order the vendors joined in: 1, 2, ... at creation, then after the
  -- largest so far for each added one (gaps allowed). Reads sort by it.
  position        INTEGER NOT NULL,
  -- 'matched' if given at creation, 'manual' if added by POST .../vendors.
  source          TEXT NOT NULL CHECK (source IN ('matched', 'manual')),
  -- 0 once opted out by .../vendor_inclusion: a run skips it.
  included        INTEGER NOT NULL DEFAULT 1 CHECK (included IN (0, 1)),
  -- The assessment a run made for this entry; NULL until then. Not UNIQUE
  -- of its own: assessments' UNIQUE (reassessment_id, vendor_id) already
  -- allows one assessment per entry, and an index here would take a page
  -- of NULLs on every create and a random leaf on every run.
  assessment_id   TEXT REFERENCES assessments(id),
  PRIMARY KEY (rsm_rid, vendor_id)            -- each vendor once
) WITHOUT ROWID;
-- No index by vendor: GET /v1/reassessments?vendor_id=... probes each
-- candidate's primary key (the EXISTS of RSM_WHERE), and none other reads
-- by vendor (version 5 dropped reassessment_vendors_by_vendor).

-- A reassessment's alert_ids, computed at creation and whenever the event
-- or the vendor set changes; read back oldest alert first. WITHOUT ROWID:
-- the primary key is the table (version 5), keyed by the owner's rid
-- (version 9).
CREATE TABLE reassessment_alerts (
  rsm_rid  INTEGER NOT NULL REFERENCES reassessments(rid),  -- the owner
  alert_id TEXT NOT NULL REFERENCES radar_alerts(id),       -- an alert
  PRIMARY KEY (rsm_rid, alert_id)             -- each alert once
) WITHOUT ROWID;

-- Assessments (API.md 3.4), made only by a reassessment run. The object's
-- other fields (service_ids, assignee_id, score_percent, ...) are
-- constants here and have no column.
CREATE TABLE assessments (
  id                 TEXT PRIMARY KEY         -- "cbqsrw_" and 32 hex digits
                       CHECK (id LIKE 'cbqsrw\_%' ESCAPE '\'),
  org_id             TEXT NOT NULL REFERENCES orgs(id),     -- owning org
  vendor_id          TEXT NOT NULL REFERENCES vendors(id),  -- assessed vendor
  name               TEXT NOT NULL,           -- "<plan name>: <vendor name>"
  status             TEXT NOT NULL DEFAULT 'created',  -- always 'created'
  -- The plan's, copied at the run.
  control_set_ids    TEXT NOT NULL DEFAULT '[]'
                       CHECK (json_valid(control_set_ids)),
  assessment_plan_id TEXT NOT NULL REFERENCES assessment_plans(id),  -- plan
  reassessment_id    TEXT NOT NULL REFERENCES reassessments(id),  -- its run
  created_at         INTEGER NOT NULL,        -- the run's time
  updated_at         INTEGER NOT NULL,        -- the run's time
  -- One assessment per vendor per reassessment, whatever races happen.
  UNIQUE (reassessment_id, vendor_id)
);
-- GET /v1/assessments, newest first, and its filters (which walk the
-- org's rows; version 5 dropped assessments_by_vendor, which no statement
-- used and which a run paid a leaf per vendor for).
CREATE INDEX assessments_by_org ON assessments(org_id, created_at);

-- ------------------------------------------------------------------------
-- Reassessment triggers (version 6, API.md section 7)
-- ------------------------------------------------------------------------

-- Reassessment triggers: when a radar event of the org is created, each
-- enabled trigger whose impact types match makes one draft reassessment,
-- in the event's transaction, of the event's vendors inside its scope that
-- have an active alert of the event at or above its severity.
CREATE TABLE reassessment_triggers (
  id                   TEXT PRIMARY KEY       -- "cbrtrg_" and 32 hex digits
                         CHECK (id LIKE 'cbrtrg\_%' ESCAPE '\'),
  org_id               TEXT NOT NULL REFERENCES orgs(id),  -- owning org
  name                 TEXT NOT NULL,         -- names its drafts' titles
  -- The plan of the drafts it makes; NULL: they have none (run refuses).
  assessment_plan_id   TEXT REFERENCES assessment_plans(id),
  -- JSON array of impact types (API.md 3.2); [] matches every event.
  primary_impact_types TEXT NOT NULL DEFAULT '[]'
                         CHECK (json_valid(primary_impact_types)),
  -- The least severe alert that counts.
  min_alert_severity   TEXT NOT NULL DEFAULT 'informational'
                         CHECK (min_alert_severity IN
                           ('informational', 'low', 'medium', 'high')),
  -- JSON array of vendor ids, each once; NULL: every vendor of the org.
  vendor_ids           TEXT CHECK (vendor_ids IS NULL OR json_valid(vendor_ids)),
  -- A disabled trigger makes nothing.
  enabled              INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  -- Soft delete: NULL while live. A deleted trigger makes nothing and is
  -- not found, but its drafts keep their trigger_id.
  deleted_at           INTEGER,
  created_at           INTEGER NOT NULL,      -- POST time
  updated_at           INTEGER NOT NULL       -- last change
);
-- GET /v1/reassessment_triggers, newest first, and the triggers of an org
-- that a new radar event looks at.
CREATE INDEX reassessment_triggers_by_org
  ON reassessment_triggers(org_id, created_at);

-- ------------------------------------------------------------------------
-- Webhooks (version 2, API.md section 4)
-- ------------------------------------------------------------------------
--
-- Events are recorded in the transaction of the change they report (a
-- transactional outbox): one webhook_events row, and one pending
-- webhook_deliveries row for each webhook of the org subscribed to that
-- event type at that moment. `reassess deliver` sends them; each attempt
-- is a row of its own, so a retry is a new pending row.

-- Webhook subscriptions. The secret signs deliveries (HMAC-SHA256), so it
-- must be kept as given; it is never returned by the API. A PATCH with a
-- new secret keeps the old one valid for 24 hours (4.2): deliveries carry
-- a second signature made with it until secret_rotating_until.
CREATE TABLE webhooks (
  id          TEXT PRIMARY KEY                -- "cbwh_" and 32 hex digits
                CHECK (id LIKE 'cbwh\_%' ESCAPE '\'),
  org_id      TEXT NOT NULL REFERENCES orgs(id),  -- owning org
  url         TEXT NOT NULL,                  -- receiver; URL policy of 4
  events      TEXT NOT NULL CHECK (json_valid(events)),  -- JSON array of types
  secret      TEXT NOT NULL CHECK (length(secret) >= 16),  -- HMAC key
  description TEXT,                           -- free text; NULL
  -- A disabled webhook gets no new deliveries; pending ones are skipped.
  enabled     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  deleted_at  INTEGER,                        -- soft delete: NULL while live
  created_at  INTEGER NOT NULL,               -- POST time
  updated_at  INTEGER NOT NULL,               -- last change
  -- The secret a rotation replaced, still signing until the time below;
  -- both NULL outside a rotation (version 8).
  previous_secret TEXT
    CHECK (length(previous_secret) >= 16),
  secret_rotating_until INTEGER               -- end of the 24-hour overlap
);
-- GET /v1/webhooks, and the subscribers of an event.
CREATE INDEX webhooks_by_org ON webhooks(org_id, created_at);

-- The outbox: one row per event that had at least one subscriber.
CREATE TABLE webhook_events (
  id          TEXT PRIMARY KEY                -- "cbevt_" and 32 hex digits
                CHECK (id LIKE 'cbevt\_%' ESCAPE '\'),
  org_id      TEXT NOT NULL REFERENCES orgs(id),  -- org of the change
  event_type  TEXT NOT NULL,                  -- "Vendor.Created", webhook.test
  -- The envelope of API.md 4.1, exactly as sent.
  payload     TEXT NOT NULL CHECK (json_valid(payload)),
  occurred_at INTEGER NOT NULL                -- time of the change
);

-- Delivery attempts. A row is made 'pending' (attempt 1 when the event is
-- recorded; attempt N+1 when attempt N failed in a way a retry can fix:
-- 4.2) and becomes, when tried,
-- 'delivered', 'error', 'timeout' or 'skipped' (refused by the URL policy,
-- or its webhook was disabled or deleted meanwhile).
CREATE TABLE webhook_deliveries (
  id               TEXT PRIMARY KEY           -- "cbwhd_" and 32 hex digits
                     CHECK (id LIKE 'cbwhd\_%' ESCAPE '\'),
  webhook_id       TEXT NOT NULL REFERENCES webhooks(id),        -- receiver
  event_id         TEXT NOT NULL REFERENCES webhook_events(id),  -- what
  attempt          INTEGER NOT NULL CHECK (attempt BETWEEN 1 AND 6),  -- 1..6
  -- What became of the attempt; 'pending' until it is made.
  status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
                     ('pending', 'delivered', 'error', 'timeout', 'skipped')),
  response_status  INTEGER,                   -- the receiver's HTTP status
  response_time_ms INTEGER,                   -- how long it took to answer
  error            TEXT,                      -- why it failed, for people
  next_attempt_at  INTEGER NOT NULL,          -- when a pending row is due
  claimed_until    INTEGER,                   -- a deliver process's lease
  attempted_at     INTEGER,                   -- NULL while pending
  created_at       INTEGER NOT NULL,          -- when it was queued
  -- Exactly the attempts made have a time.
  CHECK ((status = 'pending') = (attempted_at IS NULL)),
  -- One row per attempt.
  UNIQUE (webhook_id, event_id, attempt)
);
-- GET /v1/webhooks/{id}/deliveries, newest first; the webhook's statistics.
CREATE INDEX webhook_deliveries_by_webhook
  ON webhook_deliveries(webhook_id, created_at);
-- `reassess deliver`: the due pending rows.
CREATE INDEX webhook_deliveries_due
  ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';

-- ------------------------------------------------------------------------
-- The audit log (version 7)
-- ------------------------------------------------------------------------

-- API.md 6.4: change records, written in the transaction of the change,
-- and API-call records (event_type 'external_api_call'), written by the
-- worker in batches after the responses have gone. "Newest first" is
-- created_at DESC, seq DESC.
CREATE TABLE audit_log (
  seq         INTEGER PRIMARY KEY,            -- insertion order
  id          TEXT NOT NULL                   -- "cbaud_" and 32 hex digits
                CHECK (id LIKE 'cbaud\_%' ESCAPE '\'),
  org_id      TEXT NOT NULL REFERENCES orgs(id),  -- whose record
  created_at  INTEGER NOT NULL,               -- when it happened
  actor_id    TEXT,                           -- the key; NULL: system, CLI
  actor_name  TEXT,                           -- its name then
  event_type  TEXT NOT NULL,                  -- record_created, ...
  event_group TEXT NOT NULL,                  -- configuration, radar, ...
  target_type TEXT,                           -- vendor, api_key, ...
  target_id   TEXT,                           -- the object's id
  summary     TEXT NOT NULL,                  -- one sentence
  data        TEXT NOT NULL CHECK (json_valid(data))  -- diff, values, call
);
-- GET /v1/system_audit_log, newest first, start_ts/end_ts; retention.
CREATE INDEX audit_log_by_org ON audit_log(org_id, created_at);
-- GET /v1/activity: one object's change records.
CREATE INDEX audit_log_by_target ON audit_log(target_id)
  WHERE event_type <> 'external_api_call';
