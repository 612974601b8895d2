/* roost: the command-line tool. `roost up` starts an instance as a
 * supervised group (sup/sup.h) and returns once it serves; the other
 * subcommands talk to the supervisor (sup/supctl.h) or, through
 * libroost, to the instance itself. */
#include "clibackup.h"
#include "clicoll.h"
#include "coll.h"
#include "clidata.h"
#include "clidoc.h"
#include "clireplay.h"
#include "clistat.h"
#include "cliutil.h"
#include "ctl.h"
#include "err.h"
#include "log.h"
#include "opt.h"
#include "roost.h"
#include "rstat.h"
#include "sup.h"
#include "supctl.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CLI_LOG_LINES	  40	/* of the log shown when a start fails */
#define CLI_PROGRESS_MS	  5000	/* between progress lines while `up` waits */
#define CLI_OLD_WRITER_MS 10000 /* for a writer of a killed supervisor to stop */

struct cli_up {
	struct sup_config cfg;
	const char *name, *data_dir;
	int foreground;
	int wait_s;
};

/* The directory of this executable: roost-writer and friends live there. */
static int cli_bin_dir(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	if (n <= 0)
		return roost_from_errno(errno);
	buf[n] = '\0';
	char *slash = strrchr(buf, '/');
	if (slash)
		*slash = '\0';
	return 0;
}

/* The supervisor runs in /, so a relative --data-dir is made absolute. */
static int cli_abs_dir(const char *dir, char *buf, size_t len)
{
	char cwd[PATH_MAX];
	int n = dir[0] == '/'		  ? snprintf(buf, len, "%s", dir)
		: getcwd(cwd, sizeof cwd) ? snprintf(buf, len, "%s/%s", cwd, dir)
					  : -1;
	return n < 0 || (size_t)n >= len ? ROOST_ETOOBIG : 0;
}

static int cli_up_extra(struct sup_config *c, enum sup_role role, const char *arg)
{
	if (c->nextra[role] == SUP_MAX_EXTRA)
		return ROOST_ETOOBIG;
	c->extra[role][c->nextra[role]++] = arg;
	return 0;
}

static int cli_up_parse(int argc, char **argv, struct cli_up *u)
{
	static const struct option opts[] = {
	    {"name", required_argument, 0, 'n'},
	    {"dim", required_argument, 0, 'd'},
	    {"metric", required_argument, 0, 'm'},
	    {"index", required_argument, 0, 'i'},
	    {"indexed-keys", required_argument, 0, 'k'},
	    {"brokers", required_argument, 0, 'b'},
	    {"readers", required_argument, 0, 'r'},
	    {"data-dir", required_argument, 0, 'D'},
	    {"gpu", no_argument, 0, 'g'},
	    {"foreground", no_argument, 0, 'f'},
	    {"wait", required_argument, 0, 'w'},
	    {"writer-arg", required_argument, 0, 'W'},
	    {"broker-arg", required_argument, 0, 'B'},
	    {"reader-arg", required_argument, 0, 'R'},
	    {"adopt", no_argument, 0, 'A'},
	    {"retain", required_argument, 0, 'T'},
	    {"log-format", required_argument, 0, 'L'},
	    {"metrics", required_argument, 0, 'M'},
	    {0, 0, 0, 0},
	};
	long long v = 0;
	int opt, idx = 0, bad = 0;
	while ((opt = getopt_long(argc, argv, "", opts, &idx)) != -1) {
		switch (opt) {
		case 'n':
			u->name = optarg;
			break;
		case 'd':
			u->cfg.dim = optarg;
			bad = opt_number(optarg, 1, 65536, &v);
			break;
		case 'm':
			u->cfg.metric = optarg;
			bad = strcmp(optarg, "l2") && strcmp(optarg, "ip");
			break;
		case 'i':
			u->cfg.index = optarg;
			break;
		case 'k':
			u->cfg.indexed_keys = optarg;
			bad = coll_keys_check(optarg, NULL, 0);
			break;
		case 'b':
			bad = opt_number(optarg, 1, SUP_MAX_BROKERS, &v);
			u->cfg.brokers = (int)v;
			break;
		case 'r':
			bad = opt_number(optarg, 0, SUP_MAX_READERS, &v);
			u->cfg.readers = (int)v;
			break;
		case 'D':
			u->data_dir = optarg;
			break;
		case 'g':
			u->cfg.gpu = 1;
			break;
		case 'A':
			u->cfg.adopt = 1;
			break;
		case 'T':
			u->cfg.retain = optarg;
			break;
		case 'f':
			u->foreground = 1;
			break;
		case 'M':
			u->cfg.metrics = optarg;
			break;
		case 'L':
			/* Every process it starts reads it in log_init. */
			bad =
			    log_format_check(optarg) != 0 || setenv(LOG_FORMAT_ENV, optarg, 1) != 0;
			break;
		case 'w':
			bad = opt_number(optarg, 1, 3600, &v);
			u->wait_s = (int)v;
			break;
		case 'W':
		case 'B':
		case 'R':
			bad = cli_up_extra(&u->cfg,
					   opt == 'W'	? SUP_WRITER
					   : opt == 'B' ? SUP_BROKER
							: SUP_READER,
					   optarg);
			break;
		default:
			return CLI_USAGE;
		}
		if (bad)
			return cliutil_usage("up", "bad value '%s' for --%s", optarg,
					     opts[idx].name);
	}
	if (optind < argc)
		return cliutil_usage("up", "unexpected argument '%s'", argv[optind]);
	return CLI_OK;
}

static int cli_already_up(const char *name, pid_t pid)
{
	fprintf(stderr,
		"roost up: instance '%s' is already up (supervisor pid %d); see `roost status "
		"--name %s`\n",
		name, (int)pid, name);
	return CLI_FAIL;
}

/* 1 when a supervisor runs the instance and answers (*pid: its pid). */
static int cli_sup_answers(const struct inst *in, pid_t *pid)
{
	char reply[64];
	return supctl_running(in, pid) == 0 && supctl_request(in, "ps", reply, sizeof reply) == 0 &&
	       strncmp(reply, "supervisor ", 11) == 0;
}

/* A supervisor that answers runs the instance. One that holds its lock
 * but does not answer is stopping or, killed, still exiting: wait for it
 * a little, as for an old writer. */
static int cli_up_not_running(const struct cli_up *u)
{
	int64_t wait_ms = (int64_t)u->wait_s * 1000;
	int64_t deadline =
	    cliutil_now_ms() + (wait_ms < CLI_OLD_WRITER_MS ? wait_ms : CLI_OLD_WRITER_MS);
	pid_t pid;
	while (supctl_running(&u->cfg.in, &pid) == 0) {
		if (cli_sup_answers(&u->cfg.in, &pid))
			return cli_already_up(u->name, pid);
		if (cliutil_now_ms() >= deadline) {
			fprintf(
			    stderr,
			    "roost up: instance '%s' is still stopping (supervisor pid %d); try "
			    "again once it is down\n",
			    u->name, (int)pid);
			return CLI_FAIL;
		}
		poll(NULL, 0, 50);
	}
	return CLI_OK;
}

/* A writer may still be stopping (the group of a supervisor that was
 * killed gets SIGTERM) or may run outside any supervisor: wait a little
 * for the first, explain the second. */
static int cli_up_old_writer(struct cli_up *u)
{
	ctl *c;
	char why[INST_WHY_MAX];
	if (inst_shm_find(&u->cfg.in, why, sizeof why) != 0 ||
	    ctl_open(&c, u->cfg.in.ctl_path, CTL_READ_ONLY) != 0)
		return CLI_OK; /* no control block, no writer */
	int64_t wait_ms = (int64_t)u->wait_s * 1000;
	int64_t deadline =
	    cliutil_now_ms() + (wait_ms < CLI_OLD_WRITER_MS ? wait_ms : CLI_OLD_WRITER_MS);
	pid_t sup;
	for (;;) {
		/* A concurrent `roost up` may have started it meanwhile. */
		if (cli_sup_answers(&u->cfg.in, &sup)) {
			ctl_close(c);
			return cli_already_up(u->name, sup);
		}
		if (!ctl_writer_alive(c) || cliutil_now_ms() >= deadline)
			break;
		poll(NULL, 0, 50);
	}
	pid_t pid = ctl_writer_pid(c);
	ctl_close(c);
	if (!pid)
		return CLI_OK;
	return cliutil_fail("up", u->name, ROOST_ELOCKED, NULL,
			    "a writer (pid %d) that no supervisor runs serves instance '%s'; stop "
			    "it first",
			    (int)pid, u->name);
}

/* Lines a refused `roost-writer --check` wrote, in roost up's words: a
 * log line's message, or a usage line as it is. */
static void cli_up_check_said(const char *text)
{
	char *copy = strdup(text), *save = NULL;
	for (char *line = copy ? strtok_r(copy, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		const char *err = strstr(line, " ERROR: ");
		fprintf(stderr, "roost up: %s\n", err ? err + 8 : line);
	}
	free(copy);
}

/* Asks the writer whether it would refuse these settings for this data
 * directory (a new instance without --dim, an index FAISS cannot build,
 * another instance's directory), before anything is created. */
static int cli_up_check(struct cli_up *u)
{
	struct sup_args a;
	int rc = sup_program(&u->cfg, SUP_WRITER, a.bin, sizeof a.bin);
	if (rc)
		return cliutil_fail("up", u->name, rc, NULL, "the writer's path");
	sup_argv(&u->cfg, SUP_WRITER, &a, 0);
	size_t n = 0;
	while (a.argv[n])
		n++;
	a.argv[n++] = "--check";
	a.argv[n] = NULL;
	int out[2];
	if (pipe2(out, O_CLOEXEC) != 0)
		return cliutil_fail("up", u->name, roost_from_errno(errno), NULL, "pipe");
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 ||
		    dup2(out[1], STDERR_FILENO) < 0)
			_exit(127);
		execv(a.bin, (char *const *)a.argv);
		_exit(127);
	}
	close(out[1]);
	char text[8192];
	size_t got = 0;
	ssize_t r;
	while (got + 1 < sizeof text && (r = read(out[0], text + got, sizeof text - 1 - got)) != 0)
		if (r > 0)
			got += (size_t)r;
		else if (errno != EINTR)
			break;
	text[got] = '\0';
	close(out[0]);
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return cliutil_fail("up", u->name, roost_from_errno(errno), NULL, "cannot run %s",
				    a.bin);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return CLI_OK;
	cli_up_check_said(text);
	return WIFEXITED(status) && WEXITSTATUS(status) == 2 ? CLI_USAGE : CLI_FAIL;
}

/* The instance's paths and the binaries it runs, checked up front so that
 * mistakes show here rather than in a log. */
static int cli_up_prepare(struct cli_up *u)
{
	char data[PATH_MAX];
	if (u->data_dir && cli_abs_dir(u->data_dir, data, sizeof data) != 0)
		return cliutil_usage("up", "--data-dir path too long");
	int rc = cliutil_inst("up", u->name, u->data_dir ? data : NULL, &u->cfg.in);
	if (rc)
		return rc;
	if ((rc = cli_bin_dir(u->cfg.bin_dir, sizeof u->cfg.bin_dir)) != 0)
		return cliutil_fail("up", u->name, rc, NULL,
				    "cannot find this program's directory");
	for (int role = 0; role < SUP_ROLES; role++) {
		char path[INST_PATH_MAX];
		rc = sup_program(&u->cfg, role, path, sizeof path);
		if (rc == 0 && access(path, X_OK) != 0)
			rc = roost_from_errno(errno);
		if (rc)
			return cliutil_fail("up", u->name, rc, NULL,
					    "cannot run %s (it belongs next to roost)", path);
	}
	if ((rc = cli_up_not_running(u)) != 0)
		return rc;
	if ((rc = cli_up_check(u)) != 0)
		return rc;
	char why[INST_WHY_MAX];
	if ((rc = inst_make_run_dir(&u->cfg.in, why, sizeof why)) != 0)
		return cliutil_fail("up", u->name, rc, NULL, "%s", why);
	/* The writer creates the data directory: one that fails to start
	 * leaves none behind. */
	return cli_up_old_writer(u);
}

/* Points the handle at a collection a reader can be probed with: the
 * default one, else the first; 0 when there is none to probe. */
static int cli_probe_collection(roost *r, struct roost_status *st)
{
	if (st->dim)
		return 1;
	struct roost_collection *all;
	size_t n;
	if (st->collections == 0 || roost_collection_list(r, &all, &n) != 0)
		return 0;
	if (n > 0) {
		roost_use(r, all[0].name);
		st->dim = all[0].dim;
	}
	roost_collections_free(all);
	return n > 0;
}

/* Serving: a broker answers status with a live writer and, when there are
 * readers and collections, a reader answers a k=1 search of the zero
 * vector. */
static int cli_probe(const struct cli_up *u, struct roost_status *st, char *why, size_t len)
{
	/* Every broker listens before `up` prints their addresses. */
	for (int i = 0; i < u->cfg.brokers; i++) {
		char file[32], url[INST_PATH_MAX];
		snprintf(file, sizeof file, "broker-%d.ipc", i);
		if (inst_ipc_url(&u->cfg.in, file, url, sizeof url) != 0 ||
		    access(url + strlen("ipc://"), F_OK) != 0) {
			snprintf(why, len, "broker %d is not listening yet", i);
			return ROOST_ENOENT;
		}
	}
	roost *r;
	int rc = roost_connect(&r, u->name);
	if (rc) {
		snprintf(why, len, "no broker yet: %s", roost_strerror(rc));
		return rc;
	}
	roost_set_timeout(r, 1000);
	rc = roost_status(r, st);
	if (rc == 0 && st->writer_pid == 0)
		rc = ROOST_EWRITER;
	int probe = rc == 0 && u->cfg.readers > 0 && cli_probe_collection(r, st);
	float *zero = probe ? calloc(st->dim, sizeof *zero) : NULL;
	roost_results *res = NULL;
	if (zero)
		rc = roost_search(r, st->dim, zero, 1, 1, NULL, 0, &res);
	roost_results_free(res);
	free(zero);
	if (rc)
		snprintf(why, len, "%s%s%s", roost_strerror(rc), *roost_last_error(r) ? ": " : "",
			 roost_last_error(r));
	roost_close(r);
	return rc;
}

/* A message from the supervisor means the start failed: "fail TEXT",
 * "held PID" (ROOST_EEXIST: another supervisor runs the instance, *held
 * its pid), or EOF when it died. */
static int cli_sup_said(int sup, int wait_ms, char *why, size_t len, pid_t *held)
{
	struct pollfd p = {.fd = sup, .events = POLLIN};
	if (poll(&p, 1, wait_ms) <= 0)
		return 0;
	char buf[512];
	ssize_t n = read(sup, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	int pid;
	if (sscanf(buf, "held %d", &pid) == 1) {
		*held = pid;
		return ROOST_EEXIST;
	}
	snprintf(why, len, "%s",
		 strncmp(buf, "fail ", 5) == 0 ? buf + 5 : "the supervisor exited unexpectedly");
	return ROOST_ECLOSED;
}

/* Waits (bounded) until the supervisor closes its end of the socket: it
 * holds it until it exits, having stopped what it started. */
static void cli_wait_closed(int sup, int wait_ms)
{
	int64_t deadline = cliutil_now_ms() + wait_ms;
	char buf[256];
	for (int64_t left = wait_ms; left > 0; left = deadline - cliutil_now_ms()) {
		struct pollfd p = {.fd = sup, .events = POLLIN};
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return;
		if (p.revents && read(sup, buf, sizeof buf) <= 0)
			return;
	}
}

static int cli_await(const struct cli_up *u, int sup, struct roost_status *st, char *why,
		     size_t len, pid_t *held)
{
	int64_t start = cliutil_now_ms(), shown = start;
	int64_t deadline = start + (int64_t)u->wait_s * 1000;
	char last[256] = "nothing answered yet";
	while (cliutil_now_ms() < deadline) {
		int rc = cli_sup_said(sup, 200, why, len, held);
		if (rc)
			return rc;
		if (cli_probe(u, st, last, sizeof last) == 0)
			return 0;
		/* A big log to replay takes a while: say what is awaited. */
		if (cliutil_now_ms() - shown >= CLI_PROGRESS_MS) {
			shown = cliutil_now_ms();
			fprintf(stderr, "roost up: waiting for '%s' to serve (%lld s): %s\n",
				u->name, (long long)(shown - start) / 1000, last);
		}
	}
	snprintf(why, len, "it did not serve within %d s (last check: %s)", u->wait_s, last);
	return ROOST_ETIMEDOUT;
}

static void cli_print_up(const struct cli_up *u, const struct roost_status *st, const char *log)
{
	const struct inst *in = &u->cfg.in;
	pid_t pid = getpid();
	supctl_running(in, &pid);
	if (st->collection[0])
		printf("instance %s is up: dim %u, metric %s, index %s, writer %s\n", in->name,
		       st->dim, st->metric ? "ip" : "l2", st->index, st->writer_mode);
	else
		printf("instance %s is up: %u collections, writer %s%s%s%s\n", in->name,
		       st->collections, st->writer_mode,
		       st->collections ? "" : " (create one with `roost collections --name ",
		       st->collections ? "" : in->name,
		       st->collections ? "" : " create NAME --dim D`)");
	printf("supervisor: pid %d, log %s\n", (int)pid, log ? log : "stderr");
	printf("data: %s\n", in->data_dir);
	for (int i = 0; i < u->cfg.brokers; i++) {
		char file[32], url[INST_PATH_MAX];
		snprintf(file, sizeof file, "broker-%d.ipc", i);
		if (inst_ipc_url(in, file, url, sizeof url) == 0)
			printf("client: %s\n", url);
	}
	fflush(stdout);
}

/* Waits (bounded) until no supervisor holds the instance's pid lock. */
static int cli_wait_gone(const struct inst *in, int wait_s)
{
	int64_t deadline = cliutil_now_ms() + (int64_t)wait_s * 1000;
	pid_t pid;
	while (supctl_running(in, &pid) == 0) {
		if (cliutil_now_ms() >= deadline)
			return ROOST_ETIMEDOUT;
		poll(NULL, 0, 50);
	}
	return 0;
}

/* "time role[pid] ERROR: text" from a child (not the supervisor) gives
 * "role: text", else NULL. */
static char *cli_child_error(const char *line)
{
	const char *role = strchr(line, ' '), *err = strstr(line, " ERROR: ");
	if (!role || !err || strncmp(role + 1, "supervisor[", 11) == 0)
		return NULL;
	char *out = NULL;
	if (asprintf(&out, "%.*s: %s", (int)strcspn(role + 1, "["), role + 1, err + 8) < 0)
		return NULL;
	return out;
}

/* The log lines written since from, at most the last CLI_LOG_LINES, then
 * the first error a child logged: usually the cause. */
static void cli_show_log(const char *path, off_t from)
{
	FILE *f = fopen(path, "r");
	if (!f || fseeko(f, from, SEEK_SET) != 0) {
		if (f)
			fclose(f);
		return;
	}
	char *lines[CLI_LOG_LINES] = {0}, *line = NULL, *first = NULL;
	size_t cap = 0, n = 0;
	int stopping = 0; /* errors of processes being stopped are no cause */
	while (getline(&line, &cap, f) > 0) {
		stopping |= strstr(line, SUP_STOPPING_LINE) != NULL;
		if (!first && !stopping)
			first = cli_child_error(line);
		free(lines[n % CLI_LOG_LINES]);
		lines[n++ % CLI_LOG_LINES] = strdup(line);
	}
	free(line);
	fclose(f);
	fprintf(stderr, "--- %s ---\n", path);
	for (size_t i = n > CLI_LOG_LINES ? n - CLI_LOG_LINES : 0; i < n; i++) {
		fputs(lines[i % CLI_LOG_LINES] ? lines[i % CLI_LOG_LINES] : "", stderr);
		free(lines[i % CLI_LOG_LINES]);
	}
	if (first)
		fprintf(stderr, "roost up: first error: %s", first);
	free(first);
}

/* The starter's side: wait, then confirm (the supervisor keeps the
 * instance) or hang up (it stops it) and explain. A supervisor that found
 * another one running the instance (a concurrent `roost up` won) has
 * started nothing: that is said at once. */
static int cli_start(const struct cli_up *u, int sup, const char *log, off_t log_from)
{
	struct roost_status st;
	char why[512];
	pid_t held = 0;
	int rc = cli_await(u, sup, &st, why, sizeof why, &held);
	if (rc == 0 && write(sup, "ok\n", 3) != 3)
		rc = cli_sup_said(sup, 1000, why, sizeof why, &held);
	if (rc == 0 || rc == ROOST_EEXIST) {
		close(sup);
		if (rc == ROOST_EEXIST)
			return cli_already_up(u->name, held);
		cli_print_up(u, &st, log);
		return CLI_OK;
	}
	fprintf(stderr, "roost up: instance '%s' did not start: %s\n", u->name, why);
	if (log) {
		/* The log is complete once the supervisor has stopped everything. */
		shutdown(sup, SHUT_WR);
		cli_wait_closed(sup, 60000);
	}
	close(sup);
	if (log)
		cli_show_log(log, log_from);
	return CLI_FAIL;
}

/* The supervisor's process: a session of its own, cwd /, no terminal,
 * stdout and stderr to the log, no descriptor but its socket inherited. */
static void cli_daemon(struct cli_up *u, int sup, int log_fd)
{
	if (setsid() < 0)
		_exit(1);
	pid_t pid = fork();
	if (pid != 0)
		_exit(pid < 0);
	umask(077);
	int null = open("/dev/null", O_RDWR);
	if (null < 0 || chdir("/") != 0 || dup2(null, STDIN_FILENO) < 0 ||
	    dup2(log_fd, STDOUT_FILENO) < 0 || dup2(log_fd, STDERR_FILENO) < 0 ||
	    dup2(sup, 3) < 0 ||
	    fcntl(3, F_SETFD, FD_CLOEXEC) != 0) /* the processes it runs must not hold it */
		_exit(1);
	close_range(4, ~0u, 0);
	log_init("supervisor");
	_exit(sup_run(&u->cfg, 3) ? 1 : 0);
}

static int cli_up_daemon(struct cli_up *u, int sv[2])
{
	char log[PATH_MAX];
	int rc = supctl_path(&u->cfg.in, SUPCTL_LOG, log, sizeof log);
	int log_fd = rc ? -1 : open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (log_fd < 0)
		return cliutil_fail("up", u->name, rc ? rc : roost_from_errno(errno), NULL,
				    "cannot open the log %s", log);
	off_t from = lseek(log_fd, 0, SEEK_END);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[1]);
		cli_daemon(u, sv[0], log_fd);
	}
	close(sv[0]);
	close(log_fd);
	if (pid < 0) {
		close(sv[1]);
		return cliutil_fail("up", u->name, roost_from_errno(errno), NULL, "fork");
	}
	waitpid(pid, NULL, 0);
	return cli_start(u, sv[1], log, from);
}

/* --foreground: this process supervises; a child of it waits for the
 * instance to serve and prints the addresses. */
static int cli_up_foreground(struct cli_up *u, int sv[2])
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		_exit(cli_start(u, sv[1], NULL, 0));
	}
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return cliutil_fail("up", u->name, roost_from_errno(errno), NULL, "fork");
	}
	log_init("supervisor");
	int rc = sup_run(&u->cfg, sv[0]);
	/* After a failed start, or with another supervisor running the
	 * instance, the starter explains it. */
	if (rc == ROOST_ECLOSED || rc == ROOST_ELOCKED) {
		waitpid(pid, NULL, 0);
		return CLI_FAIL;
	}
	return rc ? cliutil_fail("up", u->name, rc, NULL, "instance '%s'", u->name) : CLI_OK;
}

static int cli_up(int argc, char **argv)
{
	struct cli_up u = {.cfg = {.brokers = 1, .readers = 1}, .wait_s = 120};
	int rc = cli_up_parse(argc, argv, &u);
	if (rc == CLI_OK)
		rc = cli_up_prepare(&u);
	if (rc)
		return rc;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return cliutil_fail("up", u.name, roost_from_errno(errno), NULL, "socketpair");
	return u.foreground ? cli_up_foreground(&u, sv) : cli_up_daemon(&u, sv);
}

/* --name and --wait, the options of down and readers. */
static int cli_name_wait(const char *cmd, int argc, char **argv, struct inst *in, int *wait_s)
{
	static const struct option opts[] = {
	    {"name", required_argument, 0, 'n'}, {"wait", required_argument, 0, 'w'}, {0, 0, 0, 0}};
	const char *name = NULL;
	long long v;
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'n')
			name = optarg;
		else if (opt == 'w' && opt_number(optarg, 1, 3600, &v) == 0)
			*wait_s = (int)v;
		else
			return opt == 'w' ? cliutil_usage(cmd, "bad value '%s' for --wait", optarg)
					  : CLI_USAGE;
	}
	return cliutil_inst(cmd, name, NULL, in);
}

/* Explains what went wrong with a supervisor request: rc, or its reply. */
static int cli_explain(const char *cmd, const struct inst *in, int rc, char *reply)
{
	if (rc == ROOST_ENOENT)
		return cliutil_fail(cmd, in->name, rc, NULL,
				    "no supervisor runs instance '%s' (in %s)", in->name,
				    in->run_dir);
	if (rc)
		return cliutil_fail(cmd, in->name, rc, NULL, "the supervisor of '%s'", in->name);
	if (strncmp(reply, "ok", 2) != 0) {
		reply[strcspn(reply, "\n")] = '\0';
		fprintf(stderr, "roost %s: %s\n", cmd,
			strncmp(reply, "error ", 6) == 0 ? reply + 6 : reply);
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* The supervisor removed the shared memory unless the ring holds writes
 * the log lacks; this says which, with the supervisor lock held so that no
 * `up` starts in between. With no supervisor, it removes what a crashed or
 * unsupervised run left, when that loses nothing. */
static int cli_down_shm(struct inst *in, const char *state)
{
	int fd;
	pid_t holder = 0;
	char why[INST_WHY_MAX];
	if (supctl_lock(in, &fd, &holder) != 0)
		return CLI_OK; /* up again already: the memory is in use */
	int rc = sup_remove_shm(in, why, sizeof why);
	close(fd);
	if (rc == 0)
		return CLI_OK;
	fprintf(stderr, "roost down: instance '%s' %s, but %s\n", in->name, state, why);
	return CLI_FAIL;
}

static int cli_down(int argc, char **argv)
{
	struct inst in;
	int wait_s = 120;
	int rc = cli_name_wait("down", argc, argv, &in, &wait_s);
	if (rc)
		return rc;
	if (optind < argc)
		return cliutil_usage("down", "unexpected argument '%s'", argv[optind]);
	pid_t pid = 0;
	char reply[64];
	int running = supctl_running(&in, &pid) == 0;
	rc = supctl_request(&in, "down", reply, sizeof reply);
	/* A supervisor that holds its lock but no longer listens is stopping. */
	if (rc == ROOST_ENOENT && supctl_running(&in, &pid) == 0) {
		fprintf(stderr, "roost down: instance '%s' is already stopping\n", in.name);
	} else if (rc == ROOST_ENOENT && !running) {
		/* Down is where the caller wants it: nothing to do is no failure. */
		printf("instance %s is not running\n", in.name);
		return cli_down_shm(&in, "is not running");
	} else if ((rc = cli_explain("down", &in, rc, reply)) != 0) {
		return rc;
	}
	fprintf(stderr, "roost down: stopping instance '%s' (supervisor pid %d)\n", in.name,
		(int)pid);
	if (cli_wait_gone(&in, wait_s) != 0)
		return cliutil_fail("down", in.name, ROOST_ETIMEDOUT, NULL,
				    "the supervisor (pid %d) is still stopping after %d s; its log "
				    "is %s/" SUPCTL_LOG,
				    (int)pid, wait_s, in.run_dir);
	if ((rc = cli_down_shm(&in, "stopped")) != 0)
		return rc;
	printf("instance %s is down\n", in.name);
	return CLI_OK;
}

/* 1 while the supervisor lists pid among its children. */
static int cli_has_child(const struct inst *in, pid_t pid)
{
	static struct supctl_ps ps;
	if (supctl_ps(in, &ps) != 0)
		return 0;
	for (size_t i = 0; i < ps.n; i++)
		if (ps.procs[i].pid == pid)
			return 1;
	return 0;
}

/* add: until the new reader serves (its state file appears); remove: until
 * it is gone. */
static int cli_readers_wait(const struct inst *in, int add, pid_t pid, int wait_s)
{
	int64_t deadline = cliutil_now_ms() + (int64_t)wait_s * 1000;
	struct rstat st;
	while (cliutil_now_ms() < deadline) {
		int present = cli_has_child(in, pid);
		if (add && rstat_read(in, pid, &st) == 0) {
			rstat_clear(&st);
			return 0;
		}
		if (add && !present)
			return ROOST_ECLOSED;
		if (!add && !present)
			return 0;
		poll(NULL, 0, 50);
	}
	return ROOST_ETIMEDOUT;
}

static int cli_readers(int argc, char **argv)
{
	struct inst in;
	int wait_s = 30;
	int rc = cli_name_wait("readers", argc, argv, &in, &wait_s);
	if (rc)
		return rc;
	const char *action = optind < argc ? argv[optind] : "";
	int add = strcmp(action, "add") == 0;
	if ((!add && strcmp(action, "remove") != 0) || optind + 1 < argc)
		return cliutil_usage("readers", "say `add` or `remove`");
	char req[32], reply[128];
	snprintf(req, sizeof req, "readers %s", action);
	rc = cli_explain("readers", &in, supctl_request(&in, req, reply, sizeof reply), reply);
	if (rc)
		return rc;
	int pid = 0, count = 0;
	if (sscanf(reply, "ok %d %d", &pid, &count) != 2)
		return cliutil_fail("readers", in.name, ROOST_EPROTO, reply, "supervisor reply");
	rc = pid > 0 ? cli_readers_wait(&in, add, pid, wait_s) : 0;
	if (rc == ROOST_ECLOSED)
		return cliutil_fail("readers", in.name, rc, NULL,
				    "the new reader (pid %d) exited before serving; the supervisor "
				    "restarts it, its log is %s/" SUPCTL_LOG,
				    pid, in.run_dir);
	if (rc)
		return cliutil_fail("readers", in.name, rc, NULL, "reader pid %d", pid);
	printf("reader pid %d %s; %d reader(s)\n", pid, add ? "serving" : "stopped", count);
	return CLI_OK;
}

/* One subcommand: what it does in a line, and its usage. */
struct cli_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
	const char *usage;
};

static const struct cli_cmd cli_cmds[] = {
    {"up", cli_up, "start an instance; returns once it serves",
     "usage: roost up --name NAME [options]\n"
     "Starts instance NAME as a supervised group (a writer, brokers and readers)\n"
     "and returns once it serves, printing where clients connect.\n"
     "  --dim D            vector dimension of the collection 'default'\n"
     "  --metric l2|ip     L2 distance (default) or inner product\n"
     "  --index FACTORY    FAISS factory string: Flat (default), HNSW32,\n"
     "                     IVF1024,Flat, ...\n"
     "  --indexed-keys K1,K2  metadata keys whose values readers index, so that\n"
     "                     filtered searches on them read only matching rows\n"
     "  --brokers N        brokers, 1 to 64 (default 1)\n"
     "  --readers M        readers at start, 0 to 64 (default 1)\n"
     "  --data-dir DIR     the durable state (default $XDG_DATA_HOME/roost/NAME,\n"
     "                     else ~/.local/share/roost/NAME)\n"
     "  --adopt            take over a data directory that records another\n"
     "                     instance's name (a restored backup, a copied log)\n"
     "  --retain R         history kept for reads as of an LSN: none (default),\n"
     "                     all, lsn:N (from LSN N on), time:T (from the first\n"
     "                     document of simulation time T on), or a window: 90s,\n"
     "                     30m, 24h, 7d; it may change at any start\n"
     "  --gpu              the writer grows its index on the GPU\n"
     "  --foreground       supervise in this process, logging to stderr\n"
     "  --log-format F     text (default) or json: one JSON object per log line\n"
     "  --metrics HOST:PORT  serve Prometheus metrics at http://HOST:PORT/metrics\n"
     "                     (off by default; 127.0.0.1:9464 keeps them local)\n"
     "  --wait S           how long to wait for it to serve (default 120)\n"
     "  --writer-arg A, --broker-arg A, --reader-arg A\n"
     "                     one more argument for every process of that role\n"
     "--dim, --metric, --index and --indexed-keys create the collection\n"
     "'default' with a new\n"
     "instance; without --dim a new instance starts with no collection (`roost\n"
     "collections` creates them). Once the collection exists, `roost collections\n"
     "alter` changes its index; the others are fixed.\n"},
    {"down", cli_down, "stop it cleanly, losing nothing acknowledged",
     "usage: roost down --name NAME [--wait S]\n"
     "Stops the instance: brokers and readers first, then the writer once it\n"
     "has logged everything in the ring. Waits up to S seconds (default 120)\n"
     "for every process to be gone. An instance that is not running is left\n"
     "as it is (exit status 0).\n"},
    {"backup", clibackup_main, "copy a serving instance's data, consistently",
     "usage: roost backup --name NAME --to DIR\n"
     "Copies the instance's data as of the log's durable end into DIR, a new\n"
     "folder, while it serves: the manifest, the segments and the log up to an\n"
     "LSN, printed on stdout. `roost up --name NAME2 --data-dir DIR --adopt`\n"
     "serves exactly the documents below it. Merges and seals go on meanwhile;\n"
     "the files the copy needs stay until it has them. An interrupted backup\n"
     "leaves DIR.partial, never DIR.\n"},
    {"replay", clireplay_main, "rebuild a collection as of an LSN into a new data directory",
     "usage: roost replay --from DIR [--collection C] [--as-of LSN] --to NEW\n"
     "Rebuilds collection C (default: default) of data directory DIR, a stopped\n"
     "instance's or a backup, as it was as of LSN (default: the end of its log),\n"
     "into NEW, a new folder: its log holds C's documents at their original\n"
     "LSNs, so every id is kept, and `roost up --name NAME --data-dir NEW\n"
     "--adopt` rebuilds every index from it with C's settings and training.\n"
     "An LSN before the history DIR keeps (`roost up --retain`) is refused.\n"
     "An LSN inside a batch the log holds is refused (its documents below it\n"
     "would be half a record). Prints the LSN whose state NEW holds. An\n"
     "interrupted replay leaves NEW.partial, never NEW.\n"},
    {"status", clistat_main, "processes, LSNs, documents, readers, rates",
     "usage: roost status --name NAME [--collection C] [--json] [--interval-ms MS]\n"
     "Shows the supervisor and its processes, every collection with its\n"
     "documents, segments and ingest rate, the ring, the durable, applied and\n"
     "published LSNs, every reader, and ingest and search rates measured over MS\n"
     "(default 1000; 0 skips them).\n"
     "  --collection C     the collection whose settings \"server\" shows\n"
     "                     (default: default)\n"
     "  --json             one JSON object instead of text\n"},
    {"readers", cli_readers, "start or stop one reader",
     "usage: roost readers --name NAME add|remove [--wait S]\n"
     "add starts one more reader and returns once it serves; remove stops the\n"
     "newest one and returns once it is gone (at most S seconds, default 30).\n"},
    {"collections", clicoll_main, "list, create, describe, alter or drop collections",
     clicoll_usage},
    {"add", clidata_add, "add documents from JSON lines", clidata_add_usage},
    {"search", clidata_search, "search by vector, with filters", clidata_search_usage},
    {"get", clidoc_get, "get documents by id", clidoc_get_usage},
    {"delete", clidoc_delete, "delete documents by id", clidoc_delete_usage},
    {"scroll", clidoc_scroll, "list the documents a filter admits", clidoc_scroll_usage},
};

#define CLI_NCMDS (sizeof cli_cmds / sizeof cli_cmds[0])

static void cli_usage(FILE *f)
{
	fprintf(f, "usage: roost COMMAND --name NAME [options]\n");
	for (size_t i = 0; i < CLI_NCMDS; i++)
		fprintf(f, "  %-12s %s\n", cli_cmds[i].name, cli_cmds[i].summary);
	fprintf(f, "`roost help COMMAND` or `roost COMMAND --help` shows a command's options;\n"
		   "`roost --version` the version. Exit status: 0 done, 1 failed, 2 bad command\n"
		   "line. docs/operations.md describes running an instance.\n");
}

static const struct cli_cmd *cli_find(const char *name)
{
	for (size_t i = 0; i < CLI_NCMDS; i++)
		if (strcmp(name, cli_cmds[i].name) == 0)
			return &cli_cmds[i];
	return NULL;
}

/* --help or -h among a subcommand's arguments (up to a bare "--"). */
static int cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	return 0;
}

/* `roost help [COMMAND]`. */
static int cli_help(int argc, char **argv)
{
	if (argc < 3) {
		cli_usage(stdout);
		return CLI_OK;
	}
	const struct cli_cmd *c = cli_find(argv[2]);
	if (!c || argc > 3) {
		fprintf(stderr, "roost help: %s '%s'\n",
			c ? "unexpected argument" : "unknown command", argv[c ? 3 : 2]);
		cli_usage(stderr);
		return CLI_USAGE;
	}
	fputs(c->usage, stdout);
	return CLI_OK;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	const struct cli_cmd *c = cli_find(cmd);
	if (c && cli_wants_help(argc - 1, argv + 1)) {
		fputs(c->usage, stdout);
		return CLI_OK;
	}
	if (c)
		return c->run(argc - 1, argv + 1);
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
		return cli_help(argc, argv);
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("roost %s\n", ROOST_VERSION);
		return CLI_OK;
	}
	if (*cmd)
		fprintf(stderr, "roost: unknown command '%s'\n", cmd);
	cli_usage(stderr);
	return CLI_USAGE;
}
