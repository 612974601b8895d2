#include "supctl.h"

#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SUPCTL_SERVER_WAIT_S 1	/* a client gets this long to send its request */
#define SUPCTL_CLIENT_WAIT_S 10 /* and the supervisor this long to answer */

int supctl_path(const struct inst *in, const char *file, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", in->run_dir, file);
	return n < 0 || (size_t)n >= len ? ROOST_ETOOBIG : 0;
}

static pid_t supctl__read_pid(int fd)
{
	char buf[32] = {0};
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	return n > 0 ? (pid_t)atoi(buf) : 0;
}

int supctl_lock(const struct inst *in, int *fd, pid_t *holder)
{
	char path[PATH_MAX];
	int rc = supctl_path(in, SUPCTL_PID, path, sizeof path);
	if (rc)
		return rc;
	int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (f < 0)
		return roost_from_errno(errno);
	if (flock(f, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK ? ROOST_ELOCKED : roost_from_errno(errno);
		*holder = supctl__read_pid(f);
		close(f);
		return rc;
	}
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
	if (ftruncate(f, 0) != 0 || pwrite(f, buf, (size_t)n, 0) != n) {
		rc = roost_from_errno(errno);
		close(f);
		return rc;
	}
	*fd = f;
	return 0;
}

int supctl_running(const struct inst *in, pid_t *pid)
{
	char path[PATH_MAX];
	int rc = supctl_path(in, SUPCTL_PID, path, sizeof path);
	if (rc)
		return rc;
	int f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return errno == ENOENT ? ROOST_ENOENT : roost_from_errno(errno);
	/* A shared lock is granted only while no supervisor holds its own. */
	rc = flock(f, LOCK_SH | LOCK_NB) == 0 ? ROOST_ENOENT : 0;
	if (rc == 0)
		*pid = supctl__read_pid(f);
	close(f);
	return rc;
}

static int supctl__addr(const struct inst *in, struct sockaddr_un *a)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	return supctl_path(in, SUPCTL_SOCK, a->sun_path, sizeof a->sun_path);
}

int supctl_listen(const struct inst *in, int *fd)
{
	struct sockaddr_un a;
	int rc = supctl__addr(in, &a);
	if (rc)
		return rc;
	/* Only the pid lock holder gets here: a socket file is a dead one's. */
	unlink(a.sun_path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return roost_from_errno(errno);
	if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || chmod(a.sun_path, 0600) != 0 ||
	    listen(s, 16) != 0) {
		rc = roost_from_errno(errno);
		close(s);
		return rc;
	}
	*fd = s;
	return 0;
}

static void supctl__timeouts(int fd, int seconds)
{
	struct timeval tv = {.tv_sec = seconds};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

int supctl_accept(int listen_fd, int *conn, char *cmd, size_t len)
{
	int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return roost_from_errno(errno);
	supctl__timeouts(c, SUPCTL_SERVER_WAIT_S);
	size_t got = 0;
	while (got + 1 < len && !memchr(cmd, '\n', got)) {
		ssize_t n = read(c, cmd + got, len - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	cmd[got] = '\0';
	char *nl = strchr(cmd, '\n');
	if (!nl) {
		close(c);
		return ROOST_EPROTO;
	}
	*nl = '\0';
	*conn = c;
	return 0;
}

static int supctl__write_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, s, len);
		if (n <= 0)
			return ROOST_EIO;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

void supctl_reply(int conn, const char *reply)
{
	supctl__write_all(conn, reply, strlen(reply));
	close(conn);
}

int supctl_request(const struct inst *in, const char *cmd, char *reply, size_t len)
{
	struct sockaddr_un a;
	int rc = supctl__addr(in, &a);
	if (rc)
		return rc;
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return roost_from_errno(errno);
	if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
		rc = errno == ENOENT || errno == ECONNREFUSED ? ROOST_ENOENT
							      : roost_from_errno(errno);
		close(s);
		return rc;
	}
	supctl__timeouts(s, SUPCTL_CLIENT_WAIT_S);
	char line[128];
	int n = snprintf(line, sizeof line, "%s\n", cmd);
	rc = n > 0 && (size_t)n < sizeof line ? supctl__write_all(s, line, (size_t)n)
					      : ROOST_ETOOBIG;
	size_t got = 0;
	ssize_t r = 1;
	while (rc == 0 && got + 1 < len && (r = read(s, reply + got, len - 1 - got)) > 0)
		got += (size_t)r;
	if (rc == 0 && r < 0)
		rc = ROOST_ETIMEDOUT;
	reply[got] = '\0';
	close(s);
	return rc;
}

int supctl_ps(const struct inst *in, struct supctl_ps *out)
{
	char reply[16384];
	int rc = supctl_request(in, "ps", reply, sizeof reply);
	if (rc)
		return rc;
	memset(out, 0, sizeof *out);
	char *save = NULL, *line = strtok_r(reply, "\n", &save);
	int pid;
	if (!line || sscanf(line, "supervisor %d %11s", &pid, out->state) != 2)
		return ROOST_EPROTO;
	out->pid = pid;
	while ((line = strtok_r(NULL, "\n", &save)) && out->n < SUPCTL_MAX_PROCS) {
		struct supctl_proc *p = &out->procs[out->n];
		if (sscanf(line, "%7s %d %d %11s %d %15s", p->role, &p->id, &pid, p->state,
			   &p->restarts, p->last) != 6)
			return ROOST_EPROTO;
		p->pid = pid;
		out->n++;
	}
	return 0;
}
