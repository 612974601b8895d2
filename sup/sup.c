#include "sup.h"

#include "ctl.h"
#include "err.h"
#include "log.h"
#include "mstat.h"
#include "ring.h"
#include "rstat.h"
#include "supctl.h"
#include "supmetrics.h"
#include "supnotify.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SUP_MAX_KIDS   (1 + SUP_MAX_BROKERS + SUP_MAX_READERS)
#define SUP_GRACE_MS   10000 /* brokers and readers: SIGTERM to SIGKILL */
#define SUP_DRAIN_MS   15000 /* the writer's time to log what the ring holds */
#define SUP_WRITER_MS  30000 /* the writer: SIGTERM to SIGKILL */
#define SUP_REPLY_SIZE 16384
_Static_assert(SUP_MAX_KIDS <= SUPCTL_MAX_PROCS, "ps replies list every child");

enum sup_state {
	SUP_RUNNING,
	SUP_BACKOFF,  /* dead; started again at restart_at_ms */
	SUP_STOPPING, /* sent SIGTERM; not restarted */
	SUP_STOPPED,
};

static const char *const sup__role_names[] = {"writer", "broker", "reader"};
static const char *const sup__state_names[] = {"running", "backoff", "stopping", "stopped"};

struct sup_child {
	enum sup_role role;
	int id;
	enum sup_state state;
	pid_t pid; /* 0 while not running */
	int restarts;
	int failures;	 /* quick deaths in a row: the backoff exponent */
	int last_status; /* waitpid status of the last exit; -1: none yet */
	int64_t started_ms, restart_at_ms;
};

struct sup {
	const struct sup_config *cfg;
	struct sup_child kids[SUP_MAX_KIDS]; /* writer, brokers, then readers */
	int nkids;
	int next_reader;
	/* The starter's socket stays open until the supervisor exits: its
	 * end seeing EOF is how it knows everything started is stopped. */
	int sigfd, listen_fd, pid_fd, starter;
	int metrics_fd;	  /* -1: no metrics endpoint */
	int starter_done; /* it said ok or hung up: nothing more to read or say */
	int serving;	  /* the starter saw the instance serve */
	int stop;
	int rc;
};

static int64_t sup__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sup__name(const struct sup_child *k, char *buf, size_t len)
{
	if (k->role == SUP_WRITER)
		snprintf(buf, len, "writer");
	else
		snprintf(buf, len, "%s-%d", sup__role_names[k->role], k->id);
}

static void sup__describe_exit(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
}

static void sup__tell_starter(struct sup *s, const char *fmt, ...)
{
	if (s->starter < 0 || s->starter_done)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	n = n < 0 ? 0 : n > (int)sizeof line - 2 ? (int)sizeof line - 2 : n;
	line[n++] = '\n';
	ssize_t w = write(s->starter, line, (size_t)n);
	(void)w; /* a starter that went away learns nothing more */
}

/* The writer gets the collection settings only when given, so that a
 * restart never contradicts an existing instance. */
static int sup__writer_args(const struct sup_config *c, const char **argv, int n)
{
	const char *opt[] = {"--dim", "--metric", "--index", "--indexed-keys", "--retain"};
	const char *val[] = {c->dim, c->metric, c->index, c->indexed_keys, c->retain};
	for (int i = 0; i < 5; i++) {
		if (!val[i])
			continue;
		argv[n++] = opt[i];
		argv[n++] = val[i];
	}
	if (c->gpu)
		argv[n++] = "--gpu";
	if (c->adopt)
		argv[n++] = "--adopt";
	return n;
}

/* In the child: stopped when the supervisor dies (so a killed supervisor
 * leaves no unsupervised group behind to block the next `roost up`), a
 * clean signal state, no stdin, then the program. */
static void sup__exec(const char *const *argv, pid_t supervisor)
{
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != supervisor)
		_exit(1);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	int null = open("/dev/null", O_RDONLY);
	if (null >= 0 && null != STDIN_FILENO) {
		dup2(null, STDIN_FILENO);
		close(null);
	}
	execv(argv[0], (char *const *)argv);
	fprintf(stderr, "roost supervisor: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

int sup_program(const struct sup_config *cfg, enum sup_role role, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/roost-%s", cfg->bin_dir, sup__role_names[role]);
	return n < 0 || (size_t)n >= len ? ROOST_ETOOBIG : 0;
}

void sup_argv(const struct sup_config *c, enum sup_role role, struct sup_args *a, int id)
{
	snprintf(a->id, sizeof a->id, "%d", id);
	int n = 0;
	a->argv[n++] = a->bin;
	a->argv[n++] = "--name";
	a->argv[n++] = c->in.name;
	if (role == SUP_BROKER) {
		a->argv[n++] = "--id";
		a->argv[n++] = a->id;
	} else {
		a->argv[n++] = "--data-dir";
		a->argv[n++] = c->in.data_dir;
	}
	if (role == SUP_WRITER)
		n = sup__writer_args(c, a->argv, n);
	for (int i = 0; i < c->nextra[role]; i++)
		a->argv[n++] = c->extra[role][i];
	a->argv[n] = NULL;
}

static int sup__spawn(struct sup *s, struct sup_child *k)
{
	const struct sup_config *c = s->cfg;
	struct sup_args args;
	char name[32];
	int rc = sup_program(c, k->role, args.bin, sizeof args.bin);
	if (rc)
		return rc;
	sup_argv(c, k->role, &args, k->id);
	const char *const *argv = (const char *const *)args.argv;
	pid_t self = getpid(), pid = fork();
	if (pid < 0)
		return roost_from_errno(errno);
	if (pid == 0)
		sup__exec(argv, self);
	k->pid = pid;
	k->state = SUP_RUNNING;
	k->started_ms = sup__now_ms();
	sup__name(k, name, sizeof name);
	log_info("started %s (pid %d)", name, (int)pid);
	return 0;
}

static struct sup_child *sup__add(struct sup *s, enum sup_role role, int id)
{
	if (s->nkids == SUP_MAX_KIDS)
		return NULL;
	struct sup_child *k = &s->kids[s->nkids++];
	*k = (struct sup_child){.role = role, .id = id, .state = SUP_STOPPED, .last_status = -1};
	return k;
}

static int sup__count(const struct sup *s, enum sup_role role)
{
	int n = 0;
	for (int i = 0; i < s->nkids; i++)
		n += s->kids[i].role == role && s->kids[i].state != SUP_STOPPING &&
		     s->kids[i].state != SUP_STOPPED;
	return n;
}

/* Readers that were removed leave the table once they are gone. */
static void sup__compact(struct sup *s)
{
	int out = 0;
	for (int i = 0; i < s->nkids; i++)
		if (s->kids[i].role != SUP_READER || s->kids[i].state != SUP_STOPPED)
			s->kids[out++] = s->kids[i];
	s->nkids = out;
}

static int sup__fatal_at_start(const struct sup *s, const struct sup_child *k, int status)
{
	if (s->serving)
		return 0;
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return k->role == SUP_WRITER || code == 2 || code == 127;
}

static void sup__schedule(struct sup_child *k, const char *name, const char *how)
{
	int64_t now = sup__now_ms(), ran = now - k->started_ms;
	k->failures = ran >= SUP_STABLE_MS ? 0 : k->failures + 1;
	int64_t delay = (int64_t)SUP_BACKOFF_MIN_MS << (k->failures < 10 ? k->failures : 10);
	if (delay > SUP_BACKOFF_MAX_MS)
		delay = SUP_BACKOFF_MAX_MS;
	k->state = SUP_BACKOFF;
	k->restart_at_ms = now + delay;
	log_warn("%s (pid %d) %s after %.1f s; restarting in %lld ms", name, (int)k->pid, how,
		 (double)ran / 1000.0, (long long)delay);
}

/* A dead child's metrics object goes with it; the shared-memory
 * directory may have been made after the supervisor started. */
static void sup__forget_metrics(const struct sup *s, pid_t pid)
{
	struct inst *in = malloc(sizeof *in);
	char why[INST_WHY_MAX];
	if (in) {
		*in = s->cfg->in;
		if (inst_shm_find(in, why, sizeof why) == 0)
			mstat_remove(in, pid);
		free(in);
	}
}

static void sup__exited(struct sup *s, struct sup_child *k, int status)
{
	char name[32], how[96];
	sup__name(k, name, sizeof name);
	sup__describe_exit(status, how, sizeof how);
	k->last_status = status;
	sup__forget_metrics(s, k->pid);
	if (k->role == SUP_READER) {
		rstat_remove(&s->cfg->in, k->pid);
		inst_search_unlink(&s->cfg->in, k->pid);
	}
	if (k->state == SUP_STOPPING || s->stop) {
		log_info("%s (pid %d) stopped: %s", name, (int)k->pid, how);
		k->state = SUP_STOPPED;
	} else if (sup__fatal_at_start(s, k, status)) {
		log_error("%s (pid %d) %s before the instance served; giving up", name, (int)k->pid,
			  how);
		sup__tell_starter(s, "fail %s %s (see the log)", name, how);
		k->state = SUP_STOPPED;
		s->stop = 1;
		s->rc = ROOST_ECLOSED;
	} else {
		sup__schedule(k, name, how);
	}
	k->pid = 0;
	sup__compact(s);
}

static void sup__reap(struct sup *s)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (int i = 0; i < s->nkids; i++)
			if (s->kids[i].pid == pid) {
				sup__exited(s, &s->kids[i], status);
				break;
			}
}

/* Reads pending signals: SIGCHLD reaps, SIGTERM, SIGINT and SIGHUP stop. */
static void sup__signals(struct sup *s)
{
	struct signalfd_siginfo si;
	while (read(s->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGCHLD)
			continue;
		if (!s->stop)
			log_info("signal %u: stopping the instance", si.ssi_signo);
		s->stop = 1;
	}
	sup__reap(s);
}

static void sup__restart_due(struct sup *s)
{
	int64_t now = sup__now_ms();
	for (int i = 0; i < s->nkids && !s->stop; i++) {
		struct sup_child *k = &s->kids[i];
		if (k->state != SUP_BACKOFF || k->restart_at_ms > now)
			continue;
		if (sup__spawn(s, k) == 0)
			k->restarts++;
		else
			k->restart_at_ms = now + SUP_BACKOFF_MAX_MS;
	}
}

static int sup__poll_timeout(const struct sup *s)
{
	int64_t now = sup__now_ms(), wait = -1;
	for (int i = 0; i < s->nkids; i++) {
		const struct sup_child *k = &s->kids[i];
		if (k->state != SUP_BACKOFF)
			continue;
		int64_t left = k->restart_at_ms > now ? k->restart_at_ms - now : 0;
		if (wait < 0 || left < wait)
			wait = left;
	}
	return (int)wait;
}

static void sup__ps(const struct sup *s, char *out, size_t len)
{
	size_t at = 0;
	at += (size_t)snprintf(out, len, "supervisor %d %s\n", (int)getpid(),
			       s->stop	    ? "stopping"
			       : s->serving ? "serving"
					    : "starting");
	for (int i = 0; i < s->nkids && at < len; i++) {
		const struct sup_child *k = &s->kids[i];
		char last[32] = "-";
		if (k->last_status >= 0 && WIFSIGNALED(k->last_status))
			snprintf(last, sizeof last, "signal:%d", WTERMSIG(k->last_status));
		else if (k->last_status >= 0)
			snprintf(last, sizeof last, "exit:%d", WEXITSTATUS(k->last_status));
		at += (size_t)snprintf(out + at, len - at, "%s %d %d %s %d %s\n",
				       sup__role_names[k->role], k->id, (int)k->pid,
				       sup__state_names[k->state], k->restarts, last);
	}
}

static void sup__reader_add(struct sup *s, char *out, size_t len)
{
	struct sup_child *k = sup__count(s, SUP_READER) < SUP_MAX_READERS
				  ? sup__add(s, SUP_READER, s->next_reader)
				  : NULL;
	if (!k) {
		snprintf(out, len, "error at most %d readers\n", SUP_MAX_READERS);
		return;
	}
	s->next_reader++;
	int rc = sup__spawn(s, k);
	if (rc) {
		s->nkids--;
		snprintf(out, len, "error cannot start a reader: %s\n", roost_strerror(rc));
		return;
	}
	snprintf(out, len, "ok %d %d\n", (int)k->pid, sup__count(s, SUP_READER));
}

/* The newest reader goes first: the oldest have the warmest caches. */
static void sup__reader_remove(struct sup *s, char *out, size_t len)
{
	struct sup_child *k = NULL;
	for (int i = 0; i < s->nkids; i++)
		if (s->kids[i].role == SUP_READER &&
		    (s->kids[i].state == SUP_RUNNING || s->kids[i].state == SUP_BACKOFF))
			k = &s->kids[i];
	if (!k) {
		snprintf(out, len, "error no reader to remove\n");
		return;
	}
	pid_t pid = k->pid;
	char name[32];
	sup__name(k, name, sizeof name);
	if (pid > 0) {
		k->state = SUP_STOPPING;
		kill(pid, SIGTERM);
		log_info("removing %s (pid %d)", name, (int)pid);
	} else {
		k->state = SUP_STOPPED;
		sup__compact(s);
	}
	snprintf(out, len, "ok %d %d\n", (int)pid, sup__count(s, SUP_READER));
}

static void sup__serve(struct sup *s)
{
	int conn;
	char cmd[64];
	if (supctl_accept(s->listen_fd, &conn, cmd, sizeof cmd) != 0)
		return;
	char reply[SUP_REPLY_SIZE];
	if (strcmp(cmd, "ps") == 0) {
		sup__ps(s, reply, sizeof reply);
	} else if (strcmp(cmd, "data") == 0) {
		snprintf(reply, sizeof reply, "ok %s\n", s->cfg->in.data_dir);
	} else if (strcmp(cmd, "readers add") == 0) {
		sup__reader_add(s, reply, sizeof reply);
	} else if (strcmp(cmd, "readers remove") == 0) {
		sup__reader_remove(s, reply, sizeof reply);
	} else if (strcmp(cmd, "down") == 0) {
		log_info("down requested: stopping the instance");
		s->stop = 1;
		snprintf(reply, sizeof reply, "ok\n");
	} else {
		snprintf(reply, sizeof reply, "error unknown request\n");
	}
	supctl_reply(conn, reply);
}

/* Tells systemd, when it runs the supervisor, where the instance stands. */
static void sup__notify(const char *state)
{
	int rc = supnotify_send(state);
	if (rc)
		log_warn("cannot tell systemd %s through NOTIFY_SOCKET: %s", state,
			 roost_strerror(rc));
}

/* The starter writes "ok" once the instance serves; EOF means it gave
 * up (or was interrupted), and an instance nobody saw serve is stopped. */
static void sup__from_starter(struct sup *s)
{
	char buf[16];
	ssize_t n = read(s->starter, buf, sizeof buf);
	if (n > 0 && strncmp(buf, "ok", 2) == 0) {
		s->serving = 1;
		log_info("instance '%s' serves", s->cfg->in.name);
		sup__notify("READY=1");
	} else if (!s->serving) {
		log_error("the start was abandoned before the instance served; stopping");
		s->stop = 1;
		s->rc = ROOST_ECLOSED;
	}
	s->starter_done = 1;
}

/* Answers one scrape with what the supervisor knows of its processes. */
static void sup__serve_metrics(struct sup *s)
{
	struct supmetrics_proc procs[SUP_MAX_KIDS];
	for (int i = 0; i < s->nkids; i++)
		procs[i] = (struct supmetrics_proc){.role = sup__role_names[s->kids[i].role],
						    .id = s->kids[i].id,
						    .pid = s->kids[i].pid,
						    .restarts = s->kids[i].restarts};
	supmetrics_serve(s->metrics_fd, &s->cfg->in, procs, s->nkids);
}

static void sup__step(struct sup *s)
{
	int starter = s->starter >= 0 && !s->starter_done;
	/* The starter's pipe, last, only while it is there. */
	struct pollfd p[4] = {{.fd = s->sigfd, .events = POLLIN},
			      {.fd = s->listen_fd, .events = POLLIN},
			      {.fd = s->metrics_fd, .events = POLLIN},
			      {.fd = s->starter, .events = POLLIN}};
	if (poll(p, starter ? 4 : 3, sup__poll_timeout(s)) < 0)
		return;
	if (p[0].revents)
		sup__signals(s);
	if (p[1].revents && !s->stop)
		sup__serve(s);
	if (p[2].revents)
		sup__serve_metrics(s);
	if (starter && p[3].revents)
		sup__from_starter(s);
	sup__restart_due(s);
}

static int sup__pending(const struct sup *s, unsigned roles)
{
	int n = 0;
	for (int i = 0; i < s->nkids; i++)
		n += (roles >> s->kids[i].role & 1) && s->kids[i].state == SUP_STOPPING;
	return n;
}

/* SIGTERM to every child of roles, SIGKILL to those still there after
 * grace_ms; returns when all are gone. */
static void sup__terminate(struct sup *s, unsigned roles, int grace_ms)
{
	for (int i = 0; i < s->nkids; i++) {
		struct sup_child *k = &s->kids[i];
		if (!(roles >> k->role & 1))
			continue;
		if (k->state == SUP_RUNNING && kill(k->pid, SIGTERM) == 0)
			k->state = SUP_STOPPING;
		else if (k->state == SUP_BACKOFF)
			k->state = SUP_STOPPED;
	}
	int64_t deadline = sup__now_ms() + grace_ms;
	int killed = 0;
	while (sup__pending(s, roles) > 0) {
		if (!killed && sup__now_ms() >= deadline) {
			for (int i = 0; i < s->nkids; i++)
				if ((roles >> s->kids[i].role & 1) &&
				    s->kids[i].state == SUP_STOPPING) {
					log_warn("pid %d did not stop within %d ms: SIGKILL",
						 (int)s->kids[i].pid, grace_ms);
					kill(s->kids[i].pid, SIGKILL);
				}
			killed = 1;
		}
		struct pollfd p = {.fd = s->sigfd, .events = POLLIN};
		poll(&p, 1, 100);
		sup__signals(s);
	}
}

/* With the brokers gone nothing new enters the ring; waiting for the
 * writer to log what is there leaves nothing in shared memory, which a
 * reboot would lose (`queued` acknowledgements). */
static void sup__drain(struct sup *s)
{
	static struct inst in;
	char why[INST_WHY_MAX];
	ring *r;
	ctl *c;
	in = s->cfg->in;
	if (inst_shm_find(&in, why, sizeof why) != 0 ||
	    ring_open(&r, in.ring_path, 0, RING_OBSERVER) != 0)
		return;
	uint64_t reserve = ring_reserve(r);
	ring_close(r);
	if (ctl_open(&c, in.ctl_path, CTL_READ_ONLY) != 0)
		return;
	int64_t deadline = sup__now_ms() + SUP_DRAIN_MS;
	if (ctl_mark(c, CTL_DURABLE) < reserve)
		log_info("waiting for the writer to log the ring up to LSN %llu",
			 (unsigned long long)reserve);
	while (ctl_mark(c, CTL_DURABLE) < reserve && ctl_writer_alive(c) &&
	       sup__now_ms() < deadline)
		ctl_wait(c, CTL_DURABLE, reserve - 1, 100);
	uint64_t durable = ctl_mark(c, CTL_DURABLE);
	ctl_close(c);
	if (durable < reserve)
		log_warn("the writer logged up to LSN %llu of %llu; the rest stays in the ring for "
			 "its next start",
			 (unsigned long long)durable, (unsigned long long)reserve);
	else
		log_info("the writer logged everything in the ring (LSN %llu)",
			 (unsigned long long)reserve);
}

/* Stopping serves no requests: closing the socket now tells clients so at
 * once (supctl_request: ROOST_ENOENT) instead of after their timeout. */
static void sup__close_listen(struct sup *s)
{
	char path[PATH_MAX];
	if (s->listen_fd < 0)
		return;
	if (supctl_path(&s->cfg->in, SUPCTL_SOCK, path, sizeof path) == 0)
		unlink(path);
	close(s->listen_fd);
	s->listen_fd = -1;
}

/* Whether anything from the ring's head (or the writer's durable end)
 * to its reserve still waits to be logged; why says what when it does. */
static int sup__ring_drained(const struct inst *in, ring *r, ctl *c, char *why, size_t len)
{
	uint64_t from = ring_head(r), reserve = ring_reserve(r), at = 0;
	uint64_t durable = c ? ctl_mark(c, CTL_DURABLE) : 0;
	if (durable > from && durable <= reserve)
		from = durable;
	if (ring_producers_alive(r)) {
		snprintf(why, len, "a broker of instance '%s' still has the ring open", in->name);
		return ROOST_ELOCKED;
	}
	int rc = ring_unread(r, from, &at);
	if (rc < 0)
		snprintf(why, len, "the ring of instance '%s' cannot be read: %s", in->name,
			 roost_strerror(rc));
	if (rc != 1)
		return rc;
	snprintf(why, len,
		 "the ring holds batches from LSN %llu to %llu that are not in the log "
		 "(acknowledged `queued`); they stay in shared memory until `roost up --name %s` "
		 "logs them",
		 (unsigned long long)at, (unsigned long long)reserve, in->name);
	return ROOST_EBUSY;
}

/* Sockets a killed process left behind (every process of the instance is
 * gone: none holds the ring). */
static void sup__remove_sockets(const struct inst *in)
{
	DIR *d = opendir(in->run_dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[INST_PATH_MAX];
		struct stat st;
		size_t n = strlen(e->d_name);
		snprintf(path, sizeof path, "%s/%s", in->run_dir, e->d_name);
		if (n > 4 && strcmp(e->d_name + n - 4, ".ipc") == 0 && lstat(path, &st) == 0 &&
		    S_ISSOCK(st.st_mode))
			unlink(path);
	}
	closedir(d);
}

int sup_remove_shm(struct inst *in, char *why, size_t len)
{
	why[0] = '\0';
	int rc = inst_shm_find(in, why, len);
	if (rc == ROOST_ENOENT) {
		sup__remove_sockets(in);
		return 0;
	}
	if (rc)
		return rc;
	ctl *c = NULL;
	ring *r = NULL;
	rc = ctl_open(&c, in->ctl_path, CTL_READ_WRITE);
	if (rc == ROOST_ENOENT && access(in->ctl_path, F_OK) == 0) { /* its lock is not ours */
		snprintf(why, len,
			 "the control block of instance '%s' is not ready (a writer is "
			 "starting, or died starting)",
			 in->name);
		rc = ROOST_EBUSY;
	} else if (rc == ROOST_ENOENT) /* no writer ever made one: none can run */
		rc = 0;
	else if (rc == 0 && (rc = ctl_lock_writer(c)) == ROOST_ELOCKED)
		snprintf(why, len, "a writer (pid %d) of instance '%s' still runs",
			 (int)ctl_writer_pid(c), in->name);
	else if (rc)
		snprintf(why, len, "the control block of instance '%s': %s", in->name,
			 roost_strerror(rc));
	if (rc == 0) {
		rc = ring_open(&r, in->ring_path, 0, RING_CONSUMER);
		if (rc == 0)
			rc = sup__ring_drained(in, r, c, why, len);
		else if (rc == ROOST_ENOENT)
			rc = 0;
		else
			snprintf(why, len, "the ring of instance '%s': %s", in->name,
				 roost_strerror(rc));
	}
	if (rc == 0 && (rc = inst_shm_remove(in)) != 0)
		snprintf(why, len, "cannot remove the shared memory of instance '%s': %s", in->name,
			 roost_strerror(rc));
	if (rc == 0)
		sup__remove_sockets(in);
	ring_close(r);
	ctl_close(c);
	return rc;
}

/* Nothing of a stopped instance stays in memory unless the ring holds
 * writes the log lacks. */
static void sup__remove_shm(struct sup *s)
{
	static struct inst in;
	char why[INST_WHY_MAX];
	in = s->cfg->in;
	if (sup_remove_shm(&in, why, sizeof why) == 0)
		log_info("removed the instance's shared memory");
	else
		log_warn("kept the instance's shared memory: %s", why);
}

static void sup__stop_all(struct sup *s)
{
	sup__close_listen(s);
	log_info(SUP_STOPPING_LINE);
	sup__terminate(s, 1u << SUP_BROKER | 1u << SUP_READER, SUP_GRACE_MS);
	sup__drain(s);
	log_info("stopping the writer");
	sup__terminate(s, 1u << SUP_WRITER, SUP_WRITER_MS);
	sup__remove_shm(s);
}

static int sup__open(struct sup *s)
{
	const struct inst *in = &s->cfg->in;
	pid_t holder = 0;
	int rc = supctl_lock(in, &s->pid_fd, &holder);
	if (rc == ROOST_ELOCKED) {
		sup__tell_starter(s, "held %d", (int)holder);
		return rc;
	}
	if (rc == 0)
		rc = supctl_listen(in, &s->listen_fd);
	char why[256];
	if (rc == 0 && s->cfg->metrics &&
	    (rc = supmetrics_listen(s->cfg->metrics, &s->metrics_fd, why, sizeof why)) != 0) {
		sup__tell_starter(s, "fail %s", why);
		return rc;
	}
	if (rc == 0 && s->cfg->metrics)
		log_info("serving metrics on http://%s/metrics", s->cfg->metrics);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (rc == 0 && (sigprocmask(SIG_BLOCK, &set, NULL) != 0 ||
			(s->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0))
		rc = roost_from_errno(errno);
	if (rc)
		sup__tell_starter(s, "fail the supervisor cannot start: %s", roost_strerror(rc));
	signal(SIGPIPE, SIG_IGN); /* a control client may go away mid-reply */
	return rc;
}

static void sup__close(struct sup *s)
{
	sup__close_listen(s);
	int fds[] = {s->sigfd, s->starter, s->pid_fd, s->metrics_fd};
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void sup__start_all(struct sup *s)
{
	const struct sup_config *c = s->cfg;
	sup__add(s, SUP_WRITER, 0);
	for (int i = 0; i < c->brokers; i++)
		sup__add(s, SUP_BROKER, i);
	for (; s->next_reader < c->readers; s->next_reader++)
		sup__add(s, SUP_READER, s->next_reader);
	for (int i = 0; i < s->nkids; i++) {
		int rc = sup__spawn(s, &s->kids[i]);
		if (rc) {
			log_error("cannot start a child: %s", roost_strerror(rc));
			sup__tell_starter(s, "fail cannot start a child: %s", roost_strerror(rc));
			s->stop = 1;
			s->rc = rc;
			return;
		}
	}
}

int sup_run(const struct sup_config *cfg, int starter)
{
	static struct sup s;
	s = (struct sup){.cfg = cfg,
			 .sigfd = -1,
			 .listen_fd = -1,
			 .metrics_fd = -1,
			 .pid_fd = -1,
			 .starter = starter};
	int rc = sup__open(&s);
	if (rc == 0) {
		log_info("supervising instance '%s' (data %s): %d broker(s), %d reader(s)",
			 cfg->in.name, cfg->in.data_dir, cfg->brokers, cfg->readers);
		sup__start_all(&s);
		while (!s.stop)
			sup__step(&s);
		sup__notify("STOPPING=1");
		sup__stop_all(&s);
		log_info("instance '%s' stopped", cfg->in.name);
		rc = s.rc;
	}
	sup__close(&s);
	return rc;
}
