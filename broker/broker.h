/* A broker's request handling: validate, dedupe, copy into the ring, wait
 * for the acknowledgement the client asked for. Shared by every worker
 * thread of the broker process. */
#ifndef ROOST_BROKER_H
#define ROOST_BROKER_H

#include "catalog.h"
#include "ctl.h"
#include "fair.h"
#include "mstat.h"
#include "ring.h"
#include "sp.h"
#include "wire.h"

#include <nng/nng.h>

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

struct broker_config {
	struct wire_limits limits; /* dim: each collection's own */
	int busy_timeout_ms;	   /* ring full: wait this long, then BUSY */
	int ack_timeout_ms;	   /* default wait for durable/visible */
	int max_timeout_ms;	   /* cap on a client's timeout_ms */
	int search_wait_ms;	   /* a search's default wait (matches the readers') */
	struct fair_config fair;   /* per-agent limits on adds */
};

#define BROKER_MAX_WORKERS 256

/* Readers connect to the broker's search socket; searches go to whichever
 * connected reader is free. */
struct broker_readers {
	nng_socket sock; /* REQ, listening where readers connect */
	struct sp_ipc where;
	pthread_mutex_t lock;
	pthread_cond_t changed; /* count moved */
	int count;		/* connected readers */
	int stopping;		/* no new search is forwarded */
	/* Each worker's forwarding aio, so that stopping can cancel them. */
	nng_aio *callers[BROKER_MAX_WORKERS];
	int ncallers;
};

struct broker {
	struct broker_config cfg;
	const char *name; /* the instance, for messages */
	ctl *ctl;
	ring *ring;
	catalog *cat;
	fair *fair;	/* from cfg.fair */
	mstat *metrics; /* NULL: not counted */
	struct broker_readers readers;
};

/* Handles one request frame and returns the reply frame (malloc'ed).
 * Never fails to produce a reply except when out of memory. */
int broker_handle(struct broker *b, const void *frame, size_t len, void **reply, size_t *reply_len);

/* Opens the socket readers connect to and listens on url (an ipc:// one
 * gets mode) and, when not NULL, on tcp. */
int broker_readers_open(struct broker *b, const char *url, mode_t mode, const char *tcp);

/* Cancels the searches in flight and refuses new ones, so that workers
 * can return; call it before joining them. */
void broker_readers_stop(struct broker *b);

/* Listens on where again if its socket file is gone (sp_ipc_keep),
 * saying so in the log. */
void broker_keep_listening(struct sp_ipc *where);

/* broker_keep_listening where readers connect. */
void broker_readers_keep(struct broker *b);

/* Closes the socket, once no worker uses it any more. */
void broker_readers_close(struct broker *b);

/* Frees what the calling worker thread opened to forward searches; a
 * worker thread calls it before it returns. */
void broker_thread_close(void);

#endif
