-- Version 7: access and audit (API.md 6).
--
-- Keys gain scopes (a JSON array of "keys:manage", "audit:read"; only the
-- command line grants them), an expiry, the time they were last used
-- (written with the batched call records, so it may lag), and the key that
-- made them (NULL when made on the command line). Orgs gain an IP
-- allowlist (a JSON array of CIDRs; empty: any address) and updated_at
-- (NULL until the org is first changed; read as created_at).
--
-- The audit log holds both kinds of record of 6.4: change records, written
-- in the transaction of the change, and API-call records, written in
-- batches by the worker after the responses have gone. "Newest first" is
-- `created_at DESC, seq DESC`, which audit_log_by_org gives without a sort;
-- GET /v1/activity finds one object's records by audit_log_by_target.

ALTER TABLE orgs ADD COLUMN api_ip_allowlist TEXT NOT NULL DEFAULT '[]'
  CHECK (json_valid(api_ip_allowlist));
ALTER TABLE orgs ADD COLUMN updated_at INTEGER;

ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT '[]'
  CHECK (json_valid(scopes));
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
ALTER TABLE api_keys ADD COLUMN created_by TEXT REFERENCES api_keys(id);

CREATE TABLE audit_log (
  seq         INTEGER PRIMARY KEY,
  id          TEXT NOT NULL
                CHECK (id LIKE 'cbaud\_%' ESCAPE '\'),
  org_id      TEXT NOT NULL REFERENCES orgs(id),
  created_at  INTEGER NOT NULL,
  actor_id    TEXT,
  actor_name  TEXT,
  event_type  TEXT NOT NULL,
  event_group TEXT NOT NULL,
  target_type TEXT,
  target_id   TEXT,
  summary     TEXT NOT NULL,
  data        TEXT NOT NULL CHECK (json_valid(data))
);
CREATE INDEX audit_log_by_org ON audit_log(org_id, created_at);
CREATE INDEX audit_log_by_target ON audit_log(target_id)
  WHERE event_type <> 'external_api_call';
