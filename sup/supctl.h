/* The supervisor's files in an instance's runtime directory, and the
 * control protocol that `roost` commands speak to it.
 *
 *   supervisor.pid   the supervisor's pid; it holds an exclusive flock on
 *                    the file for its lifetime, so the lock, not the pid,
 *                    says whether it runs (and a second one is refused)
 *   supervisor.sock  a unix stream socket (0600, in the 0700 runtime dir):
 *                    a client sends one request line and reads the reply
 *                    until the supervisor closes the connection
 *   supervisor.log   the log of the supervisor and its children (daemon
 *                    mode; --foreground logs to stderr)
 *
 * Requests and replies (text, one item a line):
 *   ps              "supervisor PID STATE" (starting, serving, stopping),
 *                   then "ROLE ID PID STATE RESTARTS LAST" per child: ROLE
 *                   writer, broker or reader; PID 0 when not running;
 *                   STATE running, backoff or stopping; LAST the previous
 *                   exit: "-", "exit:N" or "signal:N"
 *   readers add     "ok PID READERS" (the new reader) or "error TEXT"
 *   readers remove  "ok PID READERS" (the reader told to stop) or "error"
 *   down            "ok"; the supervisor then stops everything and exits
 */
#ifndef ROOST_SUPCTL_H
#define ROOST_SUPCTL_H

#include "inst.h"

#include <stddef.h>
#include <sys/types.h>

#define SUPCTL_PID  "supervisor.pid"
#define SUPCTL_SOCK "supervisor.sock"
#define SUPCTL_LOG  "supervisor.log"
/* Most children a `ps` reply lists. */
#define SUPCTL_MAX_PROCS 160

/* <run dir>/<file> into buf. */
int supctl_path(const struct inst *in, const char *file, char *buf, size_t len);

/* Supervisor: takes the pid file lock and writes our pid. ROOST_ELOCKED
 * (with *holder, when known) while another supervisor runs. The
 * descriptor is close-on-exec, so children never keep the lock. */
int supctl_lock(const struct inst *in, int *fd, pid_t *holder);

/* 0 and its pid when a supervisor runs; ROOST_ENOENT when none does. */
int supctl_running(const struct inst *in, pid_t *pid);

/* Supervisor: binds the control socket, replacing a dead one's. */
int supctl_listen(const struct inst *in, int *fd);

/* Supervisor: accepts one connection and reads its request line (at most
 * a second's wait). */
int supctl_accept(int listen_fd, int *conn, char *cmd, size_t len);

/* Supervisor: sends the reply and closes the connection. */
void supctl_reply(int conn, const char *reply);

/* Client: sends one request and reads the whole reply (NUL-terminated,
 * cut to len). ROOST_ENOENT when no supervisor listens. */
int supctl_request(const struct inst *in, const char *cmd, char *reply, size_t len);

/* One child, as `ps` tells it. */
struct supctl_proc {
	char role[8];
	int id;
	pid_t pid;
	char state[12];
	int restarts;
	char last[16];
};

struct supctl_ps {
	pid_t pid;	/* the supervisor's */
	char state[12]; /* starting, serving or stopping */
	size_t n;
	struct supctl_proc procs[SUPCTL_MAX_PROCS];
};

/* Client: the `ps` request, parsed. */
int supctl_ps(const struct inst *in, struct supctl_ps *out);

#endif
