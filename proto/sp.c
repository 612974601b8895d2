#include "sp.h"

#include "err.h"

#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sp_error(int nng_rv)
{
	switch (nng_rv) {
	case 0:
		return 0;
	case NNG_ETIMEDOUT:
		return ROOST_ETIMEDOUT;
	case NNG_ECLOSED:
	case NNG_ECANCELED:
		return ROOST_ECLOSED;
	case NNG_ENOMEM:
		return ROOST_ENOMEM;
	case NNG_EMSGSIZE:
		return ROOST_ETOOBIG;
	case NNG_EINVAL:
	case NNG_EADDRINVAL:
	case NNG_ENOTSUP:
		return ROOST_EINVAL;
	case NNG_EPERM:
		return ROOST_EPERM;
	case NNG_EADDRINUSE:
		return ROOST_EEXIST;
	default:
		return ROOST_ECONN;
	}
}

void sp_fini(void)
{
	nng_fini();
}

static int sp__limit(nng_socket s, size_t max_frame)
{
	return nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, max_frame + SP_FRAME_SLACK);
}

int sp_open_server(nng_socket *out, size_t max_frame)
{
	int rv = nng_rep0_open_raw(out);
	if (rv != 0)
		return sp_error(rv);
	rv = sp__limit(*out, max_frame);
	if (rv == 0)
		rv = nng_socket_set_ms(*out, NNG_OPT_RECVTIMEO, SP_POLL_MS);
	if (rv != 0)
		nng_close(*out);
	return sp_error(rv);
}

int sp_open_client(nng_socket *out, size_t max_frame, int resend_ms)
{
	int rv = nng_req0_open(out);
	if (rv != 0)
		return sp_error(rv);
	rv = sp__limit(*out, max_frame);
	if (rv == 0)
		rv = nng_socket_set_ms(*out, NNG_OPT_REQ_RESENDTIME,
				       resend_ms > 0 ? resend_ms : NNG_DURATION_INFINITE);
	if (rv != 0)
		nng_close(*out);
	return sp_error(rv);
}

static void sp__peer_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	/* Relaxed: a gauge; the send that reads it waits for its reply
	 * anyway, so nothing else is ordered by it. */
	atomic_fetch_add_explicit((atomic_int *)arg, ev == NNG_PIPE_EV_ADD_PRE ? 1 : -1,
				  memory_order_relaxed);
}

int sp_count_peers(nng_socket s, atomic_int *count)
{
	int rv = nng_pipe_notify(s, NNG_PIPE_EV_ADD_PRE, sp__peer_event, count);
	if (rv == 0)
		rv = nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, sp__peer_event, count);
	return sp_error(rv);
}

static int sp__fail(int rv, const char *what, const char *url, char *err, size_t errlen)
{
	if (err && errlen)
		snprintf(err, errlen, "cannot %s %s: %s", what, url, nng_strerror(rv));
	return sp_error(rv);
}

static int sp__listen_once(nng_socket s, const char *url, mode_t mode, nng_listener *out)
{
	nng_listener l;
	int rv = nng_listener_create(&l, s, url);
	if (rv != 0)
		return rv;
	/* Set before the socket file exists, so it never has a wider mode. */
	if (strncmp(url, "ipc://", 6) == 0)
		rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, (int)mode);
	if (rv == 0)
		rv = nng_listener_start(l, 0);
	if (rv != 0)
		nng_listener_close(l);
	*out = l;
	return rv;
}

/* The socket file of an ipc address, or NULL for another transport. */
static const char *sp__ipc_path(const char *url)
{
	return strncmp(url, "ipc://", 6) == 0 ? url + 6 : NULL;
}

/* A process closing its listener closes the socket and then unlinks its
 * file; nng takes a file that refuses connections for a dead process's
 * and replaces it. Bound in between, the new file goes with that unlink
 * and no client finds the listener, so a file that was there before is
 * checked again a moment after the bind. */
static int sp__kept(const char *url)
{
	nng_msleep(SP_LISTEN_SETTLE_MS);
	return access(sp__ipc_path(url), F_OK) == 0;
}

static int sp__listen(nng_socket s, const char *url, mode_t mode, nng_listener *out, char *err,
		      size_t errlen)
{
	nng_time deadline = nng_clock() + SP_LISTEN_WAIT_MS;
	for (;;) {
		const char *path = sp__ipc_path(url);
		int taken = path && access(path, F_OK) == 0;
		int rv;
		while ((rv = sp__listen_once(s, url, mode, out)) == NNG_EADDRINUSE &&
		       nng_clock() < deadline) {
			taken = path != NULL;
			nng_msleep(50);
		}
		if (rv == 0 && (!taken || sp__kept(url)))
			return 0;
		if (rv == 0) {
			nng_listener_close(*out);
			rv = NNG_EADDRINUSE;
		}
		if (rv != NNG_EADDRINUSE || nng_clock() >= deadline)
			return sp__fail(rv, "listen on", url, err, errlen);
	}
}

int sp_listen(nng_socket s, const char *url, mode_t mode, char *err, size_t errlen)
{
	nng_listener l;
	return sp__listen(s, url, mode, &l, err, errlen);
}

int sp_ipc_listen(struct sp_ipc *b, nng_socket s, const char *url, mode_t mode, char *err,
		  size_t errlen)
{
	if (strlen(url) >= sizeof b->url)
		return sp__fail(NNG_EINVAL, "listen on", url, err, errlen);
	snprintf(b->url, sizeof b->url, "%s", url);
	b->sock = s;
	b->mode = mode;
	return sp__listen(s, url, mode, &b->l, err, errlen);
}

int sp_ipc_keep(struct sp_ipc *b, char *err, size_t errlen)
{
	const char *path = sp__ipc_path(b->url);
	if (!path || access(path, F_OK) == 0)
		return 0;
	/* Closing unlinks the path by name: it is gone, so nothing else goes. */
	nng_listener_close(b->l);
	int rc = sp__listen(b->sock, b->url, b->mode, &b->l, err, errlen);
	return rc ? rc : 1;
}

void sp_ipc_remove(const struct sp_ipc *b)
{
	const char *path = sp__ipc_path(b->url);
	if (path)
		unlink(path); /* gone already: nothing to do */
}

int sp_dial(nng_socket s, const char *url, char *err, size_t errlen)
{
	int rv = nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK);
	return rv ? sp__fail(rv, "connect to", url, err, errlen) : 0;
}

/* Raw mode: the message keeps its header, which routes the reply; only
 * the body is replaced. */
static void sp__reply(nng_socket s, nng_msg *m, const void *reply, size_t len)
{
	nng_msg_clear(m);
	if (nng_msg_append(m, reply, len) != 0 || nng_sendmsg(s, m, 0) != 0)
		nng_msg_free(m);
}

void sp_serve(nng_socket s, sp_handler fn, void *arg, const atomic_int *stop)
{
	/* Relaxed: pairs with the relaxed store that asks the threads to
	 * stop; it orders nothing else. */
	while (!atomic_load_explicit(stop, memory_order_relaxed)) {
		nng_msg *m;
		if (nng_recvmsg(s, &m, 0) != 0)
			continue;
		void *reply = NULL;
		size_t len = 0;
		if (fn(arg, nng_msg_body(m), nng_msg_len(m), &reply, &len) == 0)
			sp__reply(s, m, reply, len);
		else
			nng_msg_free(m);
		free(reply);
	}
}

int sp_call(nng_ctx ctx, nng_aio *aio, const void *frame, size_t len, int timeout_ms,
	    nng_msg **reply)
{
	nng_msg *m;
	int rv = nng_msg_alloc(&m, 0);
	if (rv == 0 && (rv = nng_msg_append(m, frame, len)) != 0)
		nng_msg_free(m);
	if (rv != 0)
		return sp_error(rv);
	nng_time deadline = nng_clock() + (nng_time)(timeout_ms > 0 ? timeout_ms : 1);
	nng_aio_set_timeout(aio, timeout_ms > 0 ? timeout_ms : 1);
	nng_aio_set_msg(aio, m);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(aio));
		return sp_error(rv);
	}
	/* The send waits for a connection; the reply gets what is left. */
	nng_time now = nng_clock();
	nng_aio_set_timeout(aio, now < deadline ? (nng_duration)(deadline - now) : 1);
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0)
		return sp_error(rv);
	*reply = nng_aio_get_msg(aio);
	return 0;
}
