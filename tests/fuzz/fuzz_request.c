/*
 * fuzz_request.c: a libFuzzer harness for reassess's request front end.
 *
 * It includes reassess.c whole (built with -Dmain=reassess_main) and feeds
 * each input to the real handle(), as one CGI request, against a scratch
 * database in /dev/shm that holds two orgs with a key each and a fixed set
 * of objects (so that authenticated paths and the handlers behind them are
 * reached). The connection lives across inputs, as in a FastCGI worker.
 *
 * Input framing: eight lines, then the body (the rest, any bytes):
 *
 *   METHOD            REQUEST_METHOD
 *   PATH              PATH_INFO; with a leading '~', REQUEST_URI instead
 *                     (no PATH_INFO), which the program percent-decodes
 *   QUERY             QUERY_STRING
 *   CONTENT-TYPE      CONTENT_TYPE; empty: unset
 *   AUTHORIZATION     HTTP_AUTHORIZATION; "@": "Bearer <org A's key>",
 *                     "@B": "Bearer <org B's key>"; empty: unset
 *   IDEMPOTENCY-KEY   HTTP_IDEMPOTENCY_KEY; empty: unset
 *   CONTENT-LENGTH    CONTENT_LENGTH; empty: the body's length; "-": unset
 *   REQUEST-ID        REQUEST_ID; empty: unset
 *   BODY...
 *
 * Missing lines are empty. Fixed ids (see seed_sql below) end in hex
 * digits: vendors ...01, ...02 (org A) and ...b1 (org B); event ...01;
 * alerts ...01 (active), ...02 (dismissed); plan ...01; reassessments ...01
 * (draft), ...02 (confirmed), ...03 (run), ...04 (dismissed); assessment
 * ...01.
 *
 * Besides ASan/UBSan/LSan, the harness aborts (a crash to libFuzzer) when a
 * response is a 5xx, when a body is not JSON, or when a transaction is left
 * open after a request, and when the response writer's encoding of the
 * whole input as one string (buf_str) differs from jansson's, byte for
 * byte (null where jansson refuses the bytes), or when its SHA-256 or its
 * HMAC-SHA256 (keyed by its first bytes) differs from libcrypto's.
 * REASSESS_FUZZ_ALLOW_5XX=1 turns the 5xx check off;
 * REASSESS_FUZZ_PRINT=1 prints each response on stderr.
 * The database is restored from its template every RESET_EVERY inputs, so
 * that it does not grow without bound.
 *
 * Build and run: make fuzz FUZZ_SECONDS=60. Reproduce a crash:
 * make fuzz-build && tests/fuzz/fuzz_request crash-<sha1>.
 */

int	reassess_main(int, char *[]);

#include "../../reassess.c"

#include <openssl/evp.h>	/* the reference for sha256() and hmac_sha256() */
#include <openssl/hmac.h>
#include <openssl/sha.h>

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define RESET_EVERY	2000	/* inputs between database restores */
#define FIELDS		8	/* framed lines before the body */

static const char key_a[] = "ak_live_FuzzKeyOfOrgAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char key_b[] = "ak_live_FuzzKeyOfOrgBbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

#define H32(x)	"000000000000000000000000000000" x
/* The rid of reassessment cbrsm_H32(x) (schema version 9). */
#define RID(x)	"(SELECT rid FROM reassessments WHERE id = 'cbrsm_" H32(x) "')"
static const char seed_sql[] =
    "INSERT INTO orgs (id, name, created_at) VALUES ('cborg_" H32("0a") "', 'Org A', 1);"
    "INSERT INTO orgs (id, name, created_at) VALUES ('cborg_" H32("0b") "', 'Org B', 1);"
    "INSERT INTO vendors (id, org_id, external_id, name, created_at,"
    " updated_at) VALUES"
    " ('cbvndr_" H32("01") "', 'cborg_" H32("0a") "', 'ext-1', 'Acme', 1, 1),"
    " ('cbvndr_" H32("02") "', 'cborg_" H32("0a") "', 'ext-2', 'Beta', 2, 2),"
    " ('cbvndr_" H32("b1") "', 'cborg_" H32("0b") "', NULL, 'Other', 3, 3);"
    "INSERT INTO radar_events (id, org_id, name, summary,"
    " primary_impact_type, occurred_at, created_at, updated_at) VALUES"
    " ('cbrevent_" H32("01") "', 'cborg_" H32("0a") "', 'Breach', 'S',"
    " 'Infosec', 1, 1, 1);"
    "INSERT INTO radar_event_vendors VALUES"
    " ('cbrevent_" H32("01") "', 'cbvndr_" H32("01") "'),"
    " ('cbrevent_" H32("01") "', 'cbvndr_" H32("02") "');"
    "INSERT INTO radar_alerts (id, org_id, vendor_id, event_id, summary,"
    " severity, is_dismissed, dismissed_at, dismiss_reason, created_at,"
    " updated_at) VALUES"
    " ('cbrdrres_" H32("01") "', 'cborg_" H32("0a") "', 'cbvndr_" H32("01")
    "', 'cbrevent_" H32("01") "', 'S', 'high', 0, NULL, NULL, 1, 1),"
    " ('cbrdrres_" H32("02") "', 'cborg_" H32("0a") "', 'cbvndr_" H32("02")
    "', 'cbrevent_" H32("01") "', 'S', 'low', 1, 5, 'fp', 1, 1);"
    "INSERT INTO assessment_plans (id, org_id, name, control_set_ids,"
    " created_at, updated_at) VALUES ('cbasmtpl_" H32("01") "', 'cborg_"
    H32("0a") "', 'Plan', '[\"cs_1\"]', 1, 1);"
    "INSERT INTO reassessments (id, org_id, status, title,"
    " assessment_plan_id, radar_event_id, created_at, updated_at) VALUES"
    " ('cbrsm_" H32("01") "', 'cborg_" H32("0a") "', 'draft', 'T', NULL,"
    " 'cbrevent_" H32("01") "', 1, 1),"
    " ('cbrsm_" H32("02") "', 'cborg_" H32("0a") "', 'confirmed', NULL,"
    " 'cbasmtpl_" H32("01") "', 'cbrevent_" H32("01") "', 2, 2),"
    " ('cbrsm_" H32("03") "', 'cborg_" H32("0a") "', 'run', NULL,"
    " 'cbasmtpl_" H32("01") "', 'cbrevent_" H32("01") "', 3, 3),"
    " ('cbrsm_" H32("04") "', 'cborg_" H32("0a") "', 'dismissed', NULL,"
    " NULL, NULL, 4, 4);"
    "INSERT INTO reassessment_vendors (rsm_rid, vendor_id, position,"
    " source, included) VALUES"
    " (" RID("01") ", 'cbvndr_" H32("01") "', 1, 'matched', 1),"
    " (" RID("01") ", 'cbvndr_" H32("02") "', 2, 'manual', 0),"
    " (" RID("02") ", 'cbvndr_" H32("01") "', 1, 'matched', 1),"
    " (" RID("03") ", 'cbvndr_" H32("01") "', 1, 'matched', 1);"
    "INSERT INTO reassessment_alerts VALUES"
    " (" RID("01") ", 'cbrdrres_" H32("01") "');"
    "INSERT INTO assessments (id, org_id, vendor_id, name, control_set_ids,"
    " assessment_plan_id, reassessment_id, created_at, updated_at) VALUES"
    " ('cbqsrw_" H32("01") "', 'cborg_" H32("0a") "', 'cbvndr_" H32("01")
    "', 'Plan: Acme', '[\"cs_1\"]', 'cbasmtpl_" H32("01") "', 'cbrsm_"
    H32("03") "', 3, 3);"
    "UPDATE reassessment_vendors SET assessment_id = 'cbqsrw_" H32("01")
    "' WHERE rsm_rid = " RID("03") ";";

static char		 db_path[64], tmpl_path[80];
static struct conn	 fconn;		/* lives across inputs */
static unsigned long	 runs;
static int		 allow_5xx;
static int		 print;		/* REASSESS_FUZZ_PRINT: show responses */
static FILE		*null_err;	/* stderr while a request runs */

static void
die_setup(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_request: %s: %s\n", what,
	    detail != NULL ? detail : "");
	abort();
}

/* Copy file from to file to (both small). */
static void
copy_file(const char *from, const char *to)
{
	char	 buf[65536];
	FILE	*in, *out;
	size_t	 n;

	if ((in = fopen(from, "rb")) == NULL || (out = fopen(to, "wb")) == NULL)
		die_setup("copy", strerror(errno));
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			die_setup("copy", strerror(errno));
	fclose(in);
	if (fclose(out) != 0)
		die_setup("copy", strerror(errno));
}

/* Put the database back as the template has it. */
static void
restore_db(void)
{
	char	 side[96];

	conn_close(&fconn);
	snprintf(side, sizeof(side), "%s-wal", db_path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", db_path);
	unlink(side);
	copy_file(tmpl_path, db_path);
}

static void
remove_db(void)
{
	char	 side[96];

	conn_close(&fconn);
	unlink(db_path);
	snprintf(side, sizeof(side), "%s-wal", db_path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", db_path);
	unlink(side);
	unlink(tmpl_path);
}

/* Insert a key whose secret is secret for org. */
static void
add_key(sqlite3 *db, const char *kid, const char *org, const char *secret)
{
	unsigned char	 h[SHA256_DIGEST_LENGTH];
	sqlite3_stmt	*st;

	sha256(secret, strlen(secret), h);
	if (sqlite3_prepare_v2(db, "INSERT INTO api_keys (id, org_id, name,"
	    " secret_hash, created_at) VALUES (?1, ?2, 'fuzz', ?3, 1)", -1,
	    &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, kid, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, org, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_blob(st, 3, h, sizeof(h), SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE)
		die_setup("key", sqlite3_errmsg(db));
	sqlite3_finalize(st);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	*init[] = { "reassess", "--db", db_path, "init", NULL };
	char	*err = NULL;
	sqlite3	*db;
	FILE	*saved;

	(void)argc;
	(void)argv;
	snprintf(db_path, sizeof(db_path), "/dev/shm/reassess-fuzz-%ld.db",
	    (long)getpid());
	snprintf(tmpl_path, sizeof(tmpl_path), "%s.template", db_path);
	unlink(db_path);

	saved = stderr;		/* init says what it did on stderr */
	if ((stderr = fopen("/dev/null", "w")) == NULL)
		die_setup("/dev/null", strerror(errno));
	if (reassess_main(4, init) != 0)
		die_setup("reassess init failed", db_path);
	fclose(stderr);
	stderr = saved;

	if (sqlite3_open(db_path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, seed_sql, NULL, NULL, &err) != SQLITE_OK)
		die_setup("seed", err != NULL ? err : sqlite3_errmsg(db));
	add_key(db, "cbak_" H32("0a"), "cborg_" H32("0a"), key_a);
	add_key(db, "cbak_" H32("0b"), "cborg_" H32("0b"), key_b);
	if (sqlite3_close(db) != SQLITE_OK)
		die_setup("close", "seeded database");
	copy_file(db_path, tmpl_path);
	atexit(remove_db);

	/* What main() sets up from the environment, done once here. */
	cfg.sync_normal = 1;	/* tmpfs: fsync buys nothing */
	cfg.busy_timeout_ms = 0;	/* one process: a lock means a bug */
	allow_5xx = getenv("REASSESS_FUZZ_ALLOW_5XX") != NULL;
	print = getenv("REASSESS_FUZZ_PRINT") != NULL;
	if ((null_err = fopen("/dev/null", "w")) == NULL)
		die_setup("/dev/null", strerror(errno));
	memset(&fconn, 0, sizeof(fconn));
	fconn.path = db_path;
	return 0;
}

/* "NAME=value" (value n bytes), malloc'd. */
static char *
env_var(const char *name, const char *value, size_t n)
{
	char	*s;

	if (asprintf(&s, "%s=%.*s", name, (int)n, value) == -1)
		abort();
	return s;
}

/* Print the request that failed an oracle, then abort. */
static void
oracle_fail(const char *why, char **envp, const char *out, size_t outlen)
{
	size_t	 i;

	fprintf(stderr, "fuzz_request: %s\n  request:\n", why);
	for (i = 0; envp[i] != NULL; i++)
		fprintf(stderr, "    %s\n", envp[i]);
	fprintf(stderr, "  response:\n%.*s\n", (int)(outlen > 2000 ? 2000 :
	    outlen), out != NULL ? out : "");
	abort();
}

/* buf_str() writes data as json_dumps writes it as a string, or null. */
static void
check_buf_str(const uint8_t *data, size_t size)
{
	struct buf	 b = { NULL, 0, 0, 0 };
	json_t		*s;
	char		*want;

	s = json_stringn((const char *)data, size);
	want = s != NULL ? json_dumps(s, JSON_ENCODE_ANY) : strdup("null");
	buf_str(&b, (const char *)data, size);
	if (want == NULL || b.oom || strcmp(b.p, want) != 0) {
		fprintf(stderr, "buf_str differs from jansson:\n  %s\n  %s\n",
		    b.p != NULL ? b.p : "(none)", want != NULL ? want : "(none)");
		abort();
	}
	free(b.p);
	free(want);
	json_decref(s);
}

/* sha256() and hmac_sha256() give libcrypto's digests. */
static void
check_sha256(const uint8_t *data, size_t size)
{
	unsigned char	 ours[SHA256_LEN], ref[SHA256_LEN];
	unsigned int	 len = 0;
	size_t		 klen = size > 0 ? data[0] % 100 : 0;

	if (klen > size)
		klen = size;
	sha256(data, size, ours);
	SHA256(data, size, ref);
	if (memcmp(ours, ref, sizeof(ours)) != 0) {
		fprintf(stderr, "sha256 differs from libcrypto\n");
		abort();
	}
	hmac_sha256(data, klen, data, size, ours);
	if (HMAC(EVP_sha256(), data, (int)klen, data, size, ref, &len) == NULL ||
	    len != sizeof(ref) || memcmp(ours, ref, sizeof(ours)) != 0) {
		fprintf(stderr, "hmac_sha256 differs from libcrypto\n");
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*p = (const char *)data, *end = p + size, *nl;
	const char	*f[FIELDS];
	size_t		 flen[FIELDS], i, ne = 0, outlen = 0, bodylen;
	char		*envp[FIELDS + 4], *out = NULL, cl[32];
	const char	*auth, *body, *hdr_end, *json_start, *ctype;
	FILE		*in, *saved_in, *saved_out, *saved_err;
	struct io	 io;
	json_t		*j;
	int		 status = 0;

	check_buf_str(data, size);
	check_sha256(data, size);
	for (i = 0; i < FIELDS; i++) {
		nl = memchr(p, '\n', (size_t)(end - p));
		f[i] = p;
		flen[i] = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		p = nl != NULL ? nl + 1 : end;
	}
	body = p;
	bodylen = (size_t)(end - p);

	/* The environment a web server would give (values stop at a NUL). */
	envp[ne++] = env_var("REQUEST_METHOD", f[0], flen[0]);
	if (flen[1] > 0 && f[1][0] == '~')
		envp[ne++] = env_var("REQUEST_URI", f[1] + 1, flen[1] - 1);
	else
		envp[ne++] = env_var("PATH_INFO", f[1], flen[1]);
	envp[ne++] = env_var("QUERY_STRING", f[2], flen[2]);
	if (flen[3] > 0)
		envp[ne++] = env_var("CONTENT_TYPE", f[3], flen[3]);
	if (flen[4] > 0) {
		auth = NULL;
		if (flen[4] == 1 && f[4][0] == '@')
			auth = key_a;
		else if (flen[4] == 2 && f[4][0] == '@' && f[4][1] == 'B')
			auth = key_b;
		if (auth != NULL) {
			if (asprintf(&envp[ne++], "HTTP_AUTHORIZATION=Bearer %s",
			    auth) == -1)
				abort();
		} else
			envp[ne++] = env_var("HTTP_AUTHORIZATION", f[4],
			    flen[4]);
	}
	if (flen[5] > 0)
		envp[ne++] = env_var("HTTP_IDEMPOTENCY_KEY", f[5], flen[5]);
	if (flen[6] == 0) {
		snprintf(cl, sizeof(cl), "%zu", bodylen);
		envp[ne++] = env_var("CONTENT_LENGTH", cl, strlen(cl));
	} else if (!(flen[6] == 1 && f[6][0] == '-'))
		envp[ne++] = env_var("CONTENT_LENGTH", f[6], flen[6]);
	if (flen[7] > 0)
		envp[ne++] = env_var("REQUEST_ID", f[7], flen[7]);
	envp[ne] = NULL;

	if (runs++ % RESET_EVERY == 0)
		restore_db();

	/* Body from memory on stdin; response into memory on stdout. */
	if ((in = fmemopen(bodylen > 0 ? (void *)body : (void *)"", bodylen,
	    "r")) == NULL)
		abort();
	saved_in = stdin;
	saved_out = stdout;
	saved_err = stderr;
	stdin = in;
	if ((stdout = open_memstream(&out, &outlen)) == NULL)
		abort();
	stderr = null_err;
	io.fcgi = NULL;
	io.envp = envp;
	handle(&fconn, &io);
	fclose(stdout);
	fclose(in);
	stdin = saved_in;
	stdout = saved_out;
	stderr = saved_err;

	if (print)
		fprintf(stderr, "%.*s\n", (int)outlen, out);

	/* Oracles: a 4xx at worst, a JSON body, no transaction left open. */
	if (outlen < 12 || strncmp(out, "Status: ", 8) != 0 ||
	    sscanf(out + 8, "%d", &status) != 1)
		oracle_fail("no Status line", envp, out, outlen);
	if (status >= 500 && !allow_5xx)
		oracle_fail("5xx response", envp, out, outlen);
	if (fconn.db != NULL && !sqlite3_get_autocommit(fconn.db))
		oracle_fail("transaction left open", envp, out, outlen);
	if ((hdr_end = strstr(out, "\r\n\r\n")) == NULL)
		oracle_fail("no end of headers", envp, out, outlen);
	json_start = hdr_end + 4;
	/*
	 * The body is JSON, but for the review page's own files (API.md 8),
	 * which say what they are, and a 304 of them, which has none.
	 */
	ctype = strstr(out, "\r\nContent-Type: ");
	if (ctype != NULL && ctype < hdr_end && strncmp(ctype + 16,
	    "application/json", 16) != 0) {
		if (strncmp(ctype + 16, "text/html;", 10) != 0 &&
		    strncmp(ctype + 16, "text/css;", 9) != 0 &&
		    strncmp(ctype + 16, "text/javascript;", 16) != 0)
			oracle_fail("neither JSON nor a page file", envp, out,
			    outlen);
		if (status != 200 && status != 304)
			oracle_fail("a page file that is not a 200 or 304", envp,
			    out, outlen);
	} else if (status != 204 && status != 304) {
		j = json_loadb(json_start, outlen - (size_t)(json_start - out),
		    0, NULL);
		if (j == NULL)
			oracle_fail("body is not JSON", envp, out, outlen);
		json_decref(j);
	}

	free(out);
	for (i = 0; i < ne; i++)
		free(envp[i]);
	return 0;
}
