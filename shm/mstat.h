/* Per-process counters for the instance's metrics endpoint: each broker,
 * reader and the writer keeps one object, <shm dir>/metrics.<pid>, that
 * only it writes and that the supervisor reads at each scrape
 * (sup/supmetrics.h). Counters count from the process's start; a
 * restarted process starts again from zero, which Prometheus reads as a
 * counter reset.
 *
 * Layout (MSTAT_VERSION 1): struct mstat_shm, one page; its process holds
 * an OFD lock on byte 0 while it lives. magic, version,
 * size, role, pid and name are written before any reader can find the
 * object (it is created under a temporary name and renamed into place),
 * and never after. Every counter is a relaxed atomic add by its one
 * process and a relaxed load by the supervisor: each is a total on its
 * own and orders nothing, so a scrape may see one counter a little ahead
 * of another (a histogram's count ahead of its sum), as Prometheus
 * clients tolerate.
 *
 * Latency histograms count into fixed buckets (MSTAT_BOUNDS_US, then one
 * above them all) and sum microseconds. */
#ifndef ROOST_MSTAT_H
#define ROOST_MSTAT_H

#include "inst.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum mstat_role { MSTAT_WRITER = 1, MSTAT_BROKER = 2, MSTAT_READER = 3 };

/* An add's acknowledgement, as asked. */
enum mstat_ack { MSTAT_ACK_QUEUED, MSTAT_ACK_DURABLE, MSTAT_ACK_VISIBLE, MSTAT_ACKS };

/* What became of an add request. */
enum mstat_outcome {
	MSTAT_OK,
	MSTAT_DUPLICATE,   /* a retry of a key already written: ids returned again */
	MSTAT_BUSY,	   /* ring full, agent over its rate, writer refusing */
	MSTAT_TIMEOUT,	   /* written, not acknowledged within the request's time */
	MSTAT_UNAVAILABLE, /* written; the writer is down */
	MSTAT_REFUSED,	   /* the writer did not apply it (collection gone, ...) */
	MSTAT_INVALID,	   /* refused before the ring: bad request, unknown collection */
	MSTAT_OUTCOMES,
};

#define MSTAT_BUCKETS 16
extern const uint64_t MSTAT_BOUNDS_US[MSTAT_BUCKETS];

/* Plain copies of what the object holds, for the supervisor. */
struct mstat_hist {
	uint64_t count[MSTAT_BUCKETS + 1]; /* per bucket, not cumulative */
	uint64_t sum_us;
};

struct mstat_snapshot {
	pid_t pid;
	enum mstat_role role;
	char name[32]; /* "writer", "broker-0", "reader" */
	/* brokers */
	uint64_t adds[MSTAT_ACKS][MSTAT_OUTCOMES];
	uint64_t add_docs, add_bytes; /* of adds written into the ring */
	struct mstat_hist add_latency[MSTAT_ACKS];
	/* readers */
	uint64_t searches, search_errors;
	struct mstat_hist search_latency;
	/* the writer */
	uint64_t groups, log_bytes;
	uint64_t seals, seal_us;
	uint64_t compactions, compaction_us;
};

typedef struct mstat mstat;

/* Makes this process's object (an object of a dead process with the same
 * pid is replaced), mapped read-write, and holds an OFD lock on it for as
 * long as the process lives. Removes the objects of processes that died
 * without removing theirs (their lock is gone). */
int mstat_create(mstat **out, const struct inst *in, enum mstat_role role, const char *name);

/* Unmaps and removes the object; a NULL m is fine. */
void mstat_close(mstat *m, const struct inst *in);

/* Counts an add request that took ns; docs and bytes when it was
 * written (MSTAT_OK, and the waits that failed after writing). Every
 * counting function takes a NULL m and does nothing. */
void mstat_add(mstat *m, enum mstat_ack ack, enum mstat_outcome outcome, uint32_t docs,
	       uint64_t bytes, uint64_t ns);
void mstat_search(mstat *m, int failed, uint64_t ns);
void mstat_group(mstat *m, uint64_t log_bytes);
void mstat_seal(mstat *m, uint64_t ns);
void mstat_compaction(mstat *m, uint64_t ns);

/* Reads the object of pid. ROOST_ENOENT when there is none or its
 * process is gone,
 * ROOST_ECORRUPT (or ROOST_EVERSION) when it is not a metrics object. */
int mstat_read(const struct inst *in, pid_t pid, struct mstat_snapshot *out);

/* The pids of up to max objects, in *n. */
int mstat_list(const struct inst *in, pid_t *pids, size_t max, size_t *n);

/* Removes pid's object (a process that died); 0 also when there was none. */
int mstat_remove(const struct inst *in, pid_t pid);

/* Monotonic nanoseconds, for the durations above. */
uint64_t mstat_now_ns(void);

#endif
