/*
 * bench/commit-floor.c: the durable-commit floor of bench/run.sh. How many
 * write transactions per second this disk and SQLite allow when nothing
 * else is done: WORKERS processes, each in a loop of
 *
 *     BEGIN IMMEDIATE; INSERT INTO t (v) VALUES (?1); COMMIT
 *
 * on one SQLite file in WAL mode with synchronous=FULL (one fdatasync of
 * the WAL per commit), as `reassess serve`'s workers write: the same busy
 * handler (retry after 50 us, then every 500 us, for up to 5 s), the same
 * automatic checkpoint (SQLite's default, every 1000 pages), one connection
 * per process opened before the clock starts. A POST that commits once
 * cannot go faster than this on the same disk with the same number of
 * processes; bench/run.sh divides POST create's req/s by it.
 *
 * Usage: commit-floor [-w WORKERS] [-s SECONDS] DB
 *   DB is replaced (with its -wal and -shm); put it beside the database
 *   that is measured, so that it is on the same disk. WORKERS defaults to
 *   the number of CPUs, SECONDS to 5.
 *
 * Output, one line:
 *   COMMIT_FLOOR workers=N seconds=S commits=C rate=R p50_ms=A p99_ms=B
 *       errors=E
 * rate is commits per second; p50 and p99 are the latency of one
 * transaction, from BEGIN IMMEDIATE (the wait for the write lock included)
 * to the end of COMMIT; errors counts the transactions that failed (each
 * worker's first error is on stderr). Exit status 1 when a worker could
 * not run or nothing was committed.
 */

#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define LAT_MAX		(1 << 20)	/* latencies kept per worker */
#define BUSY_MS		5000		/* as reassess's BUSY_TIMEOUT_MS */

/* What one worker reports, in memory shared with the parent. */
struct result {
	long	 commits;
	long	 errors;
	long	 nlat;
	char	 why[200];		/* the first error */
};

static int64_t
now_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* reassess's busy handler: 50 us, then 500 us steps, for up to BUSY_MS. */
static int
busy_wait(void *arg, int count)
{
	static int64_t	 start;
	int64_t		 now = now_ns();

	(void)arg;
	if (count == 0)
		start = now;
	if (now - start >= (int64_t)BUSY_MS * 1000000)
		return 0;
	usleep(count < 20 ? 50 : 500);
	return 1;
}

static void
fail(const char *what, const char *detail)
{
	fprintf(stderr, "commit-floor: %s: %s\n", what, detail);
	exit(1);
}

/* Make DB afresh: WAL mode and the one table. */
static void
setup(const char *path)
{
	char	 side[4200], *err = NULL;
	sqlite3	*db;

	unlink(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode = WAL;"
	    "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)", NULL,
	    NULL, &err) != SQLITE_OK)
		fail(path, err != NULL ? err : sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* Step st to its end; 0, or -1 with the reason in r->why. */
static int
run(sqlite3 *db, sqlite3_stmt *st, struct result *r)
{
	int	 rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		continue;
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (r->errors++ == 0)
		snprintf(r->why, sizeof(r->why), "%s", sqlite3_errmsg(db));
	return -1;
}

/*
 * One worker: open and prepare, say so on ready (1; 0 when it could not,
 * after saying why), wait for the start on go, then commit until the
 * deadline.
 *
 * Rationale: the busy handler comes first, as in reassess: two workers
 * opening the WAL file at once can find it locked while the other reads
 * the schema; without the handler one gave up at once, and the parent,
 * which never got its ready byte, waited for it for ever.
 */
static void
worker(const char *path, int id, int ready, int go, const int64_t *deadline,
    struct result *r, float *lat)
{
	sqlite3		*db = NULL;
	sqlite3_stmt	*begin, *insert, *commit, *rollback;
	char		 v[64], c = 1;
	int64_t		 t0, t1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) ==
	    SQLITE_OK)
		sqlite3_busy_handler(db, busy_wait, NULL);
	if (db == NULL ||
	    sqlite3_exec(db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) !=
	    SQLITE_OK ||
	    sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL) !=
	    SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO t (v) VALUES (?1)", -1,
	    &insert, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "ROLLBACK", -1, &rollback, NULL) !=
	    SQLITE_OK) {
		fprintf(stderr, "commit-floor: %s: %s\n", path, db != NULL ?
		    sqlite3_errmsg(db) : "out of memory");
		c = 0;
		if (write(ready, &c, 1) != 1)
			_exit(1);	/* the parent sees EOF */
		_exit(1);
	}
	/* Closed once said, so that a worker that dies shows as EOF. */
	if (write(ready, &c, 1) != 1 || close(ready) == -1 ||
	    read(go, &c, 1) != 1)
		fail("pipe", strerror(errno));
	for (;;) {
		if ((t0 = now_ns()) >= *deadline)
			break;
		snprintf(v, sizeof(v), "worker %d, commit %ld", id, r->commits);
		sqlite3_bind_text(insert, 1, v, -1, SQLITE_TRANSIENT);
		if (run(db, begin, r) == -1)
			continue;
		if (run(db, insert, r) == -1 || run(db, commit, r) == -1) {
			if (!sqlite3_get_autocommit(db))
				run(db, rollback, r);
			continue;
		}
		t1 = now_ns();
		r->commits++;
		if (r->nlat < LAT_MAX)
			lat[r->nlat++] = (float)((t1 - t0) / 1e6);
	}
	sqlite3_finalize(begin);
	sqlite3_finalize(insert);
	sqlite3_finalize(commit);
	sqlite3_finalize(rollback);
	sqlite3_close(db);
}

static int
cmp_float(const void *a, const void *b)
{
	float	 x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char *argv[])
{
	struct result	*res;
	float		*lat, *all;
	int64_t		*deadline;
	const char	*path;
	double		 seconds = 5;
	long		 commits = 0, errors = 0, nall = 0, i;
	int		 workers = (int)sysconf(_SC_NPROCESSORS_ONLN), opt, w;
	int		 ready[2], go[2], status, failed = 0, started;
	pid_t		*pids;
	char		 c;

	while ((opt = getopt(argc, argv, "w:s:")) != -1) {
		switch (opt) {
		case 'w':
			workers = atoi(optarg);
			break;
		case 's':
			seconds = atof(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1 || workers < 1 || workers > 256 ||
	    !(seconds > 0))
		goto usage;
	path = argv[optind];

	sqlite3_config(SQLITE_CONFIG_SINGLETHREAD);	/* as reassess */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	setup(path);

	/* The results and the latencies, shared with the workers. */
	res = mmap(NULL, sizeof(*res) * (size_t)workers + sizeof(int64_t),
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	lat = mmap(NULL, sizeof(float) * LAT_MAX * (size_t)workers,
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED || lat == MAP_FAILED)
		fail("mmap", strerror(errno));
	memset(res, 0, sizeof(*res) * (size_t)workers);
	deadline = (int64_t *)(res + workers);
	if (pipe(ready) == -1 || pipe(go) == -1 ||
	    (pids = calloc((size_t)workers, sizeof(*pids))) == NULL)
		fail("setup", strerror(errno));

	for (w = 0; w < workers; w++) {
		if ((pids[w] = fork()) == -1)
			fail("fork", strerror(errno));
		if (pids[w] == 0) {
			close(ready[0]);
			close(go[1]);
			worker(path, w, ready[1], go[0], deadline, &res[w],
			    lat + (size_t)w * LAT_MAX);
			_exit(0);
		}
	}
	close(ready[1]);
	close(go[0]);
	/* Every worker connected and prepared, then the clock starts. */
	for (w = 0, started = 1; w < workers; w++)
		if (read(ready[0], &c, 1) != 1 || c == 0)
			started = 0;
	/* A worker that could not start: the others stop at once. */
	*deadline = started ? now_ns() + (int64_t)(seconds * 1e9) : 0;
	signal(SIGPIPE, SIG_IGN);	/* every worker may have gone */
	for (w = 0; w < workers; w++)
		if (write(go[1], &c, 1) != 1 && started)
			fail("pipe", strerror(errno));
	for (w = 0; w < workers; w++) {
		if (waitpid(pids[w], &status, 0) == -1 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			failed = 1;
		commits += res[w].commits;
		errors += res[w].errors;
		nall += res[w].nlat;
		if (res[w].errors > 0)
			fprintf(stderr, "commit-floor: worker %d: %ld errors, "
			    "the first: %s\n", w, res[w].errors, res[w].why);
	}

	if (!started)
		failed = 1;

	/* Latencies of all the workers' commits together. */
	if ((all = malloc(sizeof(float) * (size_t)(nall > 0 ? nall : 1))) ==
	    NULL)
		fail("malloc", strerror(errno));
	for (w = 0, nall = 0; w < workers; w++)
		for (i = 0; i < res[w].nlat; i++)
			all[nall++] = lat[(size_t)w * LAT_MAX + (size_t)i];
	qsort(all, (size_t)nall, sizeof(float), cmp_float);
	printf("COMMIT_FLOOR workers=%d seconds=%.2f commits=%ld rate=%.1f "
	    "p50_ms=%.2f p99_ms=%.2f errors=%ld\n", workers, seconds, commits,
	    commits / seconds, nall > 0 ? all[nall / 2] : 0.0,
	    nall > 0 ? all[(long)(nall * 0.99)] : 0.0, errors);
	free(all);
	free(pids);
	return failed || commits == 0;
usage:
	fprintf(stderr, "usage: commit-floor [-w WORKERS] [-s SECONDS] DB\n");
	return 2;
}
