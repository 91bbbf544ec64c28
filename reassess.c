/*
 * reassess: a self-hosted, wire-compatible implementation of Coverbase's
 * Reassessments API (and of the vendors, radar events and alerts, plans and
 * assessments it depends on), in one C program over one SQLite file.
 *
 * The same binary is:
 *   - a CGI program: one request from the environment and standard input;
 *   - a FastCGI responder on an inherited socket (spawn-fcgi, mod_fcgid);
 *   - `reassess serve`: a pre-forked FastCGI server on TCP or a unix socket;
 *   - the admin command line (`reassess init`, `org`, `key`, `check`, ...).
 *
 * The contract is docs/api.md: a section number in a comment, like (2.5),
 * is a section there. The file reads top down: includes, limits, enums
 * and their tables, structs, small utilities, HTTP and JSON helpers,
 * database helpers, objects, events, validation, handlers (one resource
 * after another), the route table, the request front end, serving, the
 * command line, `reassess deliver`, and the settings with main().
 */

/* ------------------------------------------------------------------------
 * Includes
 * ------------------------------------------------------------------------ */

#define _GNU_SOURCE		/* asprintf */

#include <sys/random.h>		/* getrandom(): ids, secrets, request ids */
#include <sys/socket.h>
#include <sys/stat.h>		/* chmod() of the unix socket, S_ISSOCK */
#include <sys/types.h>
#include <sys/wait.h>		/* the serve supervisor reaps its workers */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>		/* floor: delivery_success_rate */
#include <poll.h>		/* ppoll: a worker waits for a request
				   or its call records' flush */
#include <limits.h>
#include <locale.h>		/* newlocale: C.UTF-8 for fold() */
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>		/* strcasecmp, strncasecmp */
#include <time.h>
#include <unistd.h>
#include <wctype.h>		/* towlower_l: fold(), case-insensitive
				   filters beyond ASCII */

#include <arpa/inet.h>		/* ntohl: the webhook URL policy */
#include <netdb.h>		/* getaddrinfo: the webhook URL policy */
#include <netinet/in.h>

#include <curl/curl.h>		/* types only: libcurl is dlopen()ed */
#include <dlfcn.h>
#include <fcgiapp.h>		/* FastCGI with an explicit FCGX_Request */
#include <jansson.h>		/* JSON in and out */
#include <nettle/base64.h>	/* webhook-signature (4.2) */
#include <nettle/hmac.h>	/* delivery signatures (4.1, 4.2) */
#include <nettle/memops.h>	/* memeql_sec: key hashes compared */
#include <nettle/sha2.h>	/* key and Idempotency-Key digests */
#include <sqlite3.h>

/*
 * SCHEMA_VERSION, the PRAGMA user_version this binary serves; schema_sql,
 * schema.sql as a string (a fresh database); migrations[], migrations/
 * NNNN-*.sql as strings, where migrations[v - 1] takes user_version v to
 * v + 1. Made by scripts/embed-sql.sh.
 */
#ifndef SCHEMA_H
#define SCHEMA_H "schema.h"
#endif
#include SCHEMA_H

/*
 * The review page's files (8), ui/ as strings with their ETags: ui_review_html,
 * ui_review_html_etag, ... Made by scripts/embed-ui.sh.
 */
#include "ui.h"

#ifndef REASSESS_VERSION
#define REASSESS_VERSION "0.0.0"
#endif

/* ------------------------------------------------------------------------
 * Limits
 * ------------------------------------------------------------------------ */

#define BODY_MAX	(1024 * 1024)	/* bytes of request body read (1.1) */
#define TEXT_MAX	10000		/* characters in a text field (1.4) */
#define TITLE_MAX	500		/* characters in a title or name (1.4) */
#define XSTR(x)		STR(x)		/* a macro's value as a string, */
#define STR(x)		#x		/* for SQL: XSTR(TITLE_MAX) is "500" */
#define SECRET_MIN	16		/* characters in a webhook secret (4) */
#define LIST_DEFAULT	50		/* default page size (1.5) */
#define LIST_MAX	200		/* largest page size (1.5) */
#define AUDIT_LIST_DEFAULT 100		/* default audit log page (6.4) */
#define AUDIT_LIST_MAX	500		/* largest audit log page (6.4) */
#define AUDIT_DAYS	365		/* days an audit record is kept
					   (6.4); REASSESS_AUDIT_DAYS */
#define AUDIT_SWEEP_BATCH 1000		/* old audit records removed per
					   write transaction by deliver */
#define AUDIT_SWEEP_EVERY 60		/* seconds between two sweeps */
#define ERRORS_MAX	100		/* entries listed in one 422 */
#define ALLOWLIST_MAX	100		/* entries in an org's IP allowlist (6.3) */
#define QUERY_MAX	64		/* query parameters a request may have
					   (more: 422, never dropped) */
#define PATH_IDS	2		/* ids one route pattern can capture */
#define ID_LEN		48		/* buffer for "<prefix>_<32 hex>" */
#define ID_HEX		32		/* hex digits after an id's prefix */
#define SHA256_LEN	32		/* bytes of a SHA-256 digest */
#define SECRET_CHARS	43		/* random characters after "ak_live_" */
#define KEY_TTL_MIN	60		/* seconds_until_expiration (6.2), */
#define KEY_TTL_MAX	315360000	/* and --expires-in: 1 min .. 10 years */
#define REQUEST_ID_MAX	64		/* longest REQUEST_ID taken from nginx */
#define BUSY_TIMEOUT_MS	5000		/* wait for a write lock before 503;
					   REASSESS_BUSY_TIMEOUT (ms) */
#define IDEMPOTENCY_TTL	(24 * 60 * 60)	/* seconds an Idempotency-Key lasts */
#define WORKERS_MAX	256		/* upper bound for serve --workers */
#define LISTEN_BACKLOG	1024		/* listen(2) backlog for serve */
#define STOP_GRACE	30		/* seconds serve waits for workers */
#define WEBHOOK_TIMEOUT_MS 10000	/* a receiver's time to answer;
					   REASSESS_WEBHOOK_TIMEOUT_MS */
#define WEBHOOK_ATTEMPTS 6		/* attempts per event and webhook */
#define WEBHOOK_ROTATION (24 * 60 * 60)	/* seconds a replaced secret still
					   signs (4.2) */
#define RETRY_AFTER_MAX	600		/* longest Retry-After honoured (4.2) */
#define RETRY_JITTER	10		/* a retry's delay grows by up to
					   1/RETRY_JITTER of itself */
#define WEBHOOK_LEASE	60		/* seconds a deliver process holds
					   an attempt it claimed */
#define CALLS_AGE_MS	1000		/* call records (6.4) wait in memory at
					   most this long before a flush
					   (REASSESS_AUDIT_CALLS_WAIT_MS), and
					   a failed flush this long (whole
					   seconds) before the next try */
#define CALLS_BATCH	256		/* ... or until this many wait */
#define CALLS_MAX	10000		/* records held while the database
					   refuses them, at most */
#define CALLS_DROP	1000		/* past CALLS_MAX, the oldest this many
					   go, with a log line */
#define CALLS_BUSY_MS	100		/* a flush waits this long for the
					   write lock, then tries later (the
					   last one, at exit: the busy timeout) */
#define CALL_TEXT_MAX	512		/* bytes of a path or query name kept
					   in a call record */

/* ------------------------------------------------------------------------
 * Enums and their tables
 * ------------------------------------------------------------------------ */

enum method {
	METHOD_GET,
	METHOD_POST,
	METHOD_PATCH,
	METHOD_DELETE,
	METHOD__MAX		/* also: any method no route has */
};

static const char *const methods[METHOD__MAX] = {
	"GET",			/* METHOD_GET */
	"POST",			/* METHOD_POST */
	"PATCH",		/* METHOD_PATCH */
	"DELETE",		/* METHOD_DELETE */
};

/* Fixed value sets, NULL-terminated, used by validation and filters. */
static const char *const rsm_statuses[] = {
	"draft", "confirmed", "run", "dismissed", NULL
};
static const char *const impact_types[] = {
	"Infosec", "Financial", "Operational", "Legal", "Compliance",
	"Reputational", "Contractual", "ESG", "Corporate",
	"Geopolitical & External", "Inapplicable", "Other", NULL
};
static const char *const severities[] = {
	"informational", "low", "medium", "high", NULL
};
/* The event types a webhook can subscribe to: Coverbase's catalog (4.1). */
static const char *const event_types[] = {
	"Assessment.Created", "Assessment.AssigneeChanged",
	"Assessment.StatusChanged", "QuestionnaireResponse.Created",
	"QuestionnaireResponse.StatusChanged", "Review.StatusChanged",
	"WorkQueueItem.Created", "WorkQueueItem.Completed", "Vendor.Created",
	"Vendor.Updated", "Procurement.Created", "Procurement.StatusChanged",
	"Service.Created", "Service.Updated", "OrgIntake.QuestionnaireRemoved",
	"OrgIntake.Disabled", "IntakeSession.Created",
	"IntakeSession.Submitted", "RadarEvent.Created", "RadarEvent.Updated",
	"RadarEvent.Deleted", "RadarDetectorResult.Created",
	"RadarDetectorResult.Updated", "RadarDetectorResult.Deleted",
	"Reassessment.Created", "Reassessment.Updated", "Reassessment.Deleted",
	NULL
};

/*
 * Every SQL statement the program runs. Each is prepared once per
 * connection, on first use, with SQLITE_PREPARE_PERSISTENT; the request
 * front end resets them all when a request ends. No SQL is ever built from
 * request data: variable-length filters (?severity=) bind a JSON array and
 * read it with json_each().
 */
enum stmt {
	STMT_BEGIN_READ,
	STMT_BEGIN_WRITE,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_ORG_INSERT,
	STMT_ORG_LIST,
	STMT_ORG_EXISTS,
	/* The org and its IP allowlist (6.3) */
	STMT_ORG_GET,
	STMT_ORG_UPDATE,
	STMT_ORG_ALLOWLIST,
	STMT_ORG_ALLOWLIST_CLEAR,
	STMT_KEY_INSERT,
	STMT_KEY_LIST,
	STMT_KEY_REVOKE,
	STMT_KEY_AUTH,
	STMT_AUDIT_INSERT,
	/* API keys (6.2) */
	STMT_APIKEY_GET,
	STMT_APIKEY_LIST,
	STMT_APIKEY_NAMES,
	STMT_APIKEY_ORG,
	/* The audit log (6.4): its reads, set-based records, retention. */
	STMT_AUDIT_LIST,
	STMT_AUDIT_COUNT,
	STMT_AUDIT_ACTIVITY,
	STMT_AUDIT_ACTIVITY_COUNT,
	STMT_AUDIT_ALERTS_CREATED,
	STMT_AUDIT_ASMTS_CREATED,
	STMT_AUDIT_WH_SECRET_CHANGES,
	STMT_AUDIT_SWEEP,
	STMT_AUDIT_EXPORT,
	STMT_IDEM_GET,
	STMT_IDEM_PUT,
	STMT_IDEM_SWEEP,
	STMT_VENDOR_INSERT,
	STMT_VENDOR_GET,
	STMT_VENDOR_LIST,
	STMT_VENDOR_COUNT,
	STMT_VENDOR_UPDATE,
	STMT_VENDOR_NAME,
	STMT_EVENT_INSERT,
	STMT_EVENT_LINK_VENDOR,
	STMT_EVENT_GET,
	STMT_EVENT_LIST,
	STMT_EVENT_COUNT,
	STMT_EVENT_EXISTS,
	STMT_ALERT_INSERT,
	STMT_ALERT_GET,
	STMT_ALERT_LIST,
	STMT_ALERT_COUNT,
	STMT_ALERT_SET_DISMISSED,
	STMT_PLAN_INSERT,
	STMT_PLAN_GET,
	STMT_PLAN_LIST,
	STMT_PLAN_COUNT,
	STMT_PLAN_FOR_RUN,
	STMT_RSM_INSERT,
	STMT_RSM_GET,
	STMT_RSM_LIST,
	STMT_RSM_COUNT,
	STMT_RSM_SET_STATUS,
	STMT_RSM_SET_FIELDS,
	STMT_RSM_SET_EVENT,
	STMT_RSM_TOUCH,
	STMT_RSM_ALERTS_CLEAR,
	STMT_RSM_ALERTS_FILL,
	STMT_RSM_ENTRY_GET,
	STMT_RSM_ENTRY_ADD,
	STMT_RSM_ENTRY_LAST,
	STMT_RSM_ENTRY_INCLUDE,
	STMT_RSM_ENTRY_ASSESSMENT,
	STMT_RSM_INCLUDED_COUNT,
	STMT_RSM_RUN_TODO,
	STMT_RSM_LIST_BY_TRIGGER,
	STMT_RSM_COUNT_BY_TRIGGER,
	STMT_RSM_OF_TRIGGER,
	STMT_TRG_INSERT,
	STMT_TRG_GET,
	STMT_TRG_LIST,
	STMT_TRG_COUNT,
	STMT_TRG_LIVE,
	STMT_TRG_UPDATE,
	STMT_TRG_DELETE,
	STMT_TRG_FOR_EVENT,
	STMT_TRG_RSM_INSERT,
	STMT_TRG_ENTRIES_FILL,
	STMT_TRG_ALERTS_FILL,
	STMT_ASMT_INSERT,
	STMT_ASMT_GET,
	STMT_ASMT_LIST,
	STMT_ASMT_COUNT,
	STMT_WH_INSERT,
	STMT_WH_GET,
	STMT_WH_LIST,
	STMT_WH_UPDATE,
	STMT_WH_DELETE,
	STMT_WH_SUBSCRIBED,
	STMT_WH_LIVE,
	STMT_WH_GONE,
	STMT_WH_ROTATION_END,
	STMT_EVT_INSERT,
	STMT_DLV_INSERT,
	STMT_DLV_LIST,
	STMT_DLV_COUNT,
	STMT_DLV_DUE,
	STMT_DLV_LEASE,
	STMT_DLV_RECORD,
	STMT_DLV_RETRY,
	/* API-call records (6.4): the batch a worker writes. */
	STMT_SYNC_NORMAL,
	STMT_SYNC_FULL,
	STMT_KEY_USED,
	STMT__MAX
};

/*
 * Column lists shared by several statements, each with the enum of its
 * positions beside it: the object tables and every reader index columns by
 * these names, never by number, so a list and its readers cannot drift.
 */
#define VENDOR_COLS \
	"id, external_id, name, website, description, hq_location, " \
	"use_case, created_at, updated_at"
enum vendor_col {
	VENDOR_ID, VENDOR_EXTERNAL_ID, VENDOR_NAME, VENDOR_WEBSITE,
	VENDOR_DESCRIPTION, VENDOR_HQ_LOCATION, VENDOR_USE_CASE,
	VENDOR_CREATED_AT, VENDOR_UPDATED_AT
};
/* An event row (alias e), with its vendor ids as a JSON list. */
#define EVENT_COLS \
	"e.id, e.name, e.summary, e.primary_impact_type, " \
	"e.secondary_impact_types, e.occurred_at, e.is_archived, " \
	"e.created_at, e.updated_at, " \
	"(SELECT json_group_array(vendor_id) FROM (SELECT vendor_id" \
	"  FROM radar_event_vendors WHERE event_id = e.id ORDER BY rowid))"
enum event_col {
	EVENT_ID, EVENT_NAME, EVENT_SUMMARY, EVENT_PRIMARY_IMPACT_TYPE,
	EVENT_SECONDARY_IMPACT_TYPES, EVENT_OCCURRED_AT, EVENT_IS_ARCHIVED,
	EVENT_CREATED_AT, EVENT_UPDATED_AT, EVENT_VENDOR_IDS
};
#define ALERT_COLS \
	"id, vendor_id, event_id, summary, severity, confidence, " \
	"should_alert, is_dismissed, dismiss_reason, dismissed_at, " \
	"is_archived, created_at, updated_at"
enum alert_col {
	ALERT_ID, ALERT_VENDOR_ID, ALERT_EVENT_ID, ALERT_SUMMARY,
	ALERT_SEVERITY, ALERT_CONFIDENCE, ALERT_SHOULD_ALERT,
	ALERT_IS_DISMISSED, ALERT_DISMISS_REASON, ALERT_DISMISSED_AT,
	ALERT_IS_ARCHIVED, ALERT_CREATED_AT, ALERT_UPDATED_AT
};
#define PLAN_COLS \
	"id, name, description, control_set_ids, created_at, updated_at"
enum plan_col {
	PLAN_ID, PLAN_NAME, PLAN_DESCRIPTION, PLAN_CONTROL_SET_IDS,
	PLAN_CREATED_AT, PLAN_UPDATED_AT
};
/*
 * A reassessment row (alias r), with its alert ids (oldest alert first)
 * and its vendor entries (in joining order, as the contract's objects) as
 * JSON lists made by SQLite.
 *
 * Rationale: one statement reads a whole reassessment, so that a GET and
 * a list page cost a constant number of statements, not two more per
 * reassessment. The subqueries are ordered and not flattened into the
 * aggregate (SQLite never flattens an ORDER BY into an aggregate query),
 * so the lists keep that order.
 */
#define RSM_COLS \
	"r.id, r.status, r.title, r.assessment_plan_id, r.radar_event_id, " \
	"r.trigger_id, r.created_at, r.updated_at, " \
	"(SELECT json_group_array(alert_id) FROM (SELECT ra.alert_id" \
	"  FROM reassessment_alerts ra" \
	"  JOIN radar_alerts a ON a.id = ra.alert_id" \
	"  WHERE ra.rsm_rid = r.rid ORDER BY a.created_at, a.rowid)), " \
	"(SELECT json_group_array(json_object('vendor_id', vendor_id," \
	"  'source', source, 'included'," \
	"  json(CASE included WHEN 1 THEN 'true' ELSE 'false' END)," \
	"  'assessment_id', assessment_id)) FROM (SELECT vendor_id, source," \
	"  included, assessment_id FROM reassessment_vendors" \
	"  WHERE rsm_rid = r.rid ORDER BY position))"
/*
 * The rid of reassessment ?1 (schema version 9): its vendor entries and
 * alert links are keyed by it. One seek on the id's UNIQUE index, in a
 * statement that already names the reassessment by its id.
 */
#define RID_OF_1	"(SELECT rid FROM reassessments WHERE id = ?1)"
enum rsm_col {
	RSM_ID, RSM_STATUS, RSM_TITLE, RSM_PLAN_ID, RSM_EVENT_ID,
	RSM_TRIGGER_ID, RSM_CREATED_AT, RSM_UPDATED_AT, RSM_ALERT_IDS,
	RSM_VENDORS
};
/*
 * A reassessment trigger row (7). Its lists are stored as JSON text made
 * by json_dumps, written as they are; vendor_ids NULL (every vendor) is
 * written null.
 */
#define TRG_COLS \
	"id, name, assessment_plan_id, primary_impact_types, " \
	"min_alert_severity, coalesce(vendor_ids, 'null'), enabled, " \
	"created_at, updated_at"
enum trg_col {
	TRG_ID, TRG_NAME, TRG_PLAN_ID, TRG_IMPACT_TYPES, TRG_MIN_SEVERITY,
	TRG_VENDOR_IDS, TRG_ENABLED, TRG_CREATED_AT, TRG_UPDATED_AT
};
#define WH_COLS \
	"w.id, w.url, w.events, w.description, w.enabled, w.created_at, " \
	"(SELECT status FROM webhook_deliveries d WHERE d.webhook_id = w.id" \
	"  AND d.status <> 'pending'" \
	"  ORDER BY d.attempted_at DESC, d.rowid DESC LIMIT 1), " \
	"(SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id" \
	"  AND d.status <> 'pending'), " \
	"(SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id" \
	"  AND d.status = 'delivered'), " \
	"CASE WHEN w.secret_rotating_until >" \
	"  CAST(strftime('%s', 'now') AS INTEGER)" \
	"  THEN w.secret_rotating_until END"
enum wh_col {
	WH_ID, WH_URL, WH_EVENTS, WH_DESCRIPTION, WH_ENABLED, WH_CREATED_AT,
	WH_LAST_STATUS,		/* the newest finished attempt's status */
	WH_TRIED,		/* finished attempts */
	WH_DELIVERED,		/* of those, delivered (WH_TRIED + 1) */
	WH_ROTATING_UNTIL	/* end of a rotation's overlap (4.2); NULL */
};
#define DLV_COLS \
	"d.id, d.webhook_id, d.event_id, e.event_type, d.status, " \
	"d.response_status, d.response_time_ms, d.error, e.payload, " \
	"d.attempted_at, d.created_at"
enum dlv_col {
	DLV_ID, DLV_WEBHOOK_ID, DLV_EVENT_ID, DLV_EVENT_TYPE, DLV_STATUS,
	DLV_RESPONSE_STATUS, DLV_RESPONSE_TIME_MS, DLV_ERROR, DLV_PAYLOAD,
	DLV_ATTEMPTED_AT, DLV_CREATED_AT
};
#define ASMT_COLS \
	"id, vendor_id, name, status, control_set_ids, assessment_plan_id, " \
	"reassessment_id, created_at, updated_at"
enum asmt_col {
	ASMT_ID, ASMT_VENDOR_ID, ASMT_NAME, ASMT_STATUS, ASMT_CONTROL_SET_IDS,
	ASMT_PLAN_ID, ASMT_RSM_ID, ASMT_CREATED_AT, ASMT_UPDATED_AT
};
/*
 * A due delivery attempt with what sending it needs (STMT_DLV_DUE): the
 * replaced secret only while its rotation's overlap lasts (4.2).
 */
#define DUE_COLS \
	"d.id, d.webhook_id, d.event_id, d.attempt, w.url, w.secret," \
	" w.enabled, w.deleted_at IS NOT NULL, e.event_type, e.payload," \
	" CASE WHEN w.secret_rotating_until > ?1 THEN w.previous_secret END," \
	" w.org_id"
enum due_col {
	DUE_ID, DUE_WEBHOOK_ID, DUE_EVENT_ID, DUE_ATTEMPT, DUE_URL, DUE_SECRET,
	DUE_ENABLED, DUE_DELETED, DUE_EVENT_TYPE, DUE_PAYLOAD, DUE_PREVIOUS,
	DUE_ORG_ID
};
/* The smaller lists of one statement each. */
#define ORG_LIST_COLS	"id, name, created_at"
enum org_list_col { ORGL_ID, ORGL_NAME, ORGL_CREATED_AT };
/* An org (6.3): updated_at reads as created_at until the first change. */
#define ORG_COLS	"id, name, api_ip_allowlist, created_at," \
			" coalesce(updated_at, created_at)"
enum org_col { ORG_ID, ORG_NAME, ORG_ALLOWLIST, ORG_CREATED_AT,
	ORG_UPDATED_AT };
#define KEY_LIST_COLS	"id, name, created_at, revoked_at," \
	" (SELECT group_concat(value, ',') FROM json_each(scopes)), expires_at"
enum key_list_col { KEYL_ID, KEYL_NAME, KEYL_CREATED_AT, KEYL_REVOKED_AT,
	KEYL_SCOPES, KEYL_EXPIRES_AT };
#define KEY_AUTH_COLS	"k.org_id, k.secret_hash, k.id, k.name, k.scopes," \
			" o.api_ip_allowlist"
enum key_auth_col { AUTH_ORG_ID, AUTH_SECRET_HASH, AUTH_ID, AUTH_NAME,
	AUTH_SCOPES, AUTH_ALLOWLIST };
/*
 * An API key row (6.2), as the key object reads it; "expired" is judged
 * against ?2, the request's clock, as authentication judges it.
 */
#define APIKEY_COLS \
	"id, name, created_at, last_used_at, expires_at, " \
	"revoked_at IS NOT NULL, expires_at IS NOT NULL AND expires_at <= ?2, " \
	"scopes, created_by"
enum apikey_col {
	APIKEY_ID, APIKEY_NAME, APIKEY_CREATED_AT, APIKEY_LAST_USED_AT,
	APIKEY_EXPIRES_AT, APIKEY_REVOKED, APIKEY_EXPIRED, APIKEY_SCOPES,
	APIKEY_CREATED_BY
};
#define IDEM_COLS	"status, body"
enum idem_col { IDEM_STATUS, IDEM_BODY };
#define PLAN_RUN_COLS	"name, control_set_ids"
enum plan_run_col { PLANR_NAME, PLANR_CONTROL_SET_IDS };
#define TODO_COLS	"v.vendor_id, vn.name"
enum todo_col { TODO_VENDOR_ID, TODO_VENDOR_NAME };

/*
 * An audit record (6.4) as the API shows it: the actor made from the key
 * columns (null for the system and the command line), data as stored JSON
 * (json() gives it canonical, as written raw).
 */
#define AUDIT_ACTOR \
	"CASE WHEN actor_id IS NULL THEN 'null' ELSE json_object('type'," \
	" 'api_key', 'id', actor_id, 'name', actor_name) END"
#define AUDIT_COLS \
	"id, created_at, " AUDIT_ACTOR ", event_type, event_group," \
	" target_type, target_id, summary, json(data)"
enum audit_col {
	AUDIT_ID, AUDIT_CREATED_AT, AUDIT_ACTOR_OBJ, AUDIT_EVENT_TYPE,
	AUDIT_EVENT_GROUP, AUDIT_TARGET_TYPE, AUDIT_TARGET_ID, AUDIT_SUMMARY,
	AUDIT_DATA
};
/* A line of `reassess audit export`: the record with its org, as JSON. */
#define AUDIT_EXPORT_COLS \
	"json_object('id', id, 'org_id', org_id, 'created_at', created_at," \
	" 'actor', json(" AUDIT_ACTOR "), 'event_type', event_type," \
	" 'event_group', event_group, 'target_type', target_type," \
	" 'target_id', target_id, 'summary', summary, 'data', json(data))"

/* Filters: "?N IS NULL OR ..." lets one statement serve every combination. */
#define VENDOR_WHERE \
	" FROM vendors WHERE org_id = ?1" \
	" AND (?2 IS NULL OR instr(fold(name), fold(?2)) > 0)" \
	" AND (?3 IS NULL OR external_id = ?3)"
#define EVENT_WHERE \
	" FROM radar_events e WHERE org_id = ?1" \
	" AND (?2 IS NULL OR primary_impact_type = ?2)" \
	" AND (?3 OR is_archived = 0)"
#define ALERT_WHERE \
	" FROM radar_alerts WHERE org_id = ?1" \
	" AND (?2 IS NULL OR vendor_id = ?2)" \
	" AND (?3 IS NULL OR severity IN (SELECT value FROM json_each(?3)))" \
	" AND is_dismissed = ?4" \
	" AND (?5 OR is_archived = 0)"
#define PLAN_WHERE \
	" FROM assessment_plans WHERE org_id = ?1"
#define RSM_FILTERS \
	" AND (?2 IS NULL OR status = ?2)" \
	" AND (?3 IS NULL OR radar_event_id = ?3)" \
	" AND (?4 IS NULL OR EXISTS (SELECT 1 FROM reassessment_vendors v" \
	"      WHERE v.rsm_rid = r.rid AND v.vendor_id = ?4))"
#define RSM_WHERE \
	" FROM reassessments r WHERE org_id = ?1" RSM_FILTERS \
	" AND (?5 IS NULL OR trigger_id = ?5)"
/*
 * With ?trigger_id= (?5): its drafts, found by reassessments_by_trigger,
 * which "?5 IS NULL OR ..." would keep SQLite from using.
 */
#define RSM_WHERE_BY_TRIGGER \
	" FROM reassessments r WHERE trigger_id = ?5 AND org_id = ?1" \
	RSM_FILTERS
#define TRG_WHERE \
	" FROM reassessment_triggers WHERE org_id = ?1 AND deleted_at IS NULL" \
	" AND (?2 IS NULL OR enabled = ?2)"
/* An alert severity as a rank: informational 0 < low < medium < high 3. */
#define SEV_RANK(x) \
	"CASE " x " WHEN 'informational' THEN 0 WHEN 'low' THEN 1" \
	" WHEN 'medium' THEN 2 WHEN 'high' THEN 3 END"
/*
 * Does trigger t take the vendor ev.vendor_id of the event ?2: inside its
 * scope, with an active alert of ?2 at or above its severity (7)?
 */
#define TRG_TAKES \
	" (t.vendor_ids IS NULL OR ev.vendor_id IN" \
	"   (SELECT value FROM json_each(t.vendor_ids)))" \
	" AND EXISTS (SELECT 1 FROM radar_alerts a WHERE a.event_id = ?2" \
	"   AND a.vendor_id = ev.vendor_id AND a.is_dismissed = 0" \
	"   AND a.is_archived = 0" \
	"   AND " SEV_RANK("a.severity") " >= " SEV_RANK("t.min_alert_severity") ")"
#define ASMT_WHERE \
	" FROM assessments WHERE org_id = ?1" \
	" AND (?2 IS NULL OR vendor_id = ?2)" \
	" AND (?3 IS NULL OR reassessment_id = ?3)"
/*
 * The system log's filters (6.4): ?2 start_ts and ?3 end_ts, both
 * inclusive, as a range on audit_log_by_org (coalesce to the widest, not
 * "?2 IS NULL OR", so that SQLite can use it); ?4 groups and ?5 types as
 * JSON lists; ?6 search, a case-insensitive substring of the summary or
 * the actor's name, bound, never spliced (instr, so % and _ are plain).
 */
#define AUDIT_WHERE \
	" FROM audit_log WHERE org_id = ?1" \
	" AND created_at >= coalesce(?2, -9223372036854775807)" \
	" AND created_at <= coalesce(?3, 9223372036854775807)" \
	" AND (?4 IS NULL OR event_group IN (SELECT value FROM json_each(?4)))" \
	" AND (?5 IS NULL OR event_type IN (SELECT value FROM json_each(?5)))" \
	" AND (?6 IS NULL OR instr(fold(summary), fold(?6)) > 0" \
	"  OR instr(fold(actor_name), fold(?6)) > 0)"
/*
 * One object's change records: by audit_log_by_target, whose WHERE the
 * statement repeats so that SQLite may use the partial index.
 */
#define AUDIT_ACTIVITY_WHERE \
	" FROM audit_log WHERE target_id = ?2" \
	" AND event_type <> 'external_api_call'" \
	" AND org_id = ?1 AND target_type = ?3"
#define AUDIT_NEWEST_FIRST " ORDER BY created_at DESC, seq DESC"
#define NEWEST_FIRST " ORDER BY created_at DESC, rowid DESC"
#define PAGE " LIMIT ?10 OFFSET ?11"

static const char *const stmts[STMT__MAX] = {
	[STMT_BEGIN_READ] =
	"BEGIN",
	[STMT_BEGIN_WRITE] =
	"BEGIN IMMEDIATE",
	[STMT_COMMIT] =
	"COMMIT",
	[STMT_ROLLBACK] =
	"ROLLBACK",
	[STMT_ORG_INSERT] =
	"INSERT INTO orgs (id, name, created_at) VALUES (?1, ?2, ?3)",
	[STMT_ORG_LIST] =
	"SELECT " ORG_LIST_COLS " FROM orgs ORDER BY created_at, rowid",
	[STMT_ORG_EXISTS] =
	"SELECT 1 FROM orgs WHERE id = ?1",
	/* The org and its IP allowlist (6.3) */
	[STMT_ORG_GET] =
	"SELECT " ORG_COLS " FROM orgs WHERE id = ?1 AND id = ?2",
	/* A no-op (nothing would change) touches no row and not updated_at. */
	[STMT_ORG_UPDATE] =
	"UPDATE orgs SET name = coalesce(?3, name),"
	" api_ip_allowlist = coalesce(?4, api_ip_allowlist), updated_at = ?5"
	" WHERE id = ?1 AND id = ?2"
	" AND (name IS NOT coalesce(?3, name)"
	" OR api_ip_allowlist IS NOT coalesce(?4, api_ip_allowlist))",
	[STMT_ORG_ALLOWLIST] =
	"SELECT api_ip_allowlist FROM orgs WHERE id = ?1",
	[STMT_ORG_ALLOWLIST_CLEAR] =
	"UPDATE orgs SET api_ip_allowlist = '[]', updated_at = ?2"
	" WHERE id = ?1 AND json_array_length(api_ip_allowlist) > 0",
	[STMT_KEY_INSERT] =
	"INSERT INTO api_keys (id, org_id, name, secret_hash, created_at,"
	" scopes, expires_at, created_by)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[STMT_KEY_LIST] =
	"SELECT " KEY_LIST_COLS " FROM api_keys"
	" WHERE org_id = ?1 ORDER BY created_at, rowid",
	/* A live key only: a revoked one keeps its first revocation time. */
	[STMT_KEY_REVOKE] =
	"UPDATE api_keys SET revoked_at = ?3, scopes = '[]'"
	" WHERE id = ?1 AND org_id = ?2 AND revoked_at IS NULL",
	[STMT_KEY_AUTH] =
	"SELECT " KEY_AUTH_COLS " FROM api_keys k JOIN orgs o ON o.id = k.org_id"
	" WHERE k.secret_hash = ?1 AND k.revoked_at IS NULL"
	" AND (k.expires_at IS NULL OR k.expires_at > ?2)",
	[STMT_AUDIT_INSERT] =
	"INSERT INTO audit_log (id, org_id, created_at, actor_id, actor_name,"
	" event_type, event_group, target_type, target_id, summary, data)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	/* API keys (6.2). GET and LIST: ?1 the org, ?2 the request's clock. */
	[STMT_APIKEY_GET] =
	"SELECT " APIKEY_COLS " FROM api_keys WHERE org_id = ?1 AND id = ?3",
	[STMT_APIKEY_LIST] =
	"SELECT " APIKEY_COLS " FROM api_keys WHERE org_id = ?1"
	NEWEST_FIRST,
	/* The names a rotation's name could clash with: those starting ?2. */
	[STMT_APIKEY_NAMES] =
	"SELECT name FROM api_keys WHERE org_id = ?1"
	" AND substr(name, 1, length(?2)) = ?2",
	/* The command line's revoke: the key's org. */
	[STMT_APIKEY_ORG] =
	"SELECT org_id FROM api_keys WHERE id = ?1",
	/* The audit log (6.4): its reads, set-based records, retention. */
	[STMT_AUDIT_LIST] =
	"SELECT " AUDIT_COLS AUDIT_WHERE AUDIT_NEWEST_FIRST PAGE,
	[STMT_AUDIT_COUNT] =
	"SELECT count(*)" AUDIT_WHERE,
	[STMT_AUDIT_ACTIVITY] =
	"SELECT " AUDIT_COLS AUDIT_ACTIVITY_WHERE AUDIT_NEWEST_FIRST PAGE,
	[STMT_AUDIT_ACTIVITY_COUNT] =
	"SELECT count(*)" AUDIT_ACTIVITY_WHERE,
	/*
	 * The record_created of each alert of the new event ?1, in one
	 * statement, data the alert object (3.2): ?2 the time, ?3 and ?4
	 * the key, ?5 the group, ?6 the target type.
	 */
	[STMT_AUDIT_ALERTS_CREATED] =
	"INSERT INTO audit_log (id, org_id, created_at, actor_id, actor_name,"
	" event_type, event_group, target_type, target_id, summary, data)"
	" SELECT 'cbaud_' || lower(hex(randomblob(16))), a.org_id, ?2, ?3, ?4,"
	" 'record_created', ?5, ?6, a.id, 'Alert ' || a.id || ' (' ||"
	" a.severity || ') created for vendor \"' || v.name || '\" (' ||"
	" a.vendor_id || ').',"
	" json_object('id', a.id, 'vendor_id', a.vendor_id, 'detector_id',"
	" NULL, 'source_id', NULL, 'data_id', NULL, 'event_id', a.event_id,"
	" 'summary', a.summary, 'severity', a.severity, 'confidence',"
	" a.confidence, 'should_alert', json(CASE a.should_alert WHEN 1 THEN"
	" 'true' ELSE 'false' END), 'is_dismissed', json(CASE a.is_dismissed"
	" WHEN 1 THEN 'true' ELSE 'false' END), 'dismiss_reason',"
	" a.dismiss_reason, 'dismissed_at', a.dismissed_at, 'is_archived',"
	" json(CASE a.is_archived WHEN 1 THEN 'true' ELSE 'false' END),"
	" 'created_at', a.created_at, 'updated_at', a.updated_at)"
	" FROM radar_alerts a JOIN vendors v ON v.id = a.vendor_id"
	" WHERE a.event_id = ?1 ORDER BY a.rowid",
	/*
	 * The record_created of each assessment run ?1 made, in one
	 * statement, data the assessment object (3.4); arguments as above.
	 */
	[STMT_AUDIT_ASMTS_CREATED] =
	"INSERT INTO audit_log (id, org_id, created_at, actor_id, actor_name,"
	" event_type, event_group, target_type, target_id, summary, data)"
	" SELECT 'cbaud_' || lower(hex(randomblob(16))), org_id, ?2, ?3, ?4,"
	" 'record_created', ?5, ?6, id, 'Assessment \"' || name || '\" (' ||"
	" id || ') created by running reassessment ' || reassessment_id || '.',"
	" json_object('id', id, 'vendor_id', vendor_id, 'name', name,"
	" 'status', status, 'control_set_ids', json(control_set_ids),"
	" 'service_ids', json('[]'), 'assignee_id', NULL, 'score_percent',"
	" NULL, 'findings_count', 0, 'initiated_at', NULL,"
	" 'assessment_plan_id', assessment_plan_id, 'reassessment_id',"
	" reassessment_id, 'created_at', created_at, 'updated_at', updated_at)"
	" FROM assessments WHERE reassessment_id = ?1 ORDER BY rowid",
	/* Would secret ?3 replace another? (It is never shown or logged.) */
	[STMT_AUDIT_WH_SECRET_CHANGES] =
	"SELECT secret IS NOT ?3 FROM webhooks WHERE id = ?1 AND org_id = ?2",
	/*
	 * Up to ?2 records older than ?1, each org's found by
	 * audit_log_by_org: a bounded batch, so that `reassess deliver`
	 * never holds the write lock long. CROSS JOIN keeps orgs the outer
	 * loop, so each org's old records are a range, not a scan.
	 */
	[STMT_AUDIT_SWEEP] =
	"DELETE FROM audit_log WHERE seq IN (SELECT a.seq FROM orgs o"
	" CROSS JOIN audit_log a ON a.org_id = o.id AND a.created_at < ?1"
	" LIMIT ?2)",
	/* Every org's records from ?1 on, oldest first. */
	[STMT_AUDIT_EXPORT] =
	"SELECT " AUDIT_EXPORT_COLS " FROM audit_log WHERE created_at >= ?1"
	" ORDER BY created_at, seq",
	[STMT_IDEM_GET] =
	"SELECT " IDEM_COLS " FROM idempotency_keys"
	" WHERE org_id = ?1 AND endpoint = ?2 AND key_hash = ?3"
	" AND created_at > ?4",
	[STMT_IDEM_PUT] =
	"INSERT OR REPLACE INTO idempotency_keys"
	" (org_id, endpoint, key_hash, status, body, created_at)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[STMT_IDEM_SWEEP] =
	"DELETE FROM idempotency_keys WHERE created_at <= ?1",
	[STMT_VENDOR_INSERT] =
	"INSERT INTO vendors (id, org_id, external_id, name, website,"
	" description, hq_location, use_case, created_at, updated_at)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
	[STMT_VENDOR_GET] =
	"SELECT " VENDOR_COLS " FROM vendors WHERE id = ?1 AND org_id = ?2",
	[STMT_VENDOR_LIST] =
	"SELECT " VENDOR_COLS VENDOR_WHERE NEWEST_FIRST PAGE,
	[STMT_VENDOR_COUNT] =
	"SELECT count(*)" VENDOR_WHERE,
	/* Touches the row only when a value changes. */
	[STMT_VENDOR_UPDATE] =
	"UPDATE vendors SET name = coalesce(?3, name),"
	" website = coalesce(?4, website),"
	" description = coalesce(?5, description),"
	" hq_location = coalesce(?6, hq_location),"
	" use_case = coalesce(?7, use_case), updated_at = ?8"
	" WHERE id = ?1 AND org_id = ?2 AND ("
	" name IS NOT coalesce(?3, name) OR website IS NOT coalesce(?4, website)"
	" OR description IS NOT coalesce(?5, description)"
	" OR hq_location IS NOT coalesce(?6, hq_location)"
	" OR use_case IS NOT coalesce(?7, use_case))",
	[STMT_VENDOR_NAME] =
	"SELECT name FROM vendors WHERE id = ?1 AND org_id = ?2",
	[STMT_EVENT_INSERT] =
	"INSERT INTO radar_events (id, org_id, name, summary,"
	" primary_impact_type, secondary_impact_types, source_url, source_name,"
	" occurred_at, created_at, updated_at)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
	/* Skips, silently, what is not the org's. */
	[STMT_EVENT_LINK_VENDOR] =
	"INSERT OR IGNORE INTO radar_event_vendors (event_id, vendor_id)"
	" SELECT ?1, id FROM vendors WHERE id = ?2 AND org_id = ?3",
	[STMT_EVENT_GET] =
	"SELECT " EVENT_COLS " FROM radar_events e"
	" WHERE e.id = ?1 AND e.org_id = ?2",
	[STMT_EVENT_LIST] =
	"SELECT " EVENT_COLS EVENT_WHERE NEWEST_FIRST PAGE,
	[STMT_EVENT_COUNT] =
	"SELECT count(*)" EVENT_WHERE,
	[STMT_EVENT_EXISTS] =
	"SELECT 1 FROM radar_events WHERE id = ?1 AND org_id = ?2",
	[STMT_ALERT_INSERT] =
	"INSERT INTO radar_alerts (id, org_id, vendor_id, event_id, summary,"
	" severity, created_at, updated_at)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
	[STMT_ALERT_GET] =
	"SELECT " ALERT_COLS " FROM radar_alerts WHERE id = ?1 AND org_id = ?2",
	[STMT_ALERT_LIST] =
	"SELECT " ALERT_COLS ALERT_WHERE NEWEST_FIRST PAGE,
	[STMT_ALERT_COUNT] =
	"SELECT count(*)" ALERT_WHERE,
	[STMT_ALERT_SET_DISMISSED] =
	"UPDATE radar_alerts SET is_dismissed = ?3, dismissed_at = ?4,"
	" dismiss_reason = ?5, suppress_similar = coalesce(?6, suppress_similar),"
	" updated_at = ?7"
	" WHERE id = ?1 AND org_id = ?2",
	[STMT_PLAN_INSERT] =
	"INSERT INTO assessment_plans (id, org_id, name, description,"
	" control_set_ids, created_at, updated_at)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
	[STMT_PLAN_GET] =
	"SELECT " PLAN_COLS " FROM assessment_plans WHERE id = ?1 AND org_id = ?2",
	[STMT_PLAN_LIST] =
	"SELECT " PLAN_COLS PLAN_WHERE NEWEST_FIRST PAGE,
	[STMT_PLAN_COUNT] =
	"SELECT count(*)" PLAN_WHERE,
	[STMT_PLAN_FOR_RUN] =
	"SELECT " PLAN_RUN_COLS " FROM assessment_plans"
	" WHERE id = ?1 AND org_id = ?2",
	[STMT_RSM_INSERT] =
	"INSERT INTO reassessments (id, org_id, status, title,"
	" assessment_plan_id, radar_event_id, created_at, updated_at)"
	" VALUES (?1, ?2, 'draft', ?3, ?4, ?5, ?6, ?6)",
	[STMT_RSM_GET] =
	"SELECT " RSM_COLS " FROM reassessments r"
	" WHERE r.id = ?1 AND r.org_id = ?2",
	[STMT_RSM_LIST] =
	"SELECT " RSM_COLS RSM_WHERE NEWEST_FIRST PAGE,
	/*
	 * Without the event, vendor and trigger filters, the total
	 * comes from the counts the triggers of migration 3 keep.
	 */
	[STMT_RSM_COUNT] =
	"SELECT CASE WHEN ?3 IS NULL AND ?4 IS NULL AND ?5 IS NULL THEN"
	" (SELECT coalesce(sum(n), 0) FROM reassessment_counts"
	"  WHERE org_id = ?1 AND (?2 IS NULL OR status = ?2))"
	" ELSE (SELECT count(*)" RSM_WHERE ") END",
	/*
	 * One statement per kind of change, each setting only its columns:
	 * SQLite rewrites every index that holds a column an UPDATE sets,
	 * whether its value changed or not (rsm_save).
	 */
	[STMT_RSM_SET_STATUS] =
	"UPDATE reassessments SET status = ?3, updated_at = ?4"
	" WHERE id = ?1 AND org_id = ?2",
	[STMT_RSM_SET_FIELDS] =
	"UPDATE reassessments SET title = ?3, assessment_plan_id = ?4,"
	" updated_at = ?5 WHERE id = ?1 AND org_id = ?2",
	[STMT_RSM_SET_EVENT] =
	"UPDATE reassessments SET radar_event_id = ?3, updated_at = ?4"
	" WHERE id = ?1 AND org_id = ?2",
	[STMT_RSM_TOUCH] =
	"UPDATE reassessments SET updated_at = ?3"
	" WHERE id = ?1 AND org_id = ?2",
	[STMT_RSM_ALERTS_CLEAR] =
	"DELETE FROM reassessment_alerts WHERE rsm_rid = " RID_OF_1,
	/* The event's live alerts on the vendor set. */
	[STMT_RSM_ALERTS_FILL] =
	"INSERT INTO reassessment_alerts (rsm_rid, alert_id)"
	" SELECT v.rsm_rid, a.id FROM radar_alerts a"
	" JOIN reassessment_vendors v"
	"   ON v.vendor_id = a.vendor_id AND v.rsm_rid = " RID_OF_1
	" WHERE a.event_id = ?2 AND a.is_dismissed = 0 AND a.is_archived = 0",
	[STMT_RSM_ENTRY_GET] =
	"SELECT included FROM reassessment_vendors"
	" WHERE rsm_rid = " RID_OF_1 " AND vendor_id = ?2",
	/* A vendor already in the set stays as it is. ?3 its position. */
	[STMT_RSM_ENTRY_ADD] =
	"INSERT OR IGNORE INTO reassessment_vendors"
	" (rsm_rid, vendor_id, position, source, included)"
	" VALUES (" RID_OF_1 ", ?2, ?3, ?4, 1)",
	/* The last position taken: new entries join after it. */
	[STMT_RSM_ENTRY_LAST] =
	"SELECT coalesce(max(position), 0) FROM reassessment_vendors"
	" WHERE rsm_rid = " RID_OF_1,
	[STMT_RSM_ENTRY_INCLUDE] =
	"UPDATE reassessment_vendors SET included = ?3"
	" WHERE rsm_rid = " RID_OF_1 " AND vendor_id = ?2",
	[STMT_RSM_ENTRY_ASSESSMENT] =
	"UPDATE reassessment_vendors SET assessment_id = ?3"
	" WHERE rsm_rid = " RID_OF_1 " AND vendor_id = ?2",
	[STMT_RSM_INCLUDED_COUNT] =
	"SELECT count(*) FROM reassessment_vendors"
	" WHERE rsm_rid = " RID_OF_1 " AND included = 1",
	/* Included entries still without an assessment, in joining order. */
	[STMT_RSM_RUN_TODO] =
	"SELECT " TODO_COLS " FROM reassessment_vendors v"
	" JOIN vendors vn ON vn.id = v.vendor_id"
	" WHERE v.rsm_rid = " RID_OF_1 " AND v.included = 1"
	" AND v.assessment_id IS NULL ORDER BY v.position",
	[STMT_RSM_LIST_BY_TRIGGER] =
	"SELECT " RSM_COLS RSM_WHERE_BY_TRIGGER NEWEST_FIRST PAGE,
	[STMT_RSM_COUNT_BY_TRIGGER] =
	"SELECT count(*)" RSM_WHERE_BY_TRIGGER,
	/* The draft trigger ?1 made for event ?2, if any. */
	[STMT_RSM_OF_TRIGGER] =
	"SELECT id FROM reassessments WHERE trigger_id = ?1"
	" AND radar_event_id = ?2",
	[STMT_TRG_INSERT] =
	"INSERT INTO reassessment_triggers (id, org_id, name,"
	" assessment_plan_id, primary_impact_types, min_alert_severity,"
	" vendor_ids, enabled, created_at, updated_at)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
	[STMT_TRG_GET] =
	"SELECT " TRG_COLS " FROM reassessment_triggers"
	" WHERE id = ?1 AND org_id = ?2 AND deleted_at IS NULL",
	[STMT_TRG_LIST] =
	"SELECT " TRG_COLS TRG_WHERE NEWEST_FIRST PAGE,
	[STMT_TRG_COUNT] =
	"SELECT count(*)" TRG_WHERE,
	[STMT_TRG_LIVE] =
	"SELECT 1 FROM reassessment_triggers"
	" WHERE id = ?1 AND org_id = ?2 AND deleted_at IS NULL",
	/* Touches the row only when a value changes. */
	[STMT_TRG_UPDATE] =
	"UPDATE reassessment_triggers SET name = coalesce(?3, name),"
	" assessment_plan_id = coalesce(?4, assessment_plan_id),"
	" primary_impact_types = coalesce(?5, primary_impact_types),"
	" min_alert_severity = coalesce(?6, min_alert_severity),"
	" vendor_ids = coalesce(?7, vendor_ids),"
	" enabled = coalesce(?8, enabled), updated_at = ?9"
	" WHERE id = ?1 AND org_id = ?2 AND deleted_at IS NULL AND ("
	" name IS NOT coalesce(?3, name)"
	" OR assessment_plan_id IS NOT coalesce(?4, assessment_plan_id)"
	" OR primary_impact_types IS NOT coalesce(?5, primary_impact_types)"
	" OR min_alert_severity IS NOT coalesce(?6, min_alert_severity)"
	" OR vendor_ids IS NOT coalesce(?7, vendor_ids)"
	" OR enabled IS NOT coalesce(?8, enabled))",
	[STMT_TRG_DELETE] =
	"UPDATE reassessment_triggers SET deleted_at = ?3, updated_at = ?3"
	" WHERE id = ?1 AND org_id = ?2 AND deleted_at IS NULL",
	/*
	 * The live enabled triggers of org ?1 that an event of primary impact
	 * type ?2 matches (none listed: any), oldest first.
	 */
	[STMT_TRG_FOR_EVENT] =
	"SELECT id FROM reassessment_triggers WHERE org_id = ?1"
	" AND enabled = 1 AND deleted_at IS NULL"
	" AND (primary_impact_types = '[]' OR EXISTS (SELECT 1"
	"   FROM json_each(primary_impact_types) WHERE value = ?2))"
	" ORDER BY created_at, rowid",
	/*
	 * Trigger ?3's draft ?1 for the event ?2, made only when the trigger
	 * takes one of the event's vendors; ?4 the time. The title is
	 * "<trigger>: <event>", cut at TITLE_MAX characters (substr counts
	 * characters, not bytes).
	 */
	[STMT_TRG_RSM_INSERT] =
	"INSERT INTO reassessments (id, org_id, status, title,"
	" assessment_plan_id, radar_event_id, trigger_id, created_at,"
	" updated_at)"
	" SELECT ?1, t.org_id, 'draft', substr(t.name || ': ' || e.name, 1, "
	XSTR(TITLE_MAX) "),"
	" t.assessment_plan_id, e.id, t.id, ?4, ?4"
	" FROM reassessment_triggers t JOIN radar_events e ON e.id = ?2"
	" WHERE t.id = ?3 AND EXISTS (SELECT 1 FROM radar_event_vendors ev"
	"   WHERE ev.event_id = ?2 AND" TRG_TAKES ")",
	/* Its vendor entries: those it takes, matched, in the event's order. */
	[STMT_TRG_ENTRIES_FILL] =
	"INSERT INTO reassessment_vendors (rsm_rid, vendor_id,"
	" position, source, included)"
	" SELECT " RID_OF_1 ", ev.vendor_id, row_number() OVER (ORDER BY ev.rowid),"
	" 'matched', 1"
	" FROM radar_event_vendors ev JOIN reassessment_triggers t ON t.id = ?3"
	" WHERE ev.event_id = ?2 AND" TRG_TAKES,
	/* Its alert_ids: the event's active alerts on them at the severity. */
	[STMT_TRG_ALERTS_FILL] =
	"INSERT INTO reassessment_alerts (rsm_rid, alert_id)"
	" SELECT v.rsm_rid, a.id FROM radar_alerts a"
	" JOIN reassessment_vendors v"
	"   ON v.vendor_id = a.vendor_id AND v.rsm_rid = " RID_OF_1
	" JOIN reassessment_triggers t ON t.id = ?3"
	" WHERE a.event_id = ?2 AND a.is_dismissed = 0 AND a.is_archived = 0"
	" AND " SEV_RANK("a.severity") " >= " SEV_RANK("t.min_alert_severity"),
	[STMT_ASMT_INSERT] =
	"INSERT INTO assessments (id, org_id, vendor_id, name, control_set_ids,"
	" assessment_plan_id, reassessment_id, created_at, updated_at)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
	[STMT_ASMT_GET] =
	"SELECT " ASMT_COLS " FROM assessments WHERE id = ?1 AND org_id = ?2",
	[STMT_ASMT_LIST] =
	"SELECT " ASMT_COLS ASMT_WHERE NEWEST_FIRST PAGE,
	[STMT_ASMT_COUNT] =
	"SELECT count(*)" ASMT_WHERE,
	[STMT_WH_INSERT] =
	"INSERT INTO webhooks (id, org_id, url, events, secret, description,"
	" enabled, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
	" ?8, ?8)",
	[STMT_WH_GET] =
	"SELECT " WH_COLS " FROM webhooks w"
	" WHERE w.id = ?1 AND w.org_id = ?2 AND w.deleted_at IS NULL",
	[STMT_WH_LIST] =
	"SELECT " WH_COLS " FROM webhooks w"
	" WHERE w.org_id = ?1 AND w.deleted_at IS NULL"
	" ORDER BY w.created_at DESC, w.rowid DESC",
	/*
	 * A new secret ?5 (one that differs) starts a rotation (4.2): the
	 * one it replaces keeps signing until ?9. (Every SET reads the row
	 * as it was.)
	 */
	[STMT_WH_UPDATE] =
	"UPDATE webhooks SET url = coalesce(?3, url),"
	" events = coalesce(?4, events), secret = coalesce(?5, secret),"
	" description = coalesce(?6, description),"
	" enabled = coalesce(?7, enabled), updated_at = ?8,"
	" previous_secret = CASE WHEN ?5 IS NOT NULL AND ?5 IS NOT secret"
	"  THEN secret ELSE previous_secret END,"
	" secret_rotating_until = CASE WHEN ?5 IS NOT NULL AND ?5 IS NOT secret"
	"  THEN ?9 ELSE secret_rotating_until END"
	" WHERE id = ?1 AND org_id = ?2 AND deleted_at IS NULL",
	[STMT_WH_DELETE] =
	"UPDATE webhooks SET deleted_at = ?3, updated_at = ?3"
	" WHERE id = ?1 AND org_id = ?2 AND deleted_at IS NULL",
	/* The live webhooks that take an event type. */
	[STMT_WH_SUBSCRIBED] =
	"SELECT id FROM webhooks WHERE org_id = ?1 AND enabled = 1"
	" AND deleted_at IS NULL"
	" AND EXISTS (SELECT 1 FROM json_each(events) WHERE value = ?2)"
	" ORDER BY rowid",
	[STMT_WH_LIVE] =
	"SELECT id FROM webhooks WHERE id = ?1 AND org_id = ?2"
	" AND deleted_at IS NULL",
	/* The receiver answered 410 Gone (4.2): it is disabled. */
	[STMT_WH_GONE] =
	"UPDATE webhooks SET enabled = 0, updated_at = ?2"
	" WHERE id = ?1 AND enabled = 1",
	/* Rotations whose overlap has ended forget the replaced secret. */
	[STMT_WH_ROTATION_END] =
	"UPDATE webhooks SET previous_secret = NULL,"
	" secret_rotating_until = NULL WHERE secret_rotating_until <= ?1",
	[STMT_EVT_INSERT] =
	"INSERT INTO webhook_events (id, org_id, event_type, payload,"
	" occurred_at) VALUES (?1, ?2, ?3, ?4, ?5)",
	[STMT_DLV_INSERT] =
	"INSERT INTO webhook_deliveries (id, webhook_id, event_id, attempt,"
	" next_attempt_at, created_at) VALUES (?1, ?2, ?3, 1, ?4, ?4)",
	[STMT_DLV_LIST] =
	"SELECT " DLV_COLS " FROM webhook_deliveries d"
	" JOIN webhook_events e ON e.id = d.event_id"
	" JOIN webhooks w ON w.id = d.webhook_id"
	" WHERE d.webhook_id = ?1 AND w.org_id = ?2"
	" ORDER BY d.created_at DESC, d.rowid DESC" PAGE,
	[STMT_DLV_COUNT] =
	"SELECT count(*) FROM webhook_deliveries d"
	" JOIN webhooks w ON w.id = d.webhook_id"
	" WHERE d.webhook_id = ?1 AND w.org_id = ?2",
	/* The next pending attempt nobody holds a lease on. */
	[STMT_DLV_DUE] =
	"SELECT " DUE_COLS
	" FROM webhook_deliveries d"
	" JOIN webhooks w ON w.id = d.webhook_id"
	" JOIN webhook_events e ON e.id = d.event_id"
	" WHERE d.status = 'pending' AND d.next_attempt_at <= ?1"
	" AND (d.claimed_until IS NULL OR d.claimed_until < ?1)"
	" ORDER BY d.next_attempt_at, d.rowid LIMIT 1",
	[STMT_DLV_LEASE] =
	"UPDATE webhook_deliveries SET claimed_until = ?2"
	" WHERE id = ?1 AND status = 'pending'",
	[STMT_DLV_RECORD] =
	"UPDATE webhook_deliveries SET status = ?2, response_status = ?3,"
	" response_time_ms = ?4, error = ?5, attempted_at = ?6,"
	" claimed_until = NULL WHERE id = ?1 AND status = 'pending'",
	[STMT_DLV_RETRY] =
	"INSERT INTO webhook_deliveries (id, webhook_id, event_id, attempt,"
	" next_attempt_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	/*
	 * API-call records (6.4): a batch is written without an fsync of
	 * its own (calls_flush), and marks its keys' last use, forward only.
	 */
	[STMT_SYNC_NORMAL] =
	"PRAGMA synchronous = NORMAL",
	[STMT_SYNC_FULL] =
	"PRAGMA synchronous = FULL",
	[STMT_KEY_USED] =
	"UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1"
	" AND (last_used_at IS NULL OR last_used_at < ?2)",
};

/* The kinds of object an id can name: prefix, noun, and 404 code. */
enum kind {
	KIND_ORG,
	KIND_KEY,
	KIND_VENDOR,
	KIND_EVENT,
	KIND_ALERT,
	KIND_PLAN,
	KIND_ASMT,
	KIND_RSM,
	KIND_TRIGGER,
	KIND_WEBHOOK,
	KIND_EVT,
	KIND_DELIVERY,
	KIND_AUDIT,
	KIND__MAX
};

static const char *const kind_prefixes[KIND__MAX] = {
	"cborg_",		/* KIND_ORG */
	"cbak_",		/* KIND_KEY */
	"cbvndr_",		/* KIND_VENDOR */
	"cbrevent_",		/* KIND_EVENT */
	"cbrdrres_",		/* KIND_ALERT */
	"cbasmtpl_",		/* KIND_PLAN */
	"cbqsrw_",		/* KIND_ASMT */
	"cbrsm_",		/* KIND_RSM */
	"cbrtrg_",		/* KIND_TRIGGER */
	"cbwh_",		/* KIND_WEBHOOK */
	"cbevt_",		/* KIND_EVT */
	"cbwhd_",		/* KIND_DELIVERY */
	"cbaud_",		/* KIND_AUDIT */
};

static const char *const kind_nouns[KIND__MAX] = {
	"Org",			/* KIND_ORG */
	"API key",		/* KIND_KEY */
	"Vendor",		/* KIND_VENDOR */
	"Radar event",		/* KIND_EVENT */
	"Alert",		/* KIND_ALERT */
	"Assessment plan",	/* KIND_PLAN */
	"Assessment",		/* KIND_ASMT */
	"Reassessment",		/* KIND_RSM */
	"Reassessment trigger",	/* KIND_TRIGGER */
	"Webhook",		/* KIND_WEBHOOK */
	"Event",		/* KIND_EVT */
	"Delivery",		/* KIND_DELIVERY */
	"Audit record",		/* KIND_AUDIT */
};

static const char *const kind_not_found[KIND__MAX] = {
	"org_not_found",		/* KIND_ORG */
	"api_key_not_found",		/* KIND_KEY */
	"vendor_not_found",		/* KIND_VENDOR */
	"radar_event_not_found",	/* KIND_EVENT */
	"alert_not_found",		/* KIND_ALERT */
	"assessment_plan_not_found",	/* KIND_PLAN */
	"assessment_not_found",		/* KIND_ASMT */
	"reassessment_not_found",	/* KIND_RSM */
	"reassessment_trigger_not_found", /* KIND_TRIGGER */
	"webhook_not_found",		/* KIND_WEBHOOK */
	"event_not_found",		/* KIND_EVT */
	"delivery_not_found",		/* KIND_DELIVERY */
	"audit_record_not_found",	/* KIND_AUDIT */
};

/* The target_type of an audit record about an object of the kind (6.4). */
static const char *const kind_targets[KIND__MAX] = {
	"org",				/* KIND_ORG */
	"api_key",			/* KIND_KEY */
	"vendor",			/* KIND_VENDOR */
	"radar_event",			/* KIND_EVENT */
	"alert",			/* KIND_ALERT */
	"assessment_plan",		/* KIND_PLAN */
	"assessment",			/* KIND_ASMT */
	"reassessment",			/* KIND_RSM */
	"reassessment_trigger",		/* KIND_TRIGGER */
	"webhook",			/* KIND_WEBHOOK */
	"webhook_event",		/* KIND_EVT */
	"webhook_delivery",		/* KIND_DELIVERY */
	"audit_record",			/* KIND_AUDIT */
};

/*
 * The group of a change record (6.4) about an object of the kind, for its
 * creation and its updates; a deletion is filed under "archive". NULL:
 * the kind has no change records of this part (keys and the org write
 * their own, 6.2 and 6.3; events, deliveries and audit records none).
 */
static const char *const kind_groups[KIND__MAX] = {
	NULL,				/* KIND_ORG */
	NULL,				/* KIND_KEY */
	"configuration",		/* KIND_VENDOR */
	"radar",			/* KIND_EVENT */
	"radar",			/* KIND_ALERT */
	"configuration",		/* KIND_PLAN */
	"configuration",		/* KIND_ASMT */
	"configuration",		/* KIND_RSM */
	"configuration",		/* KIND_TRIGGER */
	"integrations",			/* KIND_WEBHOOK */
	NULL,				/* KIND_EVT */
	NULL,				/* KIND_DELIVERY */
	NULL,				/* KIND_AUDIT */
};

/* The audit log's groups and types (6.4), with their labels (metadata). */
static const char *const audit_groups[] = {
	"configuration", "radar", "integrations", "archive", NULL
};
static const char *const audit_group_labels[] = {
	"Configuration", "Radar", "Integrations", "Archive", NULL
};
static const char *const audit_types[] = {
	"record_created", "field_update", "record_archived",
	"integration_added", "integration_updated", "integration_deactivated",
	"external_api_call", "audit_log_exported", NULL
};
static const char *const audit_type_labels[] = {
	"Record created", "Field updated", "Record archived",
	"Integration added", "Integration updated", "Integration deactivated",
	"External API call", "Audit log exported", NULL
};
/* What GET /v1/activity takes as target_type: the kinds with changes. */
static const char *const activity_targets[] = {
	"org", "api_key", "vendor", "radar_event", "alert", "assessment_plan",
	"assessment", "reassessment", "reassessment_trigger", "webhook", NULL
};

/*
 * The scopes a key can carry (6.1): bits of rq.scopes and of R_SCOPE() in
 * a route's flags, and their names, as stored in api_keys.scopes and shown
 * in key objects.
 */
#define SCOPE_KEYS_MANAGE	0x01	/* 6.2, and 6.3's changes */
#define SCOPE_AUDIT_READ	0x02	/* 6.4's system log */
static const char *const scope_names[] = {
	"keys:manage",			/* SCOPE_KEYS_MANAGE */
	"audit:read",			/* SCOPE_AUDIT_READ */
	NULL
};

/* JSON types a body field can have. */
enum ftype {
	FT_STRING,		/* a string */
	FT_STRINGS,		/* a list of strings */
	FT_BOOL,		/* true or false */
	FT_INT,			/* an integer (no fraction, no exponent) */
	FT_OBJECT,		/* any JSON object */
	FT__MAX
};

/* Types a query parameter can have. */
enum qtype {
	QT_STRING,		/* any text */
	QT_BOOL,		/* true/false, 1/0, yes/no, on/off */
	QT_ENUM,		/* one of a fixed set */
	QT_ENUMS,		/* repeatable, each one of a fixed set */
	QT_INT,			/* an integer (the strict parser) */
	QT__MAX
};

/* ------------------------------------------------------------------------
 * Structs
 * ------------------------------------------------------------------------ */

/* One body field of an input shape; arrays of these end with a NULL name. */
struct field {
	const char		*name;		/* key in the JSON object */
	enum ftype		 type;
	unsigned		 flags;		/* F_REQUIRED, F_NONEMPTY */
	size_t			 max;		/* most characters; 0: TEXT_MAX */
	const char *const	*values;	/* allowed values, or NULL; for
						   FT_INT: NULL, or the least
						   and the greatest allowed,
						   as decimal text */
};
#define F_REQUIRED	0x01	/* absent or null: 422 missing / *_type */
#define F_NONEMPTY	0x02	/* "" or []: 422 too_short */

/* One query parameter a route reads; arrays end with a NULL name. */
struct qfield {
	const char		*name;
	enum qtype		 type;
	const char *const	*values;	/* for QT_ENUM and QT_ENUMS */
};

/* A query parameter, percent-decoded. */
struct param {
	char			*name;		/* owned */
	char			*value;		/* owned, NUL-terminated */
	size_t			 len;		/* value's length (may hold NULs) */
};

/* A database connection with its statements, prepared on first use. */
struct conn {
	const char		*path;		/* database file */
	sqlite3			*db;		/* NULL until ready */
	sqlite3_stmt		*stmts[STMT__MAX];
	int			 broken;	/* reopen before the next request */
	int			 err;		/* the first failure since the
						   request began: an SQLite
						   result code, or SQLITE_OK */
	char			 errmsg[256];	/* what SQLite said of err: for
						   the log, never a client */
};

/* Where a request comes from and where its answer goes. */
struct io {
	FCGX_Request		*fcgi;		/* FastCGI request, or NULL: CGI */
	char			**envp;		/* the request's parameters */
};

struct route;
struct asset;

/* One request and, as it is built, its response. */
struct rq {
	struct conn		*conn;
	const struct route	*route;		/* matched route, or NULL */
	enum method		 method;
	char			*path;		/* owned */
	char			*id;		/* owned: the path's id, if any */
	struct param		 params[QUERY_MAX];
	size_t			 nparams;
	int			 params_over;	/* more than QUERY_MAX given */
	int64_t			 limit;		/* list routes: page size */
	int64_t			 offset;	/* list routes: rows skipped */
	int64_t			 content_length; /* declared; 0 if none */
	char			*body;		/* owned: raw request body */
	size_t			 bodylen;
	json_t			*json;		/* owned: parsed body, an object */
	char			 org[ID_LEN];	/* the key's org, once known */
	char			 key_id[ID_LEN]; /* the key, once known */
	char			*key_name;	/* owned: its name, or NULL */
	unsigned		 scopes;	/* its SCOPE_* bits */
	char			*allowlist;	/* owned: its org's allowlist,
						   JSON text, when not empty */
	char			 client_ip[INET6_ADDRSTRLEN]; /* REMOTE_ADDR,
						   or "" when not given */
	char			 request_id[REQUEST_ID_MAX + 1];
	int64_t			 now;		/* the request's clock */
	int			 status;	/* response status; 0: none yet */
	char			*out;		/* owned: response body */
	char			 hdrs[512];	/* extra "Name: value\r\n" lines */
	size_t			 hdrlen;
	int			 in_tx;		/* a transaction is open */
	int			 idem;		/* an Idempotency-Key to honour */
	unsigned char		 idem_hash[SHA256_LEN];	/* its SHA-256 */
	char			 idem_endpoint[64];	/* "POST /v1/vendors" */
	char			 subs_type[64];	/* event type subs is for */
	json_t			*subs;		/* owned: its subscribed webhooks */
	const char		*if_none_match;	/* the page's routes: the
						   If-None-Match header, or
						   NULL (the transport's) */
	const struct asset	*asset;		/* a page file answered: its
						   headers, not the API's */
};

typedef void (*handler_fn)(struct rq *);

/* A row of the route table. */
struct route {
	enum method		 method;
	const char		*pattern;	/* '*' matches one id segment */
	handler_fn		 fn;
	unsigned		 flags;		/* R_* below */
	enum kind		 kind;		/* what the '*' names */
	const struct field	*body;		/* with R_BODY: the body's shape */
	const struct qfield	*query;		/* query parameters, or NULL */
};
#define R_WRITE		0x01	/* runs in BEGIN IMMEDIATE, else BEGIN */
#define R_BODY		0x02	/* takes a JSON body (415, 422 apply) */
#define R_LIST		0x04	/* paged: limit and offset */
#define R_IDEMPOTENT	0x08	/* honours Idempotency-Key (1.6) */
#define R_ANY_IP	0x10	/* exempt from the org's IP allowlist (6.3) */
#define R_AUDIT_PAGE	0x20	/* paged as the audit log: limit 1..500,
				   default 100 (6.4), not as 1.5 */
#define R_NO_KEY	0x40	/* needs no key, no body and no database:
				   answers from memory (8: the review
				   page's files, the OpenAPI document) */
#define R_SCOPE(s)	((unsigned)(s) << 16)	/* the key needs the SCOPE_*
						   bits s (6.1) */
#define ROUTE_SCOPE(rt)	((rt)->flags >> 16)	/* ... as SCOPE_* bits */

/*
 * A growing text buffer, for responses written straight from rows. After
 * a failed allocation it stays failed (p freed and NULL, oom set) and later
 * writes do nothing, so a writer checks once, at the end.
 */
struct buf {
	char			*p;	/* the text, NUL-terminated, or NULL */
	size_t			 len;	/* bytes in p, without the NUL */
	size_t			 cap;	/* bytes allocated at p */
	int			 oom;	/* an allocation failed */
};

/* Where a part of a buf's text is. */
struct span {
	size_t			 off;
	size_t			 len;
};

/* How one field of an object is written from a row (obj_write). */
enum otype {
	O_STR,		/* column col: text, or null */
	O_INT,		/* column col: integer, or null */
	O_BOOL,		/* column col: 0 or 1 */
	O_JSON,		/* column col: stored JSON text ([] if unreadable) */
	O_NULL,		/* always null: a Coverbase field reassess does not keep */
	O_EMPTY,	/* always [] */
	O_ZERO,		/* always 0 */
	O_RAW,		/* column col: JSON text made by SQLite, as it is */
	O_RATE		/* columns col (tried), col + 1 (succeeded): a ratio to 4
			   places, or null when nothing was tried */
};

/* One field of an object: a table of these, ended by a NULL name. */
struct ofield {
	const char		*name;	/* the key, in the contract's order */
	enum otype		 type;
	int			 col;	/* the column, for the types that read one */
};

/*
 * An object as obj_write() writes it, with where each field's value is.
 *
 * Rationale: field_diffs, change records and replies are made from this
 * text as it is, never parsed back into a tree: a run of 5,000 vendors
 * parsed its reassessment twice into jansson trees to diff them and dumped
 * the result twice, 40% of its instructions (bench/README.md). Two values
 * are the same when their texts are: obj_write() writes a value one way.
 */
#define FLAT_MAX	24		/* fields of the largest object */
struct flat {
	struct buf		 b;
	const struct ofield	*fields;
	struct span		 at[FLAT_MAX];
};

/* A reassessment row, as the handlers that change one read it. */
struct rsm {
	char			 id[ID_LEN];
	char			 status[16];
	char			*title;		/* owned, or NULL */
	char			 plan_id[ID_LEN];	/* "" when none */
	char			 event_id[ID_LEN];	/* "" when none */
	char			 trigger_id[ID_LEN];	/* "" when made by hand */
	struct flat		 before;	/* owned: the object as read */
};

/*
 * Process-wide settings, read from the environment once, at start, by
 * settings_read(); docs/configuration.md has them all.
 */
struct settings {
	const char	*db;		/* REASSESS_DB, else ./reassess.db */
	int		 sync_normal;	/* REASSESS_SYNC=normal */
	int		 busy_timeout_ms; /* REASSESS_BUSY_TIMEOUT */
	int		 allow_private;	/* REASSESS_WEBHOOK_ALLOW_PRIVATE=1:
					   http:// and private targets */
	long		 webhook_timeout_ms; /* REASSESS_WEBHOOK_TIMEOUT_MS */
	int64_t		 retry_delays[WEBHOOK_ATTEMPTS - 1];
					/* REASSESS_WEBHOOK_DELAYS: seconds
					   before attempts 2 .. 6 */
	int64_t		 audit_days;	/* REASSESS_AUDIT_DAYS: days audit
					   records are kept; 0: for ever */
	int		 audit_calls;	/* REASSESS_AUDIT_CALLS (default on):
					   API-call records (6.4) */
	int		 calls_wait_ms;	/* REASSESS_AUDIT_CALLS_WAIT_MS */
};

/* ------------------------------------------------------------------------
 * Small utilities
 * ------------------------------------------------------------------------ */

/* The settings: their defaults, until settings_read() has run. */
static struct settings cfg = {
	.db = "./reassess.db",
	.busy_timeout_ms = BUSY_TIMEOUT_MS,
	.webhook_timeout_ms = WEBHOOK_TIMEOUT_MS,
	.retry_delays = { 4, 16, 64, 240, 240 },
	.audit_days = AUDIT_DAYS,
	.audit_calls = 1,
	.calls_wait_ms = CALLS_AGE_MS,
};

/*
 * The wall clock in whole seconds, for the timestamps we store. Rationale:
 * not time(), which glibc answers from the clock as of the last timer tick,
 * up to a tick behind what a client's `date` reads just before its request.
 */
static int64_t
wall_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

/* Fill buf with n bytes from the kernel's random source; -1 on failure. */
static int
random_bytes(void *buf, size_t n)
{
	unsigned char	*p = buf;
	ssize_t		 got;

	while (n > 0) {
		got = getrandom(p, n, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

/* Write n bytes as lowercase hex plus a NUL into out (2n + 1 bytes). */
static void
hex(char *out, const unsigned char *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t		  i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* A new id "<prefix><32 hex>" in out (ID_LEN bytes); -1 on failure. */
static int
new_id(char *out, enum kind k)
{
	unsigned char	 raw[ID_HEX / 2];
	size_t		 plen = strlen(kind_prefixes[k]);

	if (random_bytes(raw, sizeof(raw)) == -1)
		return -1;
	memcpy(out, kind_prefixes[k], plen);
	hex(out + plen, raw, sizeof(raw));
	return 0;
}

/* A new secret: "ak_live_" and 43 characters of [A-Za-z0-9]. */
static int
new_secret(char *out, size_t sz)
{
	static const char alnum[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char	 b;
	size_t		 n = 0, plen = strlen("ak_live_");

	if (sz < plen + SECRET_CHARS + 1)
		return -1;
	memcpy(out, "ak_live_", plen);
	while (n < SECRET_CHARS) {
		if (random_bytes(&b, 1) == -1)
			return -1;
		if (b >= 248)		/* 248 = 4 * 62: no modulo bias */
			continue;
		out[plen + n++] = alnum[b % 62];
	}
	out[plen + n] = '\0';
	return 0;
}

/* Is s a well-formed id of kind k: the prefix, then 32 lowercase hex? */
static int
id_valid(const char *s, enum kind k)
{
	size_t	 plen = strlen(kind_prefixes[k]), i;

	if (strncmp(s, kind_prefixes[k], plen) != 0)
		return 0;
	for (i = 0; i < ID_HEX; i++)
		if (!isdigit((unsigned char)s[plen + i]) &&
		    (s[plen + i] < 'a' || s[plen + i] > 'f'))
			return 0;
	return s[plen + ID_HEX] == '\0';
}

/*
 * SHA-256: key secrets and Idempotency-Keys are stored as their digests;
 * HMAC-SHA256 (RFC 2104) signs webhook deliveries (4.1, 4.2). Both are
 * nettle's, as are the base64 of the Standard Webhooks signature and the
 * constant-time compare of a key's hash.
 *
 * Rationale: nettle, not libcrypto. OpenSSL's loading and initialisation
 * (relocations, then OpenSSL 3 fetching its default provider) cost a CGI
 * request more than all the rest of its work. libnettle is one small
 * library with no constructor and no global state: mapping it is free
 * next to SQLite's, and nothing needs initialising. Its SHA-256 gives the
 * same digests as the hand-written one it replaced, so stored key hashes
 * still match (tests/cli.bats checks against sha256sum, the fuzz harness
 * against libcrypto).
 */

/* SHA-256 of n bytes into out (SHA256_LEN bytes). */
static void
sha256(const void *in, size_t n, unsigned char *out)
{
	struct sha256_ctx	 s;

	sha256_init(&s);
	sha256_update(&s, n, in);
	sha256_digest(&s, SHA256_LEN, out);
}

/* HMAC-SHA256 of n bytes with the key into out (SHA256_LEN bytes). */
static void
hmac_sha256(const void *key, size_t klen, const void *in, size_t n,
    unsigned char *out)
{
	struct hmac_sha256_ctx	 s;

	hmac_sha256_set_key(&s, klen, key);
	hmac_sha256_update(&s, n, in);
	hmac_sha256_digest(&s, SHA256_LEN, out);
	explicit_bzero(&s, sizeof(s));
}

/* 1 when the n bytes at a and b are equal, in a time that n alone sets. */
static int
equal_ct(const void *a, const void *b, size_t n)
{
	return memeql_sec(a, b, n);
}

/* Characters (not bytes) in a valid UTF-8 string. */
static size_t
utf8_chars(const char *s, size_t n)
{
	size_t	 i, c = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			c++;
	return c;
}

enum parse_int { PI_OK, PI_INVALID, PI_LOW, PI_HIGH };

/*
 * The one strict integer parser, for query strings and CONTENT_LENGTH:
 * an optional sign and decimal digits, nothing else, within [min, max].
 */
static enum parse_int
parse_int(const char *s, size_t len, int64_t min, int64_t max, int64_t *out)
{
	char		*end;
	long long	 v;

	if (len == 0 || strlen(s) != len)
		return PI_INVALID;
	if (!isdigit((unsigned char)s[0]) &&
	    !((s[0] == '-' || s[0] == '+') && isdigit((unsigned char)s[1])))
		return PI_INVALID;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0')
		return PI_INVALID;
	if (errno == ERANGE)
		return v < 0 ? PI_LOW : PI_HIGH;
	if (v < min)
		return PI_LOW;
	if (v > max)
		return PI_HIGH;
	*out = v;
	return PI_OK;
}

/* Decode %XX escapes (and '+' as space when plus is set) in place. */
static size_t
percent_decode(char *s, int plus)
{
	char	*in = s, *out = s;
	int	 hi, lo;

	for (; *in != '\0'; in++) {
		if (*in == '%' && isxdigit((unsigned char)in[1]) &&
		    isxdigit((unsigned char)in[2])) {
			hi = isdigit((unsigned char)in[1]) ? in[1] - '0' :
			    (tolower((unsigned char)in[1]) - 'a' + 10);
			lo = isdigit((unsigned char)in[2]) ? in[2] - '0' :
			    (tolower((unsigned char)in[2]) - 'a' + 10);
			*out++ = (char)(hi * 16 + lo);
			in += 2;
		} else if (*in == '+' && plus)
			*out++ = ' ';
		else
			*out++ = *in;
	}
	*out = '\0';
	return (size_t)(out - s);
}

/* ------------------------------------------------------------------------
 * HTTP and JSON helpers
 * ------------------------------------------------------------------------ */

/* The reason phrase of a status, for the Status: line. */
static const char *
status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

/*
 * Log one server-side failure to stderr, which the web server keeps in its
 * error log: one line, with the request id.
 */
static void
logr(const struct rq *r, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "reassess[%ld]: request_id=%s %s %s: %s\n",
	    (long)getpid(), r->request_id,
	    r->method < METHOD__MAX ? methods[r->method] : "-",
	    r->path != NULL ? r->path : "-", msg);
}

/* Add one response header line. */
static void
add_header(struct rq *r, const char *name, const char *value)
{
	int	 n;

	n = snprintf(r->hdrs + r->hdrlen, sizeof(r->hdrs) - r->hdrlen,
	    "%s: %s\r\n", name, value);
	if (n > 0 && (size_t)n < sizeof(r->hdrs) - r->hdrlen)
		r->hdrlen += (size_t)n;
}

/* Mark b failed, freeing its text. */
static void
buf_fail(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
	b->oom = 1;
}

/* Append n bytes at s to b. */
static void
buf_add(struct buf *b, const char *s, size_t n)
{
	size_t	 need, cap;
	char	*p;

	if (b->oom)
		return;
	if (n > SIZE_MAX / 4 - b->len)
		goto oom;
	need = b->len + n + 1;		/* with the NUL */
	if (need > b->cap) {
		for (cap = b->cap > 0 ? b->cap : 1024; cap < need; cap *= 2)
			continue;
		if ((p = realloc(b->p, cap)) == NULL)
			goto oom;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return;
oom:
	buf_fail(b);
}

/* Append the string s to b. */
static void
buf_puts(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* Append v in decimal to b. */
static void
buf_int(struct buf *b, int64_t v)
{
	char		 s[24], *p = s + sizeof(s);
	uint64_t	 u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) > 0);
	if (v < 0)
		*--p = '-';
	buf_add(b, p, (size_t)(s + sizeof(s) - p));
}

/*
 * Bytes in the UTF-8 sequence at s (n > 0 bytes left), or 0 when it is not
 * one that jansson accepts: no overlong forms, no surrogates, nothing past
 * U+10FFFF.
 */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	uint32_t	 c;
	size_t		 len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] < 0xC2 || s[0] > 0xF4)
		return 0;
	len = s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : 4;
	if (len > n)
		return 0;
	c = s[0] & (0x7F >> len);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3F);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	return len;
}

/*
 * Append s (n bytes) as a JSON string, escaped as json_dumps escapes it;
 * null when s is NULL or not valid UTF-8 (as json_stringn refuses it).
 * One pass: an invalid sequence takes back what was written of s.
 */
static void
buf_str(struct buf *b, const char *s, size_t n)
{
	static const char	 digits[] = "0123456789ABCDEF";
	const unsigned char	*u = (const unsigned char *)s;
	char			 esc[6] = { '\\', 'u', '0', '0' };
	size_t			 i, k, from, start = b->len;

	if (s == NULL)
		goto null;
	buf_add(b, "\"", 1);
	for (i = from = 0; i < n; i += k) {
		k = 1;
		if (u[i] >= 0x80) {
			if ((k = utf8_seq(u + i, n - i)) == 0)
				goto invalid;
			continue;
		}
		if (u[i] >= 0x20 && u[i] != '"' && u[i] != '\\')
			continue;
		buf_add(b, s + from, i - from);
		from = i + 1;
		switch (u[i]) {
		case '"':  buf_add(b, "\\\"", 2); break;
		case '\\': buf_add(b, "\\\\", 2); break;
		case '\b': buf_add(b, "\\b", 2); break;
		case '\f': buf_add(b, "\\f", 2); break;
		case '\n': buf_add(b, "\\n", 2); break;
		case '\r': buf_add(b, "\\r", 2); break;
		case '\t': buf_add(b, "\\t", 2); break;
		default:
			esc[4] = digits[u[i] >> 4];
			esc[5] = digits[u[i] & 0xF];
			buf_add(b, esc, sizeof(esc));
		}
	}
	buf_add(b, s + from, n - from);
	buf_add(b, "\"", 1);
	return;
invalid:
	if (!b->oom) {
		b->len = start;
		b->p[start] = '\0';
	}
null:
	buf_puts(b, "null");
}

/* Append s as a JSON string, or null when s is NULL. */
static void
buf_cstr(struct buf *b, const char *s)
{
	buf_str(b, s, s != NULL ? strlen(s) : 0);
}

/*
 * Set the response: status and the JSON value o, whose reference this
 * takes. A NULL o (out of memory upstream) becomes a 500.
 */
static void
reply(struct rq *r, int status, json_t *o)
{
	if (o == NULL && r->status >= 400)
		return;		/* an inner failure has answered already */
	free(r->out);
	r->out = NULL;
	if (o != NULL)	/* 15 digits: 0.3333 stays 0.3333 (4) */
		r->out = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(o);
	if (r->out == NULL) {
		logr(r, "out of memory building a response");
		r->out = strdup("{\"detail\":{\"code\":\"internal_error\","
		    "\"message\":\"Internal server error.\"}}");
		status = 500;
	}
	r->status = status;
}

/* Set the response: status and the JSON text in b, which this takes. */
static void
reply_buf(struct rq *r, int status, struct buf *b)
{
	if (b->oom) {
		reply(r, status, NULL);
		return;
	}
	free(r->out);
	r->out = b->p;
	r->status = status;
	memset(b, 0, sizeof(*b));
}

/*
 * The one coded error: {"detail":{"code","message"},"request_id"}. The
 * message is one plain sentence made from fmt. Like every fail_*(), it
 * returns the status it answered, so that a step can `return fail(...)`.
 */
static int
fail(struct rq *r, int status, const char *code, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply(r, status, json_pack("{s:{s:s,s:s},s:s}", "detail", "code",
	    code, "message", msg, "request_id", r->request_id));
	return r->status;
}

/* FastAPI's plain errors: {"detail":"Not Found"}. */
static int
fail_plain(struct rq *r, int status, const char *detail)
{
	reply(r, status, json_pack("{s:s}", "detail", detail));
	return r->status;
}

/* 500 with the cause in the log only. */
static int
fail_internal(struct rq *r, const char *why)
{
	logr(r, "%s", why);
	fail(r, 500, "internal_error", "Internal server error.");
	return r->status;
}

/*
 * Answer the database failure recorded on the request's connection, on
 * purpose, the cause (what SQLite said) going to the log, never to the
 * client; whatever the handler answered before is replaced:
 *   - a lock held past the busy timeout: 503 database_busy;
 *   - a file that cannot be opened, read or written (missing, read-only,
 *     disk full, I/O error): 503 database_unavailable (the connection is
 *     reopened for the next request);
 *   - anything else, out of memory included: 500 internal_error.
 * Both 503s carry Retry-After: 1. This is the one place where a database
 * error becomes a response.
 */
static void
fail_db(struct rq *r)
{
	const struct conn	*c = r->conn;

	free(r->out);
	r->out = NULL;
	r->status = 0;
	switch (c->err & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		logr(r, "database busy (%d): %s", c->err, c->errmsg);
		add_header(r, "Retry-After", "1");
		fail(r, 503, "database_busy",
		    "The database is busy; retry the request.");
		break;
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_FULL:
	case SQLITE_IOERR:
		logr(r, "database unavailable (%d): %s", c->err, c->errmsg);
		add_header(r, "Retry-After", "1");
		fail(r, 503, "database_unavailable",
		    "The database cannot be used right now; retry later.");
		break;
	default:
		logr(r, "database error %d: %s", c->err, c->errmsg);
		fail(r, 500, "internal_error", "Internal server error.");
		break;
	}
}

/* The 404 of a kind, naming the id when it can be shown as it is. */
static int
not_found(struct rq *r, enum kind k, const char *id)
{
	size_t	 i, n = strlen(id);
	int	 showable = n > 0 && n <= ID_LEN;

	for (i = 0; showable && i < n; i++)
		if (!isalnum((unsigned char)id[i]) && id[i] != '_' &&
		    id[i] != '-')
			showable = 0;
	if (showable)
		fail(r, 404, kind_not_found[k], "%s %s not found.",
		    kind_nouns[k], id);
	else
		fail(r, 404, kind_not_found[k], "%s not found.",
		    kind_nouns[k]);
	return r->status;
}

/* Append one FastAPI-style entry to a 422 list; stops at ERRORS_MAX. */
static void
verr(json_t *errs, const char *where, const char *name, long idx,
    const char *type, const char *msg)
{
	json_t	*loc;

	if (json_array_size(errs) >= ERRORS_MAX)
		return;
	loc = json_pack("[s]", where);
	if (loc != NULL && name != NULL)
		json_array_append_new(loc, json_string(name));
	if (loc != NULL && idx >= 0)
		json_array_append_new(loc, json_integer(idx));
	json_array_append_new(errs, json_pack("{s:o?,s:s,s:s}",
	    "loc", loc, "msg", msg, "type", type));
}

/* Reply 422 with the list errs (taken). */
static int
fail_validation(struct rq *r, json_t *errs)
{
	reply(r, 422, json_pack("{s:o,s:s}", "detail", errs,
	    "request_id", r->request_id));
	return r->status;
}

/* "Input should be 'a', 'b' or 'c'" for a value set. */
static void
enum_msg(char *buf, size_t sz, const char *const *values)
{
	size_t	 n, i, len;

	for (n = 0; values[n] != NULL; n++)
		continue;
	len = (size_t)snprintf(buf, sz, "Input should be");
	for (i = 0; i < n && len < sz; i++)
		len += (size_t)snprintf(buf + len, sz - len, "%s'%s'",
		    i == 0 ? " " : (i + 1 == n ? " or " : ", "), values[i]);
}

/* Is s one of values? */
static int
in_set(const char *s, const char *const *values)
{
	for (; *values != NULL; values++)
		if (strcmp(s, *values) == 0)
			return 1;
	return 0;
}

/* A body field as a C string: NULL when absent, null, or not a string. */
static const char *
jstr(const json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name));
}

/* The value of the last query parameter called name, or NULL. */
static const char *
qval(const struct rq *r, const char *name)
{
	size_t	 i;

	for (i = r->nparams; i > 0; i--)
		if (strcmp(r->params[i - 1].name, name) == 0)
			return r->params[i - 1].value;
	return NULL;
}

/* Parse a query boolean; -1 when it is none of the accepted spellings. */
static int
parse_bool(const char *s)
{
	static const char *const yes[] = { "true", "1", "yes", "on", "t", "y" };
	static const char *const no[] = { "false", "0", "no", "off", "f", "n" };
	size_t	 i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -1;
}

/* A validated query boolean, or def when absent. */
static int
qbool(const struct rq *r, const char *name, int def)
{
	const char	*v = qval(r, name);

	return v == NULL ? def : parse_bool(v);
}

/* Every value of a repeated query parameter as a JSON array text, or NULL. */
static char *
qlist_json(const struct rq *r, const char *name)
{
	json_t	*a;
	char	*s;
	size_t	 i;

	if (qval(r, name) == NULL)
		return NULL;
	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < r->nparams; i++)
		if (strcmp(r->params[i].name, name) == 0)
			json_array_append_new(a, json_string(r->params[i].value));
	s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}

/* ------------------------------------------------------------------------
 * Database helpers
 * ------------------------------------------------------------------------ */

/*
 * SQL fold(text): text with every letter case-folded, for the filters that
 * are case-insensitive ("über" finds "Über"); NULL stays NULL. Each code
 * point becomes towlower(towupper(c)) in the C.UTF-8 locale, a simple case
 * fold (it also maps final sigma, long s and the Kelvin sign to their
 * plain letters); a byte that is not UTF-8 is kept as it is. Without a
 * C.UTF-8 locale, ASCII letters alone are folded.
 *
 * Rationale: SQLite's lower() and LIKE fold ASCII only, and ICU is a large
 * library for one filter. The locale object is made once, the first time
 * fold() runs, so requests that filter nothing never pay for it.
 */
static void
sql_fold(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	static locale_t		 loc;
	static int		 tried;
	const unsigned char	*s;
	unsigned char		*out;
	uint32_t		 c;
	size_t			 n, i, o = 0, k, need;

	(void)argc;
	if ((s = sqlite3_value_text(argv[0])) == NULL) {
		sqlite3_result_null(ctx);
		return;
	}
	n = (size_t)sqlite3_value_bytes(argv[0]);
	if (!tried) {
		tried = 1;
		loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	}
	/* A fold lengthens a character by at most one byte (2 -> 3). */
	if ((out = sqlite3_malloc64(n * 2 + 1)) == NULL) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	for (i = 0; i < n; i += k) {
		if (s[i] < 0x80 || loc == (locale_t)0) {
			out[o++] = s[i] < 0x80 ? (unsigned char)tolower(s[i]) :
			    s[i];
			k = 1;
			continue;
		}
		k = s[i] >= 0xf0 ? 4 : s[i] >= 0xe0 ? 3 : s[i] >= 0xc0 ? 2 : 0;
		if (k == 0 || i + k > n) {
			out[o++] = s[i];	/* not UTF-8: kept */
			k = 1;
			continue;
		}
		c = s[i] & (0x7f >> k);
		for (need = 1; need < k; need++) {
			if ((s[i + need] & 0xc0) != 0x80)
				break;
			c = c << 6 | (s[i + need] & 0x3f);
		}
		if (need < k) {
			out[o++] = s[i];
			k = 1;
			continue;
		}
		c = (uint32_t)towlower_l(towupper_l((wint_t)c, loc), loc);
		if (c < 0x80)
			out[o++] = (unsigned char)c;
		else if (c < 0x800) {
			out[o++] = (unsigned char)(0xc0 | c >> 6);
			out[o++] = (unsigned char)(0x80 | (c & 0x3f));
		} else if (c < 0x10000) {
			out[o++] = (unsigned char)(0xe0 | c >> 12);
			out[o++] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
			out[o++] = (unsigned char)(0x80 | (c & 0x3f));
		} else {
			out[o++] = (unsigned char)(0xf0 | c >> 18);
			out[o++] = (unsigned char)(0x80 | (c >> 12 & 0x3f));
			out[o++] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
			out[o++] = (unsigned char)(0x80 | (c & 0x3f));
		}
	}
	out[o] = '\0';
	sqlite3_result_text64(ctx, (const char *)out, o, sqlite3_free,
	    SQLITE_UTF8);
}

/* Close c's database, finalizing every prepared statement. */
static void
conn_close(struct conn *c)
{
	size_t	 i;

	for (i = 0; i < STMT__MAX; i++) {
		sqlite3_finalize(c->stmts[i]);
		c->stmts[i] = NULL;
	}
	sqlite3_close(c->db);
	c->db = NULL;
	c->broken = 0;
}

/*
 * Must c be reopened before it serves again? After a failure that said the
 * file is unusable, or when the file was moved or deleted under it (the
 * connection would go on writing to the old inode, and the writes would
 * be lost with it).
 */
static int
conn_stale(struct conn *c)
{
	int	 moved = 0;

	if (c->db == NULL)
		return 0;
	if (c->broken)
		return 1;
	return sqlite3_file_control(c->db, "main", SQLITE_FCNTL_HAS_MOVED,
	    &moved) == SQLITE_OK && moved;
}

/* Reset every statement, so that none holds a read open. */
static void
conn_reset(struct conn *c)
{
	size_t	 i;

	for (i = 0; i < STMT__MAX; i++)
		if (c->stmts[i] != NULL)
			sqlite3_reset(c->stmts[i]);
}

/*
 * The busy handler: while another connection holds the write lock, retry
 * every 50 us, then every 500 us, until cfg.busy_timeout_ms have passed
 * (or the milliseconds arg points to, when it is not NULL: a flush of
 * call records, which can wait for a later try).
 *
 * Rationale: SQLite's own busy timeout sleeps 1, 2, 5, 10 ... 100 ms
 * between tries; a write transaction here lasts well under a millisecond,
 * so those sleeps, not the lock, would decide the latency of concurrent
 * writes.
 */
static int
busy_wait(void *arg, int count)
{
	static struct timespec	 start;
	struct timespec		 now;
	int64_t			 ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (count == 0)
		start = now;
	ms = (int64_t)(now.tv_sec - start.tv_sec) * 1000 +
	    (now.tv_nsec - start.tv_nsec) / 1000000;
	if (ms >= (arg != NULL ? *(const int *)arg : cfg.busy_timeout_ms))
		return 0;
	usleep(count < 20 ? 50 : 500);
	return 1;
}

/* The file's schema version (PRAGMA user_version), or -1 on failure. */
static int
schema_version(struct conn *c)
{
	sqlite3_stmt	*st = NULL;
	int		 version = -1;

	if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st,
	    NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return version;
}

/*
 * Open c->path with SQLite flags and set the connection up: foreign keys
 * on, the busy timeout, and the durability level. With check, the file must
 * exist and be at SCHEMA_VERSION. Returns 0; -2 when the file is at a
 * newer version than this binary's; -1 on any other failure. On failure
 * why[] says why and nothing is left open.
 *
 * Rationale: synchronous=FULL (the default) makes an acknowledged write
 * survive power loss even in WAL mode; NORMAL only survives a crash of
 * this process. The busy timeout turns brief lock contention between
 * workers into waiting instead of errors.
 */
static int
conn_open(struct conn *c, int flags, int check, char *why, size_t whysz)
{
	int		 rc, version;
	char		 pragmas[128];

	rc = sqlite3_open_v2(c->path, &c->db, flags, NULL);
	if (rc != SQLITE_OK) {
		snprintf(why, whysz, "cannot open %s: %s", c->path,
		    c->db != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_handler(c->db, busy_wait, NULL);
	if ((rc = sqlite3_create_function_v2(c->db, "fold", 1, SQLITE_UTF8 |
	    SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL, sql_fold, NULL, NULL,
	    NULL)) != SQLITE_OK) {
		snprintf(why, whysz, "%s: %s", c->path, sqlite3_errstr(rc));
		goto fail;
	}
	snprintf(pragmas, sizeof(pragmas),
	    "PRAGMA foreign_keys = ON; PRAGMA synchronous = %s;",
	    cfg.sync_normal ? "NORMAL" : "FULL");
	if (sqlite3_exec(c->db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(why, whysz, "%s: %s", c->path, sqlite3_errmsg(c->db));
		goto fail;
	}
	if (!check)
		return 0;
	if ((version = schema_version(c)) < 0) {
		snprintf(why, whysz, "%s: %s", c->path,
		    sqlite3_errstr(sqlite3_errcode(c->db)));
		goto fail;
	}
	if (version < SCHEMA_VERSION) {
		snprintf(why, whysz, "%s is at schema version %d, this binary "
		    "needs %d: run `reassess init`", c->path, version,
		    SCHEMA_VERSION);
		goto fail;
	}
	if (version > SCHEMA_VERSION) {
		snprintf(why, whysz, "%s is at schema version %d, newer than "
		    "this binary's %d: run the newer binary", c->path, version,
		    SCHEMA_VERSION);
		conn_close(c);
		return -2;
	}
	return 0;
fail:
	conn_close(c);
	return -1;
}

/* Roll back whatever transaction is open; failures only mean none is. */
static void
rollback(struct conn *c)
{
	if (c->db == NULL || sqlite3_get_autocommit(c->db))
		return;
	if (c->stmts[STMT_ROLLBACK] == NULL &&
	    sqlite3_prepare_v3(c->db, stmts[STMT_ROLLBACK], -1,
	    SQLITE_PREPARE_PERSISTENT, &c->stmts[STMT_ROLLBACK], NULL) !=
	    SQLITE_OK)
		return;
	sqlite3_step(c->stmts[STMT_ROLLBACK]);
	sqlite3_reset(c->stmts[STMT_ROLLBACK]);
}

/*
 * Record a failure on c: the first one since the request (or command)
 * began is kept, with what SQLite said of it, for the caller to map; a
 * failure that says the file is unusable also marks c for reopening.
 * Always returns -1, so that a helper can end with `return db_fail(...)`.
 */
static int
db_fail(struct conn *c, int rc)
{
	if (c->err == SQLITE_OK) {
		c->err = rc;
		snprintf(c->errmsg, sizeof(c->errmsg), "%s",
		    c->db != NULL && rc != SQLITE_NOMEM ? sqlite3_errmsg(c->db) :
		    sqlite3_errstr(rc));
	}
	switch (rc & 0xff) {
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_FULL:
	case SQLITE_IOERR:
		c->broken = 1;
		break;
	default:
		break;
	}
	return -1;
}

/* The statement s on c, prepared on first use; NULL on failure. */
static sqlite3_stmt *
stmt_get(struct conn *c, enum stmt s)
{
	int	 rc;

	if (c->stmts[s] == NULL) {
		rc = sqlite3_prepare_v3(c->db, stmts[s], -1,
		    SQLITE_PREPARE_PERSISTENT, &c->stmts[s], NULL);
		if (rc != SQLITE_OK) {
			db_fail(c, rc);
			return NULL;
		}
	}
	return c->stmts[s];
}

/*
 * The statement s, reset, with arguments bound from ?1 on as fmt says:
 * 's' a string (NULL binds NULL), 'i' an int64_t, 'd' an int, 'o' a
 * pointer to an int64_t (NULL binds NULL), 'b' a blob (pointer, size_t).
 * Bound memory must outlive the statement's use. NULL on failure.
 */
static sqlite3_stmt *
vq(struct conn *c, enum stmt s, const char *fmt, va_list ap)
{
	sqlite3_stmt	*st;
	const char	*str;
	const void	*blob;
	const int64_t	*ip;
	size_t		 n;
	int		 i, rc = SQLITE_OK;

	if ((st = stmt_get(c, s)) == NULL)
		return NULL;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	for (i = 1; *fmt != '\0' && rc == SQLITE_OK; fmt++, i++) {
		switch (*fmt) {
		case 's':
			str = va_arg(ap, const char *);
			rc = str == NULL ? sqlite3_bind_null(st, i) :
			    sqlite3_bind_text(st, i, str, -1, SQLITE_STATIC);
			break;
		case 'i':
			rc = sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
			break;
		case 'd':
			rc = sqlite3_bind_int(st, i, va_arg(ap, int));
			break;
		case 'o':
			ip = va_arg(ap, const int64_t *);
			rc = ip == NULL ? sqlite3_bind_null(st, i) :
			    sqlite3_bind_int64(st, i, *ip);
			break;
		case 'b':
			blob = va_arg(ap, const void *);
			n = va_arg(ap, size_t);
			rc = sqlite3_bind_blob(st, i, blob, (int)n,
			    SQLITE_STATIC);
			break;
		default:
			rc = SQLITE_MISUSE;
			break;
		}
	}
	if (rc != SQLITE_OK) {
		db_fail(c, rc);
		return NULL;
	}
	return st;
}

/* vq() with its arguments inline. */
static sqlite3_stmt *
q(struct conn *c, enum stmt s, const char *fmt, ...)
{
	va_list		 ap;
	sqlite3_stmt	*st;

	va_start(ap, fmt);
	st = vq(c, s, fmt, ap);
	va_end(ap);
	return st;
}

/* Step st: SQLITE_ROW or SQLITE_DONE, or -1 on failure. */
static int
step(struct conn *c, sqlite3_stmt *st)
{
	int	 rc = sqlite3_step(st);

	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc;
	return db_fail(c, rc);
}

/* Run a statement that returns no rows: rows changed, or -1. */
static int
exec(struct conn *c, enum stmt s, const char *fmt, ...)
{
	va_list		 ap;
	sqlite3_stmt	*st;

	va_start(ap, fmt);
	st = vq(c, s, fmt, ap);
	va_end(ap);
	if (st == NULL || step(c, st) == -1)
		return -1;
	return sqlite3_changes(c->db);
}

/* Run a statement whose first row holds one integer: it (0 without a row), or -1. */
static int64_t
scalar(struct conn *c, enum stmt s, const char *fmt, ...)
{
	va_list		 ap;
	sqlite3_stmt	*st;
	int		 rc;

	va_start(ap, fmt);
	st = vq(c, s, fmt, ap);
	va_end(ap);
	if (st == NULL || (rc = step(c, st)) == -1)
		return -1;
	return rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
}

/* Does the statement s, bound to (id, org), find a row? 1, 0, or -1. */
static int
exists(struct conn *c, enum stmt s, const char *id, const char *org)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = q(c, s, "ss", id, org)) == NULL || (rc = step(c, st)) == -1)
		return -1;
	return rc == SQLITE_ROW;
}

/* Column i as a JSON string, or null. Never NULL short of memory. */
static json_t *
col_str(sqlite3_stmt *st, int i)
{
	json_t	*s = NULL;

	if (sqlite3_column_type(st, i) != SQLITE_NULL)
		s = json_stringn((const char *)sqlite3_column_text(st, i),
		    (size_t)sqlite3_column_bytes(st, i));
	return s != NULL ? s : json_null();
}

/* Column i copied into buf (size sz), "" for NULL. */
static void
col_copy(sqlite3_stmt *st, int i, char *buf, size_t sz)
{
	const char	*s = (const char *)sqlite3_column_text(st, i);
	size_t		 n = s != NULL ? strlen(s) : 0;

	if (n >= sz)
		n = sz - 1;
	if (n > 0)
		memcpy(buf, s, n);
	buf[n] = '\0';
}

/* Column i as a new string (the caller frees), or NULL for NULL or OOM. */
static char *
col_dup(sqlite3_stmt *st, int i)
{
	const char	*s = (const char *)sqlite3_column_text(st, i);

	return s != NULL ? strdup(s) : NULL;
}

/* ------------------------------------------------------------------------
 * Objects: a field table per column list, in the contract's field order;
 * obj_write() writes a row as its table says
 * ------------------------------------------------------------------------ */

/* VENDOR_COLS -> vendor object (3.1). */
static const struct ofield vendor_obj[] = {
	{ "id", O_STR, VENDOR_ID },
	{ "external_id", O_STR, VENDOR_EXTERNAL_ID },
	{ "name", O_STR, VENDOR_NAME },
	{ "website", O_STR, VENDOR_WEBSITE },
	{ "description", O_STR, VENDOR_DESCRIPTION },
	{ "hq_location", O_STR, VENDOR_HQ_LOCATION },
	{ "use_case", O_STR, VENDOR_USE_CASE },
	{ "created_at", O_INT, VENDOR_CREATED_AT },
	{ "updated_at", O_INT, VENDOR_UPDATED_AT },
	{ NULL, 0, 0 }
};

/* EVENT_COLS -> radar event object (3.2), with its vendor ids. */
static const struct ofield event_obj[] = {
	{ "id", O_STR, EVENT_ID },
	{ "name", O_STR, EVENT_NAME },
	{ "summary", O_STR, EVENT_SUMMARY },
	{ "primary_impact_type", O_STR, EVENT_PRIMARY_IMPACT_TYPE },
	{ "secondary_impact_types", O_JSON, EVENT_SECONDARY_IMPACT_TYPES },
	{ "vendor_ids", O_RAW, EVENT_VENDOR_IDS },
	{ "occurred_at", O_INT, EVENT_OCCURRED_AT },
	{ "is_archived", O_BOOL, EVENT_IS_ARCHIVED },
	{ "created_at", O_INT, EVENT_CREATED_AT },
	{ "updated_at", O_INT, EVENT_UPDATED_AT },
	{ NULL, 0, 0 }
};

/* ALERT_COLS -> radar alert object (3.2). */
static const struct ofield alert_obj[] = {
	{ "id", O_STR, ALERT_ID },
	{ "vendor_id", O_STR, ALERT_VENDOR_ID },
	{ "detector_id", O_NULL, 0 },
	{ "source_id", O_NULL, 0 },
	{ "data_id", O_NULL, 0 },
	{ "event_id", O_STR, ALERT_EVENT_ID },
	{ "summary", O_STR, ALERT_SUMMARY },
	{ "severity", O_STR, ALERT_SEVERITY },
	{ "confidence", O_STR, ALERT_CONFIDENCE },
	{ "should_alert", O_BOOL, ALERT_SHOULD_ALERT },
	{ "is_dismissed", O_BOOL, ALERT_IS_DISMISSED },
	{ "dismiss_reason", O_STR, ALERT_DISMISS_REASON },
	{ "dismissed_at", O_INT, ALERT_DISMISSED_AT },
	{ "is_archived", O_BOOL, ALERT_IS_ARCHIVED },
	{ "created_at", O_INT, ALERT_CREATED_AT },
	{ "updated_at", O_INT, ALERT_UPDATED_AT },
	{ NULL, 0, 0 }
};

/* PLAN_COLS -> assessment plan object (3.3). */
static const struct ofield plan_obj[] = {
	{ "id", O_STR, PLAN_ID },
	{ "name", O_STR, PLAN_NAME },
	{ "description", O_STR, PLAN_DESCRIPTION },
	{ "control_set_ids", O_JSON, PLAN_CONTROL_SET_IDS },
	{ "created_at", O_INT, PLAN_CREATED_AT },
	{ "updated_at", O_INT, PLAN_UPDATED_AT },
	{ NULL, 0, 0 }
};

/* ASMT_COLS -> assessment object (3.4). */
static const struct ofield asmt_obj[] = {
	{ "id", O_STR, ASMT_ID },
	{ "vendor_id", O_STR, ASMT_VENDOR_ID },
	{ "name", O_STR, ASMT_NAME },
	{ "status", O_STR, ASMT_STATUS },
	{ "control_set_ids", O_JSON, ASMT_CONTROL_SET_IDS },
	{ "service_ids", O_EMPTY, 0 },
	{ "assignee_id", O_NULL, 0 },
	{ "score_percent", O_NULL, 0 },
	{ "findings_count", O_ZERO, 0 },
	{ "initiated_at", O_NULL, 0 },
	{ "assessment_plan_id", O_STR, ASMT_PLAN_ID },
	{ "reassessment_id", O_STR, ASMT_RSM_ID },
	{ "created_at", O_INT, ASMT_CREATED_AT },
	{ "updated_at", O_INT, ASMT_UPDATED_AT },
	{ NULL, 0, 0 }
};

/* RSM_COLS -> reassessment object (2), with alert ids and vendor entries. */
static const struct ofield rsm_obj[] = {
	{ "id", O_STR, RSM_ID },
	{ "status", O_STR, RSM_STATUS },
	{ "title", O_STR, RSM_TITLE },
	{ "assessment_plan_id", O_STR, RSM_PLAN_ID },
	{ "radar_event_id", O_STR, RSM_EVENT_ID },
	{ "trigger_id", O_STR, RSM_TRIGGER_ID },
	{ "alert_ids", O_RAW, RSM_ALERT_IDS },
	{ "vendors", O_RAW, RSM_VENDORS },
	{ "created_at", O_INT, RSM_CREATED_AT },
	{ "updated_at", O_INT, RSM_UPDATED_AT },
	{ NULL, 0, 0 }
};

/* TRG_COLS -> reassessment trigger object (7). */
static const struct ofield trg_obj[] = {
	{ "id", O_STR, TRG_ID },
	{ "name", O_STR, TRG_NAME },
	{ "assessment_plan_id", O_STR, TRG_PLAN_ID },
	{ "primary_impact_types", O_RAW, TRG_IMPACT_TYPES },
	{ "min_alert_severity", O_STR, TRG_MIN_SEVERITY },
	{ "vendor_ids", O_RAW, TRG_VENDOR_IDS },
	{ "enabled", O_BOOL, TRG_ENABLED },
	{ "created_at", O_INT, TRG_CREATED_AT },
	{ "updated_at", O_INT, TRG_UPDATED_AT },
	{ NULL, 0, 0 }
};

/* Column i as a JSON string, or null. */
static void
buf_col_str(struct buf *b, sqlite3_stmt *st, int i)
{
	const char	*s = (const char *)sqlite3_column_text(st, i);

	buf_str(b, s, (size_t)sqlite3_column_bytes(st, i));
}

/*
 * Column i, stored JSON text, as json_dumps gives it in a response (so a
 * stored real reads as it did before it was stored); [] if unreadable.
 */
static void
buf_col_json(struct buf *b, sqlite3_stmt *st, int i)
{
	json_t	*v;
	char	*s = NULL;

	v = json_loadb((const char *)sqlite3_column_blob(st, i),
	    (size_t)sqlite3_column_bytes(st, i), 0, NULL);
	if (v != NULL)
		s = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15));
	if (s == NULL && v != NULL)
		buf_fail(b);	/* jansson's allocation failed, not the data */
	else
		buf_puts(b, s != NULL ? s : "[]");
	free(s);
	json_decref(v);
}

/*
 * Append v as jansson writes a real at that many significant digits
 * (JSON_REAL_PRECISION), never bare: 3 is 3.0.
 */
static void
buf_real(struct buf *b, double v, int digits)
{
	char	 s[48];
	int	 n;

	n = snprintf(s, sizeof(s) - 2, "%.*g", digits, v);
	if (n > 0 && (size_t)n < sizeof(s) - 2 && strpbrk(s, ".e") == NULL)
		memcpy(s + n, ".0", 3);
	buf_puts(b, s);
}

/* Columns i (tried) and i + 1 (succeeded) as a ratio to 4 places, or null. */
static void
buf_col_rate(struct buf *b, sqlite3_stmt *st, int i)
{
	int64_t	 tried = sqlite3_column_int64(st, i);
	int64_t	 ok = sqlite3_column_int64(st, i + 1);

	if (tried <= 0)
		buf_puts(b, "null");
	else
		buf_real(b, floor((double)ok / (double)tried * 10000 + 0.5) /
		    10000, 15);
}


/*
 * Write the object of the current row of st, field by field as fields
 * says, to b; and when at is given, where field i's value is in at[i].
 *
 * Rationale: responses are written straight from the rows, not built as a
 * jansson tree and dumped; on a GET that halves the instructions. The one
 * table per object is also what object_tree() parses for field_diffs.
 */
static void
obj_write_at(struct buf *b, sqlite3_stmt *st, const struct ofield *fields,
    struct span *at)
{
	const struct ofield	*f;

	for (f = fields; f->name != NULL; f++) {
		buf_puts(b, f == fields ? "{\"" : ",\"");
		buf_puts(b, f->name);
		buf_add(b, "\":", 2);
		if (at != NULL)
			at[f - fields].off = b->len;
		switch (f->type) {
		case O_STR:
			buf_col_str(b, st, f->col);
			break;
		case O_INT:
			if (sqlite3_column_type(st, f->col) == SQLITE_NULL)
				buf_puts(b, "null");
			else
				buf_int(b, sqlite3_column_int64(st, f->col));
			break;
		case O_BOOL:
			buf_puts(b, sqlite3_column_int(st, f->col) ?
			    "true" : "false");
			break;
		case O_JSON:
			buf_col_json(b, st, f->col);
			break;
		case O_NULL:
			buf_puts(b, "null");
			break;
		case O_EMPTY:
			buf_puts(b, "[]");
			break;
		case O_ZERO:
			buf_puts(b, "0");
			break;
		case O_RAW:
			buf_add(b, (const char *)sqlite3_column_text(st, f->col),
			    (size_t)sqlite3_column_bytes(st, f->col));
			break;
		case O_RATE:
			buf_col_rate(b, st, f->col);
			break;
		}
		if (at != NULL)
			at[f - fields].len = b->len - at[f - fields].off;
	}
	buf_add(b, "}", 1);
}

/* obj_write_at() without the places. */
static void
obj_write(struct buf *b, sqlite3_stmt *st, const struct ofield *fields)
{
	obj_write_at(b, st, fields, NULL);
}

/*
 * Write the remaining rows of st to b as a JSON list of objects, each as
 * fields says. 0, or -1 on failure (recorded on c).
 */
static int
rows_write(struct conn *c, struct buf *b, sqlite3_stmt *st,
    const struct ofield *fields)
{
	int	 rc, n;

	buf_add(b, "[", 1);
	for (n = 0; (rc = step(c, st)) == SQLITE_ROW; n++) {
		if (n > 0)
			buf_add(b, ",", 1);
		obj_write(b, st, fields);
	}
	if (rc == -1)
		return -1;
	buf_add(b, "]", 1);
	return 0;
}

/*
 * The object of the current row of st as a jansson tree, for field_diffs
 * and events; NULL on failure (recorded on c).
 */
static json_t *
object_tree(struct conn *c, sqlite3_stmt *st, const struct ofield *fields)
{
	struct buf	 b = { NULL, 0, 0, 0 };
	json_t		*o = NULL;

	obj_write(&b, st, fields);
	if (!b.oom)
		o = json_loadb(b.p, b.len, JSON_ALLOW_NUL, NULL);
	free(b.p);
	if (o == NULL)
		db_fail(c, SQLITE_NOMEM);
	return o;
}


/*
 * The object of the current row of st into f (emptied first; flat_free()
 * it in every case). 0, or -1 on failure (recorded on c).
 */
static int
flat_row(struct conn *c, struct flat *f, sqlite3_stmt *st,
    const struct ofield *fields)
{
	size_t	 n;

	memset(f, 0, sizeof(*f));
	for (n = 0; fields[n].name != NULL; n++)
		continue;
	if (n > FLAT_MAX)
		return db_fail(c, SQLITE_INTERNAL);
	f->fields = fields;
	obj_write_at(&f->b, st, fields, f->at);
	return f->b.oom ? db_fail(c, SQLITE_NOMEM) : 0;
}

static void
flat_free(struct flat *f)
{
	free(f->b.p);
	memset(f, 0, sizeof(*f));
}

/*
 * What an object goes by in a summary, as obj_label(): its name, else its
 * title, else its url, into out; NULL when it has none of them.
 */
static const char *
flat_label(const struct flat *f, char *out, size_t outsz)
{
	static const char *const keys[] = { "name", "title", "url" };
	const struct ofield	*o;
	const char		*v;
	json_t			*s;
	size_t			 i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		for (o = f->fields; o->name != NULL; o++) {
			if (strcmp(o->name, keys[i]) != 0)
				continue;
			v = f->b.p + f->at[o - f->fields].off;
			if (*v != '"' || (s = json_loadb(v,
			    f->at[o - f->fields].len, JSON_DECODE_ANY,
			    NULL)) == NULL)
				break;
			snprintf(out, outsz, "%s", json_string_value(s));
			json_decref(s);
			return out;
		}
	return NULL;
}

/*
 * Add name to the list of changed fields a change record's summary ends
 * with, ": a, b" in changed (sz bytes), while there is room.
 */
static void
changed_add(char *changed, size_t sz, const char *name)
{
	size_t	 n = strlen(changed);

	if (n + 1 < sz)
		snprintf(changed + n, sz - n, "%s%s", n == 0 ? ": " : ", ",
		    name);
}

/*
 * field_diffs (4.1) of two writings of one object: each field whose value
 * differs, as {"old_value","new_value"}, into d as a JSON object;
 * updated_at is left out, as it moves with every change. Their names go
 * to changed as ": a, b" (cut at changedsz). Returns how many differ.
 */
static size_t
flat_diff(const struct flat *before, const struct flat *after,
    struct buf *d, char *changed, size_t changedsz)
{
	const struct ofield	*o;
	const struct span	*x, *y;
	size_t			 i, n = 0;

	buf_add(d, "{", 1);
	for (o = after->fields; o->name != NULL; o++) {
		i = (size_t)(o - after->fields);
		x = &before->at[i];
		y = &after->at[i];
		if (strcmp(o->name, "updated_at") == 0 || (x->len == y->len &&
		    memcmp(before->b.p + x->off, after->b.p + y->off,
		    x->len) == 0))
			continue;
		buf_puts(d, n++ == 0 ? "\"" : ",\"");
		buf_puts(d, o->name);
		buf_puts(d, "\":{\"old_value\":");
		buf_add(d, before->b.p + x->off, x->len);
		buf_puts(d, ",\"new_value\":");
		buf_add(d, after->b.p + y->off, y->len);
		buf_add(d, "}", 1);
		changed_add(changed, changedsz, o->name);
	}
	buf_add(d, "}", 1);
	return n;
}

/*
 * Reply status with the object that the statement get (bound to id and
 * the key's org) finds; 404 of kind k when there is none, or 500 when k is
 * KIND__MAX (an object this request has just made).
 */
static void
reply_object(struct rq *r, int status, enum stmt get,
    const struct ofield *fields, const char *id, enum kind k)
{
	struct buf	 b = { NULL, 0, 0, 0 };
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = q(r->conn, get, "ss", id, r->org)) == NULL ||
	    (rc = step(r->conn, st)) == -1)
		return;
	if (rc == SQLITE_DONE && k == KIND__MAX)
		fail_internal(r, "object vanished inside its transaction");
	else if (rc == SQLITE_DONE)
		not_found(r, k, id);
	else {
		obj_write(&b, st, fields);
		reply_buf(r, status, &b);
	}
	free(b.p);
}

/* Reply 200 with the object r->id, or 404 of kind k. */
static void
reply_one(struct rq *r, enum stmt get, const struct ofield *fields,
    enum kind k)
{
	reply_object(r, 200, get, fields, r->id, k);
}

/*
 * Reply 200 {"data":[...]}: every row of the statement st, unpaged (the
 * envelope of GET /v1/webhooks and GET /v1/api-keys).
 */
static void
reply_data(struct rq *r, sqlite3_stmt *st, const struct ofield *fields)
{
	struct buf	 b = { NULL, 0, 0, 0 };

	buf_puts(&b, "{\"data\":");
	if (rows_write(r->conn, &b, st, fields) == 0) {
		buf_add(&b, "}", 1);
		reply_buf(r, 200, &b);
	}
	free(b.p);
}

/*
 * Reply with a page (1.5): {key,"total","limit","offset"}, where key is
 * "items" (or "data" for webhook deliveries), each item written as fields
 * says. The filter arguments (fmt as for q(), bound from ?1) go to both
 * the count and the list statement; the page's limit and offset are ?10
 * and ?11.
 */
static void
reply_list(struct rq *r, const char *key, enum stmt list, enum stmt count,
    const struct ofield *fields, const char *fmt, ...)
{
	struct buf	 b = { NULL, 0, 0, 0 };
	va_list		 ap;
	sqlite3_stmt	*st;
	int64_t		 total;

	va_start(ap, fmt);
	st = vq(r->conn, count, fmt, ap);
	va_end(ap);
	if (st == NULL || step(r->conn, st) == -1)
		goto out;
	total = sqlite3_column_int64(st, 0);

	va_start(ap, fmt);
	st = vq(r->conn, list, fmt, ap);
	va_end(ap);
	if (st == NULL)
		goto out;
	if (sqlite3_bind_int64(st, 10, r->limit) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 11, r->offset) != SQLITE_OK) {
		fail_internal(r, "cannot bind the page");
		goto out;
	}
	buf_puts(&b, "{\"");
	buf_puts(&b, key);
	buf_add(&b, "\":", 2);
	if (rows_write(r->conn, &b, st, fields) == -1)
		goto out;
	buf_puts(&b, ",\"total\":");
	buf_int(&b, total);
	buf_puts(&b, ",\"limit\":");
	buf_int(&b, r->limit);
	buf_puts(&b, ",\"offset\":");
	buf_int(&b, r->offset);
	buf_add(&b, "}", 1);
	reply_buf(r, 200, &b);
out:
	free(b.p);
}

/* ------------------------------------------------------------------------
 * Events: the transactional outbox of webhooks (4.1)
 * ------------------------------------------------------------------------ */

/*
 * Who is to receive an event of type: the webhook only, when given; else
 * each live webhook of the org subscribed to it (remembered for the rest
 * of the request: a run emits thousands). A new reference to a list of
 * webhook ids, possibly empty; NULL on failure (answered, or recorded on
 * the connection).
 */
static json_t *
emit_subscribers(struct rq *r, const char *type, const char *only)
{
	sqlite3_stmt	*st;
	json_t		*subs;
	int		 rc;

	if (only == NULL && r->subs != NULL && strcmp(r->subs_type, type) == 0)
		return json_incref(r->subs);
	if ((subs = json_array()) == NULL) {
		fail_internal(r, "out of memory recording an event");
		return NULL;
	}
	if (only != NULL) {
		if (json_array_append_new(subs, json_string(only)) == -1) {
			json_decref(subs);
			fail_internal(r, "out of memory recording an event");
			return NULL;
		}
		return subs;
	}
	if ((st = q(r->conn, STMT_WH_SUBSCRIBED, "ss", r->org, type)) == NULL) {
		json_decref(subs);
		return NULL;
	}
	while ((rc = step(r->conn, st)) == SQLITE_ROW)
		json_array_append_new(subs, col_str(st, 0));
	if (rc == -1) {
		json_decref(subs);
		return NULL;
	}
	if (strlen(type) < sizeof(r->subs_type)) {
		json_decref(r->subs);
		r->subs = json_incref(subs);
		snprintf(r->subs_type, sizeof(r->subs_type), "%s", type);
	}
	return subs;
}

/*
 * Record an event of type whose data is the JSON object text data, for
 * the webhooks subs (borrowed; emit_subscribers()), in the request's
 * transaction: one webhook_events row with the envelope, and a pending
 * delivery for each. 0, or -1 on failure (answered, or recorded on the
 * connection).
 *
 * Rationale: recording the event with the change it reports means that a
 * change that rolls back leaves no event and a committed change always
 * has one; `reassess deliver` sends them later, outside any request.
 */
static int
emit_data(struct rq *r, const char *type, const json_t *subs,
    const char *data)
{
	struct buf	 env = { NULL, 0, 0, 0 };
	const json_t	*w;
	char		 eid[ID_LEN], did[ID_LEN];
	size_t		 i;
	int		 ret = -1;

	if (new_id(eid, KIND_EVT) == -1)
		goto oom;
	/* As json_dumps(JSON_COMPACT) writes {event_id, ..., data}. */
	buf_puts(&env, "{\"event_id\":");
	buf_cstr(&env, eid);
	buf_puts(&env, ",\"event_type\":");
	buf_cstr(&env, type);
	buf_puts(&env, ",\"occurred_at\":");
	buf_int(&env, r->now);
	buf_puts(&env, ",\"data\":");
	buf_puts(&env, data);
	buf_add(&env, "}", 1);
	if (env.oom)
		goto oom;
	if (exec(r->conn, STMT_EVT_INSERT, "ssssi", eid, r->org, type, env.p,
	    r->now) == -1)
		goto out;
	json_array_foreach(subs, i, w) {
		if (new_id(did, KIND_DELIVERY) == -1)
			goto oom;
		if (exec(r->conn, STMT_DLV_INSERT, "sssi", did, json_string_value(w),
		    eid, r->now) == -1)
			goto out;
	}
	ret = 0;
	goto out;
oom:
	fail_internal(r, "out of memory or randomness recording an event");
out:
	free(env.p);
	return ret;
}

/*
 * Record an event of type with the data fields (an object; taken), in the
 * request's transaction (emit_data()), for the webhook only when given,
 * else for each live webhook of the org subscribed to the type. Nothing
 * is recorded when nobody listens. 0, or -1 on failure (answered, or
 * recorded on the connection).
 */
static int
emit(struct rq *r, const char *type, json_t *fields, const char *only)
{
	json_t		*subs, *data = NULL;
	char		*text = NULL;
	int		 ret = -1;

	if ((subs = emit_subscribers(r, type, only)) == NULL)
		goto out;
	if (json_array_size(subs) == 0) {
		ret = 0;
		goto out;
	}
	if ((data = json_pack("{s:s}", "event_type", type)) == NULL ||
	    json_object_update_missing(data, fields) == -1 ||
	    (text = json_dumps(data, JSON_COMPACT)) == NULL) {
		fail_internal(r, "out of memory recording an event");
		goto out;
	}
	ret = emit_data(r, type, subs, text);
out:
	free(text);
	json_decref(data);
	json_decref(subs);
	json_decref(fields);
	return ret;
}

/*
 * One audit record (6.4), in the connection's transaction. The actor is
 * the key (actor_id, actor_name), or the system and the command line when
 * actor_id is NULL; target is the kind and id of the object, or KIND__MAX
 * and NULL for none; data is borrowed. 0, or -1 on failure (recorded on
 * the connection, or out of memory or randomness).
 */
struct audit {
	const char	*org;
	const char	*actor_id;		/* NULL: system, command line */
	const char	*actor_name;
	int64_t		 now;
	const char	*event_type;		/* record_created, ... */
	const char	*event_group;		/* configuration, radar, ... */
	enum kind	 target;		/* KIND__MAX: none */
	const char	*target_id;
	const char	*summary;		/* one sentence */
	const json_t	*data;			/* NULL: data_text */
	const char	*data_text;		/* JSON text; NULL: {} */
};

static int
audit_write(struct conn *c, const struct audit *a)
{
	char	 id[ID_LEN], *dumped = NULL;
	int	 rc;

	if (new_id(id, KIND_AUDIT) == -1)
		return -1;
	if (a->data != NULL && (dumped = json_dumps(a->data,
	    JSON_COMPACT)) == NULL)
		return -1;
	rc = exec(c, STMT_AUDIT_INSERT, "ssissssssss", id, a->org, a->now,
	    a->actor_id, a->actor_name, a->event_type, a->event_group,
	    a->target == KIND__MAX ? NULL : kind_targets[a->target],
	    a->target_id, a->summary, dumped != NULL ? dumped :
	    a->data_text != NULL ? a->data_text : "{}");
	free(dumped);
	return rc;
}

/*
 * A change record of the request's key about one object (6.4): event_type
 * and event_group as 6.4 names them, data (borrowed) the field-level diff
 * or the created values, and the summary a printf format. 0, or -1 on
 * failure (answered, or recorded on the connection).
 */
static int
audit_change(struct rq *r, const char *type, const char *group, enum kind k,
    const char *id, const json_t *data, const char *fmt, ...)
{
	struct audit	 a;
	char		 summary[1024];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(summary, sizeof(summary), fmt, ap);
	va_end(ap);
	a = (struct audit){ .org = r->org, .now = r->now,
	    .actor_id = r->key_id[0] != '\0' ? r->key_id : NULL,
	    .actor_name = r->key_name, .event_type = type,
	    .event_group = group, .target = k, .target_id = id,
	    .summary = summary, .data = data };
	if (audit_write(r->conn, &a) == -1) {
		if (r->conn->err == SQLITE_OK)
			fail_internal(r, "out of memory or randomness writing "
			    "an audit record");
		return -1;
	}
	return 0;
}

/* emit() of {idfield: id}. */
static int
emit_id(struct rq *r, const char *type, const char *idfield, const char *id)
{
	return emit(r, type, json_pack("{s:s}", idfield, id), NULL);
}

/*
 * The object the statement get finds for id in the key's org, as a tree;
 * NULL when there is none, or on failure (recorded on the connection).
 */
static json_t *
object_load(struct rq *r, enum stmt get, const struct ofield *fields,
    const char *id)
{
	sqlite3_stmt	*st;

	if ((st = q(r->conn, get, "ss", id, r->org)) == NULL ||
	    step(r->conn, st) != SQLITE_ROW)
		return NULL;
	return object_tree(r->conn, st, fields);
}

/*
 * object_load() as a struct flat, into f (flat_free() it in every case):
 * 1 when found, 0 when not, -1 on failure (recorded on the connection).
 */
static int
flat_load(struct rq *r, struct flat *f, enum stmt get,
    const struct ofield *fields, const char *id)
{
	sqlite3_stmt	*st;
	int		 rc;

	memset(f, 0, sizeof(*f));
	if ((st = q(r->conn, get, "ss", id, r->org)) == NULL ||
	    (rc = step(r->conn, st)) == -1)
		return -1;
	if (rc != SQLITE_ROW)
		return 0;
	return flat_row(r->conn, f, st, fields) == -1 ? -1 : 1;
}

/*
 * field_diffs (4.1): each top-level field whose value differs between the
 * two objects, as {"old_value","new_value"}; updated_at is left out, as it
 * moves with every change.
 */
static json_t *
object_diff(const json_t *before, const json_t *after)
{
	json_t		*diffs = json_object(), *old;
	const char	*k;
	json_t		*v;

	if (diffs == NULL)
		return NULL;
	json_object_foreach((json_t *)after, k, v) {
		if (strcmp(k, "updated_at") == 0)
			continue;
		old = json_object_get(before, k);
		if (old != NULL && json_equal(old, v))
			continue;
		json_object_set_new(diffs, k, json_pack("{s:O?,s:O}",
		    "old_value", old, "new_value", v));
	}
	return diffs;
}

/*
 * What an object goes by in a summary: its name, else its title, else its
 * url; NULL when it has none of them.
 */
static const char *
obj_label(const json_t *o)
{
	const char	*s;

	if ((s = json_string_value(json_object_get(o, "name"))) == NULL &&
	    (s = json_string_value(json_object_get(o, "title"))) == NULL)
		s = json_string_value(json_object_get(o, "url"));
	return s;
}

/* Bytes of s to show of at most max, cut on a UTF-8 character boundary. */
static int
label_len(const char *s, size_t max)
{
	size_t	 n = strlen(s);

	if (n <= max)
		return (int)n;
	for (n = max; n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80; n--)
		continue;
	return (int)n;
}

/*
 * The change record (6.4) of one object id of kind k, in the request's
 * transaction: type record_created (data the created values),
 * field_update (data the field-level diff) or record_archived (data the
 * object as it was), filed under kind_groups[k] ("archive" for a
 * deletion). name is what the object goes by (or NULL), changed the
 * updated fields' names as ": a, b" ("" for another type); data is a
 * tree, or when NULL the JSON text data_text; all borrowed. The actor is
 * the request's key; or, when by is given, the system, and the summary
 * says by what ("by reassessment trigger ..."). 0, or -1 (answered, or
 * recorded on the connection).
 */
static int
audit_record(struct rq *r, const char *type, enum kind k, const char *id,
    const char *name, const char *changed, const json_t *data,
    const char *data_text, const char *by)
{
	const char	*verb = "created", *group = kind_groups[k];
	struct audit	 a;
	char		 label[256] = "", summary[1024];

	if (strcmp(type, "record_archived") == 0) {
		verb = "deleted";
		group = "archive";
	} else if (strcmp(type, "field_update") == 0)
		verb = "updated";
	if (name != NULL)
		snprintf(label, sizeof(label), " \"%.*s\"",
		    label_len(name, 200), name);
	snprintf(summary, sizeof(summary), "%s%s (%s) %s%s%s%s.",
	    kind_nouns[k], label, id, verb, by != NULL ? " " : "",
	    by != NULL ? by : "", changed);
	a = (struct audit){ .org = r->org, .now = r->now,
	    .actor_id = by == NULL && r->key_id[0] != '\0' ? r->key_id : NULL,
	    .actor_name = by == NULL ? r->key_name : NULL, .event_type = type,
	    .event_group = group, .target = k, .target_id = id,
	    .summary = summary, .data = data, .data_text = data_text };
	if (audit_write(r->conn, &a) == -1) {
		if (r->conn->err == SQLITE_OK)
			fail_internal(r, "out of memory or randomness writing "
			    "an audit record");
		return -1;
	}
	return 0;
}

/*
 * audit_record() of an object as a tree, obj (what the summary names),
 * and data a tree (the field-level diff for field_update, whose keys the
 * summary lists); both borrowed.
 */
static int
audit_object(struct rq *r, const char *type, enum kind k, const char *id,
    const json_t *obj, const json_t *data, const char *by)
{
	const char	*key;
	json_t		*v;
	char		 changed[512] = "";

	if (strcmp(type, "field_update") == 0)
		json_object_foreach((json_t *)data, key, v)
			changed_add(changed, sizeof(changed), key);
	return audit_record(r, type, k, id, obj_label(obj), changed, data,
	    NULL, by);
}

/*
 * The record_created of each of the rows a set-based statement s (one of
 * STMT_AUDIT_*_CREATED) finds for owner, made by the request's key, of
 * kind k: one INSERT ... SELECT whatever their number. 0, or -1 (recorded
 * on the connection).
 */
static int
audit_created_set(struct rq *r, enum stmt s, enum kind k, const char *owner)
{
	return exec(r->conn, s, "sissss", owner, r->now,
	    r->key_id[0] != '\0' ? r->key_id : NULL, r->key_name,
	    kind_groups[k], kind_targets[k]) == -1 ? -1 : 0;
}

/*
 * Reply 201 with a new object id of kind k, recording its type.Created
 * event (when type is given) and its change record (6.4), which share the
 * object read once: the record's data is the object the reply shows.
 */
static void
reply_created(struct rq *r, enum stmt get, const struct ofield *fields,
    enum kind k, const char *id, const char *type, const char *idfield)
{
	struct flat	 obj;
	char		 name[256];
	int		 rc;

	if (type != NULL && emit_id(r, type, idfield, id) == -1)
		return;
	if ((rc = flat_load(r, &obj, get, fields, id)) == 0)
		fail_internal(r, "object vanished inside its transaction");
	if (rc == 1 && audit_record(r, "record_created", k, id,
	    flat_label(&obj, name, sizeof(name)), "", NULL, obj.b.p,
	    NULL) == 0)
		reply_buf(r, 201, &obj.b);
	flat_free(&obj);
}

/*
 * Reply 200 with the object id of kind k as it is now. If anything changed
 * since before (flat_free()d here), record a type.Updated event (when
 * type is given) with the field_diffs, and a field_update change record
 * (6.4) with the same diff, computed once, plus more (taken, or NULL):
 * changes the object does not show (a webhook's secret, redacted), under
 * keys it does not have, for the record only.
 */
static void
reply_changed(struct rq *r, enum stmt get, const struct ofield *fields,
    enum kind k, const char *id, struct flat *before, json_t *more,
    const char *type, const char *idfield)
{
	struct flat	 after;
	struct buf	 diffs = { NULL, 0, 0, 0 }, data = { NULL, 0, 0, 0 };
	json_t		*subs = NULL, *v;
	const char	*key;
	char		 changed[512] = "", name[256], *extra = NULL;
	size_t		 n;
	int		 rc;

	if ((rc = flat_load(r, &after, get, fields, id)) == 0)
		fail_internal(r, "object vanished inside its transaction");
	if (rc != 1)
		goto out;
	n = flat_diff(before, &after, &diffs, changed, sizeof(changed));
	if (type != NULL && n > 0) {
		if ((subs = emit_subscribers(r, type, NULL)) == NULL)
			goto out;
		if (json_array_size(subs) > 0) {
			buf_puts(&data, "{\"event_type\":");
			buf_cstr(&data, type);
			buf_puts(&data, ",\"");
			buf_puts(&data, idfield);
			buf_puts(&data, "\":");
			buf_cstr(&data, id);
			buf_puts(&data, ",\"field_diffs\":");
			buf_add(&data, diffs.p, diffs.len);
			buf_add(&data, "}", 1);
			if (data.oom) {
				fail_internal(r, "out of memory");
				goto out;
			}
			if (emit_data(r, type, subs, data.p) == -1)
				goto out;
		}
	}
	if (more != NULL && json_object_size(more) > 0) {
		if ((extra = json_dumps(more, JSON_COMPACT)) == NULL) {
			fail_internal(r, "out of memory");
			goto out;
		}
		/* {"a":..} and {"b":..} make {"a":..,"b":..}. */
		diffs.len--;
		buf_puts(&diffs, n > 0 ? "," : "");
		buf_puts(&diffs, extra + 1);
		json_object_foreach(more, key, v)
			changed_add(changed, sizeof(changed), key);
		n += json_object_size(more);
	}
	if (diffs.oom) {
		fail_internal(r, "out of memory");
		goto out;
	}
	if (n > 0 && audit_record(r, "field_update", k, id,
	    flat_label(&after, name, sizeof(name)), changed, NULL, diffs.p,
	    NULL) == -1)
		goto out;
	reply_buf(r, 200, &after.b);
out:
	free(extra);
	free(data.p);
	free(diffs.p);
	json_decref(subs);
	json_decref(more);
	flat_free(&after);
	flat_free(before);
}

/* reply_changed() of an object whose changes it shows whole. */
static void
reply_updated(struct rq *r, enum stmt get, const struct ofield *fields,
    enum kind k, const char *id, struct flat *before, const char *type,
    const char *idfield)
{
	reply_changed(r, get, fields, k, id, before, NULL, type, idfield);
}

/*
 * Reply 204 after the soft deletion of the object id of kind k, whose
 * object as it was is before (taken): its record_archived (6.4).
 */
static void
reply_archived(struct rq *r, enum kind k, const char *id, json_t *before)
{
	if (audit_object(r, "record_archived", k, id, before, before,
	    NULL) == 0)
		reply(r, 204, json_object());
	json_decref(before);
}

/* ------------------------------------------------------------------------
 * Validation
 * ------------------------------------------------------------------------ */

/* Check one string value (item idx of a list, or -1) against f. */
static void
check_string(json_t *errs, const struct field *f, const json_t *v, long idx)
{
	char	 msg[512];
	size_t	 chars, max = f->max != 0 ? f->max : TEXT_MAX;

	if (!json_is_string(v)) {
		verr(errs, "body", f->name, idx, "string_type",
		    "Input should be a valid string");
		return;
	}
	chars = utf8_chars(json_string_value(v), json_string_length(v));
	if (chars == 0 && (f->flags & F_NONEMPTY) && f->type == FT_STRING)
		verr(errs, "body", f->name, idx, "too_short",
		    "String should have at least 1 character");
	else if (chars > max) {
		snprintf(msg, sizeof(msg),
		    "String should have at most %zu characters", max);
		verr(errs, "body", f->name, idx, "string_too_long", msg);
	} else if (f->values != NULL &&
	    !in_set(json_string_value(v), f->values)) {
		enum_msg(msg, sizeof(msg), f->values);
		verr(errs, "body", f->name, idx, "enum", msg);
	}
}

/*
 * Check an integer against the range of f, given as its values.
 * Rationale: the bounds ride in values, which an integer field has no
 * other use for, so that no field table needs another member.
 */
static void
check_range(json_t *errs, const struct field *f, json_int_t v)
{
	char		 msg[128];
	long long	 min = strtoll(f->values[0], NULL, 10);
	long long	 max = strtoll(f->values[1], NULL, 10);

	if (v < min) {
		snprintf(msg, sizeof(msg), "Input should be greater than or "
		    "equal to %lld", min);
		verr(errs, "body", f->name, -1, "greater_than_equal", msg);
	} else if (v > max) {
		snprintf(msg, sizeof(msg), "Input should be less than or "
		    "equal to %lld", max);
		verr(errs, "body", f->name, -1, "less_than_equal", msg);
	}
}

/*
 * Check a JSON object against an input shape, appending every problem to
 * errs. Absent optional fields and nulls in optional fields pass.
 */
static void
check_body(json_t *errs, const json_t *body, const struct field *spec)
{
	const struct field	*f;
	json_t			*v, *item;
	size_t			 i;

	for (f = spec; f->name != NULL; f++) {
		v = json_object_get(body, f->name);
		if (v == NULL) {
			if (f->flags & F_REQUIRED)
				verr(errs, "body", f->name, -1, "missing",
				    "Field required");
			continue;
		}
		if (json_is_null(v) && !(f->flags & F_REQUIRED))
			continue;
		switch (f->type) {
		case FT_STRING:
			check_string(errs, f, v, -1);
			break;
		case FT_STRINGS:
			if (!json_is_array(v)) {
				verr(errs, "body", f->name, -1, "list_type",
				    "Input should be a valid list");
				break;
			}
			if (json_array_size(v) == 0 && (f->flags & F_NONEMPTY))
				verr(errs, "body", f->name, -1, "too_short",
				    "List should have at least 1 item after "
				    "validation, not 0");
			json_array_foreach(v, i, item)
				check_string(errs, f, item, (long)i);
			break;
		case FT_BOOL:
			if (!json_is_boolean(v))
				verr(errs, "body", f->name, -1, "bool_type",
				    "Input should be a valid boolean");
			break;
		case FT_INT:
			if (!json_is_integer(v))
				verr(errs, "body", f->name, -1, "int_type",
				    "Input should be a valid integer");
			else if (f->values != NULL)
				check_range(errs, f, json_integer_value(v));
			break;
		case FT_OBJECT:
			if (!json_is_object(v))
				verr(errs, "body", f->name, -1, "dict_type",
				    "Input should be a valid dictionary");
			break;
		default:
			break;
		}
	}
}

/* Does an input shape have a required field (so that {} cannot pass)? */
static int
has_required(const struct field *spec)
{
	for (; spec != NULL && spec->name != NULL; spec++)
		if (spec->flags & F_REQUIRED)
			return 1;
	return 0;
}

/* Check limit or offset; store it in *out (default def). */
static void
check_page_param(struct rq *r, json_t *errs, const char *name,
    int64_t min, int64_t max, int64_t def, int64_t *out)
{
	const char	*v = qval(r, name);
	char		 msg[128];
	size_t		 i;

	*out = def;
	if (v == NULL)
		return;
	for (i = r->nparams; i > 0; i--)
		if (strcmp(r->params[i - 1].name, name) == 0)
			break;
	switch (parse_int(v, r->params[i - 1].len, min, max, out)) {
	case PI_OK:
		break;
	case PI_INVALID:
		verr(errs, "query", name, -1, "int_type",
		    "Input should be a valid integer, unable to parse string "
		    "as an integer");
		break;
	case PI_LOW:
		snprintf(msg, sizeof(msg), "Input should be greater than or "
		    "equal to %" PRId64, min);
		verr(errs, "query", name, -1, "greater_than_equal", msg);
		break;
	case PI_HIGH:
		snprintf(msg, sizeof(msg), "Input should be less than or "
		    "equal to %" PRId64, max);
		verr(errs, "query", name, -1, "less_than_equal", msg);
		break;
	}
}

/*
 * Check the query parameters a route reads (the last value of each, or
 * every value of a repeatable one), and limit/offset on list routes; more
 * than QUERY_MAX parameters is a problem of its own (loc ["query"]).
 */
static void
check_query(struct rq *r, json_t *errs)
{
	const struct qfield	*f;
	const struct param	*p;
	char			 msg[512];
	size_t			 i;
	long			 n;
	int64_t			 iv;

	if (r->params_over) {
		snprintf(msg, sizeof(msg), "Query should have at most %d "
		    "parameters", QUERY_MAX);
		verr(errs, "query", NULL, -1, "too_long", msg);
	}
	if (r->route->flags & R_AUDIT_PAGE)
		check_page_param(r, errs, "limit", 1, AUDIT_LIST_MAX,
		    AUDIT_LIST_DEFAULT, &r->limit);
	else if (r->route->flags & R_LIST)
		check_page_param(r, errs, "limit", 1, LIST_MAX, LIST_DEFAULT,
		    &r->limit);
	if (r->route->flags & (R_LIST | R_AUDIT_PAGE))
		check_page_param(r, errs, "offset", 0, INT64_MAX, 0,
		    &r->offset);
	for (f = r->route->query; f != NULL && f->name != NULL; f++) {
		n = 0;
		for (i = 0; i < r->nparams; i++) {
			p = &r->params[i];
			if (strcmp(p->name, f->name) != 0)
				continue;
			if (f->type != QT_ENUMS && p->value != qval(r, f->name))
				continue;	/* the last value wins */
			switch (f->type) {
			case QT_STRING:
				if (strlen(p->value) != p->len)
					verr(errs, "query", f->name, -1,
					    "string_type",
					    "Input should be a valid string");
				break;
			case QT_INT:
				if (parse_int(p->value, p->len, INT64_MIN,
				    INT64_MAX, &iv) != PI_OK)
					verr(errs, "query", f->name, -1,
					    "int_type", "Input should be a valid "
					    "integer, unable to parse string as "
					    "an integer");
				break;
			case QT_BOOL:
				if (strlen(p->value) != p->len ||
				    parse_bool(p->value) == -1)
					verr(errs, "query", f->name, -1,
					    "bool_type", "Input should be a "
					    "valid boolean, unable to "
					    "interpret input");
				break;
			case QT_ENUM:
			case QT_ENUMS:
				if (strlen(p->value) != p->len ||
				    !in_set(p->value, f->values)) {
					enum_msg(msg, sizeof(msg), f->values);
					verr(errs, "query", f->name,
					    f->type == QT_ENUMS ? n : -1,
					    "enum", msg);
				}
				n++;
				break;
			default:
				break;
			}
		}
	}
}

/*
 * Parse and check the body against the route's shape. An empty body is {}
 * unless the shape has a required field. Problems go to errs.
 */
static void
check_json_body(struct rq *r, json_t *errs)
{
	json_error_t	 jerr;

	if (r->bodylen == 0) {
		if (has_required(r->route->body))
			verr(errs, "body", NULL, -1, "missing",
			    "Field required");
		else
			r->json = json_object();
		return;
	}
	r->json = json_loadb(r->body, r->bodylen,
	    JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (r->json == NULL) {
		verr(errs, "body", NULL, -1, "json_invalid",
		    "JSON decode error");
		return;
	}
	if (!json_is_object(r->json)) {
		verr(errs, "body", NULL, -1, "model_attributes_type",
		    "Input should be a valid dictionary or object to extract "
		    "fields from");
		json_decref(r->json);
		r->json = NULL;
		return;
	}
	check_body(errs, r->json, r->route->body);
}

/* ------------------------------------------------------------------------
 * IP addresses and CIDRs (6.3)
 * ------------------------------------------------------------------------ */

/* An address or a network: IPv4 as 4 bytes, IPv6 as 16. */
struct cidr {
	int		 v6;		/* 0: IPv4, 1: IPv6 */
	unsigned char	 a[16];		/* the address, host bits cleared */
	int		 bits;		/* prefix length: 0..32 or 0..128 */
};

/*
 * Parse an address, or a network "address/bits", IPv4 or IPv6, into c;
 * host bits under the prefix are cleared ("10.1.2.3/8" is 10.0.0.0/8).
 * IPv4-mapped IPv6 (::ffff:a.b.c.d, or ::ffff:a.b.c.d/96+n) is taken as
 * the IPv4 address or network (a.b.c.d, a.b.c.d/n), so that a dual-stack
 * socket's "::ffff:192.0.2.1" matches 192.0.2.0/24, and 192.0.2.1
 * matches ::ffff:192.0.2.0/120. 0, or -1 when s is neither (a name, a
 * zone "%eth0", spaces, IPv4 with leading zeros, a prefix out of range).
 */
static int
cidr_parse(const char *s, struct cidr *c)
{
	static const unsigned char mapped[12] =
	    { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	char		 host[INET6_ADDRSTRLEN + 1];
	const char	*slash = strchr(s, '/');
	size_t		 n = slash != NULL ? (size_t)(slash - s) : strlen(s);
	int64_t		 bits;
	int		 i, max;

	if (n == 0 || n >= sizeof(host))
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, host, c->a) == 1)
		c->v6 = 0;
	else if (inet_pton(AF_INET6, host, c->a) == 1)
		c->v6 = 1;
	else
		return -1;
	max = c->v6 ? 128 : 32;
	c->bits = max;
	if (slash != NULL) {
		if (!isdigit((unsigned char)slash[1]) || strlen(slash + 1) > 3 ||
		    parse_int(slash + 1, strlen(slash + 1), 0, max, &bits) !=
		    PI_OK)
			return -1;
		c->bits = (int)bits;
	}
	/*
	 * Rationale: a mapped network shorter than /96 reaches beyond the
	 * mapped block; it stays an IPv6 network, matching IPv6 callers.
	 */
	if (c->v6 && c->bits >= 96 && memcmp(c->a, mapped, 12) == 0) {
		memmove(c->a, c->a + 12, 4);
		memset(c->a + 4, 0, 12);
		c->v6 = 0;
		c->bits -= 96;
		max = 32;
	}
	for (i = c->bits; i < max; i++)
		c->a[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
	return 0;
}

/*
 * The canonical text of c, "address/bits" with the prefix always written
 * ("10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"), into out of size sz.
 * 0, or -1 when it does not fit.
 */
static int
cidr_format(const struct cidr *c, char *out, size_t sz)
{
	char	 host[INET6_ADDRSTRLEN];
	int	 n;

	if (inet_ntop(c->v6 ? AF_INET6 : AF_INET, c->a, host,
	    sizeof(host)) == NULL)
		return -1;
	n = snprintf(out, sz, "%s/%d", host, c->bits);
	return n < 0 || (size_t)n >= sz ? -1 : 0;
}

/* Is the address ip inside the network net? */
static int
cidr_contains(const struct cidr *net, const struct cidr *ip)
{
	int	 i;

	if (net->v6 != ip->v6)
		return 0;
	for (i = 0; i < net->bits; i++)
		if ((net->a[i / 8] ^ ip->a[i / 8]) & (0x80u >> (i % 8)))
			return 0;
	return 1;
}

/*
 * Is the address ip inside the allowlist list, a JSON array of address
 * or CIDR strings? An empty list lets every caller in (6.3: "[]" is no
 * allowlist). Otherwise an ip that is not one plain address ("": the web
 * server gave none; a network; a name) is inside no list, and an entry
 * that does not parse matches nothing. 1 or 0; -1 when list is no array.
 */
static int
ip_in_array(const char *ip, const json_t *list)
{
	struct cidr	 addr, net;
	json_t		*v;
	size_t		 i;

	if (!json_is_array(list))
		return -1;
	if (json_array_size(list) == 0)
		return 1;
	if (strchr(ip, '/') != NULL || cidr_parse(ip, &addr) == -1)
		return 0;
	json_array_foreach(list, i, v)
		if (json_is_string(v) &&
		    cidr_parse(json_string_value(v), &net) == 0 &&
		    cidr_contains(&net, &addr))
			return 1;
	return 0;
}

/* ip_in_array() of an allowlist as stored: JSON text. */
static int
ip_in_list(const char *ip, const char *list)
{
	json_t	*a;
	int	 in;

	if ((a = json_loads(list, 0, NULL)) == NULL)
		return -1;
	in = ip_in_array(ip, a);
	json_decref(a);
	return in;
}

/*
 * An allowlist as a request gives it (a JSON array of strings, its shape
 * checked), normalised into *out, a new array: each entry in its canonical
 * text (cidr_format), a duplicate of an earlier one dropped, in the order
 * given. 0; 1 with *bad the first entry that is no address or network
 * (borrowed from in; *out NULL); -1 when out of memory.
 */
static int
allowlist_normalise(const json_t *in, json_t **out, const char **bad)
{
	struct cidr	 c;
	json_t		*list, *v, *seen;
	size_t		 i, j;
	char		 text[INET6_ADDRSTRLEN + 8];
	const char	*s;

	*out = NULL;
	if ((list = json_array()) == NULL)
		return -1;
	json_array_foreach(in, i, v) {
		s = json_string_value(v);
		if (s == NULL || strlen(s) != json_string_length(v) ||
		    cidr_parse(s, &c) == -1 ||
		    cidr_format(&c, text, sizeof(text)) == -1) {
			*bad = s != NULL ? s : "";
			json_decref(list);
			return 1;
		}
		json_array_foreach(list, j, seen)
			if (strcmp(json_string_value(seen), text) == 0)
				break;
		if (j < json_array_size(list))
			continue;
		if (json_array_append_new(list, json_string(text)) == -1) {
			json_decref(list);
			return -1;
		}
	}
	*out = list;
	return 0;
}

/*
 * The client's address from REMOTE_ADDR, as given, into out; "" when it
 * is absent or too long to be an address.
 */
static void
client_ip(char *out, size_t sz, const char *remote)
{
	if (remote == NULL || strlen(remote) >= sz)
		remote = "";
	memcpy(out, remote, strlen(remote) + 1);
}

/* ------------------------------------------------------------------------
 * Handlers: the org and two utilities (6.3)
 * ------------------------------------------------------------------------ */

/* ORG_COLS -> org object (6.3). */
static const struct ofield org_obj[] = {
	{ "id", O_STR, ORG_ID },
	{ "name", O_STR, ORG_NAME },
	{ "api_ip_allowlist", O_JSON, ORG_ALLOWLIST },
	{ "created_at", O_INT, ORG_CREATED_AT },
	{ "updated_at", O_INT, ORG_UPDATED_AT },
	{ NULL, 0, 0 }
};

static const struct field org_update_fields[] = {
	{ "name", FT_STRING, F_NONEMPTY, TITLE_MAX, NULL },
	{ "api_ip_allowlist", FT_STRINGS, 0, 0, NULL },
	{ NULL, 0, 0, 0, NULL }
};

/* GET /v1/org/{org_id}: 200 with the key's org, or 404 org_not_found. */
static void
h_org_get(struct rq *r)
{
	reply_one(r, STMT_ORG_GET, org_obj, KIND_ORG);
}

/*
 * The rules of a new allowlist (6.3), given as the body's
 * api_ip_allowlist: normalised into *out (new), or answered: 400 with
 * Coverbase's own {"detail":{"error","value"}} for the first entry that
 * is no address or network; 400 allowlist_excludes_caller for a list
 * that would shut out the address making the call. 0, or the status.
 */
static int
allowlist_take(struct rq *r, const json_t *given, json_t **out)
{
	const char	*bad = NULL;
	int		 rc;

	if ((rc = allowlist_normalise(given, out, &bad)) == -1)
		return fail_internal(r, "out of memory");
	if (rc == 1) {
		reply(r, 400, json_pack("{s:{s:s,s:s},s:s}", "detail", "error",
		    "Invalid CIDR in api_ip_allowlist", "value", bad,
		    "request_id", r->request_id));
		return r->status;
	}
	if (ip_in_array(r->client_ip, *out) != 1) {
		json_decref(*out);
		*out = NULL;
		if (r->client_ip[0] == '\0')
			return fail(r, 400, "allowlist_excludes_caller", "The "
			    "allowlist would shut out this call, which came "
			    "with no client address.");
		return fail(r, 400, "allowlist_excludes_caller", "The "
		    "allowlist would shut out %s, the address making this "
		    "call.", r->client_ip);
	}
	return 0;
}

/*
 * POST /v1/org/{org_id} (scope keys:manage): change the name or the IP
 * allowlist; 200 with the org. 422 too_long for a list of more than
 * ALLOWLIST_MAX entries; 404 org_not_found for another org's id; then
 * allowlist_take()'s 400s. A change writes a field_update record (6.4)
 * with the field-level diff; one that changes nothing writes none and
 * leaves updated_at as it was.
 */
static void
h_org_update(struct rq *r)
{
	const json_t	*given = json_object_get(r->json, "api_ip_allowlist");
	json_t		*before = NULL, *list = NULL, *after = NULL;
	json_t		*diffs = NULL, *errs, *v;
	char		*text = NULL, fieldlist[128] = "", msg[128];
	const char	*k;

	if (json_array_size(given) > ALLOWLIST_MAX) {
		snprintf(msg, sizeof(msg), "List should have at most %d items "
		    "after validation, not %zu", ALLOWLIST_MAX,
		    json_array_size(given));
		if ((errs = json_array()) == NULL) {
			fail_internal(r, "out of memory");
			return;
		}
		verr(errs, "body", "api_ip_allowlist", -1, "too_long", msg);
		fail_validation(r, errs);
		return;
	}
	if ((before = object_load(r, STMT_ORG_GET, org_obj, r->id)) == NULL) {
		if (r->conn->err == SQLITE_OK)
			not_found(r, KIND_ORG, r->id);
		goto out;
	}
	if (json_is_array(given)) {
		if (allowlist_take(r, given, &list) != 0)
			goto out;
		if ((text = json_dumps(list, JSON_COMPACT)) == NULL) {
			fail_internal(r, "out of memory");
			goto out;
		}
	}
	if (exec(r->conn, STMT_ORG_UPDATE, "ssssi", r->id, r->org,
	    jstr(r->json, "name"), text, r->now) == -1)
		goto out;
	if ((after = object_load(r, STMT_ORG_GET, org_obj, r->id)) == NULL) {
		if (r->conn->err == SQLITE_OK)
			fail_internal(r, "org vanished inside its transaction");
		goto out;
	}
	if ((diffs = object_diff(before, after)) == NULL) {
		fail_internal(r, "out of memory");
		goto out;
	}
	json_object_foreach(diffs, k, v)
		snprintf(fieldlist + strlen(fieldlist), sizeof(fieldlist) -
		    strlen(fieldlist), "%s%s", fieldlist[0] ? ", " : "", k);
	if (json_object_size(diffs) > 0 && audit_change(r, "field_update",
	    "configuration", KIND_ORG, r->id, diffs, "Organization settings "
	    "changed: %s.", fieldlist) == -1)
		goto out;
	reply(r, 200, after);
	after = NULL;
out:
	free(text);
	json_decref(diffs);
	json_decref(after);
	json_decref(list);
	json_decref(before);
}

/*
 * GET /v1/whoami/ip: 200 {"client_ip"}, the address the web server gave
 * (REMOTE_ADDR, as given; null when it gave none). Exempt from the
 * allowlist (R_ANY_IP), so that a caller shut out can learn its address.
 */
static void
h_whoami_ip(struct rq *r)
{
	reply(r, 200, json_pack("{s:s?}", "client_ip",
	    r->client_ip[0] != '\0' ? r->client_ip : NULL));
}

/* GET /v1/utils/authtest: 200 {"msg":"Auth successful"}. */
static void
h_authtest(struct rq *r)
{
	reply(r, 200, json_pack("{s:s}", "msg", "Auth successful"));
}

/* ------------------------------------------------------------------------
 * Handlers: vendors (3.1)
 * ------------------------------------------------------------------------ */

static const struct field vendor_create_fields[] = {
	{ "name", FT_STRING, F_REQUIRED | F_NONEMPTY, TITLE_MAX, NULL },
	{ "website", FT_STRING, 0, 0, NULL },
	{ "description", FT_STRING, 0, 0, NULL },
	{ "hq_location", FT_STRING, 0, 0, NULL },
	{ "use_case", FT_STRING, 0, 0, NULL },
	{ "external_id", FT_STRING, 0, 0, NULL },
	{ NULL, 0, 0, 0, NULL }
};

static const struct field vendor_update_fields[] = {
	{ "name", FT_STRING, F_NONEMPTY, TITLE_MAX, NULL },
	{ "website", FT_STRING, 0, 0, NULL },
	{ "description", FT_STRING, 0, 0, NULL },
	{ "hq_location", FT_STRING, 0, 0, NULL },
	{ "use_case", FT_STRING, 0, 0, NULL },
	{ NULL, 0, 0, 0, NULL }
};

static const struct qfield vendor_query[] = {
	{ "name", QT_STRING, NULL },
	{ "external_id", QT_STRING, NULL },
	{ NULL, 0, NULL }
};

/* POST /v1/vendors: 201 with the vendor. */
static void
h_vendor_create(struct rq *r)
{
	const json_t	*b = r->json;
	char		 id[ID_LEN];

	if (new_id(id, KIND_VENDOR) == -1) {
		fail_internal(r, "no random bytes for an id");
		return;
	}
	if (exec(r->conn, STMT_VENDOR_INSERT, "ssssssssi", id, r->org,
	    jstr(b, "external_id"), jstr(b, "name"), jstr(b, "website"),
	    jstr(b, "description"), jstr(b, "hq_location"),
	    jstr(b, "use_case"), r->now) == -1)
		return;
	reply_created(r, STMT_VENDOR_GET, vendor_obj, KIND_VENDOR, id,
	    "Vendor.Created", "vendor_id");
}

/* GET /v1/vendors: a page of vendors. */
static void
h_vendor_list(struct rq *r)
{
	reply_list(r, "items", STMT_VENDOR_LIST, STMT_VENDOR_COUNT, vendor_obj, "sss",
	    r->org, qval(r, "name"), qval(r, "external_id"));
}

/* GET /v1/vendors/{id}: 200, or 404 vendor_not_found. */
static void
h_vendor_get(struct rq *r)
{
	reply_one(r, STMT_VENDOR_GET, vendor_obj, KIND_VENDOR);
}

/* PATCH /v1/vendors/{id}: 200 with the vendor, or 404. */
static void
h_vendor_update(struct rq *r)
{
	const json_t	*b = r->json;
	struct flat	 before;
	int		 rc;

	if ((rc = flat_load(r, &before, STMT_VENDOR_GET, vendor_obj,
	    r->id)) != 1 || exec(r->conn, STMT_VENDOR_UPDATE, "sssssssi",
	    r->id, r->org, jstr(b, "name"), jstr(b, "website"),
	    jstr(b, "description"), jstr(b, "hq_location"), jstr(b, "use_case"),
	    r->now) == -1) {
		if (rc == 0)
			not_found(r, KIND_VENDOR, r->id);
		flat_free(&before);
		return;
	}
	reply_updated(r, STMT_VENDOR_GET, vendor_obj, KIND_VENDOR, r->id,
	    &before, "Vendor.Updated", "vendor_id");
}

/* ------------------------------------------------------------------------
 * Handlers: radar events and alerts (3.2)
 * ------------------------------------------------------------------------ */

static const struct field event_create_fields[] = {
	{ "name", FT_STRING, F_REQUIRED, TITLE_MAX, NULL },
	{ "summary", FT_STRING, F_REQUIRED, 0, NULL },
	{ "primary_impact_type", FT_STRING, F_REQUIRED, 0, impact_types },
	{ "secondary_impact_types", FT_STRINGS, 0, 0, impact_types },
	{ "vendor_ids", FT_STRINGS, 0, 0, NULL },
	{ "source_url", FT_STRING, 0, 0, NULL },
	{ "source_name", FT_STRING, 0, 0, NULL },
	{ "occurred_at", FT_INT, 0, 0, NULL },
	{ "create_alert", FT_BOOL, 0, 0, NULL },
	{ "alert_severity", FT_STRING, 0, 0, severities },
	{ NULL, 0, 0, 0, NULL }
};

static const struct qfield event_query[] = {
	{ "primary_impact_type", QT_ENUM, impact_types },
	{ "include_archived", QT_BOOL, NULL },
	{ NULL, 0, NULL }
};

static const struct field dismiss_fields[] = {
	{ "reason", FT_STRING, 0, 0, NULL },
	{ "suppress_similar", FT_BOOL, 0, 0, NULL },
	{ NULL, 0, 0, 0, NULL }
};

static const struct qfield alert_query[] = {
	{ "vendor_id", QT_STRING, NULL },
	{ "severity", QT_ENUMS, severities },
	{ "is_dismissed", QT_BOOL, NULL },
	{ "include_archived", QT_BOOL, NULL },
	{ NULL, 0, NULL }
};

/*
 * The reassessment triggers (7) on the new event id of primary impact
 * type, in the event's transaction: each enabled trigger that matches
 * makes one draft of the vendors it takes (STMT_TRG_RSM_INSERT says
 * which), announced with Reassessment.Created and recorded as created by
 * the system, "by reassessment trigger ..." (6.4: the trigger made it,
 * not the key that made the event); a trigger that takes no vendor makes
 * nothing. 0, or -1 (answered or recorded on the connection).
 *
 * Rationale: the matching triggers are read first, and each draft is then
 * three INSERT ... SELECT statements, so that the work per trigger does
 * not grow with the event's vendors; the event and its drafts commit or
 * roll back together with the request.
 */
static int
triggers_fire(struct rq *r, const char *event, const char *type)
{
	sqlite3_stmt	*st;
	json_t		*todo = NULL, *t, *draft;
	char		 id[ID_LEN], by[128];
	const char	*tid;
	size_t		 i;
	int		 rc, made, ret = -1;

	if ((todo = json_array()) == NULL)
		goto oom;
	if ((st = q(r->conn, STMT_TRG_FOR_EVENT, "ss", r->org, type)) == NULL)
		goto out;
	while ((rc = step(r->conn, st)) == SQLITE_ROW)
		if (json_array_append_new(todo, col_str(st, 0)) == -1)
			goto oom;
	if (rc == -1)
		goto out;
	json_array_foreach(todo, i, t) {
		tid = json_string_value(t);
		if (tid == NULL || new_id(id, KIND_RSM) == -1)
			goto oom;
		if ((made = exec(r->conn, STMT_TRG_RSM_INSERT, "sssi", id, event,
		    tid, r->now)) == -1)
			goto out;
		if (made == 0)
			continue;
		if (exec(r->conn, STMT_TRG_ENTRIES_FILL, "sss", id, event,
		    tid) == -1 ||
		    exec(r->conn, STMT_TRG_ALERTS_FILL, "sss", id, event,
		    tid) == -1 ||
		    emit_id(r, "Reassessment.Created", "reassessment_id",
		    id) == -1)
			goto out;
		if ((draft = object_load(r, STMT_RSM_GET, rsm_obj, id)) ==
		    NULL) {
			if (r->conn->err == SQLITE_OK)
				fail_internal(r, "draft vanished");
			goto out;
		}
		snprintf(by, sizeof(by), "by reassessment trigger %s for radar "
		    "event %s", tid, event);
		rc = audit_object(r, "record_created", KIND_RSM, id, draft,
		    draft, by);
		json_decref(draft);
		if (rc == -1)
			goto out;
	}
	ret = 0;
	goto out;
oom:
	fail_internal(r, "out of memory or randomness firing triggers");
out:
	json_decref(todo);
	return ret;
}

/*
 * POST /v1/radar/events: 201 with the event. Vendor ids that do not
 * resolve in the org are skipped; each linked vendor gets one alert unless
 * create_alert is false. Then the org's reassessment triggers fire
 * (triggers_fire), in the same transaction.
 */
static void
h_event_create(struct rq *r)
{
	const json_t	*b = r->json, *v, *ca, *oa, *sec;
	const char	*sev = jstr(b, "alert_severity");
	char		 id[ID_LEN], aid[ID_LEN], *sectxt = NULL;
	int64_t		 occurred = r->now;
	int		 alerts = 1, linked;
	size_t		 i;

	if ((oa = json_object_get(b, "occurred_at")) != NULL &&
	    json_is_integer(oa))
		occurred = json_integer_value(oa);
	if ((ca = json_object_get(b, "create_alert")) != NULL &&
	    json_is_boolean(ca))
		alerts = json_is_true(ca);
	if (sev == NULL)
		sev = "medium";
	sec = json_object_get(b, "secondary_impact_types");
	sectxt = json_is_array(sec) ? json_dumps(sec, JSON_COMPACT) :
	    strdup("[]");
	if (sectxt == NULL || new_id(id, KIND_EVENT) == -1) {
		fail_internal(r, "out of memory or randomness");
		goto out;
	}
	if (exec(r->conn, STMT_EVENT_INSERT, "ssssssssii", id, r->org,
	    jstr(b, "name"), jstr(b, "summary"),
	    jstr(b, "primary_impact_type"), sectxt, jstr(b, "source_url"),
	    jstr(b, "source_name"), occurred, r->now) == -1)
		goto out;
	json_array_foreach(json_object_get(b, "vendor_ids"), i, v) {
		linked = exec(r->conn, STMT_EVENT_LINK_VENDOR, "sss", id,
		    json_string_value(v), r->org);
		if (linked == -1)
			goto out;
		if (linked == 0 || !alerts)
			continue;
		if (new_id(aid, KIND_ALERT) == -1) {
			fail_internal(r, "no random bytes for an id");
			goto out;
		}
		if (exec(r->conn, STMT_ALERT_INSERT, "ssssssi", aid, r->org,
		    json_string_value(v), id, jstr(b, "summary"), sev,
		    r->now) == -1 || emit_id(r, "RadarDetectorResult.Created",
		    "radar_detector_result_id", aid) == -1)
			goto out;
	}
	/* The alerts' change records, one statement for them all (6.4). */
	if (alerts && audit_created_set(r, STMT_AUDIT_ALERTS_CREATED,
	    KIND_ALERT, id) == -1)
		goto out;
	if (emit_id(r, "RadarEvent.Created", "radar_event_id", id) == -1 ||
	    triggers_fire(r, id, jstr(b, "primary_impact_type")) == -1)
		goto out;
#ifdef REASSESS_TEST_HOOKS
	/* Test builds only (tests/reassess-testhooks): fail after the drafts. */
	if (getenv("REASSESS_TEST_FAIL_AFTER_TRIGGERS") != NULL &&
	    strcmp(getenv("REASSESS_TEST_FAIL_AFTER_TRIGGERS"), "1") == 0) {
		fail_internal(r, "test hook: failing after the triggers' drafts");
		goto out;
	}
#endif
	reply_created(r, STMT_EVENT_GET, event_obj, KIND_EVENT, id, NULL,
	    NULL);
out:
	free(sectxt);
}

/* GET /v1/radar/events: a page of events, archived ones on request. */
static void
h_event_list(struct rq *r)
{
	reply_list(r, "items", STMT_EVENT_LIST, STMT_EVENT_COUNT, event_obj, "ssd",
	    r->org, qval(r, "primary_impact_type"),
	    qbool(r, "include_archived", 0));
}

/* GET /v1/radar/events/{id}: 200, or 404 radar_event_not_found. */
static void
h_event_get(struct rq *r)
{
	reply_one(r, STMT_EVENT_GET, event_obj, KIND_EVENT);
}

/* GET /v1/radar/alerts: dismissed ones only with is_dismissed=true. */
static void
h_alert_list(struct rq *r)
{
	char	*sev = qlist_json(r, "severity");

	reply_list(r, "items", STMT_ALERT_LIST, STMT_ALERT_COUNT, alert_obj, "sssdd",
	    r->org, qval(r, "vendor_id"), sev, qbool(r, "is_dismissed", 0),
	    qbool(r, "include_archived", 0));
	free(sev);
}

/* GET /v1/radar/alerts/{id}: 200, or 404 alert_not_found. */
static void
h_alert_get(struct rq *r)
{
	reply_one(r, STMT_ALERT_GET, alert_obj, KIND_ALERT);
}

/*
 * Set an alert's dismissal: dismiss (on) or undismiss (off). Dismissing a
 * dismissed alert only replaces its reason, when one is given; undismissing
 * an active alert changes nothing. 200 with the alert, or 404.
 */
static void
alert_set_dismissed(struct rq *r, int on)
{
	sqlite3_stmt	*st;
	const json_t	*ss;
	const char	*reason = on ? jstr(r->json, "reason") : NULL;
	char		*old = NULL;
	struct flat	 before;
	int64_t		 at, suppress, *sp = NULL;
	int		 rc, was;

	if ((rc = flat_load(r, &before, STMT_ALERT_GET, alert_obj,
	    r->id)) != 1 || (st = q(r->conn, STMT_ALERT_GET, "ss", r->id,
	    r->org)) == NULL || (rc = step(r->conn, st)) != SQLITE_ROW) {
		if (rc == 0)
			not_found(r, KIND_ALERT, r->id);
		flat_free(&before);
		return;
	}
	was = sqlite3_column_int(st, ALERT_IS_DISMISSED);
	at = sqlite3_column_int64(st, ALERT_DISMISSED_AT);
	if (sqlite3_column_type(st, ALERT_DISMISS_REASON) != SQLITE_NULL &&
	    (old = strdup((const char *)sqlite3_column_text(st,
	    ALERT_DISMISS_REASON))) == NULL) {
		fail_internal(r, "out of memory");
		flat_free(&before);
		return;
	}
	if (on && !was) {
		if ((ss = json_object_get(r->json, "suppress_similar")) != NULL &&
		    json_is_boolean(ss)) {
			suppress = json_is_true(ss);
			sp = &suppress;
		}
		rc = exec(r->conn, STMT_ALERT_SET_DISMISSED, "ssdisoi", r->id, r->org,
		    1, r->now, reason, sp, r->now);
	} else if (on && reason != NULL &&
	    (old == NULL || strcmp(old, reason) != 0))
		rc = exec(r->conn, STMT_ALERT_SET_DISMISSED, "ssdisoi", r->id, r->org,
		    1, at, reason, (const int64_t *)NULL, r->now);
	else if (!on && was)
		rc = exec(r->conn, STMT_ALERT_SET_DISMISSED, "ssdosoi", r->id,
		    r->org, 0, (const int64_t *)NULL, (const char *)NULL,
		    (const int64_t *)NULL, r->now);
	free(old);
	if (rc == -1) {
		flat_free(&before);
		return;
	}
	reply_updated(r, STMT_ALERT_GET, alert_obj, KIND_ALERT, r->id, &before,
	    "RadarDetectorResult.Updated", "radar_detector_result_id");
}

/* POST /v1/radar/alerts/{id}/dismiss */
static void
h_alert_dismiss(struct rq *r)
{
	alert_set_dismissed(r, 1);
}

/* POST /v1/radar/alerts/{id}/undismiss */
static void
h_alert_undismiss(struct rq *r)
{
	alert_set_dismissed(r, 0);
}

/* ------------------------------------------------------------------------
 * Handlers: assessment plans (3.3) and assessments (3.4)
 * ------------------------------------------------------------------------ */

static const struct field plan_create_fields[] = {
	{ "name", FT_STRING, F_REQUIRED, TITLE_MAX, NULL },
	{ "description", FT_STRING, 0, 0, NULL },
	{ "control_set_ids", FT_STRINGS, 0, 0, NULL },
	{ NULL, 0, 0, 0, NULL }
};

static const struct qfield asmt_query[] = {
	{ "vendor_id", QT_STRING, NULL },
	{ "reassessment_id", QT_STRING, NULL },
	{ NULL, 0, NULL }
};

/* POST /v1/assessment_plans: 201 with the plan. */
static void
h_plan_create(struct rq *r)
{
	const json_t	*csi = json_object_get(r->json, "control_set_ids");
	char		 id[ID_LEN], *csitxt;

	csitxt = json_is_array(csi) ? json_dumps(csi, JSON_COMPACT) :
	    strdup("[]");
	if (csitxt == NULL || new_id(id, KIND_PLAN) == -1) {
		fail_internal(r, "out of memory or randomness");
		goto out;
	}
	if (exec(r->conn, STMT_PLAN_INSERT, "sssssi", id, r->org,
	    jstr(r->json, "name"), jstr(r->json, "description"), csitxt,
	    r->now) == -1)
		goto out;
	reply_created(r, STMT_PLAN_GET, plan_obj, KIND_PLAN, id, NULL, NULL);
out:
	free(csitxt);
}

/* GET /v1/assessment_plans */
static void
h_plan_list(struct rq *r)
{
	reply_list(r, "items", STMT_PLAN_LIST, STMT_PLAN_COUNT, plan_obj, "s", r->org);
}

/* GET /v1/assessment_plans/{id}: 200, or 404 assessment_plan_not_found. */
static void
h_plan_get(struct rq *r)
{
	reply_one(r, STMT_PLAN_GET, plan_obj, KIND_PLAN);
}

/* GET /v1/assessments */
static void
h_asmt_list(struct rq *r)
{
	reply_list(r, "items", STMT_ASMT_LIST, STMT_ASMT_COUNT, asmt_obj, "sss",
	    r->org, qval(r, "vendor_id"), qval(r, "reassessment_id"));
}

/* GET /v1/assessments/{id}: 200, or 404 assessment_not_found. */
static void
h_asmt_get(struct rq *r)
{
	reply_one(r, STMT_ASMT_GET, asmt_obj, KIND_ASMT);
}

/* ------------------------------------------------------------------------
 * Handlers: reassessments (2)
 * ------------------------------------------------------------------------ */

static const struct field rsm_create_fields[] = {
	{ "radar_event_id", FT_STRING, F_REQUIRED, 0, NULL },
	{ "vendor_ids", FT_STRINGS, F_REQUIRED | F_NONEMPTY, 0, NULL },
	{ "assessment_plan_id", FT_STRING, 0, 0, NULL },
	{ "title", FT_STRING, 0, TITLE_MAX, NULL },
	{ NULL, 0, 0, 0, NULL }
};

static const struct field rsm_update_fields[] = {
	{ "title", FT_STRING, 0, TITLE_MAX, NULL },
	{ "assessment_plan_id", FT_STRING, 0, 0, NULL },
	{ "radar_event_id", FT_STRING, 0, 0, NULL },
	{ NULL, 0, 0, 0, NULL }
};

static const struct field rsm_vendors_fields[] = {
	{ "vendor_ids", FT_STRINGS, F_REQUIRED | F_NONEMPTY, 0, NULL },
	{ NULL, 0, 0, 0, NULL }
};

static const struct field rsm_inclusion_fields[] = {
	{ "vendor_id", FT_STRING, F_REQUIRED, 0, NULL },
	{ "included", FT_BOOL, F_REQUIRED, 0, NULL },
	{ NULL, 0, 0, 0, NULL }
};

static const struct qfield rsm_query[] = {
	{ "status", QT_ENUM, rsm_statuses },
	{ "radar_event_id", QT_STRING, NULL },
	{ "vendor_id", QT_STRING, NULL },
	{ "trigger_id", QT_STRING, NULL },
	{ NULL, 0, NULL }
};

/*
 * Does id name an object of kind k (looked up by s) in the key's org? 1 if
 * so; 0 after answering 422 code naming it; -1 on error.
 */
static int
resolve_as(struct rq *r, const char *code, enum kind k, enum stmt s,
    const char *id)
{
	int	 found = id_valid(id, k) ? exists(r->conn, s, id, r->org) : 0;

	if (found == 0 && strlen(id) <= ID_LEN)
		fail(r, 422, code, "%s %s not found.", kind_nouns[k], id);
	else if (found == 0)
		fail(r, 422, code, "%s not found.", kind_nouns[k]);
	return found;
}

/* resolve_as() for a reassessment's references: 422 invalid_reassessment. */
static int
resolve(struct rq *r, enum kind k, enum stmt s, const char *id)
{
	return resolve_as(r, "invalid_reassessment", k, s, id);
}

/*
 * Read reassessment r->id of the key's org into m, with the object as it
 * is now in m->before. 1 when found; 0 after answering 404; -1 on error.
 * The caller calls rsm_free(m) in every case.
 */
static int
rsm_read(struct rq *r, struct rsm *m)
{
	sqlite3_stmt	*st;
	int		 rc;

	memset(m, 0, sizeof(*m));
	if ((st = q(r->conn, STMT_RSM_GET, "ss", r->id, r->org)) == NULL ||
	    (rc = step(r->conn, st)) == -1)
		return -1;
	if (rc == SQLITE_DONE) {
		not_found(r, KIND_RSM, r->id);
		return 0;
	}
	col_copy(st, RSM_ID, m->id, sizeof(m->id));
	col_copy(st, RSM_STATUS, m->status, sizeof(m->status));
	if (sqlite3_column_type(st, RSM_TITLE) != SQLITE_NULL &&
	    (m->title = strdup((const char *)sqlite3_column_text(st,
	    RSM_TITLE))) ==
	    NULL) {
		fail_internal(r, "out of memory");
		return -1;
	}
	col_copy(st, RSM_PLAN_ID, m->plan_id, sizeof(m->plan_id));
	col_copy(st, RSM_EVENT_ID, m->event_id, sizeof(m->event_id));
	col_copy(st, RSM_TRIGGER_ID, m->trigger_id, sizeof(m->trigger_id));
	if (flat_row(r->conn, &m->before, st, rsm_obj) == -1)
		return -1;
	return 1;
}

/* Free what rsm_read allocated. */
static void
rsm_free(struct rsm *m)
{
	free(m->title);
	flat_free(&m->before);
}

/*
 * Reply 200 with the reassessment as it is now, recording a
 * Reassessment.Updated event with what changed since rsm_read.
 */
static void
rsm_reply(struct rq *r, struct rsm *m)
{
	reply_updated(r, STMT_RSM_GET, rsm_obj, KIND_RSM, m->id, &m->before,
	    "Reassessment.Updated", "reassessment_id");
}

/* What rsm_save() writes back of a reassessment. */
#define SAVE_STATUS	0x01	/* its status */
#define SAVE_FIELDS	0x02	/* its title and plan */
#define SAVE_EVENT	0x04	/* its radar event */

/*
 * Write back what of m changed, as what says (0: only updated_at, after a
 * change to its vendor entries), moving updated_at: 0, or -1.
 */
static int
rsm_save(struct rq *r, const struct rsm *m, unsigned what)
{
	const char	*plan = m->plan_id[0] != '\0' ? m->plan_id : NULL;
	const char	*event = m->event_id[0] != '\0' ? m->event_id : NULL;

	if ((what & SAVE_STATUS) && exec(r->conn, STMT_RSM_SET_STATUS, "sssi",
	    m->id, r->org, m->status, r->now) == -1)
		return -1;
	if ((what & SAVE_FIELDS) && exec(r->conn, STMT_RSM_SET_FIELDS,
	    "ssssi", m->id, r->org, m->title, plan, r->now) == -1)
		return -1;
	if ((what & SAVE_EVENT) && exec(r->conn, STMT_RSM_SET_EVENT, "sssi",
	    m->id, r->org, event, r->now) == -1)
		return -1;
	if (what == 0 && exec(r->conn, STMT_RSM_TOUCH, "ssi", m->id, r->org,
	    r->now) == -1)
		return -1;
	return 0;
}

/* Recompute alert_ids from the event and the current vendor set. */
static int
rsm_refresh_alerts(struct rq *r, const struct rsm *m)
{
	if (exec(r->conn, STMT_RSM_ALERTS_CLEAR, "s", m->id) == -1)
		return -1;
	if (m->event_id[0] == '\0')
		return 0;
	return exec(r->conn, STMT_RSM_ALERTS_FILL, "ss", m->id, m->event_id);
}

/*
 * The rules shared by every change: a terminal reassessment is immutable
 * (422); with locked, so is the vendor set of a confirmed one (422).
 * 0 when the change may go ahead, else -1 with the answer set.
 */
static int
rsm_may_change(struct rq *r, const struct rsm *m, int locked)
{
	if (strcmp(m->status, "run") == 0 || strcmp(m->status, "dismissed") == 0) {
		fail(r, 422, "reassessment_immutable",
		    "Reassessment %s is %s and can no longer change.", m->id,
		    m->status);
		return -1;
	}
	if (locked && strcmp(m->status, "confirmed") == 0) {
		fail(r, 422, "vendor_set_locked", "Reassessment %s is "
		    "confirmed; its vendor set is locked.", m->id);
		return -1;
	}
	return 0;
}

/*
 * POST /v1/reassessments: 201 with a draft. References resolve in the
 * order event, vendors, plan, else 422 invalid_reassessment.
 */
static void
h_rsm_create(struct rq *r)
{
	const json_t	*b = r->json, *vids, *v;
	const char	*event = jstr(b, "radar_event_id");
	const char	*plan = jstr(b, "assessment_plan_id");
	char		 id[ID_LEN];
	size_t		 i;

	vids = json_object_get(b, "vendor_ids");
	if (resolve(r, KIND_EVENT, STMT_EVENT_EXISTS, event) != 1)
		return;
	json_array_foreach(vids, i, v)
		if (resolve(r, KIND_VENDOR, STMT_VENDOR_NAME,
		    json_string_value(v)) != 1)
			return;
	if (plan != NULL &&
	    resolve(r, KIND_PLAN, STMT_PLAN_FOR_RUN, plan) != 1)
		return;
	if (new_id(id, KIND_RSM) == -1) {
		fail_internal(r, "no random bytes for an id");
		return;
	}
	if (exec(r->conn, STMT_RSM_INSERT, "sssssi", id, r->org,
	    jstr(b, "title"), plan, event, r->now) == -1)
		return;
	json_array_foreach(vids, i, v)
		if (exec(r->conn, STMT_RSM_ENTRY_ADD, "ssis", id,
		    json_string_value(v), (int64_t)i + 1, "matched") == -1)
			return;
	if (exec(r->conn, STMT_RSM_ALERTS_FILL, "ss", id, event) == -1)
		return;
	reply_created(r, STMT_RSM_GET, rsm_obj, KIND_RSM, id,
	    "Reassessment.Created",
	    "reassessment_id");
}

/*
 * GET /v1/reassessments: filters status, radar_event_id, vendor_id and
 * trigger_id (7), the last through its own statements and index.
 */
static void
h_rsm_list(struct rq *r)
{
	const char	*trigger = qval(r, "trigger_id");

	reply_list(r, "items", trigger != NULL ? STMT_RSM_LIST_BY_TRIGGER :
	    STMT_RSM_LIST, trigger != NULL ? STMT_RSM_COUNT_BY_TRIGGER :
	    STMT_RSM_COUNT, rsm_obj, "sssss", r->org, qval(r, "status"),
	    qval(r, "radar_event_id"), qval(r, "vendor_id"), trigger);
}

/* GET /v1/reassessments/{id}: 200, or 404 reassessment_not_found. */
static void
h_rsm_get(struct rq *r)
{
	reply_one(r, STMT_RSM_GET, rsm_obj, KIND_RSM);
}

/*
 * May a draft of a trigger be re-linked to event? A trigger makes at most
 * one reassessment per event (7), so not when it has one for event
 * already: 422 invalid_reassessment. 0 when it may, else -1 (answered or
 * recorded on the connection).
 */
static int
rsm_trigger_taken(struct rq *r, const struct rsm *m, const char *event)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (m->trigger_id[0] == '\0')
		return 0;
	if ((st = q(r->conn, STMT_RSM_OF_TRIGGER, "ss", m->trigger_id,
	    event)) == NULL || (rc = step(r->conn, st)) == -1)
		return -1;
	if (rc == SQLITE_DONE)
		return 0;
	fail(r, 422, "invalid_reassessment", "Reassessment trigger %s already "
	    "made reassessment %s for radar event %s.", m->trigger_id,
	    (const char *)sqlite3_column_text(st, 0), event);
	return -1;
}

/*
 * PATCH /v1/reassessments/{id}: title, plan and event; null or absent
 * stays. 404; 422 reassessment_immutable; 422 invalid_reassessment.
 */
static void
h_rsm_update(struct rq *r)
{
	const json_t	*b = r->json;
	const char	*title = jstr(b, "title");
	const char	*plan = jstr(b, "assessment_plan_id");
	const char	*event = jstr(b, "radar_event_id");
	struct rsm	 m;
	unsigned	 changed = 0;

	if (rsm_read(r, &m) != 1 || rsm_may_change(r, &m, 0) == -1)
		goto out;
	if (event != NULL &&
	    resolve(r, KIND_EVENT, STMT_EVENT_EXISTS, event) != 1)
		goto out;
	if (plan != NULL && resolve(r, KIND_PLAN, STMT_PLAN_FOR_RUN, plan) != 1)
		goto out;
	if (event != NULL && strcmp(event, m.event_id) != 0 &&
	    rsm_trigger_taken(r, &m, event) != 0)
		goto out;
	if (title != NULL && (m.title == NULL || strcmp(title, m.title) != 0)) {
		free(m.title);
		if ((m.title = strdup(title)) == NULL) {
			fail_internal(r, "out of memory");
			goto out;
		}
		changed |= SAVE_FIELDS;
	}
	if (plan != NULL && strcmp(plan, m.plan_id) != 0) {
		snprintf(m.plan_id, sizeof(m.plan_id), "%s", plan);
		changed |= SAVE_FIELDS;
	}
	if (event != NULL && strcmp(event, m.event_id) != 0) {
		snprintf(m.event_id, sizeof(m.event_id), "%s", event);
		changed |= SAVE_EVENT;
	}
	if (changed && rsm_save(r, &m, changed) == -1)
		goto out;
	if ((changed & SAVE_EVENT) && rsm_refresh_alerts(r, &m) == -1)
		goto out;
	rsm_reply(r, &m);
out:
	rsm_free(&m);
}

/*
 * POST /v1/reassessments/{id}/vendors: new vendors join as manual; a
 * vendor already there is included again. Only in draft.
 */
static void
h_rsm_add_vendors(struct rq *r)
{
	const json_t	*vids = json_object_get(r->json, "vendor_ids"), *v;
	sqlite3_stmt	*st;
	struct rsm	 m;
	const char	*vid;
	int64_t		 last;
	size_t		 i;
	int		 rc, changed = 0, joined = 0;

	if (rsm_read(r, &m) != 1 || rsm_may_change(r, &m, 1) == -1)
		goto out;
	json_array_foreach(vids, i, v)
		if (resolve(r, KIND_VENDOR, STMT_VENDOR_NAME,
		    json_string_value(v)) != 1)
			goto out;
	if ((last = scalar(r->conn, STMT_RSM_ENTRY_LAST, "s", m.id)) == -1)
		goto out;
	json_array_foreach(vids, i, v) {
		vid = json_string_value(v);
		if ((st = q(r->conn, STMT_RSM_ENTRY_GET, "ss", m.id, vid)) == NULL ||
		    (rc = step(r->conn, st)) == -1)
			goto out;
		if (rc == SQLITE_DONE) {
			if (exec(r->conn, STMT_RSM_ENTRY_ADD, "ssis", m.id, vid,
			    ++last, "manual") == -1)
				goto out;
			changed = joined = 1;
		} else if (sqlite3_column_int(st, 0) == 0) {
			if (exec(r->conn, STMT_RSM_ENTRY_INCLUDE, "ssd", m.id, vid,
			    1) == -1)
				goto out;
			changed = 1;
		}
	}
	if (joined && rsm_refresh_alerts(r, &m) == -1)
		goto out;
	if (changed && rsm_save(r, &m, 0) == -1)
		goto out;
	rsm_reply(r, &m);
out:
	rsm_free(&m);
}

/*
 * POST /v1/reassessments/{id}/vendor_inclusion: opt one vendor in or out.
 * Only in draft; 404 vendor_not_found when it is not in the set.
 */
static void
h_rsm_inclusion(struct rq *r)
{
	const char	*vid = jstr(r->json, "vendor_id");
	int		 included = json_is_true(json_object_get(r->json,
			    "included"));
	sqlite3_stmt	*st;
	struct rsm	 m;
	int		 rc;

	if (rsm_read(r, &m) != 1 || rsm_may_change(r, &m, 1) == -1)
		goto out;
	if ((st = q(r->conn, STMT_RSM_ENTRY_GET, "ss", m.id, vid)) == NULL ||
	    (rc = step(r->conn, st)) == -1)
		goto out;
	if (rc == SQLITE_DONE) {
		if (strlen(vid) <= ID_LEN)
			fail(r, 404, "vendor_not_found", "Vendor %s is not in "
			    "reassessment %s.", vid, m.id);
		else
			fail(r, 404, "vendor_not_found", "Vendor is not in "
			    "reassessment %s.", m.id);
		goto out;
	}
	if (sqlite3_column_int(st, 0) != included &&
	    (exec(r->conn, STMT_RSM_ENTRY_INCLUDE, "ssd", m.id, vid, included) == -1 ||
	    rsm_save(r, &m, 0) == -1))
		goto out;
	rsm_reply(r, &m);
out:
	rsm_free(&m);
}

/*
 * Move a reassessment to status to (confirm, dismiss). Confirming a
 * confirmed one is a no-op. 404; 422 reassessment_immutable.
 */
static void
rsm_transition(struct rq *r, const char *to)
{
	struct rsm	 m;

	if (rsm_read(r, &m) != 1 || rsm_may_change(r, &m, 0) == -1)
		goto out;
	if (strcmp(m.status, to) != 0) {
		snprintf(m.status, sizeof(m.status), "%s", to);
		if (rsm_save(r, &m, SAVE_STATUS) == -1)
			goto out;
	}
	rsm_reply(r, &m);
out:
	rsm_free(&m);
}

/* POST /v1/reassessments/{id}/confirm: draft -> confirmed. */
static void
h_rsm_confirm(struct rq *r)
{
	rsm_transition(r, "confirmed");
}

/* POST /v1/reassessments/{id}/dismiss: draft or confirmed -> dismissed. */
static void
h_rsm_dismiss(struct rq *r)
{
	rsm_transition(r, "dismissed");
}

/*
 * POST /v1/reassessments/{id}/run: one assessment per included vendor that
 * has none, then status run; all in the request's one write transaction,
 * so a failure anywhere leaves the reassessment as it was. Checks: 404,
 * 422 reassessment_immutable, 400 missing_assessment_plan, 400
 * no_included_vendors, 422 invalid_reassessment.
 *
 * Rationale: the request runs in BEGIN IMMEDIATE, so two runs of one
 * reassessment, from any processes, serialise on the write lock; the
 * second reads status "run" and is refused as immutable.
 */
static void
h_rsm_run(struct rq *r)
{
	sqlite3_stmt	*st;
	struct rsm	 m;
	json_t		*todo = NULL, *t;
	char		*plan_name = NULL, *csi = NULL, *name = NULL;
	char		 aid[ID_LEN];
	int64_t		 included;
	size_t		 i;
	int		 rc;

	if (rsm_read(r, &m) != 1 || rsm_may_change(r, &m, 0) == -1)
		goto out;
	if (m.plan_id[0] == '\0') {
		fail(r, 400, "missing_assessment_plan", "Reassessment %s has "
		    "no assessment plan; set one before running it.", m.id);
		goto out;
	}
	if ((included = scalar(r->conn, STMT_RSM_INCLUDED_COUNT, "s", m.id)) == -1)
		goto out;
	if (included == 0) {
		fail(r, 400, "no_included_vendors", "Reassessment %s has no "
		    "included vendors.", m.id);
		goto out;
	}
	if ((st = q(r->conn, STMT_PLAN_FOR_RUN, "ss", m.plan_id, r->org)) == NULL ||
	    (rc = step(r->conn, st)) == -1)
		goto out;
	if (rc == SQLITE_DONE) {
		fail(r, 422, "invalid_reassessment", "Assessment plan %s not "
		    "found.", m.plan_id);
		goto out;
	}
	plan_name = strdup((const char *)sqlite3_column_text(st, PLANR_NAME));
	csi = strdup((const char *)sqlite3_column_text(st,
	    PLANR_CONTROL_SET_IDS));
	if (plan_name == NULL || csi == NULL || (todo = json_array()) == NULL)
		goto oom;

	/* Read the work list first: the loop below changes those rows. */
	if ((st = q(r->conn, STMT_RSM_RUN_TODO, "s", m.id)) == NULL)
		goto out;
	while ((rc = step(r->conn, st)) == SQLITE_ROW)
		if (json_array_append_new(todo, json_pack("[o,o]",
		    col_str(st, TODO_VENDOR_ID), col_str(st, TODO_VENDOR_NAME))) ==
		    -1)
			goto oom;
	if (rc == -1)
		goto out;
	json_array_foreach(todo, i, t) {
		const char *vid = json_string_value(json_array_get(t, 0));
		const char *vname = json_string_value(json_array_get(t, 1));

		free(name);
		if (new_id(aid, KIND_ASMT) == -1 || vid == NULL ||
		    vname == NULL || asprintf(&name, "%s: %s", plan_name,
		    vname) == -1) {
			name = NULL;
			goto oom;
		}
		if (exec(r->conn, STMT_ASMT_INSERT, "sssssssi", aid, r->org, vid,
		    name, csi, m.plan_id, m.id, r->now) == -1 ||
		    exec(r->conn, STMT_RSM_ENTRY_ASSESSMENT, "sss", m.id, vid,
		    aid) == -1 ||
		    emit_id(r, "Assessment.Created", "assessment_id", aid) == -1)
			goto out;
	}
	/* The assessments' change records, one statement for them all. */
	if (audit_created_set(r, STMT_AUDIT_ASMTS_CREATED, KIND_ASMT,
	    m.id) == -1)
		goto out;
	snprintf(m.status, sizeof(m.status), "run");
	if (rsm_save(r, &m, SAVE_STATUS) == -1)
		goto out;
	rsm_reply(r, &m);
	goto out;
oom:
	fail_internal(r, "out of memory or randomness during a run");
out:
	json_decref(todo);
	free(name);
	free(csi);
	free(plan_name);
	rsm_free(&m);
}

/* ------------------------------------------------------------------------
 * Handlers: reassessment triggers (7)
 * ------------------------------------------------------------------------ */

static const struct field trg_create_fields[] = {
	{ "name", FT_STRING, F_REQUIRED | F_NONEMPTY, TITLE_MAX, NULL },
	{ "assessment_plan_id", FT_STRING, 0, 0, NULL },
	{ "primary_impact_types", FT_STRINGS, 0, 0, impact_types },
	{ "min_alert_severity", FT_STRING, 0, 0, severities },
	{ "vendor_ids", FT_STRINGS, F_NONEMPTY, 0, NULL },
	{ "enabled", FT_BOOL, 0, 0, NULL },
	{ NULL, 0, 0, 0, NULL }
};

/* The same fields, none required: null or absent stays. */
static const struct field trg_update_fields[] = {
	{ "name", FT_STRING, F_NONEMPTY, TITLE_MAX, NULL },
	{ "assessment_plan_id", FT_STRING, 0, 0, NULL },
	{ "primary_impact_types", FT_STRINGS, 0, 0, impact_types },
	{ "min_alert_severity", FT_STRING, 0, 0, severities },
	{ "vendor_ids", FT_STRINGS, F_NONEMPTY, 0, NULL },
	{ "enabled", FT_BOOL, 0, 0, NULL },
	{ NULL, 0, 0, 0, NULL }
};

static const struct qfield trg_query[] = {
	{ "enabled", QT_BOOL, NULL },
	{ NULL, 0, NULL }
};

/*
 * The references of a trigger body must resolve in the key's org, checked
 * in this order: the plan, then the vendors in the order given; else 422
 * invalid_reassessment_trigger naming the first that does not. 0 when they
 * do; -1 with the answer set (or a failure recorded on the connection).
 */
static int
trg_rules(struct rq *r)
{
	const char	*plan = jstr(r->json, "assessment_plan_id");
	const json_t	*v;
	size_t		 i;

	if (plan != NULL && resolve_as(r, "invalid_reassessment_trigger",
	    KIND_PLAN, STMT_PLAN_FOR_RUN, plan) != 1)
		return -1;
	json_array_foreach(json_object_get(r->json, "vendor_ids"), i, v)
		if (resolve_as(r, "invalid_reassessment_trigger", KIND_VENDOR,
		    STMT_VENDOR_NAME, json_string_value(v)) != 1)
			return -1;
	return 0;
}

/*
 * The list field name of the body as stored JSON text, each value once in
 * the order first given; NULL when it is absent or null (the caller
 * frees). *oom is set when it is a list that could not be written.
 */
static char *
list_text(const json_t *b, const char *name, int *oom)
{
	const json_t	*list = json_object_get(b, name), *v, *w;
	json_t		*once;
	char		*s = NULL;
	size_t		 i, j;

	if (!json_is_array(list))
		return NULL;
	if ((once = json_array()) == NULL) {
		*oom = 1;
		return NULL;
	}
	json_array_foreach(list, i, v) {
		json_array_foreach(once, j, w)
			if (json_equal(v, w))
				break;
		if (j == json_array_size(once) &&
		    json_array_append(once, (json_t *)v) == -1)
			break;
	}
	if (i == json_array_size(list))
		s = json_dumps(once, JSON_COMPACT);
	json_decref(once);
	if (s == NULL)
		*oom = 1;
	return s;
}

/*
 * POST /v1/reassessment_triggers: 201 with the trigger; 422
 * invalid_reassessment_trigger. No webhook event: Coverbase's catalog has
 * none for triggers (4.1).
 */
static void
h_trg_create(struct rq *r)
{
	const json_t	*b = r->json, *en = json_object_get(b, "enabled");
	const char	*sev = jstr(b, "min_alert_severity");
	char		 id[ID_LEN], *types = NULL, *vendors = NULL;
	int		 oom = 0;

	if (trg_rules(r) == -1)
		return;
	types = list_text(b, "primary_impact_types", &oom);
	vendors = list_text(b, "vendor_ids", &oom);
	if (oom || new_id(id, KIND_TRIGGER) == -1) {
		fail_internal(r, "out of memory or randomness");
		goto out;
	}
	if (exec(r->conn, STMT_TRG_INSERT, "sssssssdi", id, r->org,
	    jstr(b, "name"), jstr(b, "assessment_plan_id"),
	    types != NULL ? types : "[]", sev != NULL ? sev : "informational",
	    vendors, json_is_boolean(en) ? json_is_true(en) : 1, r->now) == -1)
		goto out;
	reply_created(r, STMT_TRG_GET, trg_obj, KIND_TRIGGER, id, NULL,
	    NULL);
out:
	free(vendors);
	free(types);
}

/* GET /v1/reassessment_triggers: a page, filter enabled. */
static void
h_trg_list(struct rq *r)
{
	int64_t		 enabled = qbool(r, "enabled", -1);

	reply_list(r, "items", STMT_TRG_LIST, STMT_TRG_COUNT, trg_obj, "so",
	    r->org, enabled >= 0 ? &enabled : NULL);
}

/* GET /v1/reassessment_triggers/{id}: 200, or 404. */
static void
h_trg_get(struct rq *r)
{
	reply_one(r, STMT_TRG_GET, trg_obj, KIND_TRIGGER);
}

/*
 * PATCH /v1/reassessment_triggers/{id}: what is given and not null
 * changes; updated_at moves only when something did. 404; 422
 * invalid_reassessment_trigger. It changes what later events make, never
 * the drafts made before.
 */
static void
h_trg_update(struct rq *r)
{
	const json_t	*b = r->json, *en = json_object_get(b, "enabled");
	char		*types = NULL, *vendors = NULL;
	struct flat	 before;
	int64_t		 enabled, *ep = NULL;
	int		 oom = 0, rc;

	if ((rc = flat_load(r, &before, STMT_TRG_GET, trg_obj, r->id)) != 1) {
		if (rc == 0)
			not_found(r, KIND_TRIGGER, r->id);
		goto out;
	}
	if (trg_rules(r) == -1)
		goto out;
	if (json_is_boolean(en)) {
		enabled = json_is_true(en);
		ep = &enabled;
	}
	types = list_text(b, "primary_impact_types", &oom);
	vendors = list_text(b, "vendor_ids", &oom);
	if (oom) {
		fail_internal(r, "out of memory");
		goto out;
	}
	if (exec(r->conn, STMT_TRG_UPDATE, "sssssssoi", r->id, r->org,
	    jstr(b, "name"), jstr(b, "assessment_plan_id"), types,
	    jstr(b, "min_alert_severity"), vendors, ep, r->now) == -1)
		goto out;
	reply_updated(r, STMT_TRG_GET, trg_obj, KIND_TRIGGER, r->id, &before,
	    NULL, NULL);
out:
	flat_free(&before);
	free(vendors);
	free(types);
}

/*
 * DELETE /v1/reassessment_triggers/{id}: 204; it makes nothing from now
 * on. Its drafts stay, with their trigger_id.
 */
static void
h_trg_delete(struct rq *r)
{
	json_t	*before;

	if ((before = object_load(r, STMT_TRG_GET, trg_obj, r->id)) == NULL) {
		if (r->conn->err == SQLITE_OK)
			not_found(r, KIND_TRIGGER, r->id);
		return;
	}
	if (exec(r->conn, STMT_TRG_DELETE, "ssi", r->id, r->org, r->now) == -1)
		json_decref(before);
	else
		reply_archived(r, KIND_TRIGGER, r->id, before);
}

/* ------------------------------------------------------------------------
 * Webhook URL policy (4)
 * ------------------------------------------------------------------------ */

/*
 * Why the address may not receive webhooks, or NULL when it may. Cloud
 * metadata addresses are refused even when private targets are allowed.
 */
static const char *
addr_refused(const struct sockaddr *sa)
{
	const unsigned char	*b;
	uint32_t		 a;

	if (sa->sa_family == AF_INET6) {
		b = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
		/* ::ffff:a.b.c.d and 64:ff9b::a.b.c.d carry an IPv4 address. */
		if ((memcmp(b, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0 ||
		    memcmp(b, "\0\x64\xff\x9b\0\0\0\0\0\0\0\0", 12) == 0)) {
			a = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
			    (uint32_t)b[14] << 8 | b[15];
			goto v4;
		}
		if (memcmp(b, "\xfd\0\x0e\xc2\0\0\0\0\0\0\0\0\0\0\x02\x54",
		    16) == 0)
			return "a cloud metadata address";
		if (cfg.allow_private)
			return NULL;
		if (memcmp(b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 15) == 0)
			return b[15] == 1 ? "a loopback address" :
			    "an unspecified address";
		if ((b[0] & 0xfe) == 0xfc)
			return "a private address";
		if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
			return "a link-local address";
		if (b[0] == 0xff)
			return "a multicast address";
		return NULL;
	}
	if (sa->sa_family != AF_INET)
		return "not an internet address";
	a = ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr);
v4:
	if (a == 0xA9FEA9FE)				/* 169.254.169.254 */
		return "a cloud metadata address";
	if (cfg.allow_private)
		return NULL;
	if ((a >> 24) == 127)
		return "a loopback address";
	if ((a >> 24) == 0)
		return "an unspecified address";
	if ((a >> 24) == 10 || (a >> 20) == 0xAC1 || (a >> 16) == 0xC0A8 ||
	    (a >> 22) == (100u << 2 | 1) || (a >> 8) == 0xC00000 ||
	    (a >> 17) == (0xC612 >> 1))
		return "a private address";	/* 10/8 172.16/12 192.168/16
						   100.64/10 192.0.0/24
						   198.18/15 */
	if ((a >> 16) == 0xA9FE)
		return "a link-local address";
	if ((a >> 28) >= 0xE)
		return "a multicast or reserved address";
	return NULL;
}

/*
 * Split an absolute http(s) URL: scheme (lowercased), host (an IPv6
 * literal keeps its brackets) and port (the scheme's default when none is
 * given). -1 when it is not such a URL: no spaces or control characters,
 * a host, a port from 1 to 65535.
 */
static int
url_parse(const char *url, char *scheme, size_t ssz, char *host, size_t hsz,
    char *port, size_t psz)
{
	const char	*p, *auth, *end, *at, *hend, *colon = NULL;
	size_t		 i, n;
	int64_t		 num;

	for (p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return -1;
	if ((p = strstr(url, "://")) == NULL || (n = (size_t)(p - url)) == 0 ||
	    n >= ssz)
		return -1;
	for (i = 0; i < n; i++)
		scheme[i] = (char)tolower((unsigned char)url[i]);
	scheme[n] = '\0';
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
		return -1;
	auth = p + 3;
	end = auth + strcspn(auth, "/?#");
	for (at = auth; (p = memchr(at, '@', (size_t)(end - at))) != NULL;)
		at = p + 1;			/* skip any user:password@ */
	if (*at == '[') {
		if ((hend = memchr(at, ']', (size_t)(end - at))) == NULL)
			return -1;
		hend++;
		if (hend < end && *hend != ':')
			return -1;
		colon = hend < end ? hend : NULL;
	} else {
		colon = memchr(at, ':', (size_t)(end - at));
		hend = colon != NULL ? colon : end;
	}
	if ((n = (size_t)(hend - at)) == 0 || n >= hsz)
		return -1;
	memcpy(host, at, n);
	host[n] = '\0';
	if (colon == NULL || colon + 1 == end) {
		snprintf(port, psz, "%s", strcmp(scheme, "https") == 0 ?
		    "443" : "80");
		return 0;
	}
	n = (size_t)(end - colon - 1);
	if (n >= psz)
		return -1;
	memcpy(port, colon + 1, n);
	port[n] = '\0';
	return parse_int(port, n, 1, 65535, &num) == PI_OK ? 0 : -1;
}

/*
 * Is the host, as written in a URL (an IPv6 literal with its brackets),
 * a spelling that can never be a public host? Why it is refused, or NULL.
 * A host that passes is returned in name (size namesz) as it is resolved:
 * without brackets and without one trailing dot.
 *
 * Rationale: the policy checks a name, but libcurl and the resolver each
 * have their own reading of it: libcurl decodes %-escapes and IDNs,
 * inet_aton() reads "127.1", "2130706433" and "0x7f.1" as 127.0.0.1, a
 * zone id picks an interface, and "localhost." may miss /etc/hosts and
 * the check while reaching the same machine. No public receiver needs any
 * of these spellings, so they are refused outright rather than
 * interpreted; the socket check in attempt_send() is the second line.
 */
static const char *
host_refused(const char *host, char *name, size_t namesz)
{
	struct in6_addr	 a6;
	struct in_addr	 a4;
	const char	*p, *last;
	size_t		 n = strlen(host), i;
	int		 numeric;

	for (p = host; *p != '\0'; p++) {
		if (*p == '%')
			return host[0] == '[' ? "an IPv6 address with a zone id" :
			    "written with a %-escape";
		if ((unsigned char)*p >= 0x80)
			return "not plain ASCII (write an IDN in its xn-- form)";
	}
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		if (n - 2 >= namesz)
			return "too long";
		memcpy(name, host + 1, n - 2);
		name[n - 2] = '\0';
		return inet_pton(AF_INET6, name, &a6) == 1 ? NULL :
		    "not a valid IPv6 address";
	}
	if (n > 0 && host[n - 1] == '.')
		n--;			/* a fully qualified name: the same host */
	if (n == 0 || n >= namesz || host[n - 1] == '.')
		return "not a valid host name";
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)host[i]) && host[i] != '-' &&
		    host[i] != '.' && host[i] != '_')
			return "not a valid host name";
	memcpy(name, host, n);
	name[n] = '\0';
	if (name[0] == '.' || strstr(name, "..") != NULL)
		return "not a valid host name";	/* an empty label */
	/* A last label that is a number makes the whole an IPv4 address. */
	last = (p = strrchr(name, '.')) != NULL ? p + 1 : name;
	if (strncasecmp(last, "0x", 2) == 0)
		numeric = strspn(last + 2, "0123456789abcdefABCDEF") ==
		    strlen(last + 2);
	else
		numeric = strspn(last, "0123456789") == strlen(last);
	if (numeric && inet_pton(AF_INET, name, &a4) != 1)
		return "a short or numeric form of an IPv4 address (write "
		    "it as four decimal numbers)";
	if (!cfg.allow_private && (strcasecmp(name, "localhost") == 0 ||
	    ((n = strlen(name)) > 10 &&
	    strcasecmp(name + n - 10, ".localhost") == 0)))
		return "a loopback name";
	return NULL;
}

/*
 * May url receive webhooks? 0 if so, -1 if the policy refuses it (why
 * says why), -2 if its host does not resolve now. The host's spelling
 * must pass host_refused(), and every address it resolves to must pass
 * addr_refused(). With pin (size pinsz), the address checked is written
 * as "host:port:address" for CURLOPT_RESOLVE, so that the connection goes
 * where the check looked: a name cannot resolve to one address for the
 * check and to another for the connection. (attempt_send() checks the
 * socket's address as well, whatever libcurl did with the name.)
 */
static int
url_check(const char *url, char *why, size_t whysz, char *pin, size_t pinsz)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	char		 scheme[16], host[256], name[256], port[8];
	char		 addr[INET6_ADDRSTRLEN];
	const char	*refused, *h;
	int		 ret = -1;

	if (url_parse(url, scheme, sizeof(scheme), host, sizeof(host), port,
	    sizeof(port)) == -1) {
		snprintf(why, whysz, "The webhook URL is not a valid URL.");
		goto out;
	}
	if (strcmp(scheme, "https") != 0 &&
	    !(cfg.allow_private && strcmp(scheme, "http") == 0)) {
		snprintf(why, whysz, "The webhook URL must use https.");
		goto out;
	}
	if ((refused = host_refused(host, name, sizeof(name))) != NULL) {
		snprintf(why, whysz, "The webhook URL's host %s is %s.", host,
		    refused);
		goto out;
	}
	h = name;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(h, port, &hints, &res) != 0 || res == NULL) {
		snprintf(why, whysz, "The webhook URL's host %s does not "
		    "resolve.", h);
		ret = -2;
		goto out;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if ((refused = addr_refused(ai->ai_addr)) != NULL) {
			snprintf(why, whysz, "The webhook URL's host %s is %s.",
			    h, refused);
			goto out;
		}
	if (pin != NULL) {
		if (getnameinfo(res->ai_addr, res->ai_addrlen, addr,
		    sizeof(addr), NULL, 0, NI_NUMERICHOST) != 0) {
			snprintf(why, whysz, "Cannot format the address of %s.",
			    h);
			ret = -2;
			goto out;
		}
		/*
		 * libcurl looks a pin up by the host as written (a trailing
		 * dot kept), an IPv6 literal without its brackets.
		 */
		snprintf(pin, pinsz, res->ai_family == AF_INET6 ?
		    "%s:%s:[%s]" : "%s:%s:%s", host[0] == '[' ? name : host,
		    port, addr);
	}
	ret = 0;
out:
	if (res != NULL)
		freeaddrinfo(res);
	return ret;
}

/* ------------------------------------------------------------------------
 * Handlers: webhooks (4)
 * ------------------------------------------------------------------------ */

static const struct field webhook_create_fields[] = {
	{ "url", FT_STRING, F_REQUIRED, 0, NULL },
	{ "events", FT_STRINGS, F_REQUIRED | F_NONEMPTY, TITLE_MAX, NULL },
	{ "secret", FT_STRING, F_REQUIRED, 0, NULL },
	{ "description", FT_STRING, 0, 0, NULL },
	{ "enabled", FT_BOOL, 0, 0, NULL },
	{ NULL, 0, 0, 0, NULL }
};

static const struct field webhook_update_fields[] = {
	{ "url", FT_STRING, 0, 0, NULL },
	{ "events", FT_STRINGS, F_NONEMPTY, TITLE_MAX, NULL },
	{ "secret", FT_STRING, 0, 0, NULL },
	{ "description", FT_STRING, 0, 0, NULL },
	{ "enabled", FT_BOOL, 0, 0, NULL },
	{ NULL, 0, 0, 0, NULL }
};

static const struct field webhook_test_fields[] = {
	{ "event_type", FT_STRING, 0, TITLE_MAX, NULL },
	{ "payload", FT_OBJECT, 0, 0, NULL },
	{ NULL, 0, 0, 0, NULL }
};

/* WH_COLS -> webhook object (4); never the secret. */
static const struct ofield webhook_obj[] = {
	{ "id", O_STR, WH_ID },
	{ "url", O_STR, WH_URL },
	{ "events", O_JSON, WH_EVENTS },
	{ "description", O_STR, WH_DESCRIPTION },
	{ "enabled", O_BOOL, WH_ENABLED },
	{ "created_at", O_INT, WH_CREATED_AT },
	{ "last_delivery_status", O_STR, WH_LAST_STATUS },
	{ "delivery_success_rate", O_RATE, WH_TRIED },
	{ "delivery_count", O_INT, WH_TRIED },
	{ "secret_rotating_until", O_INT, WH_ROTATING_UNTIL },
	{ NULL, 0, 0 }
};

/* DLV_COLS -> delivery object (4). */
static const struct ofield delivery_obj[] = {
	{ "id", O_STR, DLV_ID },
	{ "webhook_id", O_STR, DLV_WEBHOOK_ID },
	{ "event_id", O_STR, DLV_EVENT_ID },
	{ "event_type", O_STR, DLV_EVENT_TYPE },
	{ "status", O_STR, DLV_STATUS },
	{ "response_status", O_INT, DLV_RESPONSE_STATUS },
	{ "response_time_ms", O_INT, DLV_RESPONSE_TIME_MS },
	{ "error", O_STR, DLV_ERROR },
	{ "payload", O_JSON, DLV_PAYLOAD },
	{ "attempted_at", O_INT, DLV_ATTEMPTED_AT },
	{ "created_at", O_INT, DLV_CREATED_AT },
	{ NULL, 0, 0 }
};

/*
 * The business rules of a webhook body, in the contract's order: 400
 * weak_secret, 400 invalid_url, 422 invalid_event_types. 0 when they
 * pass; -1 with the answer set.
 */
static int
webhook_rules(struct rq *r)
{
	const char	*secret = jstr(r->json, "secret");
	const char	*url = jstr(r->json, "url");
	const json_t	*events = json_object_get(r->json, "events"), *e;
	char		 why[512], unknown[512] = "";
	size_t		 i, len = 0;

	if (secret != NULL && utf8_chars(secret, strlen(secret)) < SECRET_MIN) {
		fail(r, 400, "weak_secret", "The webhook secret must be at "
		    "least %d characters.", SECRET_MIN);
		return -1;
	}
	if (url != NULL && url_check(url, why, sizeof(why), NULL, 0) == -1) {
		fail(r, 400, "invalid_url", "%s", why);
		return -1;
	}
	json_array_foreach(events, i, e)
		if (!in_set(json_string_value(e), event_types) &&
		    len < sizeof(unknown))
			len += (size_t)snprintf(unknown + len,
			    sizeof(unknown) - len, "%s%.100s", len ? ", " : "",
			    json_string_value(e));
	if (len > 0) {
		fail(r, 422, "invalid_event_types", "Unknown event types: %s.",
		    unknown);
		return -1;
	}
	return 0;
}

/* The events field as stored JSON text, or NULL when absent (caller frees). */
static char *
events_text(const json_t *b)
{
	const json_t	*events = json_object_get(b, "events");

	return json_is_array(events) ? json_dumps(events, JSON_COMPACT) : NULL;
}

/* POST /v1/webhooks: 201; 400 weak_secret, 400 invalid_url, 422. */
static void
h_webhook_create(struct rq *r)
{
	const json_t	*b = r->json, *en = json_object_get(b, "enabled");
	char		 id[ID_LEN], *events = NULL;

	if (webhook_rules(r) == -1)
		return;
	if ((events = events_text(b)) == NULL || new_id(id, KIND_WEBHOOK) == -1) {
		fail_internal(r, "out of memory or randomness");
		goto out;
	}
	if (exec(r->conn, STMT_WH_INSERT, "ssssssdi", id, r->org, jstr(b, "url"),
	    events, jstr(b, "secret"), jstr(b, "description"),
	    json_is_boolean(en) ? json_is_true(en) : 1, r->now) == -1)
		goto out;
	reply_created(r, STMT_WH_GET, webhook_obj, KIND_WEBHOOK, id, NULL,
	    NULL);
out:
	free(events);
}

/* GET /v1/webhooks: {"data":[...]}, every live webhook, unpaged. */
static void
h_webhook_list(struct rq *r)
{
	sqlite3_stmt	*st;

	if ((st = q(r->conn, STMT_WH_LIST, "s", r->org)) != NULL)
		reply_data(r, st, webhook_obj);
}

/* GET /v1/webhooks/{id}: 200, or 404 webhook_not_found. */
static void
h_webhook_get(struct rq *r)
{
	reply_one(r, STMT_WH_GET, webhook_obj, KIND_WEBHOOK);
}

/*
 * PATCH /v1/webhooks/{id}: the create checks on what is given. A new
 * secret starts a rotation: the old one signs too for WEBHOOK_ROTATION
 * seconds (4.2).
 */
static void
h_webhook_update(struct rq *r)
{
	const json_t	*b = r->json, *en = json_object_get(b, "enabled");
	const char	*secret = jstr(b, "secret");
	char		*events = NULL;
	struct flat	 before;
	json_t		*more = NULL;
	int64_t		 enabled, *ep = NULL, rotated = 0;
	int		 rc;

	if ((rc = flat_load(r, &before, STMT_WH_GET, webhook_obj,
	    r->id)) != 1) {
		if (rc == 0)
			not_found(r, KIND_WEBHOOK, r->id);
		goto out;
	}
	if (webhook_rules(r) == -1)
		goto out;
	if (json_is_boolean(en)) {
		enabled = json_is_true(en);
		ep = &enabled;
	}
	/* A new secret is a change the record shows, never its value. */
	if (secret != NULL && (rotated = scalar(r->conn,
	    STMT_AUDIT_WH_SECRET_CHANGES, "sss", r->id, r->org, secret)) == -1)
		goto out;
	if (rotated && (more = json_pack("{s:{s:s,s:s}}", "secret",
	    "old_value", "[redacted]", "new_value", "[redacted]")) == NULL) {
		fail_internal(r, "out of memory");
		goto out;
	}
	events = events_text(b);
	if (exec(r->conn, STMT_WH_UPDATE, "ssssssoii", r->id, r->org,
	    jstr(b, "url"), events, secret, jstr(b, "description"), ep, r->now,
	    r->now + WEBHOOK_ROTATION) == -1)
		goto out;
	reply_changed(r, STMT_WH_GET, webhook_obj, KIND_WEBHOOK, r->id, &before,
	    more, NULL, NULL);
	more = NULL;
out:
	json_decref(more);
	flat_free(&before);
	free(events);
}

/* DELETE /v1/webhooks/{id}: 204; it receives nothing from now on. */
static void
h_webhook_delete(struct rq *r)
{
	json_t	*before;

	if ((before = object_load(r, STMT_WH_GET, webhook_obj,
	    r->id)) == NULL) {
		if (r->conn->err == SQLITE_OK)
			not_found(r, KIND_WEBHOOK, r->id);
		return;
	}
	if (exec(r->conn, STMT_WH_DELETE, "ssi", r->id, r->org, r->now) == -1)
		json_decref(before);
	else
		reply_archived(r, KIND_WEBHOOK, r->id, before);
}

/*
 * POST /v1/webhooks/{id}/test: queue one delivery of an event (default
 * webhook.test with {"test":true}) to this webhook alone.
 */
static void
h_webhook_test(struct rq *r)
{
	const char	*type = jstr(r->json, "event_type");
	json_t		*payload = json_object_get(r->json, "payload"), *errs;
	sqlite3_stmt	*st;
	int		 found, rc;

	if (type == NULL)
		type = "webhook.test";
	/* It becomes the X-Coverbase-Event-Type header: no CR, LF, spaces. */
	if (type[0] == '\0' || strspn(type, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789._-") != strlen(type)) {
		if ((errs = json_array()) != NULL)
			verr(errs, "body", "event_type", -1,
			    "string_pattern_mismatch", "String should match "
			    "pattern '^[A-Za-z0-9._-]+$'");
		fail_validation(r, errs);
		return;
	}
	if ((found = exists(r->conn, STMT_WH_LIVE, r->id, r->org)) != 1) {
		if (found == 0)
			not_found(r, KIND_WEBHOOK, r->id);
		return;
	}
	if (emit(r, type, json_is_object(payload) ? json_incref(payload) :
	    json_pack("{s:b}", "test", 1), r->id) == -1)
		return;
	/* The event just recorded is the webhook's newest delivery. */
	if ((st = q(r->conn, STMT_DLV_LIST, "ss", r->id, r->org)) == NULL ||
	    sqlite3_bind_int64(st, 10, 1) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 11, 0) != SQLITE_OK ||
	    (rc = step(r->conn, st)) == -1)
		return;
	if (rc != SQLITE_ROW) {
		fail_internal(r, "test delivery vanished");
		return;
	}
	reply(r, 200, json_pack("{s:o,s:b,s:n,s:n,s:I}", "event_id",
	    col_str(st, DLV_EVENT_ID), "delivered", 1, "response_status",
	    "response_time_ms", "attempted_at", (json_int_t)r->now));
}

/* GET /v1/webhooks/{id}/deliveries: a page, newest first. */
static void
h_webhook_deliveries(struct rq *r)
{
	int	 found;

	if ((found = exists(r->conn, STMT_WH_LIVE, r->id, r->org)) != 1) {
		if (found == 0)
			not_found(r, KIND_WEBHOOK, r->id);
		return;
	}
	reply_list(r, "data", STMT_DLV_LIST, STMT_DLV_COUNT, delivery_obj,
	    "ss", r->id, r->org);
}

/* ------------------------------------------------------------------------
 * Handlers: API keys (6.1, 6.2)
 * ------------------------------------------------------------------------ */

/* APIKEY_COLS -> API key object (6.2): never the secret or its hash. */
static const struct ofield apikey_obj[] = {
	{ "id", O_STR, APIKEY_ID },
	{ "name", O_STR, APIKEY_NAME },
	{ "created_at", O_INT, APIKEY_CREATED_AT },
	{ "last_used_at", O_INT, APIKEY_LAST_USED_AT },
	{ "expires_at", O_INT, APIKEY_EXPIRES_AT },
	{ "revoked", O_BOOL, APIKEY_REVOKED },
	{ "expired", O_BOOL, APIKEY_EXPIRED },
	{ "scopes", O_JSON, APIKEY_SCOPES },
	{ "created_by", O_STR, APIKEY_CREATED_BY },
	{ NULL, 0, 0 }
};

/* seconds_until_expiration: the range of an FT_INT field. */
static const char *const key_ttl_range[] = {
	XSTR(KEY_TTL_MIN), XSTR(KEY_TTL_MAX), NULL
};

/*
 * Rationale: name is not F_NONEMPTY, as a blank name, "" included, is
 * 6.2's 400 invalid_name rather than a 422; scopes takes any strings, as
 * every non-empty list is refused alike (403 scope_grant_forbidden).
 */
static const struct field key_create_fields[] = {
	{ "name", FT_STRING, F_REQUIRED, TITLE_MAX, NULL },
	{ "seconds_until_expiration", FT_INT, 0, 0, key_ttl_range },
	{ "scopes", FT_STRINGS, 0, 0, NULL },
	{ NULL, 0, 0, 0, NULL }
};

static const struct field key_revoke_fields[] = {
	{ "reason", FT_STRING, 0, 0, NULL },
	{ NULL, 0, 0, 0, NULL }
};

/*
 * The key id of org as an object, "expired" judged at now; NULL when
 * there is none (c->err stays SQLITE_OK), or on failure (recorded on c).
 */
static json_t *
key_load(struct conn *c, const char *org, const char *id, int64_t now)
{
	sqlite3_stmt	*st;

	if ((st = q(c, STMT_APIKEY_GET, "sis", org, now, id)) == NULL ||
	    step(c, st) != SQLITE_ROW)
		return NULL;
	return object_tree(c, st, apikey_obj);
}

/*
 * A new key of org named name (NULL: unnamed), with scopes (JSON array
 * text), expires_at (NULL: never) and created_by (NULL: the command line),
 * made at now. Its secret (1.2) goes into secret (sz bytes; the caller
 * shows it once and clears it): only its SHA-256 is stored. Returns the
 * key object (the caller frees), or NULL on failure (recorded on c; out of
 * randomness or memory leaves c->err SQLITE_OK).
 */
static json_t *
key_insert(struct conn *c, const char *org, const char *name,
    const char *scopes, const int64_t *expires_at, const char *created_by,
    int64_t now, char *secret, size_t sz)
{
	unsigned char	 h[SHA256_LEN];
	char		 id[ID_LEN];

	if (new_id(id, KIND_KEY) == -1 || new_secret(secret, sz) == -1)
		return NULL;
	sha256(secret, strlen(secret), h);
	if (exec(c, STMT_KEY_INSERT, "sssbisos", id, org, name, h, sizeof(h),
	    now, scopes, expires_at, created_by) == -1)
		return NULL;
	return key_load(c, org, id, now);
}

/*
 * Revoke the live key before (its object) of org at now, clearing its
 * scopes (6.2). The key object after goes into *after, and the data of
 * its integration_deactivated record (6.4) into *data: the field-level
 * diff, with revoke_reason and replaced_by as changes from null when
 * given (both owned by the caller). 0, or -1 on failure (recorded on c;
 * out of memory leaves c->err SQLITE_OK) with both NULL.
 */
static int
key_deactivate(struct conn *c, const char *org, const json_t *before,
    int64_t now, const char *reason, const char *replaced_by,
    json_t **after, json_t **data)
{
	const char	*id = jstr(before, "id");

	*after = *data = NULL;
	if (exec(c, STMT_KEY_REVOKE, "ssi", id, org, now) == -1 ||
	    (*after = key_load(c, org, id, now)) == NULL ||
	    (*data = object_diff(before, *after)) == NULL)
		goto fail;
	if (reason != NULL && json_object_set_new(*data, "revoke_reason",
	    json_pack("{s:n,s:s}", "old_value", "new_value", reason)) == -1)
		goto fail;
	if (replaced_by != NULL && json_object_set_new(*data, "replaced_by",
	    json_pack("{s:n,s:s}", "old_value", "new_value", replaced_by)) == -1)
		goto fail;
	return 0;
fail:
	json_decref(*after);
	json_decref(*data);
	*after = *data = NULL;
	return -1;
}

/* How a summary names a key object: by its name, else by its id. */
static const char *
key_label(const json_t *o)
{
	const char	*name = jstr(o, "name");

	return name != NULL ? name : jstr(o, "id");
}

/*
 * Where a rotation's suffix " (rotated YYYY-MM-DD)" starts when the first
 * end bytes of name end with one; -1 when they do not.
 */
static long
rotation_suffix(const char *name, size_t end)
{
	static const char	 pat[] = " (rotated ####-##-##)"; /* #: digit */
	size_t			 m = sizeof(pat) - 1, i;

	if (end < m)
		return -1;
	for (i = 0; i < m; i++)
		if (pat[i] == '#' ? !isdigit((unsigned char)name[end - m + i]) :
		    name[end - m + i] != pat[i])
			return -1;
	return (long)(end - m);
}

/*
 * The length of name without what an earlier rotation added to it:
 * " (rotated YYYY-MM-DD)", possibly followed by " N".
 */
static size_t
rotation_base(const char *name)
{
	size_t	 n = strlen(name), i = n;
	long	 at;

	if ((at = rotation_suffix(name, n)) >= 0)
		return (size_t)at;
	while (i > 0 && isdigit((unsigned char)name[i - 1]))
		i--;
	if (i < n && i > 0 && name[i - 1] == ' ' &&
	    (at = rotation_suffix(name, i - 1)) >= 0)
		return (size_t)at;
	return n;
}

/*
 * The name of the key that replaces one named name (NULL: "API key") in
 * org on the day (UTC) of now (6.2): "<base> (rotated YYYY-MM-DD)", where
 * base is name without an earlier rotation's suffix; when the org already
 * holds that name, or that name with " N", " N" after it, N one more than
 * the highest held (the unnumbered name counting as 1). A new string (the
 * caller frees), or NULL on failure (recorded on c; out of memory leaves
 * c->err SQLITE_OK).
 *
 * Rationale: the suffix is stripped first, so that a key rotated every
 * day reads "CI (rotated 2026-12-05)", not a growing chain of dates; and
 * the count comes from the names held, so that it continues whichever
 * key of the day is rotated next.
 */
static char *
rotated_name(struct conn *c, const char *org, const char *name, int64_t now)
{
	sqlite3_stmt	*st;
	struct tm	 tm;
	time_t		 t = (time_t)now;
	const char	*held, *rest;
	char		 day[32], *stem = NULL, *out = NULL;
	size_t		 len;
	int64_t		 n, top = 0;
	int		 rc;

	if (name == NULL)
		name = "API key";
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(day, sizeof(day), "%Y-%m-%d", &tm) == 0 ||
	    asprintf(&stem, "%.*s (rotated %s)", (int)rotation_base(name), name,
	    day) == -1)
		return NULL;
	len = strlen(stem);
	if ((st = q(c, STMT_APIKEY_NAMES, "ss", org, stem)) == NULL)
		goto out;
	while ((rc = step(c, st)) == SQLITE_ROW) {
		held = (const char *)sqlite3_column_text(st, 0);
		if (held == NULL || strncmp(held, stem, len) != 0)
			continue;
		rest = held + len;
		if (*rest == '\0')
			n = 1;
		else if (rest[0] != ' ' || rest[1] == '0' ||
		    strspn(rest + 1, "0123456789") != strlen(rest + 1) ||
		    parse_int(rest + 1, strlen(rest + 1), 1, INT32_MAX, &n) !=
		    PI_OK)
			continue;
		if (n > top)
			top = n;
	}
	if (rc == -1)
		goto out;
	if (top == 0) {
		out = stem;
		stem = NULL;
	} else if (asprintf(&out, "%s %" PRId64, stem, top + 1) == -1)
		out = NULL;
out:
	free(stem);
	return out;
}

/*
 * Reply status with what a client sees of a new key, once (6.2): {id,
 * name, secret, revoked_id (when given), created_at, expires_at, scopes}.
 */
static void
reply_secret(struct rq *r, int status, const json_t *o, const char *secret,
    const char *revoked_id)
{
	reply(r, status, json_pack("{s:O,s:O,s:s,s:s*,s:O,s:O,s:O}",
	    "id", json_object_get(o, "id"), "name", json_object_get(o, "name"),
	    "secret", secret, "revoked_id", revoked_id,
	    "created_at", json_object_get(o, "created_at"),
	    "expires_at", json_object_get(o, "expires_at"),
	    "scopes", json_object_get(o, "scopes")));
}

/* GET /v1/api-keys: {"data":[...]}, every key of the org, newest first. */
static void
h_key_list(struct rq *r)
{
	sqlite3_stmt	*st;

	if ((st = q(r->conn, STMT_APIKEY_LIST, "si", r->org, r->now)) != NULL)
		reply_data(r, st, apikey_obj);
}

/*
 * POST /v1/api-keys: 201 with the new key and its secret, shown this once;
 * its name trimmed, its maker the calling key. 400 invalid_name for a name
 * blank after trimming; 403 scope_grant_forbidden for any scope (6.1:
 * only the operator grants them).
 */
static void
h_key_create(struct rq *r)
{
	const json_t	*ttl = json_object_get(r->json, "seconds_until_expiration");
	const char	*given = jstr(r->json, "name");
	char		 secret[64], *name = NULL;
	int64_t		 expires, *ep = NULL;
	size_t		 n;
	json_t		*o = NULL;

	secret[0] = '\0';
	while (isspace((unsigned char)*given))
		given++;
	for (n = strlen(given); n > 0 && isspace((unsigned char)given[n - 1]);)
		n--;
	if (n == 0) {
		fail(r, 400, "invalid_name", "The API key name must not be "
		    "blank.");
		goto out;
	}
	if (json_array_size(json_object_get(r->json, "scopes")) > 0) {
		fail(r, 403, "scope_grant_forbidden", "Scopes cannot be granted "
		    "through the API; the operator grants them on the command "
		    "line.");
		goto out;
	}
	if (json_is_integer(ttl)) {
		expires = r->now + json_integer_value(ttl);
		ep = &expires;
	}
	if ((name = strndup(given, n)) == NULL ||
	    (o = key_insert(r->conn, r->org, name, "[]", ep, r->key_id, r->now,
	    secret, sizeof(secret))) == NULL) {
		if (r->conn->err == SQLITE_OK)
			fail_internal(r, "out of memory or randomness making "
			    "a key");
		goto out;
	}
	if (audit_change(r, "integration_added", "integrations", KIND_KEY,
	    jstr(o, "id"), o, "API key \"%s\" created.", key_label(o)) == -1)
		goto out;
	reply_secret(r, 201, o, secret, NULL);
out:
	explicit_bzero(secret, sizeof(secret));
	json_decref(o);
	free(name);
}

/*
 * POST /v1/api-keys/{id}/rotate: 200 with a new key and its secret, with
 * the old key's scopes and expiry, and the old key revoked, in the
 * request's one transaction. 404 api_key_not_found; 400 api_key_revoked;
 * 400 api_key_expired (a rotation would make a key that is born expired).
 */
static void
h_key_rotate(struct rq *r)
{
	const json_t	*exp;
	json_t		*old, *o = NULL, *after = NULL, *data = NULL;
	char		 secret[64], *name = NULL, *scopes = NULL;
	int64_t		 expires;

	secret[0] = '\0';
	if ((old = key_load(r->conn, r->org, r->id, r->now)) == NULL) {
		if (r->conn->err == SQLITE_OK)
			not_found(r, KIND_KEY, r->id);
		return;
	}
	if (json_is_true(json_object_get(old, "revoked"))) {
		fail(r, 400, "api_key_revoked", "API key %s is revoked.", r->id);
		goto out;
	}
	if (json_is_true(json_object_get(old, "expired"))) {
		fail(r, 400, "api_key_expired", "API key %s has expired.", r->id);
		goto out;
	}
	exp = json_object_get(old, "expires_at");
	expires = json_integer_value(exp);
	if ((name = rotated_name(r->conn, r->org, jstr(old, "name"),
	    r->now)) == NULL ||
	    (scopes = json_dumps(json_object_get(old, "scopes"),
	    JSON_COMPACT)) == NULL ||
	    (o = key_insert(r->conn, r->org, name, scopes,
	    json_is_integer(exp) ? &expires : NULL, r->key_id, r->now, secret,
	    sizeof(secret))) == NULL ||
	    json_object_set_new(o, "rotated_from", json_string(r->id)) == -1 ||
	    key_deactivate(r->conn, r->org, old, r->now, NULL, jstr(o, "id"),
	    &after, &data) == -1) {
		if (r->conn->err == SQLITE_OK)
			fail_internal(r, "out of memory or randomness rotating "
			    "a key");
		goto out;
	}
	if (audit_change(r, "integration_added", "integrations", KIND_KEY,
	    jstr(o, "id"), o, "API key \"%s\" created by rotating \"%s\".",
	    key_label(o), key_label(old)) == -1 ||
	    audit_change(r, "integration_deactivated", "integrations", KIND_KEY,
	    r->id, data, "API key \"%s\" revoked by rotation.",
	    key_label(old)) == -1)
		goto out;
	reply_secret(r, 200, o, secret, r->id);
out:
	explicit_bzero(secret, sizeof(secret));
	json_decref(data);
	json_decref(after);
	json_decref(o);
	json_decref(old);
	free(scopes);
	free(name);
}

/*
 * POST /v1/api-keys/{id}/revoke {"reason"?}: 200 with the key, revoked
 * and its scopes cleared; on a revoked key, a no-op that records nothing.
 * 404 api_key_not_found. A key may revoke itself: this request is then
 * the last it makes.
 */
static void
h_key_revoke(struct rq *r)
{
	json_t	*before, *after = NULL, *data = NULL;

	if ((before = key_load(r->conn, r->org, r->id, r->now)) == NULL) {
		if (r->conn->err == SQLITE_OK)
			not_found(r, KIND_KEY, r->id);
		return;
	}
	if (json_is_true(json_object_get(before, "revoked"))) {
		reply(r, 200, before);
		return;
	}
	if (key_deactivate(r->conn, r->org, before, r->now,
	    jstr(r->json, "reason"), NULL, &after, &data) == -1) {
		if (r->conn->err == SQLITE_OK)
			fail_internal(r, "out of memory revoking a key");
		goto out;
	}
	if (audit_change(r, "integration_deactivated", "integrations", KIND_KEY,
	    r->id, data, "API key \"%s\" revoked.", key_label(before)) == -1)
		goto out;
	reply(r, 200, after);
	after = NULL;
out:
	json_decref(data);
	json_decref(after);
	json_decref(before);
}

/* ------------------------------------------------------------------------
 * Handlers: the audit log (6.4)
 * ------------------------------------------------------------------------ */

static const struct qfield audit_query[] = {
	{ "start_ts", QT_INT, NULL },
	{ "end_ts", QT_INT, NULL },
	{ "event_groups", QT_ENUMS, audit_groups },
	{ "event_types", QT_ENUMS, audit_types },
	{ "search", QT_STRING, NULL },
	{ NULL, 0, NULL }
};

static const struct qfield activity_query[] = {
	{ "target_type", QT_ENUM, activity_targets },
	{ "target_id", QT_STRING, NULL },
	{ NULL, 0, NULL }
};

static const struct field export_ack_fields[] = {
	{ "rows", FT_INT, 0, 0, NULL },
	{ NULL, 0, 0, 0, NULL }
};

/* AUDIT_COLS -> audit record (6.4). */
static const struct ofield audit_obj[] = {
	{ "id", O_STR, AUDIT_ID },
	{ "created_at", O_INT, AUDIT_CREATED_AT },
	{ "actor", O_RAW, AUDIT_ACTOR_OBJ },
	{ "event_type", O_STR, AUDIT_EVENT_TYPE },
	{ "event_group", O_STR, AUDIT_EVENT_GROUP },
	{ "target_type", O_STR, AUDIT_TARGET_TYPE },
	{ "target_id", O_STR, AUDIT_TARGET_ID },
	{ "summary", O_STR, AUDIT_SUMMARY },
	{ "data", O_RAW, AUDIT_DATA },
	{ NULL, 0, 0 }
};

/* A validated integer query parameter into *v: v, or NULL when absent. */
static const int64_t *
qint(const struct rq *r, const char *name, int64_t *v)
{
	const char	*s = qval(r, name);

	if (s == NULL || parse_int(s, strlen(s), INT64_MIN, INT64_MAX, v) !=
	    PI_OK)
		return NULL;
	return v;
}

/*
 * GET /v1/system_audit_log (scope audit:read): the org's records, every
 * kind, newest first, as a bare JSON array, with X-Total-Count: N and
 * Content-Range: items O-E/N (for an empty page, a star for O-E, as in
 * RFC 9110's unsatisfied range). Filters:
 * start_ts and end_ts (inclusive), event_groups and event_types
 * (repeatable), search; limit 1..500 (default 100), offset.
 */
static void
h_audit_list(struct rq *r)
{
	struct buf	 b = { NULL, 0, 0, 0 };
	sqlite3_stmt	*st;
	const int64_t	*start, *end;
	int64_t		 sv, ev, total, shown;
	char		*groups = qlist_json(r, "event_groups");
	char		*types = qlist_json(r, "event_types");
	char		 hdr[96];

	start = qint(r, "start_ts", &sv);
	end = qint(r, "end_ts", &ev);
	if ((groups == NULL && qval(r, "event_groups") != NULL) ||
	    (types == NULL && qval(r, "event_types") != NULL)) {
		fail_internal(r, "out of memory");
		goto out;
	}
	if ((total = scalar(r->conn, STMT_AUDIT_COUNT, "soosss", r->org, start,
	    end, groups, types, qval(r, "search"))) == -1)
		goto out;
	if ((st = q(r->conn, STMT_AUDIT_LIST, "soosss", r->org, start, end,
	    groups, types, qval(r, "search"))) == NULL)
		goto out;
	if (sqlite3_bind_int64(st, 10, r->limit) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 11, r->offset) != SQLITE_OK) {
		fail_internal(r, "cannot bind the page");
		goto out;
	}
	if (rows_write(r->conn, &b, st, audit_obj) == -1)
		goto out;
	/* Counted and listed in one read transaction: they agree. */
	shown = total > r->offset ? total - r->offset : 0;
	if (shown > r->limit)
		shown = r->limit;
	snprintf(hdr, sizeof(hdr), "%" PRId64, total);
	add_header(r, "X-Total-Count", hdr);
	if (shown == 0)
		snprintf(hdr, sizeof(hdr), "items */%" PRId64, total);
	else
		snprintf(hdr, sizeof(hdr), "items %" PRId64 "-%" PRId64 "/%"
		    PRId64, r->offset, r->offset + shown - 1, total);
	add_header(r, "Content-Range", hdr);
	reply_buf(r, 200, &b);
out:
	free(b.p);
	free(types);
	free(groups);
}

/* A list of {"value","label"} from two parallel NULL-ended tables. */
static json_t *
labelled(const char *const *values, const char *const *labels)
{
	json_t	*a = json_array();
	size_t	 i;

	for (i = 0; a != NULL && values[i] != NULL; i++)
		if (json_array_append_new(a, json_pack("{s:s,s:s}", "value",
		    values[i], "label", labels[i])) == -1) {
			json_decref(a);
			a = NULL;
		}
	return a;
}

/*
 * GET /v1/system_audit_log/metadata (scope audit:read): the groups and
 * types the log's filters take, with labels.
 */
static void
h_audit_metadata(struct rq *r)
{
	reply(r, 200, json_pack("{s:o?,s:o?}",
	    "event_groups", labelled(audit_groups, audit_group_labels),
	    "event_types", labelled(audit_types, audit_type_labels)));
}

/*
 * POST /v1/system_audit_log/export_ack (scope audit:read): a client says
 * it exported the log ({"rows"?: int >= 0}); 204, recorded as
 * audit_log_exported (group integrations) with data {"rows": N or null}.
 */
static void
h_audit_export_ack(struct rq *r)
{
	const json_t	*rows = json_object_get(r->json, "rows");
	json_t		*errs, *data;
	char		 n[32] = "";

	if (json_is_integer(rows) && json_integer_value(rows) < 0) {
		if ((errs = json_array()) != NULL)
			verr(errs, "body", "rows", -1, "greater_than_equal",
			    "Input should be greater than or equal to 0");
		fail_validation(r, errs);
		return;
	}
	if (json_is_integer(rows))
		snprintf(n, sizeof(n), "%" JSON_INTEGER_FORMAT " ",
		    json_integer_value(rows));
	if ((data = json_pack("{s:O?}", "rows", json_is_integer(rows) ?
	    rows : NULL)) == NULL) {
		fail_internal(r, "out of memory");
		return;
	}
	if ((r->key_name != NULL ? audit_change(r, "audit_log_exported",
	    "integrations", KIND__MAX, NULL, data, "API key \"%.*s\" (%s) "
	    "exported %saudit records.", label_len(r->key_name, 200),
	    r->key_name, r->key_id, n) : audit_change(r, "audit_log_exported",
	    "integrations", KIND__MAX, NULL, data, "API key %s exported "
	    "%saudit records.", r->key_id, n)) == 0)
		reply(r, 204, json_object());
	json_decref(data);
}

/*
 * GET /v1/activity?target_type=...&target_id=... (any key): one object's
 * change records, a page of 1.5, newest first, by audit_log_by_target.
 * Both parameters are required (422 missing); an object of another org,
 * or none, has an empty list.
 */
static void
h_activity(struct rq *r)
{
	const char	*type = qval(r, "target_type");
	const char	*id = qval(r, "target_id");
	json_t		*errs;

	if (type == NULL || id == NULL) {
		if ((errs = json_array()) != NULL && type == NULL)
			verr(errs, "query", "target_type", -1, "missing",
			    "Field required");
		if (errs != NULL && id == NULL)
			verr(errs, "query", "target_id", -1, "missing",
			    "Field required");
		fail_validation(r, errs);
		return;
	}
	reply_list(r, "items", STMT_AUDIT_ACTIVITY, STMT_AUDIT_ACTIVITY_COUNT,
	    audit_obj, "sss", r->org, id, type);
}

/* ------------------------------------------------------------------------
 * The review page (8): GET / and its two files, built into the binary
 * ------------------------------------------------------------------------ */

/*
 * The page's routes answer before the front line's other steps, and with
 * headers of their own; these two of the front end come later in the file.
 */
static const char	*io_param(const struct io *, const char *);
static void		 io_write(struct io *, const char *, size_t);

/* One file of the review page, as served. */
struct asset {
	const char	*path;		/* its route's path */
	const char	*type;		/* Content-Type */
	const char	*text;		/* the file (ui.h) */
	size_t		 len;		/* bytes in text */
	const char	*etag;		/* "<32 hex>", quotes included (ui.h) */
};

/* ui/, as served: the page at / and the two files it loads. */
static const struct asset assets[] = {
	{ "/", "text/html; charset=utf-8",
	    ui_review_html, sizeof(ui_review_html) - 1, ui_review_html_etag },
	{ "/ui/review.js", "text/javascript; charset=utf-8",
	    ui_review_js, sizeof(ui_review_js) - 1, ui_review_js_etag },
	{ "/ui/review.css", "text/css; charset=utf-8",
	    ui_review_css, sizeof(ui_review_css) - 1, ui_review_css_etag },
};

/*
 * The page's Content-Security-Policy. Rationale: the page holds an API
 * key, so nothing but its own two files may run or style it (no inline
 * script or style, no eval), it may talk to its own origin only (the /v1
 * API), no other site may frame it, and its forms may submit nowhere: a
 * page whose script failed to load never sends the key in a URL.
 */
#define PAGE_CSP	"default-src 'self'; script-src 'self'; " \
			"style-src 'self'; img-src 'self'; connect-src 'self'; " \
			"object-src 'none'; base-uri 'none'; " \
			"form-action 'none'; frame-ancestors 'none'"

/*
 * Does the If-None-Match value v name etag? "*", or any entity tag of
 * the list, compared weakly (RFC 9110 13.1.2: W/ set aside). A malformed
 * entry matches nothing.
 */
static int
etag_matches(const char *v, const char *etag)
{
	const char	*end;
	size_t		 elen = strlen(etag);

	while (*v != '\0') {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		if (*v == '*')
			return 1;
		if (strncmp(v, "W/", 2) == 0)
			v += 2;
		if (*v == '"' && (end = strchr(v + 1, '"')) != NULL) {
			if ((size_t)(end + 1 - v) == elen &&
			    memcmp(v, etag, elen) == 0)
				return 1;
			v = end + 1;
		}
		v += strcspn(v, ",");
	}
	return 0;
}

/*
 * GET / and the page's files: 200 with the file of r's path, or 304
 * without a body when If-None-Match names its ETag; respond_page() writes
 * either. 404 for a route of the page with no file (none: the two tables
 * agree).
 */
static void
h_page(struct rq *r)
{
	size_t	 i;

	for (i = 0; i < sizeof(assets) / sizeof(assets[0]); i++)
		if (strcmp(assets[i].path, r->path) == 0) {
			r->asset = &assets[i];
			r->status = r->if_none_match != NULL &&
			    etag_matches(r->if_none_match, assets[i].etag) ?
			    304 : 200;
			return;
		}
	fail_plain(r, 404, "Not Found");
}

/*
 * The front line's step for the routes that need no key (R_NO_KEY: the
 * review page's files, the OpenAPI document): their handler, at once.
 * Returns the status it answered, or 0 for any other route, which goes on
 * to the next step.
 *
 * Rationale: the page must load without a key (the person pastes one in
 * on it), and a client fetches the document before it has one; both
 * answer whatever the state of the database, from memory: they read no
 * body, open no database, and, without a key, have no org whose IP
 * allowlist could apply (R_ANY_IP) and leave no call record (6.4).
 */
static int
serve_no_key(struct rq *r, struct io *io)
{
	if (!(r->route->flags & R_NO_KEY))
		return 0;
	r->if_none_match = io_param(io, "HTTP_IF_NONE_MATCH");
	r->route->fn(r);
	return r->status;
}

/*
 * Write a page file's response: its type and ETag, cacheable but checked
 * with the server on every use (no-cache: the ETag changes with the
 * binary), the page's security headers, then the file (none on 304).
 */
static void
respond_page(struct rq *r, struct io *io)
{
	char	 head[1536];
	int	 n;

	n = snprintf(head, sizeof(head),
	    "Status: %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Cache-Control: no-cache\r\n"
	    "ETag: %s\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "X-Request-Id: %s\r\n"
	    "Content-Security-Policy: " PAGE_CSP "\r\n"
	    "X-Frame-Options: DENY\r\n"
	    "Referrer-Policy: no-referrer\r\n"
	    "Cross-Origin-Opener-Policy: same-origin\r\n"
	    "\r\n",
	    r->status, status_text(r->status), r->asset->type,
	    r->asset->etag, r->request_id);
	if (n < 0 || (size_t)n >= sizeof(head))
		n = 0;
	io_write(io, head, (size_t)n);
	if (r->status == 200)
		io_write(io, r->asset->text, r->asset->len);
}

/* ------------------------------------------------------------------------
 * The route table
 * ------------------------------------------------------------------------ */

static void	h_openapi(struct rq *);	/* the OpenAPI section, below */

static const struct route routes[] = {
	/* The org and two utilities (6.3) */
	{ METHOD_GET, "/v1/org/*", h_org_get,
	    0, KIND_ORG, NULL, NULL },
	{ METHOD_POST, "/v1/org/*", h_org_update,
	    R_WRITE | R_BODY | R_SCOPE(SCOPE_KEYS_MANAGE),
	    KIND_ORG, org_update_fields, NULL },
	{ METHOD_GET, "/v1/whoami/ip", h_whoami_ip,
	    R_ANY_IP, KIND_ORG, NULL, NULL },
	{ METHOD_GET, "/v1/utils/authtest", h_authtest,
	    0, KIND_ORG, NULL, NULL },
	{ METHOD_GET, "/v1/reassessments", h_rsm_list,
	    R_LIST, KIND_RSM, NULL, rsm_query },
	{ METHOD_POST, "/v1/reassessments", h_rsm_create,
	    R_WRITE | R_BODY, KIND_RSM, rsm_create_fields, NULL },
	{ METHOD_GET, "/v1/reassessments/*", h_rsm_get,
	    0, KIND_RSM, NULL, NULL },
	{ METHOD_PATCH, "/v1/reassessments/*", h_rsm_update,
	    R_WRITE | R_BODY, KIND_RSM, rsm_update_fields, NULL },
	{ METHOD_POST, "/v1/reassessments/*/vendors", h_rsm_add_vendors,
	    R_WRITE | R_BODY, KIND_RSM, rsm_vendors_fields, NULL },
	{ METHOD_POST, "/v1/reassessments/*/vendor_inclusion", h_rsm_inclusion,
	    R_WRITE | R_BODY, KIND_RSM, rsm_inclusion_fields, NULL },
	{ METHOD_POST, "/v1/reassessments/*/confirm", h_rsm_confirm,
	    R_WRITE, KIND_RSM, NULL, NULL },
	{ METHOD_POST, "/v1/reassessments/*/dismiss", h_rsm_dismiss,
	    R_WRITE, KIND_RSM, NULL, NULL },
	{ METHOD_POST, "/v1/reassessments/*/run", h_rsm_run,
	    R_WRITE, KIND_RSM, NULL, NULL },
	{ METHOD_GET, "/v1/reassessment_triggers", h_trg_list,
	    R_LIST, KIND_TRIGGER, NULL, trg_query },
	{ METHOD_POST, "/v1/reassessment_triggers", h_trg_create,
	    R_WRITE | R_BODY, KIND_TRIGGER, trg_create_fields, NULL },
	{ METHOD_GET, "/v1/reassessment_triggers/*", h_trg_get,
	    0, KIND_TRIGGER, NULL, NULL },
	{ METHOD_PATCH, "/v1/reassessment_triggers/*", h_trg_update,
	    R_WRITE | R_BODY, KIND_TRIGGER, trg_update_fields, NULL },
	{ METHOD_DELETE, "/v1/reassessment_triggers/*", h_trg_delete,
	    R_WRITE, KIND_TRIGGER, NULL, NULL },
	/* The audit log (6.4) */
	{ METHOD_GET, "/v1/system_audit_log", h_audit_list,
	    R_AUDIT_PAGE | R_SCOPE(SCOPE_AUDIT_READ),
	    KIND_AUDIT, NULL, audit_query },
	{ METHOD_GET, "/v1/system_audit_log/metadata", h_audit_metadata,
	    R_SCOPE(SCOPE_AUDIT_READ), KIND_AUDIT, NULL, NULL },
	{ METHOD_POST, "/v1/system_audit_log/export_ack", h_audit_export_ack,
	    R_WRITE | R_BODY | R_SCOPE(SCOPE_AUDIT_READ),
	    KIND_AUDIT, export_ack_fields, NULL },
	{ METHOD_GET, "/v1/activity", h_activity,
	    R_LIST, KIND_AUDIT, NULL, activity_query },
	{ METHOD_GET, "/v1/vendors", h_vendor_list,
	    R_LIST, KIND_VENDOR, NULL, vendor_query },
	{ METHOD_POST, "/v1/vendors", h_vendor_create,
	    R_WRITE | R_BODY | R_IDEMPOTENT,
	    KIND_VENDOR, vendor_create_fields, NULL },
	{ METHOD_GET, "/v1/vendors/*", h_vendor_get,
	    0, KIND_VENDOR, NULL, NULL },
	{ METHOD_PATCH, "/v1/vendors/*", h_vendor_update,
	    R_WRITE | R_BODY, KIND_VENDOR, vendor_update_fields, NULL },
	{ METHOD_GET, "/v1/radar/events", h_event_list,
	    R_LIST, KIND_EVENT, NULL, event_query },
	{ METHOD_POST, "/v1/radar/events", h_event_create,
	    R_WRITE | R_BODY, KIND_EVENT, event_create_fields, NULL },
	{ METHOD_GET, "/v1/radar/events/*", h_event_get,
	    0, KIND_EVENT, NULL, NULL },
	{ METHOD_GET, "/v1/radar/alerts", h_alert_list,
	    R_LIST, KIND_ALERT, NULL, alert_query },
	{ METHOD_GET, "/v1/radar/alerts/*", h_alert_get,
	    0, KIND_ALERT, NULL, NULL },
	{ METHOD_POST, "/v1/radar/alerts/*/dismiss", h_alert_dismiss,
	    R_WRITE | R_BODY, KIND_ALERT, dismiss_fields, NULL },
	{ METHOD_POST, "/v1/radar/alerts/*/undismiss", h_alert_undismiss,
	    R_WRITE, KIND_ALERT, NULL, NULL },
	{ METHOD_GET, "/v1/assessment_plans", h_plan_list,
	    R_LIST, KIND_PLAN, NULL, NULL },
	{ METHOD_POST, "/v1/assessment_plans", h_plan_create,
	    R_WRITE | R_BODY, KIND_PLAN, plan_create_fields, NULL },
	{ METHOD_GET, "/v1/assessment_plans/*", h_plan_get,
	    0, KIND_PLAN, NULL, NULL },
	{ METHOD_GET, "/v1/assessments", h_asmt_list,
	    R_LIST, KIND_ASMT, NULL, asmt_query },
	{ METHOD_GET, "/v1/assessments/*", h_asmt_get,
	    0, KIND_ASMT, NULL, NULL },
	{ METHOD_GET, "/v1/webhooks", h_webhook_list,
	    0, KIND_WEBHOOK, NULL, NULL },
	{ METHOD_POST, "/v1/webhooks", h_webhook_create,
	    R_WRITE | R_BODY, KIND_WEBHOOK, webhook_create_fields, NULL },
	{ METHOD_GET, "/v1/webhooks/*", h_webhook_get,
	    0, KIND_WEBHOOK, NULL, NULL },
	{ METHOD_PATCH, "/v1/webhooks/*", h_webhook_update,
	    R_WRITE | R_BODY, KIND_WEBHOOK, webhook_update_fields, NULL },
	{ METHOD_DELETE, "/v1/webhooks/*", h_webhook_delete,
	    R_WRITE, KIND_WEBHOOK, NULL, NULL },
	{ METHOD_POST, "/v1/webhooks/*/test", h_webhook_test,
	    R_WRITE | R_BODY, KIND_WEBHOOK, webhook_test_fields, NULL },
	{ METHOD_GET, "/v1/webhooks/*/deliveries", h_webhook_deliveries,
	    R_LIST, KIND_WEBHOOK, NULL, NULL },
	/* API keys (6.2) */
	{ METHOD_GET, "/v1/api-keys", h_key_list,
	    R_SCOPE(SCOPE_KEYS_MANAGE), KIND_KEY, NULL, NULL },
	{ METHOD_POST, "/v1/api-keys", h_key_create,
	    R_WRITE | R_BODY | R_SCOPE(SCOPE_KEYS_MANAGE),
	    KIND_KEY, key_create_fields, NULL },
	{ METHOD_POST, "/v1/api-keys/*/rotate", h_key_rotate,
	    R_WRITE | R_SCOPE(SCOPE_KEYS_MANAGE), KIND_KEY, NULL, NULL },
	{ METHOD_POST, "/v1/api-keys/*/revoke", h_key_revoke,
	    R_WRITE | R_BODY | R_SCOPE(SCOPE_KEYS_MANAGE),
	    KIND_KEY, key_revoke_fields, NULL },
	/*
	 * The review page (8): no key, no body, no database (serve_no_key());
	 * the page works over the routes above with the key pasted into it.
	 */
	{ METHOD_GET, "/", h_page,
	    R_NO_KEY | R_ANY_IP, KIND_ORG, NULL, NULL },
	{ METHOD_GET, "/ui/review.js", h_page,
	    R_NO_KEY | R_ANY_IP, KIND_ORG, NULL, NULL },
	{ METHOD_GET, "/ui/review.css", h_page,
	    R_NO_KEY | R_ANY_IP, KIND_ORG, NULL, NULL },
	/* The OpenAPI document (8): no key, no database */
	{ METHOD_GET, "/openapi.json", h_openapi,
	    R_NO_KEY | R_ANY_IP, KIND__MAX, NULL, NULL },
};

/* ------------------------------------------------------------------------
 * The OpenAPI document (8): GET /openapi.json and `reassess openapi`
 * ------------------------------------------------------------------------ */

/*
 * The document is generated, at each request, from the program's own
 * tables: the route table (methods, paths, flags, scopes, the body's
 * field table, the query's qfield table) and the object tables that
 * obj_write() writes responses from (vendor_obj, ...). What no table
 * holds is in the three tables below: per route, what it answers
 * (apidocs[]); per object table, its name (apiobjs[]); per object field
 * whose type the otype does not tell (a JSON column, an enum), its
 * schema (apirefines[]); and the few bodies no table writes (apihand[]).
 *
 * Rationale: generated rather than kept by hand, the document cannot
 * drift from what is served: a new field in an object table, a new body
 * field or a new route is in it with no other edit; a route without an
 * apidocs[] entry makes `reassess openapi` fail (tests/openapi.bats).
 */

/* What the document says a route answers, beyond the route table. */
struct apidoc {
	enum method		 method;
	int			 status;	/* its success status */
	const char		*pattern;	/* as in routes[] */
	const char		*op;		/* operationId */
	const char		*summary;
	const char		*body;		/* the success body: a schema
						   (below), or a media type
						   ("text/html"), or NULL */
	unsigned		 flags;		/* D_* below */
};
/*
 * A body is "Name" (the schema Name), "items:Name" (a page of 1.5),
 * "data:Name" ({"data":[...]}), "datapage:Name" (a page under "data"),
 * or "array:Name" (a bare list).
 */
#define D_404		0x01	/* a 404 besides the path's id */
#define D_ALLOWLIST	0x02	/* 400 may be Coverbase's allowlist error */

static const struct apidoc apidocs[] = {
	{ METHOD_GET, 200, "/v1/org/*", "getOrg",
	    "The key's org", "Org", 0 },
	{ METHOD_POST, 200, "/v1/org/*", "updateOrg",
	    "Change the org's name or IP allowlist", "Org", D_ALLOWLIST },
	{ METHOD_GET, 200, "/v1/whoami/ip", "whoamiIp",
	    "The caller's address, as the server sees it", "ClientIp", 0 },
	{ METHOD_GET, 200, "/v1/utils/authtest", "authTest",
	    "Check a key", "AuthTest", 0 },
	{ METHOD_GET, 200, "/v1/reassessments", "listReassessments",
	    "List reassessments", "items:Reassessment", 0 },
	{ METHOD_POST, 201, "/v1/reassessments", "createReassessment",
	    "Create a reassessment", "Reassessment", 0 },
	{ METHOD_GET, 200, "/v1/reassessments/*", "getReassessment",
	    "Get a reassessment", "Reassessment", 0 },
	{ METHOD_PATCH, 200, "/v1/reassessments/*", "updateReassessment",
	    "Update a reassessment", "Reassessment", 0 },
	{ METHOD_POST, 200, "/v1/reassessments/*/vendors",
	    "addReassessmentVendors",
	    "Add vendors to a reassessment", "Reassessment", 0 },
	{ METHOD_POST, 200, "/v1/reassessments/*/vendor_inclusion",
	    "setReassessmentVendorInclusion",
	    "Include or exclude vendors", "Reassessment", 0 },
	{ METHOD_POST, 200, "/v1/reassessments/*/confirm",
	    "confirmReassessment",
	    "Confirm a reassessment", "Reassessment", 0 },
	{ METHOD_POST, 200, "/v1/reassessments/*/dismiss",
	    "dismissReassessment",
	    "Dismiss a reassessment", "Reassessment", 0 },
	{ METHOD_POST, 200, "/v1/reassessments/*/run", "runReassessment",
	    "Run a reassessment: one assessment per included vendor",
	    "Reassessment", 0 },
	{ METHOD_GET, 200, "/v1/reassessment_triggers",
	    "listReassessmentTriggers",
	    "List reassessment triggers", "items:ReassessmentTrigger", 0 },
	{ METHOD_POST, 201, "/v1/reassessment_triggers",
	    "createReassessmentTrigger",
	    "Create a reassessment trigger", "ReassessmentTrigger", 0 },
	{ METHOD_GET, 200, "/v1/reassessment_triggers/*",
	    "getReassessmentTrigger",
	    "Get a reassessment trigger", "ReassessmentTrigger", 0 },
	{ METHOD_PATCH, 200, "/v1/reassessment_triggers/*",
	    "updateReassessmentTrigger", "Update a reassessment trigger",
	    "ReassessmentTrigger", 0 },
	{ METHOD_DELETE, 204, "/v1/reassessment_triggers/*",
	    "deleteReassessmentTrigger", "Delete a reassessment trigger",
	    NULL, 0 },
	{ METHOD_GET, 200, "/v1/system_audit_log", "listAuditLog",
	    "The org's audit log", "array:AuditRecord", 0 },
	{ METHOD_GET, 200, "/v1/system_audit_log/metadata",
	    "getAuditLogMetadata",
	    "The audit log's groups and types", "AuditMetadata", 0 },
	{ METHOD_POST, 204, "/v1/system_audit_log/export_ack",
	    "ackAuditLogExport",
	    "Record that the log was exported", NULL, 0 },
	{ METHOD_GET, 200, "/v1/activity", "listActivity",
	    "One object's change records", "items:AuditRecord", 0 },
	{ METHOD_GET, 200, "/v1/vendors", "listVendors",
	    "List vendors", "items:Vendor", 0 },
	{ METHOD_POST, 201, "/v1/vendors", "createVendor",
	    "Create a vendor", "Vendor", 0 },
	{ METHOD_GET, 200, "/v1/vendors/*", "getVendor",
	    "Get a vendor", "Vendor", 0 },
	{ METHOD_PATCH, 200, "/v1/vendors/*", "updateVendor",
	    "Update a vendor", "Vendor", 0 },
	{ METHOD_GET, 200, "/v1/radar/events", "listRadarEvents",
	    "List radar events", "items:RadarEvent", 0 },
	{ METHOD_POST, 201, "/v1/radar/events", "createRadarEvent",
	    "Create a radar event and its alerts", "RadarEvent", 0 },
	{ METHOD_GET, 200, "/v1/radar/events/*", "getRadarEvent",
	    "Get a radar event", "RadarEvent", 0 },
	{ METHOD_GET, 200, "/v1/radar/alerts", "listRadarAlerts",
	    "List radar alerts", "items:RadarAlert", 0 },
	{ METHOD_GET, 200, "/v1/radar/alerts/*", "getRadarAlert",
	    "Get a radar alert", "RadarAlert", 0 },
	{ METHOD_POST, 200, "/v1/radar/alerts/*/dismiss", "dismissRadarAlert",
	    "Dismiss an alert", "RadarAlert", 0 },
	{ METHOD_POST, 200, "/v1/radar/alerts/*/undismiss",
	    "undismissRadarAlert",
	    "Undismiss an alert", "RadarAlert", 0 },
	{ METHOD_GET, 200, "/v1/assessment_plans", "listAssessmentPlans",
	    "List assessment plans", "items:AssessmentPlan", 0 },
	{ METHOD_POST, 201, "/v1/assessment_plans", "createAssessmentPlan",
	    "Create an assessment plan", "AssessmentPlan", 0 },
	{ METHOD_GET, 200, "/v1/assessment_plans/*", "getAssessmentPlan",
	    "Get an assessment plan", "AssessmentPlan", 0 },
	{ METHOD_GET, 200, "/v1/assessments", "listAssessments",
	    "List assessments", "items:Assessment", 0 },
	{ METHOD_GET, 200, "/v1/assessments/*", "getAssessment",
	    "Get an assessment", "Assessment", 0 },
	{ METHOD_GET, 200, "/v1/webhooks", "listWebhooks",
	    "List webhooks", "data:Webhook", 0 },
	{ METHOD_POST, 201, "/v1/webhooks", "createWebhook",
	    "Create a webhook", "Webhook", 0 },
	{ METHOD_GET, 200, "/v1/webhooks/*", "getWebhook",
	    "Get a webhook", "Webhook", 0 },
	{ METHOD_PATCH, 200, "/v1/webhooks/*", "updateWebhook",
	    "Update a webhook", "Webhook", 0 },
	{ METHOD_DELETE, 204, "/v1/webhooks/*", "deleteWebhook",
	    "Delete a webhook", NULL, 0 },
	{ METHOD_POST, 200, "/v1/webhooks/*/test", "testWebhook",
	    "Queue a test delivery", "WebhookTest", 0 },
	{ METHOD_GET, 200, "/v1/webhooks/*/deliveries", "listWebhookDeliveries",
	    "A webhook's deliveries", "datapage:WebhookDelivery", 0 },
	{ METHOD_GET, 200, "/v1/api-keys", "listApiKeys",
	    "List the org's API keys", "data:ApiKey", 0 },
	{ METHOD_POST, 201, "/v1/api-keys", "createApiKey",
	    "Create an API key", "ApiKeySecret", 0 },
	{ METHOD_POST, 200, "/v1/api-keys/*/rotate", "rotateApiKey",
	    "Rotate an API key", "ApiKeySecret", 0 },
	{ METHOD_POST, 200, "/v1/api-keys/*/revoke", "revokeApiKey",
	    "Revoke an API key", "ApiKey", 0 },
	{ METHOD_GET, 200, "/openapi.json", "getOpenApi",
	    "This document", "application/json", 0 },
	{ METHOD_GET, 200, "/", "getReviewPage",
	    "The review page", "text/html", 0 },
	{ METHOD_GET, 200, "/ui/review.js", "getReviewPageScript",
	    "The review page's script", "text/javascript", 0 },
	{ METHOD_GET, 200, "/ui/review.css", "getReviewPageStyle",
	    "The review page's style sheet", "text/css", 0 },
};

/* An object table and the name of its schema. */
struct apiobj {
	const char		*name;
	const struct ofield	*fields;
	const char		*about;
};

static const struct apiobj apiobjs[] = {
	{ "Org", org_obj, "An org (6.3)." },
	{ "Vendor", vendor_obj, "A vendor (3.1)." },
	{ "RadarEvent", event_obj, "A radar event (3.2)." },
	{ "RadarAlert", alert_obj, "A radar alert (3.2)." },
	{ "AssessmentPlan", plan_obj, "An assessment plan (3.3)." },
	{ "Assessment", asmt_obj, "An assessment (3.4)." },
	{ "Reassessment", rsm_obj, "A reassessment (2)." },
	{ "ReassessmentTrigger", trg_obj, "A reassessment trigger (7)." },
	{ "Webhook", webhook_obj, "A webhook (4); never its secret." },
	{ "WebhookDelivery", delivery_obj, "A delivery attempt (4)." },
	{ "ApiKey", apikey_obj, "An API key (6.2); never its secret." },
	{ "AuditRecord", audit_obj, "An audit record (6.4)." },
};

/* The schema of an object field whose otype does not tell it all. */
struct apirefine {
	const struct ofield	*obj;
	const char		*field;
	const char		*json;		/* the schema, JSON text; or
						   NULL: a string of values */
	const char *const	*values;	/* an enum: of the field, or
						   of the items of json's
						   array */
};

static const struct apirefine apirefines[] = {
	{ org_obj, "api_ip_allowlist",
	    "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}", NULL },
	{ event_obj, "primary_impact_type", NULL, impact_types },
	{ event_obj, "secondary_impact_types",
	    "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}", NULL },
	{ event_obj, "vendor_ids",
	    "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}", NULL },
	{ alert_obj, "severity", NULL, severities },
	{ plan_obj, "control_set_ids",
	    "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}", NULL },
	{ asmt_obj, "control_set_ids",
	    "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}", NULL },
	{ rsm_obj, "status", NULL, rsm_statuses },
	{ rsm_obj, "alert_ids",
	    "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}", NULL },
	{ rsm_obj, "vendors",
	    "{\"type\":\"array\",\"items\":{\"type\":\"object\","
	    "\"additionalProperties\":false,"
	    "\"required\":[\"vendor_id\",\"source\",\"included\","
	    "\"assessment_id\"],\"properties\":{"
	    "\"vendor_id\":{\"type\":\"string\"},"
	    "\"source\":{\"type\":\"string\",\"enum\":[\"matched\",\"manual\"]},"
	    "\"included\":{\"type\":\"boolean\"},"
	    "\"assessment_id\":{\"type\":[\"string\",\"null\"]}}}}", NULL },
	{ trg_obj, "primary_impact_types",
	    "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}",
	    impact_types },
	{ trg_obj, "min_alert_severity", NULL, severities },
	{ trg_obj, "vendor_ids",
	    "{\"type\":[\"array\",\"null\"],\"items\":{\"type\":\"string\"}}",
	    NULL },
	{ webhook_obj, "events",
	    "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}", NULL },
	{ delivery_obj, "payload", "{}", NULL },
	{ apikey_obj, "scopes",
	    "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}",
	    scope_names },
	{ audit_obj, "actor",
	    "{\"oneOf\":[{\"type\":\"null\"},{\"type\":\"object\","
	    "\"additionalProperties\":false,"
	    "\"required\":[\"type\",\"id\",\"name\"],\"properties\":{"
	    "\"type\":{\"type\":\"string\",\"enum\":[\"api_key\"]},"
	    "\"id\":{\"type\":\"string\"},"
	    "\"name\":{\"type\":[\"string\",\"null\"]}}}]}", NULL },
	{ audit_obj, "data", "{}", NULL },
};

/* A schema no table writes: name and JSON text. */
struct apihand {
	const char		*name;
	const char		*json;
};

static const struct apihand apihand[] = {
	{ "Error", "{\"type\":\"object\",\"description\":\"The coded error "
	    "(1.4).\",\"additionalProperties\":false,\"required\":[\"detail\"],"
	    "\"properties\":{\"detail\":{\"type\":\"object\","
	    "\"additionalProperties\":false,\"required\":[\"code\",\"message\"],"
	    "\"properties\":{\"code\":{\"type\":\"string\"},"
	    "\"message\":{\"type\":\"string\"}}},"
	    "\"request_id\":{\"type\":\"string\"}}}" },
	{ "ValidationError", "{\"type\":\"object\",\"description\":\"The "
	    "validation list (1.4): every problem found.\","
	    "\"additionalProperties\":false,"
	    "\"required\":[\"detail\",\"request_id\"],\"properties\":{"
	    "\"detail\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
	    "\"additionalProperties\":false,\"required\":[\"loc\",\"msg\","
	    "\"type\"],\"properties\":{\"loc\":{\"type\":\"array\",\"items\":"
	    "{\"type\":[\"string\",\"integer\"]}},\"msg\":{\"type\":\"string\"},"
	    "\"type\":{\"type\":\"string\"}}}},"
	    "\"request_id\":{\"type\":\"string\"}}}" },
	{ "PlainError", "{\"type\":\"object\",\"description\":\"FastAPI's "
	    "plain error: 401 \\\"Not authenticated\\\" or \\\"Invalid or "
	    "expired API key.\\\"; 404 \\\"Not Found\\\" for an unknown path; "
	    "405 \\\"Method Not Allowed\\\".\",\"additionalProperties\":false,"
	    "\"required\":[\"detail\"],"
	    "\"properties\":{\"detail\":{\"type\":\"string\"}}}" },
	{ "AllowlistError", "{\"type\":\"object\",\"description\":\"Coverbase's "
	    "own shape for an invalid allowlist entry (6.3).\","
	    "\"additionalProperties\":false,\"required\":[\"detail\"],"
	    "\"properties\":{\"detail\":{\"type\":\"object\","
	    "\"additionalProperties\":false,\"required\":[\"error\",\"value\"],"
	    "\"properties\":{\"error\":{\"type\":\"string\"},"
	    "\"value\":{\"type\":\"string\"}}},"
	    "\"request_id\":{\"type\":\"string\"}}}" },
	{ "ClientIp", "{\"type\":\"object\",\"additionalProperties\":false,"
	    "\"required\":[\"client_ip\"],\"properties\":{\"client_ip\":"
	    "{\"type\":[\"string\",\"null\"]}}}" },
	{ "AuthTest", "{\"type\":\"object\",\"additionalProperties\":false,"
	    "\"required\":[\"msg\"],\"properties\":{\"msg\":"
	    "{\"type\":\"string\"}}}" },
	{ "AuditMetadata", "{\"type\":\"object\",\"additionalProperties\":false,"
	    "\"required\":[\"event_groups\",\"event_types\"],\"properties\":{"
	    "\"event_groups\":{\"$ref\":\"#/components/schemas/Labelled\"},"
	    "\"event_types\":{\"$ref\":\"#/components/schemas/Labelled\"}}}" },
	{ "Labelled", "{\"type\":\"array\",\"items\":{\"type\":\"object\","
	    "\"additionalProperties\":false,\"required\":[\"value\",\"label\"],"
	    "\"properties\":{\"value\":{\"type\":\"string\"},"
	    "\"label\":{\"type\":\"string\"}}}}" },
	{ "WebhookTest", "{\"type\":\"object\",\"additionalProperties\":false,"
	    "\"required\":[\"event_id\",\"delivered\",\"response_status\","
	    "\"response_time_ms\",\"attempted_at\"],\"properties\":{"
	    "\"event_id\":{\"type\":\"string\"},"
	    "\"delivered\":{\"type\":\"boolean\"},"
	    "\"response_status\":{\"type\":[\"integer\",\"null\"]},"
	    "\"response_time_ms\":{\"type\":[\"integer\",\"null\"]},"
	    "\"attempted_at\":{\"type\":\"integer\"}}}" },
	{ "ApiKeySecret", "{\"type\":\"object\",\"description\":\"A new key "
	    "with its secret, shown this once (6.2); revoked_id on a "
	    "rotation.\",\"additionalProperties\":false,"
	    "\"required\":[\"id\",\"name\",\"secret\",\"created_at\","
	    "\"expires_at\",\"scopes\"],\"properties\":{"
	    "\"id\":{\"type\":\"string\"},\"name\":{\"type\":\"string\"},"
	    "\"secret\":{\"type\":\"string\",\"pattern\":"
	    "\"^ak_live_[A-Za-z0-9]{43}$\"},"
	    "\"revoked_id\":{\"type\":\"string\"},"
	    "\"created_at\":{\"type\":\"integer\"},"
	    "\"expires_at\":{\"type\":[\"integer\",\"null\"]},"
	    "\"scopes\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}" },
};

/* The apidocs[] entry of a route, or NULL. */
static const struct apidoc *
apidoc_of(const struct route *rt)
{
	size_t	 i;

	for (i = 0; i < sizeof(apidocs) / sizeof(apidocs[0]); i++)
		if (apidocs[i].method == rt->method &&
		    strcmp(apidocs[i].pattern, rt->pattern) == 0)
			return &apidocs[i];
	return NULL;
}

/* A NULL-ended value set as a new JSON array of strings. */
static json_t *
oa_values(const char *const *values)
{
	json_t	*a = json_array();

	for (; a != NULL && *values != NULL; values++)
		json_array_append_new(a, json_string(*values));
	return a;
}

/* {"$ref":"#/components/<section>/<name>"}. */
static json_t *
oa_ref(const char *section, const char *name)
{
	char	 ref[128];

	snprintf(ref, sizeof(ref), "#/components/%s/%s", section, name);
	return json_pack("{s:s}", "$ref", ref);
}

/* The schema of one object field: its refinement, else by its otype. */
static json_t *
oa_ofield(const struct ofield *obj, const struct ofield *f)
{
	const struct apirefine	*rf;
	json_t			*s, *items;
	size_t			 i;

	for (i = 0; i < sizeof(apirefines) / sizeof(apirefines[0]); i++) {
		rf = &apirefines[i];
		if (rf->obj != obj || strcmp(rf->field, f->name) != 0)
			continue;
		if (rf->json == NULL) {
			s = json_pack("{s:s,s:o}", "type", "string", "enum",
			    oa_values(rf->values));
			if (s != NULL && f->type == O_STR)
				json_object_set_new(s, "type",
				    json_pack("[s,s]", "string", "null"));
			if (s != NULL && f->type == O_STR)
				json_array_append_new(json_object_get(s,
				    "enum"), json_null());
			return s;
		}
		s = json_loads(rf->json, 0, NULL);
		if (s != NULL && rf->values != NULL &&
		    (items = json_object_get(s, "items")) != NULL)
			json_object_set_new(items, "enum",
			    oa_values(rf->values));
		return s;
	}
	switch (f->type) {
	case O_STR:
		return json_pack("{s:[s,s]}", "type", "string", "null");
	case O_INT:
		return json_pack("{s:[s,s]}", "type", "integer", "null");
	case O_BOOL:
		return json_pack("{s:s}", "type", "boolean");
	case O_NULL:
		return json_pack("{s:s,s:s}", "type", "null", "description",
		    "Kept by Coverbase, not by reassess: always null.");
	case O_EMPTY:
		return json_pack("{s:s,s:i}", "type", "array", "maxItems", 0);
	case O_ZERO:
		return json_pack("{s:s,s:i}", "type", "integer", "const", 0);
	case O_RATE:
		return json_pack("{s:[s,s],s:i,s:i}", "type", "number", "null",
		    "minimum", 0, "maximum", 1);
	case O_JSON:
	case O_RAW:
	default:
		return json_object();
	}
}

/* The schema of an object table: every field required, no other. */
static json_t *
oa_object(const struct apiobj *o)
{
	const struct ofield	*f;
	json_t			*props = json_object(), *req = json_array();

	for (f = o->fields; f->name != NULL; f++) {
		json_object_set_new(props, f->name, oa_ofield(o->fields, f));
		json_array_append_new(req, json_string(f->name));
	}
	return json_pack("{s:s,s:s,s:b,s:o,s:o}", "type", "object",
	    "description", o->about, "additionalProperties", 0,
	    "required", req, "properties", props);
}

/* The schema of one body field (1.4): nullable unless required. */
static json_t *
oa_field(const struct field *f)
{
	json_t	*s = NULL, *str;
	int	 nullable = !(f->flags & F_REQUIRED);

	switch (f->type) {
	case FT_STRING:
	case FT_STRINGS:
		str = json_pack("{s:s,s:I}", "type", "string", "maxLength",
		    (json_int_t)(f->max != 0 ? f->max : TEXT_MAX));
		if (str != NULL && f->type == FT_STRING &&
		    (f->flags & F_NONEMPTY))
			json_object_set_new(str, "minLength", json_integer(1));
		if (str != NULL && f->values != NULL)
			json_object_set_new(str, "enum", oa_values(f->values));
		if (f->type == FT_STRING) {
			s = str;
			break;
		}
		s = json_pack("{s:s,s:o}", "type", "array", "items", str);
		if (s != NULL && (f->flags & F_NONEMPTY))
			json_object_set_new(s, "minItems", json_integer(1));
		break;
	case FT_BOOL:
		s = json_pack("{s:s}", "type", "boolean");
		break;
	case FT_INT:
		s = json_pack("{s:s}", "type", "integer");
		if (s != NULL && f->values != NULL) {
			json_object_set_new(s, "minimum", json_integer(
			    strtoll(f->values[0], NULL, 10)));
			json_object_set_new(s, "maximum", json_integer(
			    strtoll(f->values[1], NULL, 10)));
		}
		break;
	case FT_OBJECT:
	default:
		s = json_pack("{s:s}", "type", "object");
		break;
	}
	if (s != NULL && nullable)
		json_object_set_new(s, "type", json_pack("[o,s]",
		    json_deep_copy(json_object_get(s, "type")), "null"));
	return s;
}

/* A request body's schema from a field table; unknown fields pass. */
static json_t *
oa_body(const struct field *spec)
{
	const struct field	*f;
	json_t			*props = json_object(), *req = json_array();
	json_t			*s;

	for (f = spec; f->name != NULL; f++) {
		json_object_set_new(props, f->name, oa_field(f));
		if (f->flags & F_REQUIRED)
			json_array_append_new(req, json_string(f->name));
	}
	s = json_pack("{s:s,s:o}", "type", "object", "properties", props);
	if (s != NULL && json_array_size(req) > 0)
		json_object_set_new(s, "required", req);
	else
		json_decref(req);
	return s;
}

/* One query parameter (1.5): in, name, schema; repeatable as a list. */
static json_t *
oa_qparam(const char *name, json_t *schema, int repeated, const char *about)
{
	json_t	*p;

	if (repeated)
		schema = json_pack("{s:s,s:o}", "type", "array", "items",
		    schema);
	p = json_pack("{s:s,s:s,s:b,s:o}", "name", name, "in", "query",
	    "required", 0, "schema", schema);
	if (p != NULL && repeated) {
		json_object_set_new(p, "style", json_string("form"));
		json_object_set_new(p, "explode", json_true());
	}
	if (p != NULL && about != NULL)
		json_object_set_new(p, "description", json_string(about));
	return p;
}

/* The parameters of a route: its path id, the page, its query, a header. */
static json_t *
oa_params(const struct route *rt)
{
	const struct qfield	*qf;
	json_t			*a = json_array(), *s;
	char			 pat[64];
	int			 audit = (rt->flags & R_AUDIT_PAGE) != 0;

	if (strchr(rt->pattern, '*') != NULL) {
		snprintf(pat, sizeof(pat), "^%s[0-9a-f]{32}$",
		    kind_prefixes[rt->kind]);
		json_array_append_new(a, json_pack("{s:s,s:s,s:b,s:{s:s,s:s},"
		    "s:s}", "name", rt->kind == KIND_ORG ? "org_id" : "id", "in",
		    "path", "required", 1, "schema", "type", "string", "pattern",
		    pat, "description", "A malformed or unknown id, or one of "
		    "another org, is the resource's 404."));
	}
	if (rt->flags & (R_LIST | R_AUDIT_PAGE)) {
		json_array_append_new(a, oa_qparam("limit", json_pack(
		    "{s:s,s:i,s:i,s:i}", "type", "integer", "minimum", 1,
		    "maximum", audit ? AUDIT_LIST_MAX : LIST_MAX, "default",
		    audit ? AUDIT_LIST_DEFAULT : LIST_DEFAULT), 0, NULL));
		json_array_append_new(a, oa_qparam("offset", json_pack(
		    "{s:s,s:i,s:i}", "type", "integer", "minimum", 0, "default",
		    0), 0, NULL));
	}
	for (qf = rt->query; qf != NULL && qf->name != NULL; qf++) {
		switch (qf->type) {
		case QT_BOOL:
			s = json_pack("{s:s}", "type", "boolean");
			break;
		case QT_INT:
			s = json_pack("{s:s}", "type", "integer");
			break;
		case QT_ENUM:
		case QT_ENUMS:
			s = json_pack("{s:s,s:o}", "type", "string", "enum",
			    oa_values(qf->values));
			break;
		case QT_STRING:
		default:
			s = json_pack("{s:s}", "type", "string");
			break;
		}
		json_array_append_new(a, oa_qparam(qf->name, s,
		    qf->type == QT_ENUMS, qf->type == QT_ENUMS ? "Repeatable: "
		    "any of the values given." : NULL));
	}
	if (rt->flags & R_IDEMPOTENT)
		json_array_append_new(a, json_pack("{s:s,s:s,s:b,s:{s:s},s:s}",
		    "name", "Idempotency-Key", "in", "header", "required", 0,
		    "schema", "type", "string", "description", "A replay "
		    "within 24 hours answers the first response, verbatim, "
		    "and creates nothing (1.6)."));
	return a;
}

/*
 * The schema of a success body (struct apidoc's grammar), adding the
 * envelope it names to schemas when it is not there yet.
 */
static json_t *
oa_success_schema(json_t *schemas, const char *body)
{
	const char	*colon = strchr(body, ':'), *name;
	char		 env[96], kind[16];
	json_t		*items, *s;

	if (colon == NULL)
		return oa_ref("schemas", body);
	name = colon + 1;
	snprintf(kind, sizeof(kind), "%.*s", (int)(colon - body), body);
	items = json_pack("{s:s,s:o}", "type", "array", "items",
	    oa_ref("schemas", name));
	if (strcmp(kind, "array") == 0)
		return items;
	snprintf(env, sizeof(env), "%s%s", name, strcmp(kind, "data") == 0 ?
	    "Data" : "Page");
	if (json_object_get(schemas, env) == NULL) {
		if (strcmp(kind, "data") == 0)
			s = json_pack("{s:s,s:b,s:[s],s:{s:o}}", "type",
			    "object", "additionalProperties", 0, "required",
			    "data", "properties", "data", items);
		else
			s = json_pack("{s:s,s:b,s:[s,s,s,s],s:{s:o,s:{s:s},"
			    "s:{s:s},s:{s:s}}}", "type", "object",
			    "additionalProperties", 0, "required",
			    strcmp(kind, "items") == 0 ? "items" : "data",
			    "total", "limit", "offset", "properties",
			    strcmp(kind, "items") == 0 ? "items" : "data", items,
			    "total", "type", "integer", "limit", "type",
			    "integer", "offset", "type", "integer");
		json_object_set_new(schemas, env, s);
	} else
		json_decref(items);
	return oa_ref("schemas", env);
}

/* A response: description, the X-Request-Id header, a JSON schema. */
static json_t *
oa_response(const char *about, json_t *schema, const char *media)
{
	json_t	*r;

	r = json_pack("{s:s,s:{s:o}}", "description", about, "headers",
	    "X-Request-Id", oa_ref("headers", "X-Request-Id"));
	if (r != NULL && schema != NULL)
		json_object_set_new(r, "content", json_pack("{s:{s:o}}",
		    media != NULL ? media : "application/json", "schema",
		    schema));
	return r;
}

/* Error body schema: one of the named schemas (NULL-ended). */
static json_t *
oa_errors(const char *first, const char *second)
{
	if (second == NULL)
		return oa_ref("schemas", first);
	return json_pack("{s:[o,o]}", "anyOf", oa_ref("schemas", first),
	    oa_ref("schemas", second));
}

/* Every response of a route: its success, then each error it can give. */
static json_t *
oa_responses(json_t *schemas, const struct route *rt,
    const struct apidoc *d)
{
	json_t		*rs = json_object(), *s = NULL, *r;
	char		 st[8], about[128];
	int		 keyed = !(rt->flags & R_NO_KEY);
	int		 media = d->body != NULL && strchr(d->body, '/') != NULL;
	int		 etag = rt->fn == h_page;	/* assets[]: ETag, 304 */

	if (d->body != NULL)
		s = media ? json_object() : oa_success_schema(schemas, d->body);
	snprintf(st, sizeof(st), "%d", d->status);
	r = oa_response(d->summary, s, media ? d->body : NULL);
	if (r != NULL && (rt->flags & R_IDEMPOTENT))
		json_object_set_new(json_object_get(r, "headers"),
		    "Idempotent-Replayed", json_pack("{s:s,s:{s:s,s:[s]}}",
		    "description", "true on a replay of an Idempotency-Key.",
		    "schema", "type", "string", "enum", "true"));
	if (r != NULL && (rt->flags & R_AUDIT_PAGE)) {
		json_object_set_new(json_object_get(r, "headers"),
		    "X-Total-Count", json_pack("{s:s,s:{s:s}}", "description",
		    "Every record the filters match.", "schema", "type",
		    "integer"));
		json_object_set_new(json_object_get(r, "headers"),
		    "Content-Range", json_pack("{s:s,s:{s:s}}", "description",
		    "items O-E/N, or items */N for an empty page.", "schema",
		    "type", "string"));
	}
	if (r != NULL && etag)
		json_object_set_new(json_object_get(r, "headers"), "ETag",
		    json_pack("{s:s,s:{s:s}}", "description", "Changes with "
		    "the binary; send it back in If-None-Match.", "schema",
		    "type", "string"));
	json_object_set_new(rs, st, r);
	if (etag)
		json_object_set_new(rs, "304", oa_response("Not modified: "
		    "If-None-Match names the current ETag", NULL, NULL));
	/*
	 * A route without a key reads no body (serve_no_key()): its 400 and
	 * 413 come from the web server in front (nginx.conf.example).
	 */
	json_object_set_new(rs, "400", oa_response(keyed ?
	    "invalid_content_length, incomplete_body, the endpoint's own "
	    "rule, or bad_request (the web server's, for a request it "
	    "refuses itself)" : "bad_request (the web server's)",
	    oa_errors("Error", (d->flags & D_ALLOWLIST) ?
	    "AllowlistError" : NULL), NULL));
	if (keyed) {
		r = oa_response("Not authenticated, or an invalid or expired "
		    "API key", oa_ref("schemas", "PlainError"), NULL);
		if (r != NULL)
			json_object_set_new(json_object_get(r, "headers"),
			    "WWW-Authenticate", json_pack("{s:{s:s,s:[s]}}",
			    "schema", "type", "string", "enum", "Bearer"));
		json_object_set_new(rs, "401", r);
		if (!(rt->flags & R_ANY_IP) || ROUTE_SCOPE(rt) != 0) {
			snprintf(about, sizeof(about), "%s%s",
			    (rt->flags & R_ANY_IP) ? "" : "ip_not_allowed",
			    ROUTE_SCOPE(rt) == 0 ? "" : (rt->flags & R_ANY_IP) ?
			    "insufficient_scope" : ", insufficient_scope");
			json_object_set_new(rs, "403", oa_response(about,
			    oa_ref("schemas", "Error"), NULL));
		}
	}
	if (strchr(rt->pattern, '*') != NULL || (d->flags & D_404))
		json_object_set_new(rs, "404", oa_response("Not found, or "
		    "of another org (coded); a path this template matches "
		    "that no route has, such as an empty id, is the plain "
		    "\"Not Found\"", oa_errors("Error", "PlainError"), NULL));
	json_object_set_new(rs, "413", oa_response("payload_too_large",
	    oa_ref("schemas", "Error"), NULL));
	if (rt->flags & R_BODY)
		json_object_set_new(rs, "415", oa_response(
		    "unsupported_media_type", oa_ref("schemas", "Error"), NULL));
	if (keyed)
		json_object_set_new(rs, "422", oa_response("The query or body "
		    "is malformed (a list of every problem), or a reference "
		    "does not resolve (a coded error)", oa_errors(
		    "ValidationError", "Error"), NULL));
	json_object_set_new(rs, "500", oa_response("internal_error",
	    oa_ref("schemas", "Error"), NULL));
	if (keyed) {
		r = oa_response("database_busy, database_unavailable, "
		    "database_not_initialized, database_version_unsupported",
		    oa_ref("schemas", "Error"), NULL);
		if (r != NULL)
			json_object_set_new(json_object_get(r, "headers"),
			    "Retry-After", json_pack("{s:{s:s}}", "schema",
			    "type", "integer"));
		json_object_set_new(rs, "503", r);
	}
	return rs;
}

/* A route's pattern as an OpenAPI path: '*' becomes {id} ({org_id}). */
static void
oa_path(const struct route *rt, char *out, size_t sz)
{
	const char	*star = strchr(rt->pattern, '*');

	if (star == NULL)
		snprintf(out, sz, "%s", rt->pattern);
	else
		snprintf(out, sz, "%.*s{%s}%s", (int)(star - rt->pattern),
		    rt->pattern, rt->kind == KIND_ORG ? "org_id" : "id",
		    star + 1);
}

/* One operation of the document, from a route and its apidocs[] entry. */
static json_t *
oa_operation(json_t *schemas, const struct route *rt,
    const struct apidoc *d)
{
	json_t		*op, *scopes = json_array(), *tags;
	char		 tag[64];
	const char	*p = rt->pattern;
	size_t		 i;

	/*
	 * The tag: the path's first segment after /v1/ ("radar/events"); the
	 * review page's files are "ui".
	 */
	if (strncmp(p, "/v1/", 4) == 0)
		p += 4;
	else
		p++;
	if (strncmp(p, "radar/", 6) == 0)
		p += 6;
	if (*p == '\0')
		p = "ui";
	snprintf(tag, sizeof(tag), "%.*s", (int)strcspn(p, "/."), p);
	tags = json_pack("[s]", tag);
	op = json_pack("{s:s,s:s,s:o,s:o,s:o}", "operationId", d->op,
	    "summary", d->summary, "tags", tags, "parameters", oa_params(rt),
	    "responses", oa_responses(schemas, rt, d));
	if (op == NULL)
		goto out;
	for (i = 0; scope_names[i] != NULL; i++)
		if (ROUTE_SCOPE(rt) & (1u << i))
			json_array_append_new(scopes, json_string(scope_names[i]));
	if (rt->flags & R_NO_KEY)
		json_object_set_new(op, "security", json_array());
	else
		json_object_set_new(op, "security", json_pack("[{s:O}]",
		    "bearer", scopes));
	if (json_array_size(json_object_get(op, "parameters")) == 0)
		json_object_del(op, "parameters");
	if ((rt->flags & R_BODY) && rt->body != NULL)
		json_object_set_new(op, "requestBody", json_pack("{s:b,s:{s:{s:o}}}",
		    "required", has_required(rt->body), "content",
		    "application/json", "schema", oa_body(rt->body)));
out:
	json_decref(scopes);
	return op;
}

/*
 * The examples (openapi/examples.json, real answers of this program made
 * by openapi/examples.sh): each operation's success body beside its JSON
 * schema ("example"), each error schema's ("examples"). One missing is
 * simply not shown; tests/openapi.bats asks for all of them.
 */
static void
oa_examples(json_t *paths, json_t *schemas)
{
	json_t		*ex, *path, *op, *resp, *media, *v;
	const char	*pk, *mk, *rk, *id;

	if ((ex = json_loads(openapi_examples_json, 0, NULL)) == NULL)
		return;
	json_object_foreach(paths, pk, path)
		json_object_foreach(path, mk, op) {
			id = json_string_value(json_object_get(op,
			    "operationId"));
			if (id == NULL || (v = json_object_get(ex, id)) == NULL)
				continue;
			json_object_foreach(json_object_get(op, "responses"),
			    rk, resp) {
				if (rk[0] != '2')
					continue;
				media = json_object_get(json_object_get(resp,
				    "content"), "application/json");
				if (media != NULL)
					json_object_set(media, "example", v);
			}
		}
	json_object_foreach(schemas, pk, v)
		if ((op = json_object_get(ex, pk)) != NULL)
			json_object_set_new(v, "examples", json_pack("[O]", op));
	json_decref(ex);
}

/*
 * The whole document, or NULL with why set (a route without an apidocs[]
 * entry, or out of memory). The caller frees it.
 */
static json_t *
openapi_doc(char *why, size_t whysz)
{
	json_t			*doc, *paths, *schemas, *path, *op, *s;
	const struct route	*rt;
	const struct apidoc	*d;
	char			 key[128], *c;
	size_t			 i;

	paths = json_object();
	schemas = json_object();
	for (i = 0; i < sizeof(apihand) / sizeof(apihand[0]); i++)
		if ((s = json_loads(apihand[i].json, 0, NULL)) != NULL)
			json_object_set_new(schemas, apihand[i].name, s);
	for (i = 0; i < sizeof(apiobjs) / sizeof(apiobjs[0]); i++)
		json_object_set_new(schemas, apiobjs[i].name,
		    oa_object(&apiobjs[i]));
	if (paths == NULL || schemas == NULL ||
	    json_object_size(schemas) != sizeof(apihand) / sizeof(apihand[0]) +
	    sizeof(apiobjs) / sizeof(apiobjs[0]))
		goto oom;
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		rt = &routes[i];
		if ((d = apidoc_of(rt)) == NULL) {
			snprintf(why, whysz, "route %s %s has no entry in "
			    "apidocs[]", methods[rt->method], rt->pattern);
			goto fail;
		}
		oa_path(rt, key, sizeof(key));
		if ((path = json_object_get(paths, key)) == NULL) {
			path = json_object();
			if (json_object_set_new(paths, key, path) == -1)
				goto oom;
		}
		snprintf(key, sizeof(key), "%s", methods[rt->method]);
		for (c = key; *c != '\0'; c++)
			*c = (char)tolower((unsigned char)*c);
		if ((op = oa_operation(schemas, rt, d)) == NULL ||
		    json_object_set_new(path, key, op) == -1)
			goto oom;
	}
	oa_examples(paths, schemas);
	doc = json_pack("{s:s,s:{s:s,s:s,s:s},s:[{s:s}],s:[{s:[]}],"
	    "s:o,s:{s:o,s:{s:{s:s,s:s,s:s}},s:{s:{s:s,s:{s:s}}}}}",
	    "openapi", "3.1.0",
	    "info", "title", "reassess", "version", REASSESS_VERSION,
	    "description", "A self-hosted, wire-compatible implementation of "
	    "Coverbase's Reassessments API and what it depends on. Every "
	    "timestamp is Unix seconds, UTC. Generated by the program from "
	    "its own route, field and object tables (reassess openapi).",
	    "servers", "url", "/",
	    "security", "bearer",
	    "paths", paths,
	    "components", "schemas", schemas,
	    "securitySchemes", "bearer", "type", "http", "scheme", "bearer",
	    "description", "An API key: ak_live_ and 43 characters. Scopes "
	    "(6.1) are named in each operation's security requirement.",
	    "headers", "X-Request-Id", "description", "The request's id, as "
	    "in error bodies and the server's log.", "schema", "type",
	    "string");
	if (doc == NULL)
		snprintf(why, whysz, "out of memory");
	return doc;
oom:
	snprintf(why, whysz, "out of memory");
fail:
	json_decref(paths);
	json_decref(schemas);
	return NULL;
}

/* GET /openapi.json (no key): 200 with the document. */
static void
h_openapi(struct rq *r)
{
	char	 why[160];
	json_t	*doc;

	if ((doc = openapi_doc(why, sizeof(why))) == NULL) {
		fail_internal(r, why);
		return;
	}
	reply(r, 200, doc);
}

/* `reassess openapi`: print the document; 0, or 1 with a message. */
static int
cmd_openapi(void)
{
	char	 why[160];
	json_t	*doc;
	int	 rc;

	if ((doc = openapi_doc(why, sizeof(why))) == NULL) {
		fprintf(stderr, "reassess: openapi: %s\n", why);
		return 1;
	}
	rc = json_dumpf(doc, stdout, JSON_INDENT(2)) == 0 &&
	    fputc('\n', stdout) != EOF && fflush(stdout) == 0 ? 0 : 1;
	json_decref(doc);
	if (rc != 0)
		fprintf(stderr, "reassess: openapi: cannot write\n");
	return rc;
}

/* ------------------------------------------------------------------------
 * The request front end: one request, whatever the transport
 * ------------------------------------------------------------------------ */

/* A request parameter (CGI variable or FastCGI param), or NULL. */
static const char *
io_param(const struct io *io, const char *name)
{
	return FCGX_GetParam(name, io->envp);
}

/* Read up to n body bytes; fewer means the client sent fewer. */
static size_t
io_read(struct io *io, char *buf, size_t n)
{
	size_t	 got = 0;
	int	 k;

	if (io->fcgi == NULL)
		return fread(buf, 1, n, stdin);
	while (got < n) {
		k = FCGX_GetStr(buf + got, (int)(n - got), io->fcgi->in);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	return got;
}

/* Write n bytes of the response to the client. */
static void
io_write(struct io *io, const char *s, size_t n)
{
	if (io->fcgi == NULL)
		fwrite(s, 1, n, stdout);
	else
		FCGX_PutStr(s, (int)n, io->fcgi->out);
}

/*
 * Does path match pattern? A '*' matches one non-empty segment, which is
 * stored in *id (start) and *idlen.
 */
static int
path_match(const char *pattern, const char *path, const char **id,
    size_t *idlen)
{
	const char	*start;

	while (*pattern != '\0') {
		if (*pattern == '*') {
			start = path;
			while (*path != '\0' && *path != '/')
				path++;
			if (path == start)
				return 0;
			*id = start;
			*idlen = (size_t)(path - start);
			pattern++;
		} else if (*pattern++ != *path++)
			return 0;
	}
	return *path == '\0';
}

/*
 * Split and percent-decode the query string into r->params. More than
 * QUERY_MAX parameters set r->params_over, which check_query() refuses:
 * a parameter is never dropped without a word (a filter placed late would
 * be ignored, and data the client excluded would come back).
 *
 * NOLINTBEGIN(clang-analyzer-unix.Malloc): the strings move into
 * r->params, which rq_free() frees; the analyzer does not follow them.
 */
static void
parse_query(struct rq *r, const char *qs)
{
	char		*copy, *part, *save = NULL, *eq, *name, *value;
	struct param	*p;

	if (qs == NULL || *qs == '\0' || (copy = strdup(qs)) == NULL)
		return;
	for (part = strtok_r(copy, "&", &save); part != NULL;
	    part = strtok_r(NULL, "&", &save)) {
		if (r->nparams == QUERY_MAX) {
			r->params_over = 1;
			break;
		}
		if ((eq = strchr(part, '=')) != NULL)
			*eq++ = '\0';
		name = strdup(part);
		value = strdup(eq != NULL ? eq : "");
		if (name == NULL || value == NULL) {
			free(name);
			free(value);
			break;
		}
		/* Both move into r->params; rq_free() frees them. */
		p = &r->params[r->nparams++];
		percent_decode(name, 1);
		p->len = percent_decode(value, 1);
		p->name = name;
		p->value = value;
	}
	free(copy);
}
/* NOLINTEND(clang-analyzer-unix.Malloc) */

/* The web server's REQUEST_ID when it is sane, else a fresh random one. */
static void
set_request_id(struct rq *r, const char *given)
{
	unsigned char	 raw[16];
	size_t		 i, n = given != NULL ? strlen(given) : 0;
	int		 ok = n > 0 && n <= REQUEST_ID_MAX;

	for (i = 0; ok && i < n; i++)
		if (!isalnum((unsigned char)given[i]) && given[i] != '-' &&
		    given[i] != '_' && given[i] != '.')
			ok = 0;
	if (ok) {
		memcpy(r->request_id, given, n + 1);
		return;
	}
	if (random_bytes(raw, sizeof(raw)) == -1)
		memset(raw, 0, sizeof(raw));
	hex(r->request_id, raw, sizeof(raw));
}

/* Is the Content-Type one whose body we parse as JSON (1.1)? */
static int
json_media_type(const char *ct)
{
	size_t	 n;

	if (ct == NULL)
		return 1;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (*ct == '\0')
		return 1;
	n = strcspn(ct, ";");
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	if (n == strlen("application/json") &&
	    strncasecmp(ct, "application/json", n) == 0)
		return 1;
	return n > 5 && memchr(ct, '/', n) != NULL &&
	    strncasecmp(ct + n - 5, "+json", 5) == 0;
}

/*
 * The front line. dispatch() is a checklist: one step per check, in the
 * contract's order (1.1). Each step returns 0 to let the request go on, or
 * non-zero when it has refused it: the status it answered, or -1 for a
 * database failure recorded on the connection, which finish() answers.
 * A handler behind them may assume a routed, well-formed, authenticated
 * request of the key's org, inside its transaction.
 */

/*
 * Route and method: the route of r->method and r->path, with the path's
 * id. 404 for a path no route has; 405 with an Allow header, built from
 * the same table, for a path that has routes but not this method.
 */
static int
route_request(struct rq *r)
{
	const char	*idp = NULL;
	char		 allow[64] = "";
	size_t		 i, idlen = 0;
	int		 path_known = 0;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!path_match(routes[i].pattern, r->path, &idp, &idlen))
			continue;
		path_known = 1;
		if (strstr(allow, methods[routes[i].method]) == NULL)
			snprintf(allow + strlen(allow), sizeof(allow) -
			    strlen(allow), "%s%s", allow[0] ? ", " : "",
			    methods[routes[i].method]);
		if (routes[i].method == r->method && r->route == NULL) {
			r->route = &routes[i];
			if (idp != NULL && (r->id = strndup(idp, idlen)) == NULL)
				return fail_internal(r, "out of memory");
		}
		idp = NULL;
	}
	if (!path_known)
		return fail_plain(r, 404, "Not Found");
	if (r->route == NULL) {
		add_header(r, "Allow", allow);
		return fail_plain(r, 405, "Method Not Allowed");
	}
	return 0;
}

/*
 * The declared body length: 400 invalid_content_length when it is not a
 * plain decimal number (digits only: no sign, no space, as RFC 9110's
 * 1*DIGIT); 413 when it is over BODY_MAX, before a byte of the body is
 * read.
 */
static int
check_length(struct rq *r, struct io *io)
{
	const char	*cl = io_param(io, "CONTENT_LENGTH");
	size_t		 len;

	if (cl == NULL || *cl == '\0')
		return 0;
	len = strlen(cl);
	if (strspn(cl, "0123456789") != len)
		return fail(r, 400, "invalid_content_length",
		    "Content-Length is not a valid length.");
	switch (parse_int(cl, len, 0, INT64_MAX, &r->content_length)) {
	case PI_OK:
		break;
	case PI_HIGH:
		r->content_length = INT64_MAX;
		break;
	default:
		return fail(r, 400, "invalid_content_length",
		    "Content-Length is not a valid length.");
	}
	if (r->content_length > BODY_MAX)
		return fail(r, 413, "payload_too_large",
		    "Request body is larger than 1 MiB.");
	return 0;
}

/* The media type, where the route takes a body: 415 unless JSON. */
static int
check_media_type(struct rq *r, struct io *io)
{
	if ((r->route->flags & R_BODY) &&
	    !json_media_type(io_param(io, "CONTENT_TYPE")))
		return fail(r, 415, "unsupported_media_type",
		    "Content-Type must be application/json.");
	return 0;
}

/*
 * Read the body of a route that takes one, whole: 400 incomplete_body
 * when the client sends fewer bytes than it declared. A route without a
 * body ignores one (2.5: "a request body, if any, is ignored").
 */
static int
read_body(struct rq *r, struct io *io)
{
	size_t	 len = (size_t)r->content_length;

	if (!(r->route->flags & R_BODY) || len == 0)
		return 0;
	if ((r->body = malloc(len + 1)) == NULL)
		return fail_internal(r, "out of memory");
	r->bodylen = io_read(io, r->body, len);
	r->body[r->bodylen] = '\0';
	if (r->bodylen < len) {
		logr(r, "body of %zu bytes, %" PRId64 " declared", r->bodylen,
		    r->content_length);
		return fail(r, 400, "incomplete_body", "The request body is "
		    "shorter than its Content-Length.");
	}
	return 0;
}

/*
 * A connection that can serve the request: opened (or reopened after a
 * failure, or when the file was moved) at the binary's schema version.
 * 503 database_not_initialized or database_version_unsupported when the
 * file is not at that version; 503 database_unavailable when the route
 * writes and the file cannot be written.
 *
 * Rationale: SQLite quietly opens a file it cannot write read-only. Such
 * a connection serves reads; a write gets a fresh connection, so that it
 * succeeds as soon as the file is writable again.
 */
static int
ready_connection(struct rq *r)
{
	struct conn	*c = r->conn;
	int		 writes = r->route->flags & R_WRITE, rc;
	char		 why[512];

	if (conn_stale(c) || (writes && c->db != NULL &&
	    sqlite3_db_readonly(c->db, "main") == 1))
		conn_close(c);
	if (c->db == NULL) {
		if ((rc = conn_open(c, SQLITE_OPEN_READWRITE, 1, why,
		    sizeof(why))) != 0) {
			logr(r, "database not served: %s", why);
			add_header(r, "Retry-After", "1");
			if (rc == -2)
				return fail(r, 503,
				    "database_version_unsupported", "The "
				    "database was made by a newer version of "
				    "reassess.");
			return fail(r, 503, "database_not_initialized",
			    "The database is not initialised.");
		}
		/*
		 * Rationale: a CGI process closes its connection after one
		 * request; checkpointing then, and deleting the WAL only to
		 * make it again for the next request, would cost more than
		 * the request. SQLite checkpoints as the WAL grows (every
		 * 1000 pages) all the same.
		 */
		sqlite3_db_config(c->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1,
		    NULL);
	}
	if (writes && sqlite3_db_readonly(c->db, "main") == 1) {
		logr(r, "database unavailable: %s cannot be written", c->path);
		add_header(r, "Retry-After", "1");
		return fail(r, 503, "database_unavailable", "The database "
		    "cannot be used right now; retry later.");
	}
	return 0;
}

/*
 * What a request needs of the key of an authentication row: its org, id,
 * name, scopes, and its org's allowlist when one is set. 0, or -1 when
 * out of memory.
 */
static int
key_take(struct rq *r, sqlite3_stmt *st)
{
	const char	*scopes, *list;
	size_t		 i;
	char		 quoted[64];

	col_copy(st, AUTH_ORG_ID, r->org, sizeof(r->org));
	col_copy(st, AUTH_ID, r->key_id, sizeof(r->key_id));
	if (sqlite3_column_type(st, AUTH_NAME) != SQLITE_NULL &&
	    (r->key_name = col_dup(st, AUTH_NAME)) == NULL)
		return -1;
	/* Only `reassess key create --scope` writes them: known names. */
	scopes = (const char *)sqlite3_column_text(st, AUTH_SCOPES);
	for (i = 0; scopes != NULL && scope_names[i] != NULL; i++) {
		snprintf(quoted, sizeof(quoted), "\"%s\"", scope_names[i]);
		if (strstr(scopes, quoted) != NULL)
			r->scopes |= 1u << i;
	}
	list = (const char *)sqlite3_column_text(st, AUTH_ALLOWLIST);
	if (list != NULL && strcmp(list, "[]") != 0 &&
	    (r->allowlist = strdup(list)) == NULL)
		return -1;
	return 0;
}

/*
 * Authentication (1.2): the Bearer key of the Authorization header sets
 * r->org. 401 "Not authenticated" without a Bearer key; 401 "Invalid or
 * expired API key." for one that is unknown, revoked or expired; both with
 * WWW-Authenticate: Bearer.
 *
 * Rationale: the lookup is by SHA-256 of the presented secret, so the
 * time it takes depends only on a hash the client cannot steer; the final
 * comparison is constant-time all the same.
 */
static int
authenticate(struct rq *r, struct io *io)
{
	const char	*hdr = io_param(io, "HTTP_AUTHORIZATION"), *tok;
	unsigned char	 h[SHA256_LEN];
	sqlite3_stmt	*st;
	size_t		 n;
	int		 rc;

	while (hdr != NULL && (*hdr == ' ' || *hdr == '\t'))
		hdr++;
	if (hdr == NULL || strncasecmp(hdr, "Bearer", 6) != 0 ||
	    (hdr[6] != ' ' && hdr[6] != '\t'))
		goto unauthenticated;
	for (tok = hdr + 6; *tok == ' ' || *tok == '\t'; tok++)
		continue;
	n = strlen(tok);
	while (n > 0 && (tok[n - 1] == ' ' || tok[n - 1] == '\t'))
		n--;
	if (n == 0)
		goto unauthenticated;
	sha256(tok, n, h);
	if ((st = q(r->conn, STMT_KEY_AUTH, "bi", h, sizeof(h), r->now)) ==
	    NULL || (rc = step(r->conn, st)) == -1)
		return -1;
	if (rc == SQLITE_ROW &&
	    sqlite3_column_bytes(st, AUTH_SECRET_HASH) == (int)sizeof(h) &&
	    equal_ct(sqlite3_column_blob(st, AUTH_SECRET_HASH), h, sizeof(h)))
		rc = key_take(r, st);
	else
		rc = 0;
	/*
	 * Rationale: reset now, not at the end of the request. A statement
	 * left on its row holds its read snapshot open, and the write
	 * transaction that follows could then not wait for the lock: SQLite
	 * answers SQLITE_BUSY at once when a stale snapshot would have to
	 * become a writer.
	 */
	sqlite3_reset(st);
	if (rc == -1)
		return fail_internal(r, "out of memory");
	if (r->org[0] != '\0')
		return 0;
	add_header(r, "WWW-Authenticate", "Bearer");
	return fail_plain(r, 401, "Invalid or expired API key.");
unauthenticated:
	add_header(r, "WWW-Authenticate", "Bearer");
	return fail_plain(r, 401, "Not authenticated");
}

/*
 * The org's IP allowlist (6.3): with one set, a caller whose REMOTE_ADDR
 * is outside it gets 403 ip_not_allowed, on every route but those marked
 * R_ANY_IP. A caller the web server gave no address is outside any list.
 */
static int
check_client_ip(struct rq *r)
{
	int	 in;

	if (r->allowlist == NULL || (r->route->flags & R_ANY_IP))
		return 0;
	if ((in = ip_in_list(r->client_ip, r->allowlist)) == 1)
		return 0;
	if (in == -1)
		return fail_internal(r, "the org's api_ip_allowlist is unreadable");
	return fail(r, 403, "ip_not_allowed", "Access from this IP address is "
	    "not allowed by the organization's API IP allowlist.");
}

/*
 * Scopes (6.1): a route that needs one answers 403 insufficient_scope to
 * a key without it, before the body is looked at.
 */
static int
check_scope(struct rq *r)
{
	size_t	 i;

	if ((r->scopes & ROUTE_SCOPE(r->route)) == ROUTE_SCOPE(r->route))
		return 0;
	for (i = 0; scope_names[i + 1] != NULL; i++)
		if (ROUTE_SCOPE(r->route) & ~r->scopes & (1u << i))
			break;
	return fail(r, 403, "insufficient_scope", "This API key lacks the "
	    "%s scope.", scope_names[i]);
}

/*
 * The transaction the rest of the request runs in: BEGIN IMMEDIATE when
 * the route writes, so that writers queue for the lock here, at the start,
 * and never fail halfway; BEGIN (a consistent snapshot) when it reads.
 */
static int
begin(struct rq *r)
{
	if (exec(r->conn, r->route->flags & R_WRITE ? STMT_BEGIN_WRITE :
	    STMT_BEGIN_READ, "") == -1)
		return -1;
	r->in_tx = 1;
	return 0;
}

/*
 * Idempotency-Key (1.6), on the routes that honour it: a key seen in the
 * last 24 hours answers with the first response, verbatim, and runs
 * nothing (returns its status); a new key is remembered by
 * remember_idempotent() once the handler has answered.
 */
static int
replay_idempotent(struct rq *r, struct io *io)
{
	const char	*key = io_param(io, "HTTP_IDEMPOTENCY_KEY");
	sqlite3_stmt	*st;
	int		 rc;

	if (!(r->route->flags & R_IDEMPOTENT) || key == NULL || *key == '\0')
		return 0;
	r->idem = 1;
	sha256(key, strlen(key), r->idem_hash);
	snprintf(r->idem_endpoint, sizeof(r->idem_endpoint), "%s %s",
	    methods[r->route->method], r->route->pattern);
	if ((st = q(r->conn, STMT_IDEM_GET, "ssbi", r->org, r->idem_endpoint,
	    r->idem_hash, (size_t)SHA256_LEN, r->now - IDEMPOTENCY_TTL)) ==
	    NULL || (rc = step(r->conn, st)) == -1)
		return -1;
	if (rc == SQLITE_DONE)
		return 0;
	free(r->out);
	if ((r->out = col_dup(st, IDEM_BODY)) == NULL)
		return fail_internal(r, "out of memory");
	r->status = sqlite3_column_int(st, IDEM_STATUS);
	add_header(r, "Idempotent-Replayed", "true");
	return r->status;
}

/*
 * The input's shape: the query parameters the route reads and the body
 * (422, every problem found listed), then the path's id, whose malformed
 * or wrongly prefixed form is the resource's 404 without a lookup (1.3).
 */
static int
check_input(struct rq *r)
{
	json_t	*errs;

	if ((errs = json_array()) == NULL)
		return fail_internal(r, "out of memory");
	check_query(r, errs);
	if (r->route->flags & R_BODY)
		check_json_body(r, errs);
	if (json_array_size(errs) > 0)
		return fail_validation(r, errs);
	json_decref(errs);
	if (r->id != NULL && !id_valid(r->id, r->route->kind))
		return not_found(r, r->route->kind, r->id);
	return 0;
}

/*
 * After a successful answer to a new Idempotency-Key: keep the answer for
 * replays, in the request's transaction (and sweep the expired ones).
 */
static void
remember_idempotent(struct rq *r)
{
	if (!r->idem || r->status < 200 || r->status >= 300 ||
	    r->conn->err != SQLITE_OK)
		return;
	if (exec(r->conn, STMT_IDEM_SWEEP, "i", r->now - IDEMPOTENCY_TTL) != -1)
		exec(r->conn, STMT_IDEM_PUT, "ssbdsi", r->org, r->idem_endpoint,
		    r->idem_hash, (size_t)SHA256_LEN, r->status, r->out,
		    r->now);
}

/*
 * The last step, whatever happened before: the statements reset; the
 * transaction committed when the answer is below 400 and rolled back
 * otherwise, so that a refused request changes nothing; and a database
 * failure anywhere in the request, the commit's own included, made the
 * answer (fail_db).
 */
static void
finish(struct rq *r)
{
	struct conn	*c = r->conn;

	conn_reset(c);
	if (r->in_tx && c->err == SQLITE_OK && r->status > 0 &&
	    r->status < 400 && exec(c, STMT_COMMIT, "") != -1)
		r->in_tx = 0;
	if (r->in_tx)
		rollback(c);
	r->in_tx = 0;
	if (c->err != SQLITE_OK)
		fail_db(r);
	else if (r->status == 0)
		fail_internal(r, "handler answered nothing");
}

/*
 * Route, check and run one request: the front line's steps in the
 * contract's order (1.1), then the handler, then finish().
 */
static void
dispatch(struct rq *r, struct io *io)
{
	/* Route and method first: a 404 or 405 needs no key and no body. */
	if (route_request(r) != 0)
		return;
	/* The page's files and the document need no body, key or database. */
	if (serve_no_key(r, io) != 0)
		return;
	/* A body too large is refused on its declared length, unread. */
	if (check_length(r, io) != 0)
		return;
	/* Only JSON is parsed; the type is known before a byte is read. */
	if (check_media_type(r, io) != 0)
		return;
	/* The body whole, or 400: a short body is never half-parsed. */
	if (read_body(r, io) != 0)
		return;
	/* A database that can serve the request, or 503. */
	if (ready_connection(r) != 0)
		goto out;
	/* The key, before anything of the org is looked at: 401. */
	if (authenticate(r, io) != 0)
		goto out;
	/* The org's IP allowlist, before anything else: 403. */
	if (check_client_ip(r) != 0)
		goto out;
	/* The scope the route needs, before the body is looked at: 403. */
	if (check_scope(r) != 0)
		goto out;
	/* From here on, one transaction: a refusal rolls it back. */
	if (begin(r) != 0)
		goto out;
	/* A replayed Idempotency-Key answers from the store, runs nothing. */
	if (replay_idempotent(r, io) != 0)
		goto out;
	/* The query and body's shape (422), then the path's id (404). */
	if (check_input(r) != 0)
		goto out;
	/* The handler: the existence of its target, then its own rules. */
	r->route->fn(r);
	remember_idempotent(r);
out:
	finish(r);
}

/* Write the response: CGI/FastCGI headers, then the body. */
static void
respond(struct rq *r, struct io *io)
{
	char	 head[1024];
	int	 n;

	if (r->asset != NULL) {
		respond_page(r, io);
		return;
	}
	n = snprintf(head, sizeof(head),
	    "Status: %d %s\r\n"
	    "Content-Type: application/json\r\n"
	    "Cache-Control: no-store\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "X-Request-Id: %s\r\n"
	    "%.*s\r\n",
	    r->status, status_text(r->status), r->request_id,
	    (int)r->hdrlen, r->hdrs);
	if (n < 0 || (size_t)n >= sizeof(head))
		n = 0;
	io_write(io, head, (size_t)n);
	if (r->out != NULL && r->status != 204)
		io_write(io, r->out, strlen(r->out));
}

/* Everything a request owns, freed. */
static void
rq_free(struct rq *r)
{
	size_t	 i;

	for (i = 0; i < r->nparams; i++) {
		free(r->params[i].name);
		free(r->params[i].value);
	}
	json_decref(r->json);
	json_decref(r->subs);
	free(r->key_name);
	free(r->allowlist);
	free(r->body);
	free(r->out);
	free(r->id);
	free(r->path);
}

/* ------------------------------------------------------------------------
 * API-call records (6.4): kept in memory, written in batches
 * ------------------------------------------------------------------------ */

/*
 * One answered call, waiting in its worker's memory to be written as an
 * external_api_call record.
 */
struct call {
	char		 org[ID_LEN];		/* the key's org */
	char		 key_id[ID_LEN];	/* the actor */
	char		 request_id[REQUEST_ID_MAX + 1]; /* the target_id */
	int64_t		 at;			/* created_at: when answered */
	char		*key_name;		/* owned, or NULL */
	char		*summary;		/* owned: one sentence */
	char		*data;			/* owned: the JSON text */
};

/*
 * The process's records not yet written, oldest first.
 *
 * Rationale: static, as supervise()'s tables. A flush empties it from the
 * start, so only the first CALLS_BATCH or so entries are ever touched (and
 * resident) unless the database refuses records for a while.
 */
static struct {
	int		 on;		/* serving, REASSESS_AUDIT_CALLS on */
	size_t		 n;		/* records held */
	struct timespec	 oldest;	/* when calls[0] was answered */
	struct timespec	 retry;		/* after a failed flush: not before */
	int		 failed;	/* retry is set */
	struct call	 calls[CALLS_MAX];
} callq;

/* Free the first n records held, and move the rest to the front. */
static void
calls_forget(size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		free(callq.calls[i].key_name);
		free(callq.calls[i].summary);
		free(callq.calls[i].data);
	}
	memmove(callq.calls, callq.calls + n,
	    (callq.n - n) * sizeof(callq.calls[0]));
	callq.n -= n;
}

/* Milliseconds from a to b (CLOCK_MONOTONIC), as a real number. */
static double
ms_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1000.0 +
	    (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/*
 * s as text that is valid UTF-8, in out (size sz > 0): at most sz - 1
 * bytes, cut at a character, with '?' for each byte that is not part of a
 * valid sequence (a percent-decoded path, a REMOTE_ADDR, a key's name
 * given on the command line may hold any).
 */
static void
text_clean(char *out, size_t sz, const char *s)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 i = 0, o = 0, k, n = strlen(s);

	while (i < n) {
		if ((k = utf8_seq(u + i, n - i)) == 0) {
			k = 1;
			if (o + 1 >= sz)
				break;
			out[o++] = '?';
		} else {
			if (o + k >= sz)
				break;
			memcpy(out + o, s + i, k);
			o += k;
		}
		i += k;
	}
	out[o] = '\0';
}

/*
 * The data of r's call record (6.4), as JSON text (the caller frees), or
 * NULL when out of memory. Names of query parameters only, each once, in
 * the order given; no value of the query or the body.
 *
 * Rationale: written as text, as json_dumps() would write the object, not
 * packed and dumped: every authenticated request makes one, and jansson
 * took 13% of the instructions of a GET of one reassessment.
 */
static char *
call_data(const struct rq *r, const char *path, double ms)
{
	struct buf	 b = { NULL, 0, 0, 0 };
	char		 route[256], name[CALL_TEXT_MAX + 1];
	char		 key_name[4 * TITLE_MAX + 1], ip[sizeof(r->client_ip)];
	const char	*p;
	size_t		 i, j, o = 0;
	int		 n;

	/* The route's template: /v1/vendors/{id} for /v1/vendors/<id>. */
	p = r->route != NULL ? r->route->pattern : path;
	for (; *p != '\0' && o + 5 < sizeof(route); p++)
		if (*p == '*') {
			memcpy(route + o, "{id}", 4);
			o += 4;
		} else
			route[o++] = *p;
	route[o] = '\0';
	text_clean(key_name, sizeof(key_name), r->key_name != NULL ?
	    r->key_name : "");
	text_clean(ip, sizeof(ip), r->client_ip);
	buf_puts(&b, "{\"method\":");
	buf_cstr(&b, methods[r->method]);
	buf_puts(&b, ",\"path\":");
	buf_cstr(&b, path);
	buf_puts(&b, ",\"route\":");
	buf_cstr(&b, route);
	buf_puts(&b, ",\"status\":");
	buf_int(&b, r->status);
	/* 10 significant digits: 0.412, not 0.41199999999999998. */
	buf_puts(&b, ",\"duration_ms\":");
	buf_real(&b, round(ms * 1000.0) / 1000.0, 10);
	buf_puts(&b, ",\"query_params\":[");
	for (i = 0, n = 0; i < r->nparams; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(r->params[j].name, r->params[i].name) == 0)
				break;
		if (j < i)
			continue;
		text_clean(name, sizeof(name), r->params[i].name);
		buf_puts(&b, n++ > 0 ? "," : "");
		buf_cstr(&b, name);
	}
	buf_puts(&b, "],\"key_id\":");
	buf_cstr(&b, r->key_id);
	buf_puts(&b, ",\"key_name\":");
	buf_cstr(&b, r->key_name != NULL ? key_name : NULL);
	buf_puts(&b, ",\"client_ip\":");
	buf_cstr(&b, ip[0] != '\0' ? ip : NULL);
	buf_puts(&b, ",\"request_id\":");
	buf_cstr(&b, r->request_id);
	buf_add(&b, "}", 1);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/*
 * Keep the record of r, answered, in memory, when the request got past
 * authentication (a 401 has no key and no record) and records are on.
 * start is when the request began (CLOCK_MONOTONIC). Past CALLS_MAX
 * records held, the oldest CALLS_DROP go, with a log line. Out of memory,
 * the record is lost, with a log line.
 */
static void
calls_add(const struct rq *r, const struct timespec *start)
{
	struct timespec	 now;
	struct call	*k;
	char		 path[CALL_TEXT_MAX + 1], sum[CALL_TEXT_MAX + 64];

	if (!callq.on || r->key_id[0] == '\0' || r->method >= METHOD__MAX)
		return;
	if (callq.n == CALLS_MAX) {
		logr(r, "%d API-call records could not be written in time; "
		    "the oldest %d of them are dropped", CALLS_MAX, CALLS_DROP);
		calls_forget(CALLS_DROP);
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	text_clean(path, sizeof(path), r->path != NULL ? r->path : "");
	snprintf(sum, sizeof(sum), "%s %s answered %d.", methods[r->method],
	    path, r->status);
	k = &callq.calls[callq.n];
	memset(k, 0, sizeof(*k));
	memcpy(k->org, r->org, sizeof(k->org));
	memcpy(k->key_id, r->key_id, sizeof(k->key_id));
	memcpy(k->request_id, r->request_id, sizeof(k->request_id));
	k->at = wall_now();
	if ((r->key_name != NULL && (k->key_name = strdup(r->key_name)) ==
	    NULL) || (k->summary = strdup(sum)) == NULL ||
	    (k->data = call_data(r, path, ms_between(start, &now))) == NULL) {
		free(k->key_name);
		free(k->summary);
		logr(r, "its API-call record is lost: out of memory");
		return;
	}
	if (callq.n++ == 0)
		callq.oldest = now;
}

/*
 * Milliseconds until the records held are due to be written: -1 when
 * none are held, 0 when they are due: the oldest has waited
 * cfg.calls_wait_ms (a second), or CALLS_BATCH wait; but never sooner
 * than CALLS_AGE_MS after a flush that failed, so that a worker goes on
 * serving while the database is busy.
 */
static int
calls_wait_ms(void)
{
	struct timespec	 now;
	double		 left;

	if (callq.n == 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	left = callq.n >= CALLS_BATCH ? 0 :
	    cfg.calls_wait_ms - ms_between(&callq.oldest, &now);
	if (callq.failed && -ms_between(&callq.retry, &now) > left)
		left = -ms_between(&callq.retry, &now);
	return left <= 0 ? 0 : left > INT_MAX - 1 ? INT_MAX : (int)left + 1;
}

/*
 * Write every record held in one transaction on c, with the last use of
 * their keys (api_keys.last_used_at), and forget them. A database that is
 * busy past CALLS_BUSY_MS (past the busy timeout when last: the process
 * is about to exit), or cannot be used now, keeps them for the next try;
 * one that refuses them otherwise loses them, with a log line (they would
 * never go in). Returns nothing: the caller has no one to answer.
 *
 * Rationale: call records must not make a read a durable write (6.4).
 * The batch commits with synchronous=NORMAL, so that in WAL mode it costs
 * no fsync; it reaches the disk with the next commit that syncs (any
 * change, at synchronous=FULL) or checkpoint. A crash of the worker loses
 * at most the records in memory (the last second); a crash of the machine
 * may also lose those written since the WAL was last synced. A change
 * record is written in its change's transaction and never waits here.
 */
static void
calls_flush(struct conn *c, int last)
{
	const struct call	*k;
	char			 id[ID_LEN], why[512];
	size_t			 i;
	int			 wait_ms = CALLS_BUSY_MS, rc;
	int			 sync = !cfg.sync_normal;

	if (callq.n == 0)
		return;
	c->err = SQLITE_OK;
	if (conn_stale(c))
		conn_close(c);
	if (c->db == NULL && conn_open(c, SQLITE_OPEN_READWRITE, 1, why,
	    sizeof(why)) != 0) {
		fprintf(stderr, "reassess[%ld]: %zu API-call records %s: "
		    "%s\n", (long)getpid(), callq.n, last ? "lost" :
		    "kept for a later try", why);
		goto later;
	}
	sqlite3_busy_handler(c->db, busy_wait, last ? NULL : &wait_ms);
	if ((sync && exec(c, STMT_SYNC_NORMAL, "") == -1) ||
	    exec(c, STMT_BEGIN_WRITE, "") == -1)
		goto out;
	for (i = 0; i < callq.n; i++) {
		k = &callq.calls[i];
		if (new_id(id, KIND_AUDIT) == -1) {
			db_fail(c, SQLITE_ERROR);
			snprintf(c->errmsg, sizeof(c->errmsg), "no randomness");
			goto out;
		}
		if (exec(c, STMT_AUDIT_INSERT, "ssissssssss", id, k->org,
		    k->at, k->key_id, k->key_name, "external_api_call",
		    "integrations", "external_api_request", k->request_id,
		    k->summary, k->data) == -1)
			goto out;
		/* A key's run of records: its newest time is enough. */
		if ((i + 1 == callq.n || strcmp(k->key_id,
		    callq.calls[i + 1].key_id) != 0) &&
		    exec(c, STMT_KEY_USED, "si", k->key_id, k->at) == -1)
			goto out;
	}
	exec(c, STMT_COMMIT, "");
out:
	rc = c->err;
	conn_reset(c);
	rollback(c);
	if (sync && c->db != NULL)
		exec(c, STMT_SYNC_FULL, "");
	if (c->db != NULL)
		sqlite3_busy_handler(c->db, busy_wait, NULL);
	conn_reset(c);
	c->err = SQLITE_OK;
	switch (rc & 0xff) {
	case SQLITE_OK:
		calls_forget(callq.n);
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		if (last)
			fprintf(stderr, "reassess[%ld]: %zu API-call records "
			    "lost: the database stayed busy\n",
			    (long)getpid(), callq.n);
		break;
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_FULL:
	case SQLITE_IOERR:
		fprintf(stderr, "reassess[%ld]: %zu API-call records %s: "
		    "%s\n", (long)getpid(), callq.n, last ? "lost" :
		    "kept for a later try", c->errmsg);
		break;
	default:
		fprintf(stderr, "reassess[%ld]: %zu API-call records lost: "
		    "%s\n", (long)getpid(), callq.n, c->errmsg);
		calls_forget(callq.n);
		break;
	}
later:
	callq.failed = 0;
	if (callq.n > 0) {
		clock_gettime(CLOCK_MONOTONIC, &callq.retry);
		callq.retry.tv_sec += CALLS_AGE_MS / 1000;
		callq.failed = 1;
	}
}

/*
 * Serve one request from io on connection c. Its call record (6.4), if it
 * has one, waits in memory for the serving loop to write it.
 */
static void
handle(struct conn *c, struct io *io)
{
	struct rq	 r;
	struct timespec	 start;
	const char	*m, *pi, *uri;
	size_t		 i;

	clock_gettime(CLOCK_MONOTONIC, &start);
	memset(&r, 0, sizeof(r));
	r.conn = c;
	c->err = SQLITE_OK;
	r.now = wall_now();
	r.method = METHOD__MAX;
	set_request_id(&r, io_param(io, "REQUEST_ID"));
	client_ip(r.client_ip, sizeof(r.client_ip), io_param(io, "REMOTE_ADDR"));
	if ((m = io_param(io, "REQUEST_METHOD")) != NULL)
		for (i = 0; i < METHOD__MAX; i++)
			if (strcmp(m, methods[i]) == 0)
				r.method = (enum method)i;
	pi = io_param(io, "PATH_INFO");
	if (pi != NULL && *pi != '\0')
		r.path = strdup(pi);
	else if ((uri = io_param(io, "REQUEST_URI")) != NULL &&
	    (r.path = strndup(uri, strcspn(uri, "?"))) != NULL) {
		if (percent_decode(r.path, 0) != strlen(r.path))
			r.path[0] = '\0';	/* a %00: no route has one; 404 */
	} else
		r.path = strdup("");
	parse_query(&r, io_param(io, "QUERY_STRING"));
	if (r.path == NULL)
		fail_internal(&r, "out of memory");
	else
		dispatch(&r, io);
	if (r.status == 0)
		fail_internal(&r, "no response");
	respond(&r, io);
	calls_add(&r, &start);
	rq_free(&r);
}

/* ------------------------------------------------------------------------
 * Serving: CGI, FastCGI on an inherited socket, and `reassess serve`
 * ------------------------------------------------------------------------ */

static volatile sig_atomic_t stopping;	/* SIGTERM (or SIGINT) seen */

/* SIGTERM, SIGINT: finish the work in hand, then stop. */
static void
on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

/* Install handler for sig, without SA_RESTART: blocking calls return. */
static void
set_signal(int sig, void (*handler)(int))
{
	struct sigaction	 sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

/*
 * One CGI request: the environment and standard input. Its call record is
 * written once the response is out: standard output flushed and handed
 * over (/dev/null in its place), so that the web server sees the whole
 * answer before the record's write begins. 0, or 1 when the response could
 * not be written.
 */
static int
serve_cgi(const char *dbpath)
{
	extern char	**environ;
	struct conn	  c;
	struct io	  io;
	int		  rc, null;

	memset(&c, 0, sizeof(c));
	c.path = dbpath;
	callq.on = cfg.audit_calls;
	io.fcgi = NULL;
	io.envp = environ;
	handle(&c, &io);
	rc = fflush(stdout) == 0 ? 0 : 1;
	if (callq.n > 0 && (null = open("/dev/null", O_WRONLY)) != -1) {
		if (dup2(null, STDOUT_FILENO) == -1)
			rc = 1;
		close(null);
	}
	calls_flush(&c, 1);
	conn_close(&c);
	return rc;
}

/*
 * Wait, with SIGTERM let in (the mask open), until a request can be
 * accepted: the listening socket fd, or the connection the web server
 * keeps open to req, is readable. 1 then; 0 when the call records held
 * are due to be written first, or a signal came.
 */
static int
wait_request(const FCGX_Request *req, int fd, const sigset_t *open)
{
	struct pollfd	 p;
	struct timespec	 ts, *tp = NULL;
	int		 ms = calls_wait_ms();

	if (ms == 0)
		return 0;
	if (ms > 0) {
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (long)(ms % 1000) * 1000000L;
		tp = &ts;
	}
	p.fd = req->ipcFd >= 0 ? req->ipcFd : fd;
	p.events = POLLIN;
	p.revents = 0;
	return ppoll(&p, 1, tp, open) > 0;
}

/*
 * The FastCGI request loop on listening socket fd, until SIGTERM. The
 * database connection is opened lazily, in this process, and lives as long
 * as the loop. SIGTERM is blocked while a request runs, so that a request
 * in flight always finishes; it is let in only while the loop waits for
 * a request and around accept. Between requests, and before it exits, the
 * loop writes the call records held (calls_flush) once they are due.
 *
 * Rationale: the loop waits in ppoll() rather than in accept(), so that an
 * idle worker still writes its records within about a second; the socket
 * is made non-blocking, so that a worker that lost a request to another
 * (every worker wakes) returns to that wait rather than block in accept.
 * The flag is the socket's, shared by every process that holds it: all of
 * them are reassess workers (serve's, spawn-fcgi's, mod_fcgid's, systemd's
 * socket), and a connection accepted on Linux does not inherit it.
 */
static void
serve_fcgi(const char *dbpath, int fd)
{
	FCGX_Request	 req;
	struct conn	 c;
	struct io	 io;
	sigset_t	 term, open;
	int		 rc, fl;

	memset(&c, 0, sizeof(c));
	c.path = dbpath;
	callq.on = cfg.audit_calls;
	set_signal(SIGTERM, on_stop);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &open);
	sigdelset(&open, SIGTERM);
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		fprintf(stderr, "reassess[%ld]: cannot make the socket "
		    "non-blocking: %s\n", (long)getpid(), strerror(errno));
	if (FCGX_InitRequest(&req, fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		fprintf(stderr, "reassess: cannot set up a FastCGI request\n");
		return;
	}
	while (!stopping) {
		if (!wait_request(&req, fd, &open)) {
			if (calls_wait_ms() == 0)
				calls_flush(&c, 0);
			continue;
		}
		sigprocmask(SIG_UNBLOCK, &term, NULL);
		rc = stopping ? -1 : FCGX_Accept_r(&req);
		sigprocmask(SIG_BLOCK, &term, NULL);
		if (rc < 0) {
			if (!stopping && errno != EINTR && errno != EAGAIN &&
			    errno != EWOULDBLOCK) {
				fprintf(stderr, "reassess[%ld]: accept: %s\n",
				    (long)getpid(), strerror(errno));
				usleep(100 * 1000);
			}
			continue;
		}
		io.fcgi = &req;
		io.envp = req.envp;
		handle(&c, &io);
		FCGX_Finish_r(&req);
	}
	calls_flush(&c, 1);
	FCGX_Free(&req, 0);
	conn_close(&c);
}

/* Start one worker on fd; its pid, or -1. */
static pid_t
spawn_worker(const char *dbpath, int fd)
{
	pid_t	 pid = fork();

	if (pid == 0) {
		signal(SIGINT, SIG_IGN);	/* the supervisor decides */
		serve_fcgi(dbpath, fd);
		_exit(0);
	}
	if (pid < 0)
		fprintf(stderr, "reassess: fork: %s\n", strerror(errno));
	return pid;
}

/*
 * The listening socket systemd passed (LISTEN_FDS=1 for this LISTEN_PID,
 * as fd 3), or -1 when there is none.
 */
static int
systemd_socket(void)
{
	const char	*fds = getenv("LISTEN_FDS"), *pid = getenv("LISTEN_PID");
	int64_t		 n, p;

	if (fds == NULL || pid == NULL ||
	    parse_int(fds, strlen(fds), 1, 1, &n) != PI_OK ||
	    parse_int(pid, strlen(pid), 1, INT_MAX, &p) != PI_OK ||
	    (pid_t)p != getpid())
		return -1;
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
	return 3;
}

/*
 * `reassess serve`: a supervisor whose children are the workers. A worker
 * that dies is replaced (after a second, if it died young, so that a
 * crash loop cannot spin). On SIGTERM or SIGINT the workers are told to
 * stop, finish what they are serving, and the supervisor exits 0 when all
 * are gone. SIGTERM is repeated each second, so that a worker that was
 * between its check and accept() still sees it.
 */
static int
supervise(const char *dbpath, int fd, int nworkers)
{
	/*
	 * Rationale: static, not allocated: every worker is a fork of this
	 * function and would inherit an allocation it cannot free (valgrind
	 * calls it lost once the pointer lives only in a register).
	 */
	static pid_t	 pids[WORKERS_MAX];
	static time_t	 born[WORKERS_MAX];
	time_t		 deadline = 0;
	pid_t		 pid;
	int		 i, st, alive = 0;

	if (nworkers < 1 || nworkers > WORKERS_MAX)
		return 1;
	memset(pids, 0, sizeof(pids));
	memset(born, 0, sizeof(born));
	set_signal(SIGTERM, on_stop);
	set_signal(SIGINT, on_stop);
	for (i = 0; i < nworkers; i++) {
		pids[i] = spawn_worker(dbpath, fd);
		born[i] = time(NULL);
	}
	for (;;) {
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			for (i = 0; i < nworkers && pids[i] != pid; i++)
				continue;
			if (i == nworkers)
				continue;
			pids[i] = 0;
			if (stopping)
				continue;
			fprintf(stderr, "reassess: worker %ld %s %d; "
			    "starting another\n", (long)pid,
			    WIFSIGNALED(st) ? "killed by signal" :
			    "exited with status", WIFSIGNALED(st) ?
			    WTERMSIG(st) : WEXITSTATUS(st));
			/* One that died young is started again a second later. */
			if (time(NULL) - born[i] >= 1) {
				pids[i] = spawn_worker(dbpath, fd);
				born[i] = time(NULL);
			} else
				born[i] = time(NULL) + 1;
		}
		for (alive = 0, i = 0; i < nworkers; i++)
			alive += pids[i] > 0;
		if (stopping) {
			if (alive == 0)
				break;
			if (deadline == 0)
				deadline = time(NULL) + STOP_GRACE;
			for (i = 0; i < nworkers; i++)
				if (pids[i] > 0)
					kill(pids[i], time(NULL) < deadline ?
					    SIGTERM : SIGKILL);
		} else {
			for (i = 0; i < nworkers; i++)
				if (pids[i] <= 0 && time(NULL) >= born[i]) {
					pids[i] = spawn_worker(dbpath, fd);
					born[i] = time(NULL);
				}
		}
		/* Sleep until a child exits or a signal comes, at most 1 s. */
		usleep(stopping ? 50 * 1000 : 200 * 1000);
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * The command line
 * ------------------------------------------------------------------------ */

static const char usage_text[] =
"usage: reassess [--db PATH] COMMAND ...\n"
"\n"
"Without a command, serves: one request as a CGI program, or a request\n"
"loop as a FastCGI responder when standard input is a listening socket.\n"
"\n"
"  init                          create the database or migrate it\n"
"  org create NAME               print the new org id\n"
"  org list\n"
"  org allowlist ORG_ID [--clear]\n"
"                                print the org's API IP allowlist, one\n"
"                                entry a line; --clear empties it\n"
"  key create ORG_ID [--name N] [--scope S]... [--expires-in SECONDS]\n"
"                                print the secret, once, alone on a line;\n"
"                                scopes: keys:manage, audit:read\n"
"  key list ORG_ID               ids, names, created, revoked, scopes,\n"
"                                expiry; no secrets\n"
"  key revoke KEY_ID\n"
"  serve --listen ADDR [--workers N] [--socket-mode MODE]\n"
"                                FastCGI server; ADDR is HOST:PORT or a\n"
"                                unix socket path; without --listen, the\n"
"                                socket systemd passes (LISTEN_FDS)\n"
"  deliver [--once]              deliver pending webhook events, and\n"
"                                remove audit records past retention\n"
"  audit export [--since TS]     every org's audit records from TS on,\n"
"                                oldest first, as JSON lines\n"
"  backup FILE                   consistent copy of a live database\n"
"  check                         integrity check; exit 1 if damaged\n"
"  openapi                       print the OpenAPI 3.1 document that\n"
"                                GET /openapi.json serves\n"
"  --help | --version\n"
"\n"
"The database is --db PATH, else $REASSESS_DB, else ./reassess.db.\n";

/* Print usage to stderr and return the usage-error status, 2. */
static int
usage(void)
{
	fputs(usage_text, stderr);
	return 2;
}

/* Print an error for a command line failure and return 1. */
static int
die(const char *fmt, ...)
{
	va_list	 ap;

	fputs("reassess: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* Open the command line's connection to c->path; 0 or -1 (reported). */
static int
cli_open(struct conn *c, int flags, int check)
{
	char	 why[512];

	if (conn_open(c, flags, check, why, sizeof(why)) != 0) {
		die("%s", why);
		return -1;
	}
	return 0;
}

/* Report the database failure recorded on c; returns 1, the exit status. */
static int
die_db(const struct conn *c)
{
	return die("%s: %s", c->path, c->errmsg);
}

/*
 * reassess init: bring c->path to SCHEMA_VERSION in one transaction. A
 * new or empty file (user_version 0, no tables) gets schema_sql, the
 * current schema whole; a file at version v, 1 <= v < SCHEMA_VERSION, gets
 * migrations[v - 1], migrations[v], ... in order; one at SCHEMA_VERSION is
 * left as it is. Refused, leaving the file as it was: a newer or negative
 * version, and user_version 0 on a file that already holds tables (a
 * version lowered by hand, or another program's database: replaying the
 * schema over it would not repair it). Returns the exit status: 0, or 1
 * after saying why on stderr.
 */
static int
cmd_init(struct conn *c)
{
	char		*err = NULL, pragma[64];
	int		 version, tables, rc = 1;
	sqlite3_stmt	*st = NULL;

	if (cli_open(c, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 0) == -1)
		return 1;
	if (sqlite3_exec(c->db, "PRAGMA journal_mode = WAL", NULL, NULL,
	    &err) != SQLITE_OK ||
	    sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, &err) !=
	    SQLITE_OK) {
		rc = die("%s: %s", c->path, err);
		goto out;
	}
	if (sqlite3_prepare_v2(c->db, "SELECT user_version, (SELECT count(*)"
	    " FROM sqlite_schema WHERE type = 'table') FROM pragma_user_version",
	    -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		rc = die("%s: %s", c->path, sqlite3_errmsg(c->db));
		goto out;
	}
	version = sqlite3_column_int(st, 0);
	tables = sqlite3_column_int(st, 1);
	sqlite3_finalize(st);
	st = NULL;
	if (version > SCHEMA_VERSION) {
		rc = die("%s is at schema version %d, newer than this binary "
		    "(%d)", c->path, version, SCHEMA_VERSION);
		goto out;
	}
	if (version < 0 || (version == 0 && tables > 0)) {
		rc = die("%s: user_version is %d and the file holds %d tables: "
		    "not at a schema version of reassess (was the version "
		    "changed by hand?); refusing to create the schema over it",
		    c->path, version, tables);
		goto out;
	}
	if (version == 0 && sqlite3_exec(c->db, schema_sql, NULL, NULL,
	    &err) != SQLITE_OK) {
		rc = die("%s: schema version %d: %s", c->path,
		    SCHEMA_VERSION, err);
		goto out;
	}
	for (; version > 0 && version < SCHEMA_VERSION; version++)
		if (sqlite3_exec(c->db, migrations[version - 1], NULL, NULL,
		    &err) != SQLITE_OK) {
			rc = die("%s: migration to version %d: %s", c->path,
			    version + 1, err);
			goto out;
		}
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d",
	    SCHEMA_VERSION);
	if (sqlite3_exec(c->db, pragma, NULL, NULL, &err) != SQLITE_OK ||
	    sqlite3_exec(c->db, "COMMIT", NULL, NULL, &err) != SQLITE_OK) {
		rc = die("%s: %s", c->path, err);
		goto out;
	}
	fprintf(stderr, "reassess: %s is at schema version %d\n", c->path,
	    SCHEMA_VERSION);
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_free(err);
	rollback(c);
	return rc;
}

/*
 * reassess org allowlist ORG [--clear]: print the org's IP allowlist
 * (6.3), one entry a line, or empty it, with a field_update record whose
 * actor is null (the command line), in one transaction. Clearing an empty
 * list changes nothing and records nothing. 0, or 1 for an unknown org or
 * a database failure.
 */
static int
org_allowlist(struct conn *c, const char *org, int clear)
{
	sqlite3_stmt	*st;
	json_t		*list = NULL, *v, *diff = NULL;
	struct audit	 a;
	size_t		 i;
	int64_t		 now = wall_now();
	int		 rc, ret = 1;

	if (cli_open(c, clear ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY,
	    1) == -1)
		return 1;
	if (exec(c, clear ? STMT_BEGIN_WRITE : STMT_BEGIN_READ, "") == -1)
		return die_db(c);
	if ((st = q(c, STMT_ORG_ALLOWLIST, "s", org)) == NULL ||
	    (rc = step(c, st)) == -1) {
		ret = die_db(c);
		goto out;
	}
	if (rc == SQLITE_DONE) {
		ret = die("no org %s", org);
		goto out;
	}
	if ((list = json_loads((const char *)sqlite3_column_text(st, 0), 0,
	    NULL)) == NULL || !json_is_array(list)) {
		ret = die("%s: the allowlist of %s is not a JSON array", c->path,
		    org);
		goto out;
	}
	sqlite3_reset(st);
	if (!clear) {
		json_array_foreach(list, i, v)
			if (json_is_string(v))
				printf("%s\n", json_string_value(v));
		ret = 0;
		goto out;
	}
	if ((rc = exec(c, STMT_ORG_ALLOWLIST_CLEAR, "si", org, now)) == -1) {
		ret = die_db(c);
		goto out;
	}
	if (rc > 0) {
		if ((diff = json_pack("{s:{s:O,s:[]}}", "api_ip_allowlist",
		    "old_value", list, "new_value")) == NULL) {
			ret = die("out of memory");
			goto out;
		}
		a = (struct audit){ .org = org, .now = now,
		    .event_type = "field_update", .event_group = "configuration",
		    .target = KIND_ORG, .target_id = org, .summary = "API IP "
		    "allowlist cleared on the command line.", .data = diff };
		if (audit_write(c, &a) == -1) {
			ret = c->err != SQLITE_OK ? die_db(c) :
			    die("out of memory or randomness");
			goto out;
		}
	}
	if (exec(c, STMT_COMMIT, "") == -1) {
		ret = die_db(c);
		goto out;
	}
	fprintf(stderr, "reassess: the API IP allowlist of %s is empty%s\n",
	    org, rc > 0 ? " now" : " already");
	ret = 0;
out:
	conn_reset(c);
	rollback(c);
	json_decref(diff);
	json_decref(list);
	return ret;
}

/*
 * The first control character in s (C0, DEL, or C1 as UTF-8), or NULL.
 * Names given on the command line may hold none: a tab or a newline
 * would break the tab-separated lines of org list and key list.
 */
static const char *
control_char(const char *s)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f ||
		    (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			return (const char *)p;
	return NULL;
}

/*
 * Print s as one field of a tab-separated line: a backslash as "\\", a
 * tab, newline and carriage return as "\t", "\n", "\r", any other
 * control character (C0, DEL, C1) as "\xNN" per byte, so that a name that
 * came in through the API can never split a field or a line.
 */
static void
print_field(const char *s)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '\\')
			fputs("\\\\", stdout);
		else if (*p == '\t')
			fputs("\\t", stdout);
		else if (*p == '\n')
			fputs("\\n", stdout);
		else if (*p == '\r')
			fputs("\\r", stdout);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\x%02x", *p);
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			printf("\\xc2\\x%02x", p[1]);
			p++;
		} else
			putchar(*p);
	}
}

/* reassess org create NAME | org list | org allowlist ORG [--clear] */
static int
cmd_org(struct conn *c, int argc, char **argv)
{
	sqlite3_stmt	*st;
	char		 id[ID_LEN];
	int		 rc;

	if (argc == 2 && strcmp(argv[0], "create") == 0) {
		if (control_char(argv[1]) != NULL) {
			die("the org name holds a control character (a tab, "
			    "a newline, ...); names may not");
			return 2;
		}
		if (cli_open(c, SQLITE_OPEN_READWRITE, 1) != 0)
			return 1;
		if (new_id(id, KIND_ORG) == -1)
			return die("no random bytes");
		if (exec(c, STMT_ORG_INSERT, "ssi", id, argv[1],
		    wall_now()) == -1)
			return die_db(c);
		printf("%s\n", id);
		return 0;
	}
	if (argc == 1 && strcmp(argv[0], "list") == 0) {
		if (cli_open(c, SQLITE_OPEN_READONLY, 1) == -1)
			return 1;
		if ((st = q(c, STMT_ORG_LIST, "")) == NULL)
			return die_db(c);
		while ((rc = step(c, st)) == SQLITE_ROW) {
			printf("%s\t", sqlite3_column_text(st, ORGL_ID));
			print_field((const char *)sqlite3_column_text(st,
			    ORGL_NAME));
			printf("\t%lld\n", (long long)sqlite3_column_int64(st,
			    ORGL_CREATED_AT));
		}
		return rc == -1 ? die_db(c) : 0;
	}
	if ((argc == 2 || (argc == 3 && strcmp(argv[2], "--clear") == 0)) &&
	    strcmp(argv[0], "allowlist") == 0 && argv[1][0] != '-')
		return org_allowlist(c, argv[1], argc == 3);
	return usage();
}

/*
 * reassess key create ORG_ID [--name N] [--scope S]... [--expires-in SECONDS]
 * (5, 6.1): the secret on stdout, alone, shown this once; the key id on
 * stderr. The key and its integration_added record (6.4, with no actor)
 * are written in one transaction. An unknown scope, a bad number or an
 * unknown option is a usage error (2), found before the database is
 * opened; an unknown org, 1. Returns the exit status.
 */
static int
cmd_key_create(struct conn *c, int argc, char **argv)
{
	struct audit	 a;
	json_t		*o = NULL, *list = NULL;
	const char	*org = argv[1], *name = NULL;
	char		 secret[64], summary[1024], *scopes = NULL;
	unsigned	 bits = 0;
	int64_t		 ttl = 0, expires, now = wall_now();
	int		 i, j, rc = 1;

	secret[0] = '\0';
	for (i = 2; i < argc; i += 2) {
		if (i + 1 >= argc)
			return usage();
		if (strcmp(argv[i], "--name") == 0) {
			name = argv[i + 1];
			if (control_char(name) != NULL) {
				die("the key name holds a control character (a "
				    "tab, a newline, ...); names may not");
				return 2;
			}
		} else if (strcmp(argv[i], "--scope") == 0) {
			for (j = 0; scope_names[j] != NULL &&
			    strcmp(scope_names[j], argv[i + 1]) != 0; j++)
				continue;
			if (scope_names[j] == NULL) {
				die("unknown scope %s: keys:manage or "
				    "audit:read", argv[i + 1]);
				return usage();
			}
			bits |= 1u << j;
		} else if (strcmp(argv[i], "--expires-in") == 0) {
			if (parse_int(argv[i + 1], strlen(argv[i + 1]),
			    KEY_TTL_MIN, KEY_TTL_MAX, &ttl) != PI_OK) {
				die("--expires-in takes seconds, %d to %d",
				    KEY_TTL_MIN, KEY_TTL_MAX);
				return usage();
			}
		} else
			return usage();
	}
	/* The scopes in scope_names' order, each once. */
	if ((list = json_array()) == NULL)
		return die("out of memory");
	for (j = 0; scope_names[j] != NULL; j++)
		if (bits & (1u << j))
			json_array_append_new(list, json_string(scope_names[j]));
	scopes = json_dumps(list, JSON_COMPACT);
	json_decref(list);
	if (scopes == NULL)
		return die("out of memory");
	expires = now + ttl;
	if (cli_open(c, SQLITE_OPEN_READWRITE, 1) == -1)
		goto out;
	if (exec(c, STMT_BEGIN_WRITE, "") == -1)
		goto fail;
	if ((j = (int)scalar(c, STMT_ORG_EXISTS, "s", org)) == -1)
		goto fail;
	if (j == 0) {
		die("no org %s", org);
		goto out;
	}
	if ((o = key_insert(c, org, name, scopes, ttl > 0 ? &expires : NULL,
	    NULL, now, secret, sizeof(secret))) == NULL)
		goto fail;
	snprintf(summary, sizeof(summary), "API key \"%s\" created.",
	    key_label(o));
	a = (struct audit){ .org = org, .now = now,
	    .event_type = "integration_added", .event_group = "integrations",
	    .target = KIND_KEY, .target_id = jstr(o, "id"),
	    .summary = summary, .data = o };
	if (audit_write(c, &a) == -1)
		goto fail;
	conn_reset(c);
	if (exec(c, STMT_COMMIT, "") == -1)
		goto fail;
	fprintf(stderr, "reassess: key %s created for %s; the secret "
	    "is shown only now\n", jstr(o, "id"), org);
	printf("%s\n", secret);
	rc = 0;
	goto out;
fail:
	if (c->err != SQLITE_OK)
		die_db(c);
	else
		die("out of memory or randomness");
out:
	explicit_bzero(secret, sizeof(secret));
	rollback(c);
	json_decref(o);
	free(scopes);
	return rc;
}

/*
 * reassess key list ORG_ID: one line per key, oldest first: id, name,
 * created, revoked, then scopes (comma-separated) and expiry (5, 6.1);
 * "-" for none. Never a secret.
 */
static int
cmd_key_list(struct conn *c, const char *org)
{
	sqlite3_stmt	*st;
	int		 rc, i;

	if (cli_open(c, SQLITE_OPEN_READONLY, 1) == -1)
		return 1;
	if ((rc = (int)scalar(c, STMT_ORG_EXISTS, "s", org)) == -1)
		return die_db(c);
	if (rc == 0)
		return die("no org %s", org);
	if ((st = q(c, STMT_KEY_LIST, "s", org)) == NULL)
		return die_db(c);
	while ((rc = step(c, st)) == SQLITE_ROW) {
		printf("%s\t", sqlite3_column_text(st, KEYL_ID));
		print_field(sqlite3_column_type(st, KEYL_NAME) == SQLITE_NULL ?
		    "-" : (const char *)sqlite3_column_text(st, KEYL_NAME));
		printf("\t%lld", (long long)sqlite3_column_int64(st,
		    KEYL_CREATED_AT));
		for (i = KEYL_REVOKED_AT; i <= KEYL_EXPIRES_AT; i++)
			if (sqlite3_column_type(st, i) == SQLITE_NULL)
				printf("\t-");
			else
				printf("\t%s", sqlite3_column_text(st, i));
		putchar('\n');
	}
	return rc == -1 ? die_db(c) : 0;
}

/*
 * reassess key revoke KEY_ID: the key revoked and its scopes cleared, with
 * its integration_deactivated record (6.4, with no actor), in one
 * transaction; a revoked key is left as it is, with no record. An unknown
 * key id: 1. Returns the exit status.
 */
static int
cmd_key_revoke(struct conn *c, const char *id)
{
	struct audit	 a;
	sqlite3_stmt	*st;
	json_t		*before = NULL, *after = NULL, *data = NULL;
	char		 org[ID_LEN], summary[1024];
	int64_t		 now = wall_now();
	int		 rc = 1, found;

	if (cli_open(c, SQLITE_OPEN_READWRITE, 1) == -1)
		return 1;
	if (exec(c, STMT_BEGIN_WRITE, "") == -1 ||
	    (st = q(c, STMT_APIKEY_ORG, "s", id)) == NULL ||
	    (found = step(c, st)) == -1)
		goto fail;
	if (found != SQLITE_ROW) {
		die("no key %s", id);
		goto out;
	}
	col_copy(st, 0, org, sizeof(org));
	if ((before = key_load(c, org, id, now)) == NULL)
		goto fail;
	if (!json_is_true(json_object_get(before, "revoked"))) {
		if (key_deactivate(c, org, before, now, NULL, NULL, &after,
		    &data) == -1)
			goto fail;
		snprintf(summary, sizeof(summary), "API key \"%s\" revoked.",
		    key_label(before));
		a = (struct audit){ .org = org, .now = now,
		    .event_type = "integration_deactivated",
		    .event_group = "integrations", .target = KIND_KEY,
		    .target_id = id, .summary = summary, .data = data };
		if (audit_write(c, &a) == -1)
			goto fail;
	}
	conn_reset(c);
	if (exec(c, STMT_COMMIT, "") == -1)
		goto fail;
	rc = 0;
	goto out;
fail:
	if (c->err != SQLITE_OK)
		die_db(c);
	else
		die("out of memory or randomness");
out:
	rollback(c);
	json_decref(data);
	json_decref(after);
	json_decref(before);
	return rc;
}

/* reassess key create | key list | key revoke: the exit status. */
static int
cmd_key(struct conn *c, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[0], "create") == 0)
		return cmd_key_create(c, argc, argv);
	if (argc == 2 && strcmp(argv[0], "list") == 0)
		return cmd_key_list(c, argv[1]);
	if (argc == 2 && strcmp(argv[0], "revoke") == 0)
		return cmd_key_revoke(c, argv[1]);
	return usage();
}

/*
 * reassess audit export [--since TS]: every org's audit records (6.4)
 * created at or after TS (default: all), oldest first, one JSON object a
 * line with its org_id, for a log shipper. One statement: one snapshot.
 */
static int
cmd_audit(struct conn *c, int argc, char **argv)
{
	sqlite3_stmt	*st;
	int64_t		 since = INT64_MIN;
	int		 rc;

	if (argc < 1 || strcmp(argv[0], "export") != 0)
		return usage();
	if (argc == 3 && strcmp(argv[1], "--since") == 0) {
		if (parse_int(argv[2], strlen(argv[2]), INT64_MIN, INT64_MAX,
		    &since) != PI_OK)
			return usage();
	} else if (argc != 1)
		return usage();
	if (cli_open(c, SQLITE_OPEN_READONLY, 1) == -1)
		return 1;
	if ((st = q(c, STMT_AUDIT_EXPORT, "i", since)) == NULL)
		return die_db(c);
	while ((rc = step(c, st)) == SQLITE_ROW) {
		fwrite(sqlite3_column_text(st, 0), 1,
		    (size_t)sqlite3_column_bytes(st, 0), stdout);
		putchar('\n');
	}
	sqlite3_reset(st);
	if (rc == -1)
		return die_db(c);
	if (fflush(stdout) == EOF || ferror(stdout))
		return die("cannot write the export: %s", strerror(errno));
	return 0;
}

/* Print the rows of a check pragma; how many said something other than ok. */
static int
check_rows(sqlite3 *db, const char *sql, int ok_row, int *failed)
{
	sqlite3_stmt	*st;
	int		 bad = 0, rc, i;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		*failed = 1;
		return 1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (ok_row && sqlite3_column_count(st) == 1 &&
		    strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0)
			continue;
		for (i = 0; i < sqlite3_column_count(st); i++)
			printf("%s%s", i ? "\t" : "",
			    sqlite3_column_text(st, i) != NULL ?
			    (const char *)sqlite3_column_text(st, i) : "NULL");
		printf("\n");
		bad++;
	}
	if (rc != SQLITE_DONE)
		*failed = 1;
	sqlite3_finalize(st);
	return bad;
}

/*
 * reassess check: integrity and foreign keys, and, on a database at this
 * binary's schema version, every statement of stmts[] prepared, so that a
 * statement that no longer fits the schema is found before a request needs
 * it. Exit 1 if anything is wrong.
 */
static int
cmd_check(struct conn *c)
{
	size_t	 i;
	int	 failed = 0, bad, current;

	if (cli_open(c, SQLITE_OPEN_READONLY, 0) == -1)
		return 1;
	bad = check_rows(c->db, "PRAGMA integrity_check", 1, &failed);
	if (!failed)
		bad += check_rows(c->db, "PRAGMA foreign_key_check", 0,
		    &failed);
	if (failed)
		return die("%s: %s", c->path, sqlite3_errmsg(c->db));
	current = schema_version(c) == SCHEMA_VERSION;
	for (i = 0; i < STMT__MAX && current; i++)
		if (stmt_get(c, (enum stmt)i) == NULL) {
			printf("statement %zu does not prepare: %s: %.60s\n",
			    i, c->errmsg, stmts[i]);
			c->err = SQLITE_OK;
			bad++;
		}
	if (bad > 0)
		return die("%s is damaged", c->path);
	printf("ok\n");
	return 0;
}

/*
 * reassess backup FILE: SQLite's online backup into FILE.tmp, then a rename,
 * so FILE is either the old file or a whole copy.
 */
static int
cmd_backup(struct conn *c, const char *file)
{
	sqlite3		*dst = NULL;
	sqlite3_backup	*b;
	char		*tmp = NULL;
	int		 rc, tries = 0, ret = 1;

	if (cli_open(c, SQLITE_OPEN_READONLY, 1) == -1)
		return 1;
	if (asprintf(&tmp, "%s.tmp", file) == -1)
		return die("out of memory");
	unlink(tmp);
	if (sqlite3_open(tmp, &dst) != SQLITE_OK) {
		die("%s: %s", tmp, sqlite3_errmsg(dst));
		goto out;
	}
	if ((b = sqlite3_backup_init(dst, "main", c->db, "main")) == NULL) {
		die("%s: %s", tmp, sqlite3_errmsg(dst));
		goto out;
	}
	do {
		rc = sqlite3_backup_step(b, -1);
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
			usleep(100 * 1000);
	} while ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED || rc == SQLITE_OK) &&
	    ++tries < 600);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		die("backup: %s", sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_close(dst);
	dst = NULL;
	if (rename(tmp, file) == -1) {
		die("%s: %s", file, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	sqlite3_close(dst);
	if (ret != 0)
		unlink(tmp);
	free(tmp);
	return ret;
}

/*
 * reassess serve [--listen ADDR] [--workers N] [--socket-mode MODE]:
 * without --listen, the socket systemd passed (socket activation).
 */
static int
cmd_serve(struct conn *c, int argc, char **argv)
{
	const char	*listen_addr = NULL;
	char		*end, why[512];
	long		 workers = sysconf(_SC_NPROCESSORS_ONLN), mode = -1;
	struct stat	 sb;
	int		 i, fd, is_unix, rc;

	for (i = 0; i < argc; i++) {
		if (i + 1 >= argc)
			return usage();
		if (strcmp(argv[i], "--listen") == 0)
			listen_addr = argv[++i];
		else if (strcmp(argv[i], "--workers") == 0) {
			errno = 0;
			workers = strtol(argv[++i], &end, 10);
			if (*end != '\0' || errno != 0 || workers < 1 ||
			    workers > WORKERS_MAX)
				return usage();
		} else if (strcmp(argv[i], "--socket-mode") == 0) {
			errno = 0;
			mode = strtol(argv[++i], &end, 8);
			if (*end != '\0' || errno != 0 || mode < 0 ||
			    mode > 0777)
				return usage();
		} else
			return usage();
	}
	if (FCGX_Init() != 0)
		return die("cannot initialise libfcgi");
	if (listen_addr == NULL) {
		/* Socket activation: systemd passes one socket as fd 3. */
		if ((fd = systemd_socket()) == -1)
			return usage();
		listen_addr = "the socket systemd passed";
		is_unix = 0;
	} else {
		is_unix = strchr(listen_addr, '/') != NULL ||
		    strchr(listen_addr, ':') == NULL;
		if (is_unix && lstat(listen_addr, &sb) == 0 &&
		    S_ISSOCK(sb.st_mode))
			unlink(listen_addr);	/* stale, of an earlier run */
		if ((fd = FCGX_OpenSocket(listen_addr, LISTEN_BACKLOG)) < 0)
			return die("cannot listen on %s: %s", listen_addr,
			    strerror(errno));
		if (is_unix && mode >= 0 &&
		    chmod(listen_addr, (mode_t)mode) == -1)
			return die("chmod %s: %s", listen_addr,
			    strerror(errno));
	}
	if (conn_open(c, SQLITE_OPEN_READWRITE, 1, why, sizeof(why)) != 0)
		fprintf(stderr, "reassess: warning: %s; answering 503 until "
		    "it is\n", why);
	conn_close(c);		/* each worker opens its own after the fork */
	fprintf(stderr, "reassess: serving %s with %ld workers\n",
	    listen_addr, workers);
	rc = supervise(c->path, fd, (int)workers);
	close(fd);
	if (is_unix)
		unlink(listen_addr);
	return rc;
}

/* ------------------------------------------------------------------------
 * reassess deliver: the webhook sender (4.1, 4.2)
 * ------------------------------------------------------------------------ */

/*
 * libcurl, loaded by `reassess deliver` alone.
 *
 * Rationale: libcurl pulls in some thirty shared libraries (TLS, HTTP/2,
 * LDAP, SSH, Kerberos, ...), and mapping them would cost every CGI request
 * about 20 ms of start-up, several times the rest of the request. Only
 * deliver speaks HTTP, so only deliver loads it, with dlopen().
 */
static struct {
	CURLcode		 (*global_init)(long);
	void			 (*global_cleanup)(void);
	CURL			*(*easy_init)(void);
	CURLcode		 (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode		 (*easy_perform)(CURL *);
	CURLcode		 (*easy_getinfo)(CURL *, CURLINFO, ...);
	void			 (*easy_cleanup)(CURL *);
	const char		*(*easy_strerror)(CURLcode);
	struct curl_slist	*(*slist_append)(struct curl_slist *,
				    const char *);
	void			 (*slist_free_all)(struct curl_slist *);
} lc;

/* Load libcurl into lc; 0, or -1 with a message. */
static int
libcurl_load(void)
{
	void	*h;

	if ((h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL)) == NULL) {
		die("cannot load libcurl: %s", dlerror());
		return -1;
	}
#define LC(field, name) do {						\
	if ((*(void **)&lc.field = dlsym(h, name)) == NULL) {		\
		die("libcurl has no %s", name);				\
		return -1;						\
	}								\
} while (0)
	LC(global_init, "curl_global_init");
	LC(global_cleanup, "curl_global_cleanup");
	LC(easy_init, "curl_easy_init");
	LC(easy_setopt, "curl_easy_setopt");
	LC(easy_perform, "curl_easy_perform");
	LC(easy_getinfo, "curl_easy_getinfo");
	LC(easy_cleanup, "curl_easy_cleanup");
	LC(easy_strerror, "curl_easy_strerror");
	LC(slist_append, "curl_slist_append");
	LC(slist_free_all, "curl_slist_free_all");
#undef LC
	return 0;
}

/* One claimed attempt, copied out of the database. */
struct attempt {
	char		 id[ID_LEN];		/* delivery id */
	char		 webhook_id[ID_LEN];
	char		 event_id[ID_LEN];
	char		 org_id[ID_LEN];	/* the webhook's org */
	int		 attempt;		/* 1 .. WEBHOOK_ATTEMPTS */
	int		 live;			/* enabled and not deleted */
	char		*url;			/* owned */
	char		*secret;		/* owned */
	char		*previous;		/* owned: the replaced secret while
						   its rotation lasts; NULL */
	char		*event_type;		/* owned */
	char		*payload;		/* owned: the exact body */
	/* The outcome. */
	int64_t		 at;			/* when it was made (and signed) */
	const char	*status;		/* delivered, error, ... */
	long		 response_status;	/* 0: none */
	int64_t		 response_ms;		/* -1: none */
	int		 retry;			/* a retry could fix it (4.2) */
	int64_t		 retry_after;		/* seconds the receiver asked
						   for (429, 503); 0: none */
	char		 error[512];
	char		 refused[256];		/* why socket_open refused */
};

/*
 * One Standard Webhooks signature (4.2), "v1," and the base64 of
 * HMAC-SHA256 over "<event id>.<timestamp>.<body>" keyed by the secret's
 * bytes, into out (SIG_V1_LEN + 1 bytes, NUL-terminated).
 */
#define SIG_V1_LEN	(3 + BASE64_ENCODE_RAW_LENGTH(SHA256_LEN))
static void
sign_v1(const char *secret, const char *id, const char *ts, const char *body,
    char *out)
{
	struct hmac_sha256_ctx	 s;
	unsigned char		 mac[SHA256_LEN];

	hmac_sha256_set_key(&s, strlen(secret), (const uint8_t *)secret);
	hmac_sha256_update(&s, strlen(id), (const uint8_t *)id);
	hmac_sha256_update(&s, 1, (const uint8_t *)".");
	hmac_sha256_update(&s, strlen(ts), (const uint8_t *)ts);
	hmac_sha256_update(&s, 1, (const uint8_t *)".");
	hmac_sha256_update(&s, strlen(body), (const uint8_t *)body);
	hmac_sha256_digest(&s, SHA256_LEN, mac);
	memcpy(out, "v1,", 3);
	base64_encode_raw(out + 3, SHA256_LEN, mac);
	out[SIG_V1_LEN] = '\0';
	explicit_bzero(&s, sizeof(s));
	explicit_bzero(mac, sizeof(mac));
}

/*
 * Whether an answer or a transport failure can be fixed by trying again
 * (4.2): a timeout, a failure to connect or to get an answer, 408, 429 or
 * a 5xx. Anything else is final.
 *
 * Rationale: a transport failure is retried unless it is about the URL
 * itself (a scheme libcurl will not speak, a URL it cannot parse), which
 * no later attempt changes.
 */
static int
retriable(CURLcode rc, long status)
{
	if (rc == CURLE_OK)
		return status == 408 || status == 429 ||
		    (status >= 500 && status <= 599);
	return rc != CURLE_UNSUPPORTED_PROTOCOL && rc != CURLE_URL_MALFORMAT;
}

/* libcurl's write callback: the receiver's answer is not kept. */
static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/*
 * libcurl's socket opener: the URL policy on the address libcurl is about
 * to connect to, whatever it made of the host name (its own %-decoding,
 * IDN conversion, resolver, cache or a redirect). A refused address gets
 * no socket, so no connection to it ever opens; the reason is kept in the
 * attempt for its error.
 */
static curl_socket_t
socket_open(void *arg, curlsocktype purpose, struct curl_sockaddr *sa)
{
	struct attempt	*a = arg;
	const char	*refused;
	char		 addr[INET6_ADDRSTRLEN] = "?";
	int		 fd;

	if (purpose != CURLSOCKTYPE_IPCXN) {
		snprintf(a->refused, sizeof(a->refused), "libcurl asked for "
		    "a socket of an unexpected kind");
		return CURL_SOCKET_BAD;
	}
	if ((refused = addr_refused(&sa->addr)) != NULL) {
		getnameinfo(&sa->addr, sa->addrlen, addr, sizeof(addr), NULL,
		    0, NI_NUMERICHOST);
		snprintf(a->refused, sizeof(a->refused), "The webhook URL's "
		    "host connects to %s, %s; no connection was opened.",
		    addr, refused);
		return CURL_SOCKET_BAD;
	}
	if ((fd = socket(sa->family, sa->socktype | SOCK_CLOEXEC,
	    sa->protocol)) == -1)
		return CURL_SOCKET_BAD;
	return fd;
}

/*
 * POST the attempt's payload to its URL with the contract's headers: 4.1's
 * signature of the body, and 4.2's timestamp and Standard Webhooks
 * signatures (two during a rotation, the new secret's first), made afresh
 * for this attempt; no redirects, and the timeout. Fill in the outcome,
 * whether a retry could fix it, and a Retry-After to honour.
 */
static void
attempt_send(struct attempt *a)
{
	unsigned char		 mac[SHA256_LEN];
	char			 sig[2 * SHA256_LEN + 64], hdr[256], ts[24];
	char			 v1[2 * (SIG_V1_LEN + 1) + 32];
	char			 pin[512], why[512];
	struct curl_slist	*h = NULL, *pins = NULL;
	curl_off_t		 us = 0, ra = -1;
	CURL			*c = NULL;
	CURLcode		 rc;
	int			 policy, n;

	a->response_ms = -1;
	a->refused[0] = '\0';
	a->at = wall_now();
	if ((policy = url_check(a->url, why, sizeof(why), pin,
	    sizeof(pin))) != 0) {
		a->status = policy == -1 ? "skipped" : "error";
		a->retry = policy != -1;
		snprintf(a->error, sizeof(a->error), "%s", why);
		return;
	}
	hmac_sha256(a->secret, strlen(a->secret), a->payload,
	    strlen(a->payload), mac);
	snprintf(ts, sizeof(ts), "%" PRId64, a->at);
	n = snprintf(v1, sizeof(v1), "webhook-signature: ");
	sign_v1(a->secret, a->event_id, ts, a->payload, v1 + n);
	if (a->previous != NULL) {
		n += SIG_V1_LEN;
		v1[n++] = ' ';
		sign_v1(a->previous, a->event_id, ts, a->payload, v1 + n);
	}
	if ((c = lc.easy_init()) == NULL) {
		a->status = "error";
		a->retry = 1;
		snprintf(a->error, sizeof(a->error), "cannot set up the request");
		goto out;
	}
	n = snprintf(sig, sizeof(sig), "Coverbase-Signature: ");
	hex(sig + n, mac, sizeof(mac));
	h = lc.slist_append(h, "Content-Type: application/json");
	h = lc.slist_append(h, sig);
	snprintf(hdr, sizeof(hdr), "X-Coverbase-Event-Id: %s", a->event_id);
	h = lc.slist_append(h, hdr);
	snprintf(hdr, sizeof(hdr), "X-Coverbase-Event-Type: %s", a->event_type);
	h = lc.slist_append(h, hdr);
	snprintf(hdr, sizeof(hdr), "Coverbase-Timestamp: %s", ts);
	h = lc.slist_append(h, hdr);
	snprintf(hdr, sizeof(hdr), "webhook-id: %s", a->event_id);
	h = lc.slist_append(h, hdr);
	snprintf(hdr, sizeof(hdr), "webhook-timestamp: %s", ts);
	h = lc.slist_append(h, hdr);
	h = lc.slist_append(h, v1);
	h = lc.slist_append(h, "Expect:");
	pins = lc.slist_append(pins, pin);
	lc.easy_setopt(c, CURLOPT_URL, a->url);
	lc.easy_setopt(c, CURLOPT_HTTPHEADER, h);
	lc.easy_setopt(c, CURLOPT_POSTFIELDS, a->payload);
	lc.easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)strlen(a->payload));
	/*
	 * The policy's options are checked: a libcurl that refuses one
	 * sends nothing. No proxy (from http_proxy and the like) either: the
	 * policy is about the receiver's address, and a proxy would connect
	 * where the socket check cannot see.
	 */
	if (lc.easy_setopt(c, CURLOPT_RESOLVE, pins) != CURLE_OK ||
	    lc.easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, socket_open) !=
	    CURLE_OK ||
	    lc.easy_setopt(c, CURLOPT_OPENSOCKETDATA, a) != CURLE_OK ||
	    lc.easy_setopt(c, CURLOPT_PROXY, "") != CURLE_OK ||
	    lc.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    lc.easy_setopt(c, CURLOPT_PROTOCOLS_STR,
	    cfg.allow_private ? "http,https" : "https") != CURLE_OK) {
		a->status = "error";
		snprintf(a->error, sizeof(a->error), "libcurl refused an "
		    "option of the URL policy; nothing was sent");
		goto out;
	}
	lc.easy_setopt(c, CURLOPT_TIMEOUT_MS, cfg.webhook_timeout_ms);
	lc.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	lc.easy_setopt(c, CURLOPT_USERAGENT, "reassess/" REASSESS_VERSION);
	lc.easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	rc = lc.easy_perform(c);
	lc.easy_getinfo(c, CURLINFO_TOTAL_TIME_T, &us);
	lc.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->response_status);
	a->response_ms = (int64_t)(us / 1000);
	a->retry = retriable(rc, rc == CURLE_OK ? a->response_status : 0);
	/* libcurl reads both forms of Retry-After (seconds, an HTTP date). */
	if (rc == CURLE_OK && (a->response_status == 429 ||
	    a->response_status == 503) &&
	    lc.easy_getinfo(c, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK &&
	    ra > 0 && ra <= RETRY_AFTER_MAX)
		a->retry_after = (int64_t)ra;
	if (rc != CURLE_OK && a->refused[0] != '\0') {
		/* The policy refused the socket: final, as at registration. */
		a->status = "skipped";
		a->retry = 0;
		a->response_status = 0;
		a->response_ms = -1;
		snprintf(a->error, sizeof(a->error), "%s", a->refused);
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		a->status = "timeout";
		snprintf(a->error, sizeof(a->error), "no answer within %ld ms",
		    cfg.webhook_timeout_ms);
	} else if (rc != CURLE_OK) {
		a->status = "error";
		snprintf(a->error, sizeof(a->error), "%s",
		    lc.easy_strerror(rc));
	} else if (a->response_status >= 200 && a->response_status < 300) {
		a->status = "delivered";
		a->error[0] = '\0';
	} else {
		a->status = "error";
		snprintf(a->error, sizeof(a->error), "the receiver answered "
		    "HTTP %ld", a->response_status);
	}
out:
	lc.slist_free_all(h);
	lc.slist_free_all(pins);
	if (c != NULL)
		lc.easy_cleanup(c);
	explicit_bzero(mac, sizeof(mac));
	explicit_bzero(v1, sizeof(v1));
}

/* Free what attempt_claim copied. */
static void
attempt_free(struct attempt *a)
{
	free(a->url);
	if (a->secret != NULL)
		explicit_bzero(a->secret, strlen(a->secret));
	free(a->secret);
	if (a->previous != NULL)
		explicit_bzero(a->previous, strlen(a->previous));
	free(a->previous);
	free(a->event_type);
	free(a->payload);
	memset(a, 0, sizeof(*a));
}

/*
 * Claim the next due attempt with a lease, in its own write transaction,
 * so that several deliver processes never send one attempt twice. 1 when
 * one was claimed into a, 0 when none is due, -1 on error.
 */
static int
attempt_claim(struct conn *c, struct attempt *a)
{
	sqlite3_stmt	*st;
	int64_t		 now = wall_now();
	int		 rc, ret = -1;

	memset(a, 0, sizeof(*a));
	c->err = SQLITE_OK;
	if (exec(c, STMT_BEGIN_WRITE, "") == -1)
		return -1;
	if ((st = q(c, STMT_DLV_DUE, "i", now)) == NULL ||
	    (rc = step(c, st)) == -1)
		goto out;
	if (rc == SQLITE_DONE) {
		ret = 0;
		goto out;
	}
	col_copy(st, DUE_ID, a->id, sizeof(a->id));
	col_copy(st, DUE_WEBHOOK_ID, a->webhook_id, sizeof(a->webhook_id));
	col_copy(st, DUE_EVENT_ID, a->event_id, sizeof(a->event_id));
	col_copy(st, DUE_ORG_ID, a->org_id, sizeof(a->org_id));
	a->attempt = sqlite3_column_int(st, DUE_ATTEMPT);
	a->url = col_dup(st, DUE_URL);
	a->secret = col_dup(st, DUE_SECRET);
	a->live = sqlite3_column_int(st, DUE_ENABLED) == 1 &&
	    sqlite3_column_int(st, DUE_DELETED) == 0;
	a->event_type = col_dup(st, DUE_EVENT_TYPE);
	a->payload = col_dup(st, DUE_PAYLOAD);
	if (sqlite3_column_type(st, DUE_PREVIOUS) != SQLITE_NULL &&
	    (a->previous = col_dup(st, DUE_PREVIOUS)) == NULL)
		goto out;
	if (a->url == NULL || a->secret == NULL || a->event_type == NULL ||
	    a->payload == NULL)
		goto out;
	sqlite3_reset(st);
	if (exec(c, STMT_DLV_LEASE, "si", a->id, now + WEBHOOK_LEASE) != 1)
		goto out;
	ret = 1;
out:
	conn_reset(c);
	if (ret >= 0 && exec(c, STMT_COMMIT, "") == -1)
		ret = -1;
	rollback(c);
	if (ret != 1)
		attempt_free(a);
	return ret;
}

/*
 * The seconds before the attempt after a: the schedule's delay (4.2) with
 * up to 1/RETRY_JITTER more at random, or the receiver's Retry-After when
 * that is longer.
 *
 * Rationale for the jitter: receivers that failed together (an outage)
 * would otherwise get every retry at the same moment again.
 */
static int64_t
retry_delay(const struct attempt *a)
{
	int64_t		 d = cfg.retry_delays[a->attempt - 1];
	uint32_t	 r = 0;

	if (d >= RETRY_JITTER && random_bytes(&r, sizeof(r)) == 0)
		d += (int64_t)(r % (uint32_t)(d / RETRY_JITTER + 1));
	return a->retry_after > d ? a->retry_after : d;
}

/*
 * The change record of a webhook the receiver disabled with 410 Gone
 * (4.2, 6.4), written in the transaction that disables it: a system
 * action (no actor), a field_update of "enabled". 0 or -1.
 */
static int
webhook_gone_record(struct conn *c, const struct attempt *a, int64_t now)
{
	struct audit	 rec;
	json_t		*diff;
	int		 rc;

	if ((diff = json_pack("{s:{s:b,s:b}}", "enabled", "old_value", 1,
	    "new_value", 0)) == NULL)
		return -1;
	rec = (struct audit){ .org = a->org_id, .now = now,
	    .event_type = "field_update", .event_group = "integrations",
	    .target = KIND_WEBHOOK, .target_id = a->webhook_id,
	    .summary = "Webhook disabled: its receiver answered 410 Gone.",
	    .data = diff };
	rc = audit_write(c, &rec);
	json_decref(diff);
	return rc;
}

/*
 * Record the outcome of a sent attempt (made at a->at), and queue the next
 * attempt after a failure a retry can fix until WEBHOOK_ATTEMPTS are
 * spent. A 410 Gone disables the webhook (4.2). 0 or -1.
 */
static int
attempt_record(struct conn *c, const struct attempt *a)
{
	char	 next[ID_LEN];
	int64_t	 rs = a->response_status, *rsp = a->response_status ? &rs : NULL;
	int64_t	 ms = a->response_ms, *msp = a->response_ms >= 0 ? &ms : NULL;
	int64_t	 now = wall_now(), at = a->at ? a->at : now;
	int	 ret = -1, retry, gone, n = 0;

	c->err = SQLITE_OK;
	retry = a->retry && (strcmp(a->status, "error") == 0 ||
	    strcmp(a->status, "timeout") == 0) && a->attempt < WEBHOOK_ATTEMPTS;
	gone = strcmp(a->status, "error") == 0 && a->response_status == 410;
	if (exec(c, STMT_BEGIN_WRITE, "") == -1)
		return -1;
	if (exec(c, STMT_DLV_RECORD, "ssoosi", a->id, a->status, rsp, msp,
	    a->error[0] ? a->error : NULL, at) == -1)
		goto out;
	if (retry && (new_id(next, KIND_DELIVERY) == -1 ||
	    exec(c, STMT_DLV_RETRY, "sssdii", next, a->webhook_id, a->event_id,
	    a->attempt + 1, now + retry_delay(a), now) == -1))
		goto out;
	if (gone && (n = exec(c, STMT_WH_GONE, "si", a->webhook_id,
	    now)) == -1)
		goto out;
	if (gone && n > 0 && webhook_gone_record(c, a, now) == -1)
		goto out;
	ret = exec(c, STMT_COMMIT, "") == -1 ? -1 : 0;
	if (ret == 0 && gone)
		fprintf(stderr, "reassess: webhook %s answered 410 Gone: "
		    "disabled\n", a->webhook_id);
out:
	conn_reset(c);
	rollback(c);
	return ret;
}

/*
 * Retention (6.4): remove the audit records older than cfg.audit_days
 * days, AUDIT_SWEEP_BATCH at a time, each batch its own write transaction
 * so that requests never wait long for the lock. The records removed, or
 * -1 (recorded on c).
 */
static int64_t
audit_sweep(struct conn *c)
{
	int64_t	 cutoff = wall_now() - cfg.audit_days * 86400, total = 0;
	int	 n;

	do {
		c->err = SQLITE_OK;
		if (exec(c, STMT_BEGIN_WRITE, "") == -1)
			return -1;
		if ((n = exec(c, STMT_AUDIT_SWEEP, "id", cutoff,
		    AUDIT_SWEEP_BATCH)) == -1 ||
		    exec(c, STMT_COMMIT, "") == -1) {
			conn_reset(c);
			rollback(c);
			return -1;
		}
		conn_reset(c);
		total += n;
	} while (n == AUDIT_SWEEP_BATCH && !stopping);
	return total;
}

/*
 * Forget the replaced secrets whose rotation overlap has ended (4.2), so
 * that no secret is kept longer than it signs. A failure is logged; the
 * next pass tries again.
 */
static void
rotations_end(struct conn *c)
{
	c->err = SQLITE_OK;
	if (exec(c, STMT_WH_ROTATION_END, "i", wall_now()) == -1)
		fprintf(stderr, "reassess: cannot end secret rotations: %s\n",
		    c->err != SQLITE_OK ? c->errmsg : "out of memory");
	conn_reset(c);
}

/*
 * reassess deliver [--once]: send due webhook attempts until SIGTERM (or,
 * with --once, until none is due). SIGTERM is honoured between attempts.
 * Every AUDIT_SWEEP_EVERY seconds (and first of all) it also removes the
 * audit records past their retention (audit_sweep) and the secrets whose
 * rotation has ended (rotations_end).
 */
static int
cmd_deliver(struct conn *c, int argc, char **argv)
{
	struct attempt	 a;
	int64_t		 swept, last_sweep = 0, last_rotation = 0;
	int		 once = 0, n;

	if (argc == 1 && strcmp(argv[0], "--once") == 0)
		once = 1;
	else if (argc != 0)
		return usage();
	if (cli_open(c, SQLITE_OPEN_READWRITE, 1) != 0)
		return 1;
	if (libcurl_load() == -1)
		return 1;
	if (lc.global_init(CURL_GLOBAL_DEFAULT) != 0)
		return die("cannot initialise libcurl");
	set_signal(SIGTERM, on_stop);
	set_signal(SIGINT, on_stop);
	signal(SIGPIPE, SIG_IGN);
	while (!stopping) {
		if (cfg.audit_days > 0 &&
		    wall_now() - last_sweep >= AUDIT_SWEEP_EVERY) {
			last_sweep = wall_now();
			if ((swept = audit_sweep(c)) == -1)
				fprintf(stderr, "reassess: cannot remove old "
				    "audit records: %s\n", c->errmsg);
			else if (swept > 0)
				fprintf(stderr, "reassess: removed %" PRId64
				    " audit records older than %" PRId64
				    " days\n", swept, cfg.audit_days);
		}
		if (wall_now() - last_rotation >= AUDIT_SWEEP_EVERY) {
			last_rotation = wall_now();
			rotations_end(c);
		}
		if ((n = attempt_claim(c, &a)) == 0) {
			if (once)
				break;
			sleep(1);	/* a signal ends it early */
			continue;
		}
		if (n == -1) {
			fprintf(stderr, "reassess: cannot claim a delivery: "
			    "%s\n", c->err != SQLITE_OK ? c->errmsg :
			    "out of memory");
			if (once)
				return 1;
			sleep(1);
			continue;
		}
		if (!a.live) {
			a.status = "skipped";
			a.at = wall_now();
			a.response_ms = -1;
			snprintf(a.error, sizeof(a.error),
			    "the webhook is disabled or deleted");
		} else
			attempt_send(&a);
		fprintf(stderr, "reassess: delivery %s of %s to %s: %s%s%s\n",
		    a.id, a.event_type, a.webhook_id, a.status,
		    a.error[0] ? ": " : "", a.error);
		if (attempt_record(c, &a) == -1)
			fprintf(stderr, "reassess: cannot record delivery %s "
			    "(%s); it is sent again when its lease ends\n",
			    a.id, c->err != SQLITE_OK ? c->errmsg :
			    "out of memory");
		attempt_free(&a);
	}
	lc.global_cleanup();
	return 0;
}

/* ------------------------------------------------------------------------
 * Settings and main
 * ------------------------------------------------------------------------ */

/*
 * REASSESS_WEBHOOK_DELAYS: "4,16,64,240,240", the seconds before attempts
 * 2..6. Fewer values are allowed, the last standing for the attempts left
 * ("0" retries at once; the suite's "0,0,0,0" of 4.1 keeps its meaning).
 */
static void
parse_delays(const char *s)
{
	int64_t	 d[WEBHOOK_ATTEMPTS - 1];
	char	 buf[128], *tok, *save = NULL;
	size_t	 n = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (n == WEBHOOK_ATTEMPTS - 1 ||
		    parse_int(tok, strlen(tok), 0, 86400, &d[n]) != PI_OK)
			return;
		n++;
	}
	if (n == 0)
		return;
	for (; n < WEBHOOK_ATTEMPTS - 1; n++)
		d[n] = d[n - 1];
	memcpy(cfg.retry_delays, d, sizeof(d));
}

/*
 * Read the settings from the environment, once, before anything uses them.
 * A value that does not parse leaves the default (docs/configuration.md).
 */
static void
settings_read(void)
{
	const char	*env;
	int64_t		 ms;

	env = getenv("REASSESS_DB");
	if (env != NULL && *env != '\0')
		cfg.db = env;
	env = getenv("REASSESS_SYNC");
	cfg.sync_normal = env != NULL && strcasecmp(env, "normal") == 0;
	env = getenv("REASSESS_BUSY_TIMEOUT");
	if (env != NULL && parse_int(env, strlen(env), 0, INT_MAX, &ms) ==
	    PI_OK)
		cfg.busy_timeout_ms = (int)ms;
	env = getenv("REASSESS_WEBHOOK_ALLOW_PRIVATE");
	cfg.allow_private = env != NULL && strcmp(env, "1") == 0;
	env = getenv("REASSESS_WEBHOOK_TIMEOUT_MS");
	if (env != NULL && parse_int(env, strlen(env), 1, 600000, &ms) ==
	    PI_OK)
		cfg.webhook_timeout_ms = (long)ms;
	if ((env = getenv("REASSESS_WEBHOOK_DELAYS")) != NULL)
		parse_delays(env);
	env = getenv("REASSESS_AUDIT_DAYS");
	if (env != NULL && parse_int(env, strlen(env), 0, 1000000, &ms) ==
	    PI_OK)
		cfg.audit_days = ms;
	env = getenv("REASSESS_AUDIT_CALLS");
	if (env != NULL && parse_bool(env) == 0)
		cfg.audit_calls = 0;
	env = getenv("REASSESS_AUDIT_CALLS_WAIT_MS");
	if (env != NULL && parse_int(env, strlen(env), 0, 3600000, &ms) ==
	    PI_OK)
		cfg.calls_wait_ms = (int)ms;
}

/*
 * The settings, the database (--db), then: without a command, serve one
 * CGI request or a FastCGI request loop; else run the command. The exit
 * status is 0, 1 on failure, 2 on a usage error (5).
 */
int
main(int argc, char *argv[])
{
	struct conn	 c;
	const char	*cmd;
	int		 i = 1, rc;

	/*
	 * Rationale: every process (a CGI request, a worker, a command) uses
	 * SQLite from one thread, so its mutexes, and its memory statistics
	 * (a mutex around every allocation), are pure cost. Before any other
	 * SQLite call.
	 */
	sqlite3_config(SQLITE_CONFIG_SINGLETHREAD);
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	memset(&c, 0, sizeof(c));
	settings_read();
	c.path = cfg.db;
	if (argc > 2 && strcmp(argv[1], "--db") == 0) {
		c.path = argv[2];
		i = 3;
	} else if (argc == 2 && strcmp(argv[1], "--db") == 0)
		return usage();

	if (i >= argc) {
		/* No command: serve, as FastCGI or as CGI. */
		if (FCGX_Init() != 0)
			return die("cannot initialise libfcgi");
		if (!FCGX_IsCGI()) {
			serve_fcgi(c.path, 0);
			return 0;
		}
		if (getenv("REQUEST_METHOD") == NULL)
			return usage();
		return serve_cgi(c.path);
	}
	cmd = argv[i++];
	argc -= i;
	argv += i;
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("reassess %s (schema version %d)\n", REASSESS_VERSION,
		    SCHEMA_VERSION);
		return 0;
	}
	if (strcmp(cmd, "init") == 0)
		rc = argc == 0 ? cmd_init(&c) : usage();
	else if (strcmp(cmd, "org") == 0 && argc > 0)
		rc = cmd_org(&c, argc, argv);
	else if (strcmp(cmd, "key") == 0 && argc > 0)
		rc = cmd_key(&c, argc, argv);
	else if (strcmp(cmd, "check") == 0)
		rc = argc == 0 ? cmd_check(&c) : usage();
	else if (strcmp(cmd, "backup") == 0)
		rc = argc == 1 ? cmd_backup(&c, argv[0]) : usage();
	else if (strcmp(cmd, "deliver") == 0)
		rc = cmd_deliver(&c, argc, argv);
	else if (strcmp(cmd, "audit") == 0)
		rc = cmd_audit(&c, argc, argv);
	else if (strcmp(cmd, "serve") == 0)
		rc = cmd_serve(&c, argc, argv);
	else if (strcmp(cmd, "openapi") == 0)
		rc = argc == 0 ? cmd_openapi() : usage();
	else
		rc = usage();
	/* Closing checkpoints the WAL: the .db file alone is then whole. */
	conn_close(&c);
	return rc;
}
