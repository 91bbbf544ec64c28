-- Version 2: webhooks (API.md section 4).
--
-- Events are recorded in the transaction of the change they report (a
-- transactional outbox): one webhook_events row, and one pending
-- webhook_deliveries row for each webhook of the org subscribed to that
-- event type at that moment. `reassess deliver` sends them; each attempt
-- is a row of its own, so a retry is a new pending row.

-- Webhook subscriptions. The secret signs deliveries (HMAC-SHA256), so it
-- must be kept as given; it is never returned by the API.
CREATE TABLE webhooks (
  id          TEXT PRIMARY KEY CHECK (id LIKE 'cbwh\_%' ESCAPE '\'),
  org_id      TEXT NOT NULL REFERENCES orgs(id),
  url         TEXT NOT NULL,
  events      TEXT NOT NULL CHECK (json_valid(events)),  -- JSON array of types
  secret      TEXT NOT NULL CHECK (length(secret) >= 16),
  description TEXT,
  enabled     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  deleted_at  INTEGER,                        -- soft delete: NULL while live
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);
-- GET /v1/webhooks, and the subscribers of an event.
CREATE INDEX webhooks_by_org ON webhooks(org_id, created_at);

-- The outbox: one row per event that had at least one subscriber.
CREATE TABLE webhook_events (
  id          TEXT PRIMARY KEY CHECK (id LIKE 'cbevt\_%' ESCAPE '\'),
  org_id      TEXT NOT NULL REFERENCES orgs(id),
  event_type  TEXT NOT NULL,
  payload     TEXT NOT NULL CHECK (json_valid(payload)),  -- the envelope, as sent
  occurred_at INTEGER NOT NULL
);

-- Delivery attempts. A row is made 'pending' (attempt 1 when the event is
-- recorded; attempt N+1 when attempt N failed) and becomes, when tried,
-- 'delivered', 'error', 'timeout' or 'skipped' (refused by the URL policy,
-- or its webhook was disabled or deleted meanwhile).
CREATE TABLE webhook_deliveries (
  id               TEXT PRIMARY KEY CHECK (id LIKE 'cbwhd\_%' ESCAPE '\'),
  webhook_id       TEXT NOT NULL REFERENCES webhooks(id),
  event_id         TEXT NOT NULL REFERENCES webhook_events(id),
  attempt          INTEGER NOT NULL CHECK (attempt BETWEEN 1 AND 5),
  status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
                     ('pending', 'delivered', 'error', 'timeout', 'skipped')),
  response_status  INTEGER,                   -- the receiver's HTTP status
  response_time_ms INTEGER,
  error            TEXT,                      -- why it failed, for people
  next_attempt_at  INTEGER NOT NULL,          -- when a pending row is due
  claimed_until    INTEGER,                   -- a deliver process's lease
  attempted_at     INTEGER,                   -- NULL while pending
  created_at       INTEGER NOT NULL,
  CHECK ((status = 'pending') = (attempted_at IS NULL)),
  UNIQUE (webhook_id, event_id, attempt)
);
-- GET /v1/webhooks/{id}/deliveries, newest first; the webhook's statistics.
CREATE INDEX webhook_deliveries_by_webhook
  ON webhook_deliveries(webhook_id, created_at);
-- `reassess deliver`: the due pending rows.
CREATE INDEX webhook_deliveries_due
  ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
