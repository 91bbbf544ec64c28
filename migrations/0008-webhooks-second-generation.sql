-- Version 8: webhooks, second generation (API.md 4.2).
--
-- Secret rotation: a PATCH with a new secret keeps the old one valid for
-- 24 hours, and every delivery in that window carries a second signature
-- made with it. webhooks gains the old secret (previous_secret) and the
-- end of the window (secret_rotating_until); both are NULL outside a
-- rotation.
--
-- Retries by kind: up to 6 attempts in all (4.1 had 5), so the CHECK on
-- webhook_deliveries.attempt becomes BETWEEN 1 AND 6. SQLite cannot alter
-- a CHECK, so the table is rebuilt under its own name (the old one
-- renamed, copied with its rowids, which break ties in "newest first",
-- then dropped), so that its CREATE text is schema.sql's; its indexes go
-- with the old table and are made again, in the same order.

ALTER TABLE webhooks ADD COLUMN previous_secret TEXT
  CHECK (length(previous_secret) >= 16);
ALTER TABLE webhooks ADD COLUMN secret_rotating_until INTEGER;

ALTER TABLE webhook_deliveries RENAME TO webhook_deliveries_v7;
DROP INDEX webhook_deliveries_by_webhook;
DROP INDEX webhook_deliveries_due;
CREATE TABLE webhook_deliveries (
  id               TEXT PRIMARY KEY
                     CHECK (id LIKE 'cbwhd\_%' ESCAPE '\'),
  webhook_id       TEXT NOT NULL REFERENCES webhooks(id),
  event_id         TEXT NOT NULL REFERENCES webhook_events(id),
  attempt          INTEGER NOT NULL CHECK (attempt BETWEEN 1 AND 6),
  status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
                     ('pending', 'delivered', 'error', 'timeout', 'skipped')),
  response_status  INTEGER,
  response_time_ms INTEGER,
  error            TEXT,
  next_attempt_at  INTEGER NOT NULL,
  claimed_until    INTEGER,
  attempted_at     INTEGER,
  created_at       INTEGER NOT NULL,
  CHECK ((status = 'pending') = (attempted_at IS NULL)),
  UNIQUE (webhook_id, event_id, attempt)
);
INSERT INTO webhook_deliveries (rowid, id, webhook_id, event_id, attempt,
    status, response_status, response_time_ms, error, next_attempt_at,
    claimed_until, attempted_at, created_at)
  SELECT rowid, id, webhook_id, event_id, attempt, status, response_status,
         response_time_ms, error, next_attempt_at, claimed_until,
         attempted_at, created_at
  FROM webhook_deliveries_v7 ORDER BY rowid;
DROP TABLE webhook_deliveries_v7;
CREATE INDEX webhook_deliveries_by_webhook
  ON webhook_deliveries(webhook_id, created_at);
CREATE INDEX webhook_deliveries_due
  ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
