/* The request loop of brokers and readers: a raw nanomsg REP socket served
 * by several worker threads at once.
 *
 * A cooked REP socket answers one request at a time; a raw one hands each
 * worker its own request together with the routing header that takes the
 * reply back to the right requester, so a worker waiting on a slow
 * acknowledgement never holds up the others. */
#ifndef ROOST_SRV_H
#define ROOST_SRV_H

#include <stddef.h>

/* Produces the reply frame (malloc'ed) for one request frame; non-zero
 * means no reply (the requester times out and retries). */
typedef int (*srv_handler)(void *arg, const void *frame, size_t len, void **reply,
			   size_t *reply_len);

/* Serves sock until nn_term(); call it from each worker thread. */
void srv_loop(int sock, srv_handler fn, void *arg);

#endif
