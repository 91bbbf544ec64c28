/*
 * bench/floor.c: the floor of `make bench`. The smallest correct FastCGI
 * responder: what reassess serve would cost if its application did
 * nothing. It is served exactly as reassess is (same nginx configuration,
 * derived by scripts/nginx-conf.sh, a unix socket, N pre-forked workers,
 * each with an explicit FCGX_Request in an accept loop), and answers every
 * request with the headers reassess sends on every response and a small
 * fixed JSON body. So a row's ratio to the floor is the share of the
 * request's cost that nginx, FastCGI and the kernel leave to reassess.
 *
 *   floor --listen SOCKET [--workers N]
 *
 * SIGTERM or SIGINT stops the workers and the supervisor.
 */

#include <sys/types.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>

static const char body[] = "{\"object\":\"floor\",\"ok\":true}";

static void
serve(int fd)
{
	FCGX_Request	 req;
	const char	*rid;

	if (FCGX_InitRequest(&req, fd, 0) != 0)
		_exit(1);
	while (FCGX_Accept_r(&req) >= 0) {
		rid = FCGX_GetParam("REQUEST_ID", req.envp);
		FCGX_FPrintF(req.out,
		    "Status: 200 OK\r\n"
		    "Content-Type: application/json\r\n"
		    "Cache-Control: no-store\r\n"
		    "X-Content-Type-Options: nosniff\r\n"
		    "X-Request-Id: %s\r\n"
		    "\r\n"
		    "%s", rid != NULL ? rid : "-", body);
		FCGX_Finish_r(&req);
	}
	_exit(0);
}

int
main(int argc, char **argv)
{
	const char	*listen_path = NULL;
	pid_t		*pids;
	sigset_t	 set;
	int		 i, fd, sig, workers = 2;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
			listen_path = argv[++i];
		else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc)
			workers = atoi(argv[++i]);
		else
			break;
	}
	if (i < argc || listen_path == NULL || workers < 1 || workers > 64) {
		fprintf(stderr, "usage: floor --listen SOCKET [--workers N]\n");
		return 2;
	}
	if (FCGX_Init() != 0) {
		fprintf(stderr, "floor: FCGX_Init failed\n");
		return 1;
	}
	unlink(listen_path);
	if ((fd = FCGX_OpenSocket(listen_path, 1024)) < 0) {
		fprintf(stderr, "floor: cannot listen on %s\n", listen_path);
		return 1;
	}
	/* Block the stop signals here; the workers take the default back. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if ((pids = calloc((size_t)workers, sizeof(*pids))) == NULL)
		return 1;
	for (i = 0; i < workers; i++) {
		if ((pids[i] = fork()) == 0) {
			sigprocmask(SIG_UNBLOCK, &set, NULL);
			serve(fd);
		}
		if (pids[i] < 0) {
			perror("floor: fork");
			pids[i] = 0;
		}
	}
	sigwait(&set, &sig);
	for (i = 0; i < workers; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
	for (i = 0; i < workers; i++)
		if (pids[i] > 0)
			waitpid(pids[i], NULL, 0);
	unlink(listen_path);
	return 0;
}
