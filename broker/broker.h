/* A broker's request handling: validate, dedupe, copy into the ring, wait
 * for the acknowledgement the client asked for. Shared by every worker
 * thread of the broker process. */
#ifndef ROOST_BROKER_H
#define ROOST_BROKER_H

#include "ctl.h"
#include "ring.h"
#include "wire.h"

#include <stddef.h>

struct broker_config {
	struct wire_limits limits;
	int busy_timeout_ms; /* ring full: wait this long, then BUSY */
	int ack_timeout_ms;  /* default wait for durable/visible */
	int max_timeout_ms;  /* cap on a client's timeout_ms */
	int search_wait_ms;  /* a search's default wait (matches the readers') */
};

/* Where workers forward searches: the front of the broker's search device,
 * whose back the readers connect to. */
#define BROKER_SEARCH_FRONT "inproc://roost-search"

struct broker {
	struct broker_config cfg;
	ctl *ctl;
	ring *ring;
};

/* Handles one request frame and returns the reply frame (malloc'ed).
 * Never fails to produce a reply except when out of memory. */
int broker_handle(struct broker *b, const void *frame, size_t len, void **reply, size_t *reply_len);

/* Closes the calling thread's socket to the search device, if it opened
 * one; a worker thread calls it before it returns. */
void broker_thread_close(void);

#endif
