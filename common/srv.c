#include "srv.h"

#include <nanomsg/nn.h>

#include <errno.h>
#include <stdlib.h>

/* Receives one request with its routing header; -1 once the library is
 * shutting down. */
static int srv__recv(int sock, void **body, void **control)
{
	for (;;) {
		struct nn_iovec iov = {body, NN_MSG};
		struct nn_msghdr hdr = {.msg_iov = &iov,
					.msg_iovlen = 1,
					.msg_control = control,
					.msg_controllen = NN_MSG};
		int n = nn_recvmsg(sock, &hdr, 0);
		if (n >= 0)
			return n;
		if (nn_errno() == ETERM || nn_errno() == EBADF)
			return -1;
	}
}

static void srv__reply(int sock, void *reply, size_t len, void *control)
{
	struct nn_iovec out = {reply, len};
	struct nn_msghdr hdr = {
	    .msg_iov = &out, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = NN_MSG};
	/* On success nanomsg owns the header chunk; otherwise it is ours. */
	if (nn_sendmsg(sock, &hdr, 0) < 0)
		nn_freemsg(control);
}

void srv_loop(int sock, srv_handler fn, void *arg)
{
	for (;;) {
		void *body = NULL, *control = NULL;
		int n = srv__recv(sock, &body, &control);
		if (n < 0)
			return;
		void *reply = NULL;
		size_t len = 0;
		int rc = fn(arg, body, (size_t)n, &reply, &len);
		nn_freemsg(body);
		if (rc == 0)
			srv__reply(sock, reply, len, control);
		else
			nn_freemsg(control);
		free(reply);
	}
}
