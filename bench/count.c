/*
 * bench/count.c: what one request costs in work that does not depend on
 * the machine: statements run, sqlite3_step calls and SQLite VM steps per
 * request, and pages written to the WAL per commit. bench/run.sh runs it
 * (bench/README.md, "Deterministic figures").
 *
 * Like tests/fuzz/fuzz_request.c, it includes reassess.c whole (its main()
 * renamed reassess_main() by a macro) and feeds CGI requests to the real
 * handle(), on one connection that lives across requests as in a FastCGI
 * worker. Everything
 * goes through the API: `reassess init`, `org create` and `key create`
 * through reassess_main(), then vendors, events, plans and reassessments
 * through handle(), so that it keeps working when the schema and the
 * statements change. It names no table and no statement.
 *
 * Two things are swapped under reassess.c, by macros set before it is
 * included: getrandom() gives a fixed pseudo-random sequence, so that the
 * ids, and with them the B-trees' shapes, are the same on every run (only
 * the timestamps differ, and their size does not); and every call that
 * reassess.c makes to sqlite3_step() is counted, with the VM steps it took.
 *
 * Counting:
 *   statements  statements that began running (sqlite3_trace_v2,
 *               SQLITE_TRACE_STMT), BEGIN and COMMIT included;
 *   triggers    trigger programs run (the same trace, "-- TRIGGER ..."),
 *               and trigger_statements, the statements they ran ("-- ...");
 *   steps       reassess.c's sqlite3_step() calls, one per row plus one per
 *               statement (steps inside sqlite3_exec() would not count:
 *               reassess.c uses it only to open a connection);
 *   vm_steps    SQLite virtual machine instructions, triggers included
 *               (SQLITE_STMTSTATUS_VM_STEP);
 *   commits     write transactions committed (sqlite3_wal_hook);
 *   pages       WAL frames appended by the request's commits: before each
 *               measured request the WAL is checkpointed and truncated, so
 *               the hook's frame count after the commit is the request's.
 *               (Installing a WAL hook also turns the automatic checkpoint
 *               off, so none happens in between.)
 * Each written page is also named by the table or index it belongs to
 * (the dbstat virtual table after the commit; "(freelist)" for the pages
 * that belong to none).
 *
 * The database: org A, 10 vendors, a radar event linking them (a high
 * alert each), a plan; 20 reassessments of all 10 (GET one, then PATCH),
 * 40 drafts of all 10 with the plan (run), FILL of 1-3 vendors (as the
 * bench's org A), then the 100 measured creates of 3 vendors. Org B, the
 * same vendors and event, and exactly one page of 50 reassessments of 1-3
 * vendors (the list page: its items do not depend on the order of equal
 * timestamps). Org C, 100 vendors, 100 reassessments of all 100, run:
 * 10,000 assessments before anything is measured, so that the indexes of
 * random keys that a run writes span many pages, as in a real database
 * (on an almost empty one, a run's 10 new keys share a few leaves, and its
 * pages would be less than half of what they are).
 *
 * Usage: count [-v] DB [FILL]
 *   DB    the database to make (it and its -wal, -shm are replaced);
 *   FILL  extra reassessments of 1-3 vendors in the measured org, so that
 *         its B-trees are not a single page (default 1000);
 *   -v    also the breakdown: statements by SQL text, pages by B-tree.
 *
 * Output, one line per measured request kind (means over its requests):
 *   COUNT kind=K requests=N status=S statements=X triggers=X
 *         trigger_statements=X steps=X vm_steps=X commits=X pages=X
 *         pages_min=N pages_max=N
 * and with -v, DETAIL lines. Exit status 1 when anything fails or a
 * measured request does not answer as expected.
 */

#define _GNU_SOURCE
#include <sys/random.h>
#include <sys/types.h>
#include <sqlite3.h>

static ssize_t	bench_getrandom(void *, size_t, unsigned int);
static int	bench_step(sqlite3_stmt *);

int	reassess_main(int, char *[]);

#define getrandom	bench_getrandom
#define sqlite3_step	bench_step
#define main		reassess_main

#include "../reassess.c"

#undef getrandom
#undef sqlite3_step
#undef main

#define N_POOL		20	/* reassessments of 10 vendors: GET one, PATCH */
#define N_RUNS		40	/* drafts of 10 vendors with a plan: run */
#define N_CREATES	100	/* POST /v1/reassessments measured */
#define N_PAGE		50	/* the list's page, and org B's reassessments */
#define N_LISTS		5	/* list pages measured */
#define N_VENDORS	10	/* vendors per org */
#define N_HISTORY	100	/* org C: reassessments run before measuring, */
#define N_HISTORY_VENDORS 100	/* each of this many vendors */
#define BODY_LEN	8192	/* a request body of ours */
#define N_NAMES		256	/* distinct SQL texts or B-tree names kept */

/* ---- What reassess.c sees instead of getrandom() and sqlite3_step() ---- */

static uint64_t	 prng = 0x9e3779b97f4a7c15ULL;	/* splitmix64 state */

/* A fixed sequence of bytes (splitmix64), for ids and secrets. */
static ssize_t
bench_getrandom(void *buf, size_t n, unsigned int flags)
{
	unsigned char	*p = buf;
	uint64_t	 z = 0;
	size_t		 i;

	(void)flags;
	for (i = 0; i < n; i++) {
		if (i % 8 == 0) {
			z = (prng += 0x9e3779b97f4a7c15ULL);
			z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
			z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
			z ^= z >> 31;
		}
		p[i] = (unsigned char)(z >> (8 * (i % 8)));
	}
	return (ssize_t)n;
}

/* A tally of one request, or of a kind's requests. */
struct tally {
	long		 statements;
	long		 triggers;
	long		 trigger_statements;
	long		 steps;
	long long	 vm_steps;
	long		 commits;
	long		 frames;	/* WAL frames after the last commit */
};

static struct tally	 cur;		/* the request being measured */
static int		 counting;	/* between tally_start and tally_stop */

/* sqlite3_step(), counted. */
static int
bench_step(sqlite3_stmt *st)
{
	int	 before = sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 0);
	int	 rc = sqlite3_step(st);

	if (counting) {
		cur.steps++;
		cur.vm_steps += sqlite3_stmt_status(st,
		    SQLITE_STMTSTATUS_VM_STEP, 0) - before;
	}
	return rc;
}

/* ---- Breakdowns: counts by name (SQL text, B-tree) ---------------------- */

struct names {
	char	*name[N_NAMES];
	double	 n[N_NAMES];
	size_t	 len;
};

/* Add k to name's count in t (the name copied on first sight). */
static void
names_add(struct names *t, const char *name, double k)
{
	size_t	 i;

	for (i = 0; i < t->len; i++)
		if (strcmp(t->name[i], name) == 0) {
			t->n[i] += k;
			return;
		}
	if (t->len == N_NAMES || (t->name[t->len] = strdup(name)) == NULL)
		return;
	t->n[t->len++] = k;
}

static void
names_clear(struct names *t)
{
	size_t	 i;

	for (i = 0; i < t->len; i++)
		free(t->name[i]);
	t->len = 0;
}

static struct names	 sql_seen;	/* statements of the current kind */
static struct names	 pages_seen;	/* pages of the current kind, by B-tree */
static int		 verbose;

/* The first line of sql, spaces squeezed, at most 100 characters. */
static void
sql_label(char *out, size_t sz, const char *sql)
{
	size_t	 n = 0;
	int	 space = 0;

	for (; *sql != '\0' && n + 1 < sz && n < 100; sql++) {
		if (isspace((unsigned char)*sql)) {
			space = n > 0;
			continue;
		}
		if (space && n + 2 < sz)
			out[n++] = ' ';
		space = 0;
		out[n++] = *sql;
	}
	out[n] = '\0';
}

/* SQLITE_TRACE_STMT: a statement, or a trigger program, begins. */
static int
on_trace(unsigned type, void *arg, void *p, void *x)
{
	const char	*sql = x;
	char		 label[128];

	(void)arg;
	(void)p;
	if (type != SQLITE_TRACE_STMT || !counting || sql == NULL)
		return 0;
	if (strncmp(sql, "-- TRIGGER ", 11) == 0)
		cur.triggers++;
	else if (strncmp(sql, "--", 2) == 0)
		cur.trigger_statements++;
	else
		cur.statements++;
	if (verbose) {
		sql_label(label, sizeof(label), sql);
		names_add(&sql_seen, label, 1);
	}
	return 0;
}

/* The WAL hook: a write transaction committed; nframe frames in the WAL. */
static int
on_wal(void *arg, sqlite3 *db, const char *dbname, int nframe)
{
	(void)arg;
	(void)db;
	(void)dbname;
	if (counting) {
		cur.commits++;
		cur.frames = nframe;
	}
	return SQLITE_OK;
}

/* ---- The connection, requests through handle() ------------------------- */

static struct conn	 bc;		/* the worker's connection */
static sqlite3		*hooked;	/* bc.db when the hooks were set */
static char		 wal_path[4096];

static void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	fputs("count: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/*
 * One request through handle(), as CGI: its status; the body, parsed, in
 * *out when out is not NULL (the caller json_decref()s it).
 */
static int
request(const char *method, const char *path, const char *query,
    const char *key, const char *body, json_t **out)
{
	char		*envp[8], *resp = NULL, *p;
	size_t		 ne = 0, resplen = 0, i;
	FILE		*in, *saved_in = stdin, *saved_out = stdout;
	struct io	 io;
	int		 status = 0;
	size_t		 blen = body != NULL ? strlen(body) : 0;

	if (asprintf(&envp[ne++], "REQUEST_METHOD=%s", method) == -1 ||
	    asprintf(&envp[ne++], "PATH_INFO=%s", path) == -1 ||
	    asprintf(&envp[ne++], "QUERY_STRING=%s", query != NULL ? query :
	    "") == -1 ||
	    asprintf(&envp[ne++], "HTTP_AUTHORIZATION=Bearer %s", key) == -1 ||
	    asprintf(&envp[ne++], "CONTENT_LENGTH=%zu", blen) == -1 ||
	    asprintf(&envp[ne++], "CONTENT_TYPE=application/json") == -1)
		fatal("out of memory");
	envp[ne] = NULL;
	if ((in = fmemopen(blen > 0 ? (void *)body : (void *)"", blen > 0 ?
	    blen : 1, "r")) == NULL)
		fatal("fmemopen: %s", strerror(errno));
	stdin = in;
	if ((stdout = open_memstream(&resp, &resplen)) == NULL)
		fatal("open_memstream: %s", strerror(errno));
	io.fcgi = NULL;
	io.envp = envp;
	handle(&bc, &io);
	fclose(stdout);
	fclose(in);
	stdin = saved_in;
	stdout = saved_out;
	if (resplen < 12 || sscanf(resp, "Status: %d", &status) != 1)
		fatal("%s %s: no Status line", method, path);
	if (out != NULL) {
		*out = NULL;
		if ((p = strstr(resp, "\r\n\r\n")) != NULL)
			*out = json_loads(p + 4, 0, NULL);
	}
	if (status < 200 || status > 299)
		fprintf(stderr, "count: %s %s answered: %.*s\n", method, path,
		    (int)(resplen > 600 ? 600 : resplen), resp);
	free(resp);
	for (i = 0; i < ne; i++)
		free(envp[i]);
	return status;
}

/* A request that must answer want; the new object's "id" into id. */
static void
must(int want, const char *method, const char *path, const char *key,
    const char *body, char *id, size_t idsz)
{
	json_t		*j = NULL;
	const char	*s;
	int		 status;

	status = request(method, path, NULL, key, body, id != NULL ? &j : NULL);
	if (status != want)
		fatal("%s %s answered %d, not %d", method, path, status, want);
	if (id != NULL) {
		if ((s = json_string_value(json_object_get(j, "id"))) == NULL)
			fatal("%s %s: no id in the answer", method, path);
		snprintf(id, idsz, "%s", s);
	}
	json_decref(j);
}

/*
 * `reassess --db DB ARG...` (NULL-terminated) through reassess_main(): its
 * standard output's first line, malloc'd; exits on failure.
 */
static char *
cli(const char *db, ...)
{
	char		*argv[16], *out = NULL;
	const char	*s;
	size_t		 len = 0;
	FILE		*saved = stdout, *saved_err = stderr;
	int		 argc = 0, rc;
	va_list		 ap;

	argv[argc++] = (char *)"reassess";
	argv[argc++] = (char *)"--db";
	argv[argc++] = (char *)db;
	va_start(ap, db);
	while ((s = va_arg(ap, const char *)) != NULL && argc < 15)
		argv[argc++] = (char *)s;
	va_end(ap);
	argv[argc] = NULL;
	if ((stdout = open_memstream(&out, &len)) == NULL ||
	    (stderr = fopen("/dev/null", "w")) == NULL)
		fatal("cannot redirect");
	rc = reassess_main(argc, argv);
	fclose(stdout);
	fclose(stderr);
	stdout = saved;
	stderr = saved_err;
	if (rc != 0)
		fatal("reassess %s %s failed", argv[3], argv[4] != NULL ?
		    argv[4] : "");
	out[strcspn(out, "\n")] = '\0';
	return out;
}

/* An org, its key, its vendors, a radar event and a plan. */
struct org {
	char	*id;
	char	*key;
	int	 nv;
	char	 (*vendors)[ID_LEN];
	char	 event[ID_LEN];
	char	 plan[ID_LEN];
};

/* The org and its key, as an operator makes them (before settings). */
static void
org_make(struct org *o, const char *db, const char *name)
{
	o->id = cli(db, "org", "create", name, (char *)NULL);
	o->key = cli(db, "key", "create", o->id, "--name", "bench",
	    (char *)NULL);
}

/*
 * Its nv vendors, an event linking the first linked of them (a high alert
 * each), and a plan.
 */
static void
org_seed(struct org *o, int nv, int linked)
{
	char	 body[BODY_LEN], *p;
	int	 i;

	o->nv = nv;
	if ((o->vendors = calloc((size_t)nv, sizeof(*o->vendors))) == NULL)
		fatal("out of memory");
	for (i = 0; i < nv; i++) {
		snprintf(body, sizeof(body), "{\"name\":\"Bench vendor %d\","
		    "\"external_id\":\"bench-%d\",\"website\":"
		    "\"https://v%d.example\"}", i + 1, i + 1, i + 1);
		must(201, "POST", "/v1/vendors", o->key, body, o->vendors[i],
		    ID_LEN);
	}
	p = body + snprintf(body, sizeof(body), "{\"name\":\"Bench breach\","
	    "\"summary\":\"A breach at a shared provider.\","
	    "\"primary_impact_type\":\"Infosec\",\"alert_severity\":\"high\","
	    "\"vendor_ids\":[");
	for (i = 0; i < linked; i++)
		p += snprintf(p, 64, "%s\"%s\"", i ? "," : "", o->vendors[i]);
	snprintf(p, 8, "]}");
	must(201, "POST", "/v1/radar/events", o->key, body, o->event, ID_LEN);
	must(201, "POST", "/v1/assessment_plans", o->key, "{\"name\":"
	    "\"Security review\",\"control_set_ids\":[\"cs_access_control\","
	    "\"cs_incident_response\"]}", o->plan, ID_LEN);
}

/*
 * The body of a POST /v1/reassessments in o: n vendors from the first
 * (cycling), with the plan when plan is set; as bench/wrk.lua makes them.
 */
static void
rsm_body(char *body, size_t sz, const struct org *o, int first, int n,
    int step, int plan, const char *title)
{
	char	*p = body;
	int	 i;

	p += snprintf(p, sz, "{\"radar_event_id\":\"%s\",", o->event);
	if (plan)
		p += snprintf(p, sz - (size_t)(p - body),
		    "\"assessment_plan_id\":\"%s\",", o->plan);
	p += snprintf(p, sz - (size_t)(p - body), "\"vendor_ids\":[");
	for (i = 0; i < n; i++)
		p += snprintf(p, sz - (size_t)(p - body), "%s\"%s\"",
		    i ? "," : "", o->vendors[(first + i * step) % o->nv]);
	snprintf(p, sz - (size_t)(p - body), "],\"title\":\"%s\"}", title);
}

/* ---- Measuring ----------------------------------------------------------- */

static const char	*kind;		/* the kind being measured */
static struct tally	 sum;		/* its requests, summed */
static long		 nreq, pages_min, pages_max;
static int		 kind_status;

/* Start a kind of request. */
static void
kind_start(const char *k, int status)
{
	kind = k;
	kind_status = status;
	memset(&sum, 0, sizeof(sum));
	nreq = 0;
	pages_min = LONG_MAX;
	pages_max = 0;
	names_clear(&sql_seen);
	names_clear(&pages_seen);
}

/* The page number of every frame in the WAL, by the B-tree it belongs to. */
static void
pages_by_btree(long nframes)
{
	unsigned char	 hdr[32], fh[24];
	sqlite3_stmt	*st;
	char		**owner = NULL;
	uint32_t	 psz, pgno;
	long		 npages = 0, i;
	FILE		*f;

	/* Who owns each page now: dbstat, through the connection. */
	if (sqlite3_prepare_v2(bc.db, "SELECT pageno, name FROM dbstat", -1,
	    &st, NULL) != SQLITE_OK)
		fatal("dbstat: %s", sqlite3_errmsg(bc.db));
	while (sqlite3_step(st) == SQLITE_ROW) {
		i = sqlite3_column_int64(st, 0);
		if (i >= npages) {
			long n = i * 2 + 16;

			if ((owner = realloc(owner, (size_t)n *
			    sizeof(*owner))) == NULL)
				fatal("out of memory");
			memset(owner + npages, 0, (size_t)(n - npages) *
			    sizeof(*owner));
			npages = n;
		}
		free(owner[i]);
		owner[i] = strdup((const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);

	if ((f = fopen(wal_path, "rb")) == NULL ||
	    fread(hdr, 1, sizeof(hdr), f) != sizeof(hdr))
		fatal("%s: cannot read", wal_path);
	psz = (uint32_t)hdr[8] << 24 | (uint32_t)hdr[9] << 16 |
	    (uint32_t)hdr[10] << 8 | hdr[11];
	for (i = 0; i < nframes; i++) {
		if (fseek(f, 32 + i * (long)(24 + psz), SEEK_SET) != 0 ||
		    fread(fh, 1, sizeof(fh), f) != sizeof(fh))
			fatal("%s: frame %ld: cannot read", wal_path, i + 1);
		pgno = (uint32_t)fh[0] << 24 | (uint32_t)fh[1] << 16 |
		    (uint32_t)fh[2] << 8 | fh[3];
		names_add(&pages_seen, (long)pgno < npages && owner[pgno] !=
		    NULL ? owner[pgno] : "(freelist)", 1);
	}
	fclose(f);
	for (i = 0; i < npages; i++)
		free(owner[i]);
	free(owner);
}

/*
 * One measured request: the WAL emptied first (a checkpoint that
 * truncates it), then the request with the counters on.
 */
static void
measure(const char *method, const char *path, const char *query,
    const char *key, const char *body)
{
	int	 status, nlog = 0, nckpt = 0;

	if (sqlite3_wal_checkpoint_v2(bc.db, "main",
	    SQLITE_CHECKPOINT_TRUNCATE, &nlog, &nckpt) != SQLITE_OK ||
	    nlog != 0)
		fatal("checkpoint: %s (%d frames left)", sqlite3_errmsg(bc.db),
		    nlog);
	memset(&cur, 0, sizeof(cur));
	counting = 1;
	status = request(method, path, query, key, body, NULL);
	counting = 0;
	if (status != kind_status)
		fatal("%s: %s %s answered %d, not %d", kind, method, path,
		    status, kind_status);
	if (bc.db != hooked)
		fatal("%s: the connection was reopened", kind);
	if (verbose && cur.frames > 0)
		pages_by_btree(cur.frames);
	sum.statements += cur.statements;
	sum.triggers += cur.triggers;
	sum.trigger_statements += cur.trigger_statements;
	sum.steps += cur.steps;
	sum.vm_steps += cur.vm_steps;
	sum.commits += cur.commits;
	sum.frames += cur.frames;
	if (cur.frames < pages_min)
		pages_min = cur.frames;
	if (cur.frames > pages_max)
		pages_max = cur.frames;
	nreq++;
}

/* Print the kind's means, and with -v its breakdown. */
static void
kind_end(void)
{
	double	 n = (double)nreq;
	size_t	 i;

	printf("COUNT kind=%s requests=%ld status=%d statements=%.2f "
	    "triggers=%.2f trigger_statements=%.2f steps=%.2f vm_steps=%.0f "
	    "commits=%.2f pages=%.2f pages_min=%ld pages_max=%ld\n", kind,
	    nreq, kind_status, sum.statements / n, sum.triggers / n,
	    sum.trigger_statements / n, sum.steps / n,
	    (double)sum.vm_steps / n, sum.commits / n, sum.frames / n,
	    pages_min, pages_max);
	for (i = 0; verbose && i < sql_seen.len; i++)
		printf("DETAIL kind=%s statement %6.2f  %s\n", kind,
		    sql_seen.n[i] / n, sql_seen.name[i]);
	for (i = 0; verbose && i < pages_seen.len; i++)
		printf("DETAIL kind=%s pages %6.2f  %s\n", kind,
		    pages_seen.n[i] / n, pages_seen.name[i]);
	fflush(stdout);
}

/*
 * Print, for every index of the database, the statements of stmts[] whose
 * plan (EXPLAIN QUERY PLAN, on this database as seeded) uses it: a line
 * "INDEX name uses=N" and, with -v, a DETAIL line per statement. An
 * index no statement uses shows uses=0; an automatic index of a PRIMARY
 * KEY or UNIQUE constraint (sqlite_autoindex_*) may have none, as it is
 * there for the constraint.
 */
static void
index_audit(sqlite3 *db)
{
	sqlite3_stmt	*ix = NULL, *plan = NULL;
	const char	*name, *detail, *p;
	char		 sql[8192];
	size_t		 i, n;
	int		 uses;

	if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_schema WHERE"
	    " type = 'index' ORDER BY tbl_name, name", -1, &ix, NULL) !=
	    SQLITE_OK)
		fatal("index list: %s", sqlite3_errmsg(db));
	while (sqlite3_step(ix) == SQLITE_ROW) {
		name = (const char *)sqlite3_column_text(ix, 0);
		n = strlen(name);
		uses = 0;
		for (i = 0; i < STMT__MAX; i++) {
			snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s",
			    stmts[i]);
			if (sqlite3_prepare_v2(db, sql, -1, &plan, NULL) !=
			    SQLITE_OK)
				fatal("plan of statement %zu: %s", i,
				    sqlite3_errmsg(db));
			while (sqlite3_step(plan) == SQLITE_ROW) {
				detail = (const char *)sqlite3_column_text(plan,
				    3);
				if ((p = strstr(detail, "INDEX ")) == NULL ||
				    strncmp(p + 6, name, n) != 0 ||
				    (p[6 + n] != ' ' && p[6 + n] != '\0'))
					continue;
				uses++;
				if (verbose)
					printf("DETAIL index %s %.70s\n", name,
					    stmts[i]);
				break;
			}
			sqlite3_finalize(plan);
		}
		printf("INDEX %s uses=%d\n", name, uses);
	}
	sqlite3_finalize(ix);
}

int
main(int argc, char *argv[])
{
	static struct org	 a, b, h;
	char			 body[BODY_LEN], title[64], path[128];
	char			 side[4200], id[ID_LEN];
	char			 pool[N_POOL][ID_LEN], runs[N_RUNS][ID_LEN];
	const char		*db;
	long			 fill = 1000, i;
	int			 arg = 1;
	json_t			*j = NULL;

	if (arg < argc && strcmp(argv[arg], "-v") == 0) {
		verbose = 1;
		arg++;
	}
	if (arg >= argc || argc - arg > 2 || (argc - arg == 2 &&
	    (fill = strtol(argv[arg + 1], NULL, 10)) < 0)) {
		fprintf(stderr, "usage: count [-v] DB [FILL]\n");
		return 2;
	}
	db = argv[arg];
	unlink(db);
	snprintf(side, sizeof(side), "%s-shm", db);
	unlink(side);
	snprintf(wal_path, sizeof(wal_path), "%s-wal", db);
	unlink(wal_path);

	/*
	 * The database and three orgs with a key each, as an operator makes
	 * them (reassess_main() reads the settings: cfg is set after it).
	 */
	free(cli(db, "init", (char *)NULL));
	org_make(&a, db, "count org A");
	org_make(&b, db, "count org B");
	org_make(&h, db, "count org C");

	/*
	 * Everything else through the API, on the connection that is measured
	 * below, with synchronous=NORMAL as bench/run.sh seeds (seeding is not
	 * measured, and fsyncs do not change what is written).
	 */
	memset(&bc, 0, sizeof(bc));
	bc.path = db;
	cfg.sync_normal = 1;
	cfg.busy_timeout_ms = BUSY_TIMEOUT_MS;
	org_seed(&a, N_VENDORS, N_VENDORS);
	org_seed(&b, N_VENDORS, N_VENDORS);
	org_seed(&h, N_HISTORY_VENDORS, 1);
	for (i = 0; i < N_HISTORY; i++) {	/* org C: 10,000 assessments */
		snprintf(title, sizeof(title), "History %ld", i + 1);
		rsm_body(body, sizeof(body), &h, 0, N_HISTORY_VENDORS, 1, 1,
		    title);
		must(201, "POST", "/v1/reassessments", h.key, body, id,
		    sizeof(id));
		snprintf(path, sizeof(path), "/v1/reassessments/%.*s/run",
		    ID_LEN, id);
		must(200, "POST", path, h.key, NULL, NULL, 0);
	}
	for (i = 0; i < N_POOL; i++) {		/* GET one, PATCH */
		snprintf(title, sizeof(title), "Pool %ld", i + 1);
		rsm_body(body, sizeof(body), &a, 0, a.nv, 1, 0, title);
		must(201, "POST", "/v1/reassessments", a.key, body, pool[i],
		    ID_LEN);
	}
	for (i = 0; i < N_RUNS; i++) {		/* run */
		snprintf(title, sizeof(title), "Run %ld", i + 1);
		rsm_body(body, sizeof(body), &a, 0, a.nv, 1, 1, title);
		must(201, "POST", "/v1/reassessments", a.key, body, runs[i],
		    ID_LEN);
	}
	for (i = 0; i < fill; i++) {		/* org A's bulk: 1-3 vendors */
		snprintf(title, sizeof(title), "Bench %ld", i + 1);
		rsm_body(body, sizeof(body), &a, (int)(i % N_VENDORS),
		    (int)(i % 3) + 1, 1, 0, title);
		must(201, "POST", "/v1/reassessments", a.key, body, NULL, 0);
	}
	for (i = 0; i < N_PAGE; i++) {		/* org B: one full page */
		snprintf(title, sizeof(title), "Page %ld", i + 1);
		rsm_body(body, sizeof(body), &b, (int)(i % N_VENDORS),
		    (int)(i % 3) + 1, 1, 0, title);
		must(201, "POST", "/v1/reassessments", b.key, body, NULL, 0);
	}

	/*
	 * Measured as served: synchronous=FULL on a connection opened afresh
	 * (the first request opens it; statements are then prepared on their
	 * first use, which counts neither as a statement nor as a step).
	 */
	conn_close(&bc);
	cfg.sync_normal = 0;
	snprintf(path, sizeof(path), "/v1/reassessments/%.*s", ID_LEN,
	    pool[0]);
	must(200, "GET", path, a.key, NULL, NULL, 0);
	if (bc.db == NULL)
		fatal("no connection after a request");
	sqlite3_trace_v2(bc.db, SQLITE_TRACE_STMT, on_trace, NULL);
	sqlite3_wal_hook(bc.db, on_wal, NULL);
	hooked = bc.db;

	/* The list page must be what the bench's is: 50 items. */
	if (request("GET", "/v1/reassessments", "limit=50", b.key, NULL,
	    &j) != 200 || json_array_size(json_object_get(j, "items")) !=
	    N_PAGE || json_integer_value(json_object_get(j, "total")) != N_PAGE)
		fatal("org B's first page is not %d items", N_PAGE);
	json_decref(j);

	kind_start("get", 200);
	for (i = 0; i < N_POOL; i++) {
		snprintf(path, sizeof(path), "/v1/reassessments/%.*s", ID_LEN,
		    pool[i]);
		measure("GET", path, NULL, a.key, NULL);
	}
	kind_end();

	kind_start("list", 200);
	for (i = 0; i < N_LISTS; i++)
		measure("GET", "/v1/reassessments", "limit=50", b.key, NULL);
	kind_end();

	kind_start("create", 201);
	for (i = 0; i < N_CREATES; i++) {
		/* 3 distinct vendors, spread as wrk.lua's random ones are. */
		snprintf(title, sizeof(title), "bench %ld", i + 1);
		rsm_body(body, sizeof(body), &a, (int)(i * 7 % N_VENDORS), 3,
		    3, 0, title);
		measure("POST", "/v1/reassessments", NULL, a.key, body);
	}
	kind_end();

	kind_start("run", 200);
	for (i = 0; i < N_RUNS; i++) {
		snprintf(path, sizeof(path), "/v1/reassessments/%.*s/run",
		    ID_LEN, runs[i]);
		measure("POST", path, NULL, a.key, NULL);
	}
	kind_end();

	kind_start("patch", 200);
	for (i = 0; i < N_POOL; i++) {
		snprintf(path, sizeof(path), "/v1/reassessments/%.*s", ID_LEN,
		    pool[i]);
		snprintf(body, sizeof(body), "{\"title\":\"Renamed %ld\"}",
		    i + 1);
		measure("PATCH", path, NULL, a.key, body);
	}
	kind_end();

	index_audit(bc.db);
	names_clear(&sql_seen);
	names_clear(&pages_seen);
	conn_close(&bc);
	free(a.vendors);
	free(b.vendors);
	free(h.vendors);
	return 0;
}
