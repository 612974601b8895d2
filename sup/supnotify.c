#include "supnotify.h"

#include "err.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* NOTIFY_SOCKET as an address: a path, or "@name" for an abstract one. */
static int supnotify__address(const char *name, struct sockaddr_un *out, socklen_t *len)
{
	size_t n = strlen(name);
	if ((name[0] != '/' && name[0] != '@') || n < 2 || n >= sizeof out->sun_path)
		return ROOST_EINVAL;
	memset(out, 0, sizeof *out);
	out->sun_family = AF_UNIX;
	memcpy(out->sun_path, name, n);
	if (name[0] == '@')
		out->sun_path[0] = '\0';
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] == '/'));
	return 0;
}

int supnotify_send(const char *state)
{
	const char *name = getenv("NOTIFY_SOCKET");
	if (!name || !*name)
		return 0;
	struct sockaddr_un addr;
	socklen_t len;
	int rc = supnotify__address(name, &addr, &len);
	if (rc)
		return rc;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return roost_from_errno(errno);
	size_t n = strlen(state);
	ssize_t sent = sendto(fd, state, n, MSG_NOSIGNAL, (struct sockaddr *)&addr, len);
	rc = sent == (ssize_t)n ? 0 : roost_from_errno(sent < 0 ? errno : EIO);
	close(fd);
	return rc;
}
