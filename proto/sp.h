/* The transport: nng's scalability-protocol sockets as every roost hop
 * uses them (docs/transport.md says why nng and not nanomsg).
 *
 * Servers (brokers towards clients, readers towards brokers) answer on a
 * raw REP socket from several worker threads at once: a raw socket hands
 * each worker its own request with the routing header that takes the
 * reply back, so a worker waiting on a slow acknowledgement never holds
 * up the others. Requesters (libroost, a broker forwarding a search) use
 * one REQ context per outstanding request.
 *
 * Every socket's transport refuses messages over its frame limit plus
 * SP_FRAME_SLACK, so a frame a little over an application limit still
 * reaches the application and gets a clear error; only a frame far over it
 * costs the sender its connection.
 */
#ifndef ROOST_SP_H
#define ROOST_SP_H

#include <nng/nng.h>

#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

#define SP_FRAME_SLACK (64u << 10)
/* How often a serving thread looks at its stop flag. */
#define SP_POLL_MS 250

/* Produces the reply frame (malloc'ed) for one request frame; non-zero
 * means no reply (the requester times out and retries). */
typedef int (*sp_handler)(void *arg, const void *frame, size_t len, void **reply,
			  size_t *reply_len);

/* A raw REP socket receiving frames of up to max_frame (+ slack). */
int sp_open_server(nng_socket *out, size_t max_frame);

/* A REQ socket receiving replies of up to max_frame (+ slack). resend_ms
 * > 0: a request unanswered that long is sent again, and a request whose
 * connection drops is sent again at once on another; 0: the request fails
 * instead (ROOST_ECONN) and the caller decides. */
int sp_open_client(nng_socket *out, size_t max_frame, int resend_ms);

/* An address in use is tried again for this long: the process it
 * replaces may still be stopping (the children of a killed supervisor go
 * when it does, while the next `roost up` starts theirs). */
#define SP_LISTEN_WAIT_MS 5000

/* How long after binding over a socket file that was there the file must
 * still be ours (see sp_listen). */
#define SP_LISTEN_SETTLE_MS 200

/* Listens on url; an ipc:// socket file gets mode. On failure err says
 * why, in words. */
int sp_listen(nng_socket s, const char *url, mode_t mode, char *err, size_t errlen);

/* An ipc:// listener that stays reachable. A predecessor that closes its
 * listener late (descheduled between closing its socket and unlinking
 * its file, longer than SP_LISTEN_SETTLE_MS) unlinks the file this one
 * made: the listener lives on, but no client can find it. sp_ipc_keep,
 * called now and then, binds again when the file is gone. */
struct sp_ipc {
	nng_socket sock;
	nng_listener l;
	char url[128]; /* ipc:// and a sun_path */
	mode_t mode;
};

/* sp_listen on url, kept in b. ROOST_EINVAL for a url over b->url. */
int sp_ipc_listen(struct sp_ipc *b, nng_socket s, const char *url, mode_t mode, char *err,
		  size_t errlen);

/* 0 when b's socket file is there, 1 when it was not and b listens
 * again, or the error of listening again (err says why). */
int sp_ipc_keep(struct sp_ipc *b, char *err, size_t errlen);

/* Removes b's socket file once its socket is closed: nng removes it only
 * when the listener's close runs before the process ends, which its
 * background threads do not promise. Only for a path no other process
 * may take meanwhile (one named by the caller's pid). */
void sp_ipc_remove(const struct sp_ipc *b);

/* Connects to url in the background: a peer not there yet is retried
 * until it is. ROOST_EINVAL for a URL nng cannot parse. */
int sp_dial(nng_socket s, const char *url, char *err, size_t errlen);

/* Serves s until *stop is set (seen within SP_POLL_MS, or once the
 * request in hand is answered); call it from each worker thread. Close s
 * only after every such thread has returned: in nng 1.5.2 a receive that
 * races with nng_close() can wait forever. */
void sp_serve(nng_socket s, sp_handler fn, void *arg, const atomic_int *stop);

/* One request on a REQ context: sends frame and waits for the reply,
 * both within timeout_ms. ROOST_ETIMEDOUT: no reply in time; ROOST_ECONN:
 * the connection carrying it dropped (with resends off); ROOST_ECLOSED:
 * aio was cancelled or the socket is closing. Free *reply with
 * nng_msg_free(). */
int sp_call(nng_ctx ctx, nng_aio *aio, const void *frame, size_t len, int timeout_ms,
	    nng_msg **reply);

/* Keeps *count at the number of s's peers: a REQ send with none waits out
 * its timeout, so a requester with another way to go looks first. Counts
 * from nng's first and last event of each pipe (ADD_PRE, REM_POST: nng
 * delivers the second exactly when it delivered the first). */
int sp_count_peers(nng_socket s, atomic_int *count);

/* Stops nng's own threads and frees what they still hold (messages in
 * flight on connections being torn down). A process that owns its nng
 * calls it once at exit, after closing every socket; libroost, which
 * shares its process with its caller, does not. */
void sp_fini(void);

/* nng's error as a roost code. */
int sp_error(int nng_rv);

#endif
