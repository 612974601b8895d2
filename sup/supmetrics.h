/* The instance's metrics, in Prometheus's text format, served over HTTP by
 * the supervisor (`roost up --metrics HOST:PORT`; off by default): one
 * endpoint for the whole instance, whatever its processes. A scrape reads
 * what each process publishes in shared memory (shm/mstat.h: requests,
 * latencies, seals and merges), the control block (LSNs, documents,
 * writer mode), the ring's cursors (its fill), the catalog (per
 * collection) and the supervisor's own view of its processes (restarts).
 * Nothing is kept between scrapes; docs/operations.md lists every metric.
 *
 * The supervisor serves one connection at a time from its own loop, with
 * a short deadline for each, so that a slow client delays it briefly and
 * cannot hold it. */
#ifndef ROOST_SUPMETRICS_H
#define ROOST_SUPMETRICS_H

#include "inst.h"

#include <stddef.h>
#include <sys/types.h>

/* A process as the supervisor knows it. */
struct supmetrics_proc {
	const char *role; /* "writer", "broker", "reader" */
	int id;
	pid_t pid; /* 0: not running */
	int restarts;
};

/* Listens on "HOST:PORT" (an IPv4 address or a name; "[ADDR]:PORT" for
 * IPv6). ROOST_EINVAL with why for an address that does not parse, an
 * errno's code with why when it cannot be bound. */
int supmetrics_listen(const char *where, int *fd, char *why, size_t len);

/* The metrics page (malloc'ed, *len bytes). */
int supmetrics_render(const struct inst *in, const struct supmetrics_proc *procs, int nprocs,
		      char **out, size_t *len);

/* Accepts one connection on fd and answers it: the page for GET /metrics,
 * 404 for other paths, 405 for other methods. */
void supmetrics_serve(int fd, const struct inst *in, const struct supmetrics_proc *procs,
		      int nprocs);

#endif
