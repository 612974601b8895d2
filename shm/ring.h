/* The ingest ring: a multi-producer, single-consumer ring of variable-size
 * records in POSIX shared memory.
 *
 * Producers are every thread of every broker process; the consumer is the
 * writer. A producer claims space, writes its record in place and commits
 * it; the consumer reads committed records in place, in position order, and
 * releases them when done. Positions are 64-bit byte offsets that only grow,
 * so a record's position doubles as its log sequence number (LSN).
 *
 * Layout of the shared-memory object (RING_VERSION 2):
 *
 *   offset 0      struct ring_shm_header (RING_HEADER_SIZE = 32 KiB)
 *   offset 32KiB  data area, `capacity` bytes, capacity a power of two
 *
 * A record is a 16-byte struct ring_record_header followed by the payload,
 * padded to 16 bytes. A record never wraps: when it would, the claimer writes
 * a PADDING record to the end of the data area and the real record at the
 * start of the next lap, in one claim.
 *
 * Claims take no lock: a producer advances the reserve cursor with a
 * compare-and-swap and then writes its record header into the space it
 * won. The consumer zeroes the bytes it releases, so a header not yet
 * written reads as zero (no state) until it is.
 *
 * Death of a producer. Each producer process owns a slot in the header and
 * holds an OFD byte lock on the shm file at offset RING_LOCK_BASE + slot for
 * as long as it lives; the kernel drops the lock when the process dies. A
 * record left CLAIMED by a dead owner (slot lock free, or slot re-registered
 * under a new generation) is marked ABORTED by the consumer after
 * `dead_timeout_ms` and skipped. A producer killed between its
 * compare-and-swap and its header leaves zeroed space nobody owns: each slot
 * counts its claims between those two steps, and once the run has waited
 * the same timeout, the consumer marks it ABORTED at a moment when no live
 * slot has a claim in flight (it looks every 50 ms at most; a ring whose
 * producers are never all between claims at one look keeps it waiting).
 * A slow but live producer is never skipped: its lock is held, and its
 * claim stays counted until its header is written.
 *
 * Death of the consumer. Releasing announces the records consumed
 * (ring_released), then zeroes their bytes, then moves head. A consumer
 * that opens the ring finishes a release its predecessor died in.
 */
#ifndef ROOST_RING_H
#define ROOST_RING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RING_VERSION	   2u
#define RING_HEADER_SIZE   32768u
#define RING_ALIGN	   16u
#define RING_MAX_PRODUCERS 256u
#define RING_LOCK_BASE	   0 /* byte offset of producer slot 0's OFD lock */

/* Record states, in struct ring_record_header.state. */
enum ring_state {
	RING_CLAIMED = 1,   /* space owned by a producer, payload in progress */
	RING_COMMITTED = 2, /* payload complete; the consumer may read it */
	RING_ABORTED = 3,   /* skipped: given up by its producer or owner died */
	RING_PADDING = 4,   /* filler to the end of the data area */
};

typedef struct ring ring;

/* What a handle may do with the ring. */
enum ring_role {
	RING_PRODUCER, /* claims and commits; holds a producer slot */
	RING_CONSUMER, /* reads and releases; one at a time (the writer lock) */
	RING_OBSERVER, /* reads the cursors only: maps it read-only, holds no slot */
};

struct ring_config {
	uint64_t capacity;   /* data bytes, power of two, >= 64 KiB */
	uint64_t start_pos;  /* first position (continues the LSN sequence) */
	mode_t mode;	     /* shm object permissions, e.g. 0600 (0: 0600); umask ignored */
	int dead_timeout_ms; /* CLAIMED longer than this: check owner (0: 1000) */
};

/* A claimed record, owned by the producer until commit or abort. */
struct ring_claim {
	uint64_t pos; /* position (LSN) of the record */
	void *data;   /* payload, `len` bytes, 8-byte aligned */
	uint32_t len;
};

/* A committed record, read in place by the consumer. */
struct ring_record {
	uint64_t pos;  /* position (LSN) */
	uint64_t next; /* position just past the record */
	const void *data;
	uint32_t len;
};

/* Objects are named by path (a file in the instance's shared-memory
 * directory, base/inst.h). The data area's memory is reserved as claims
 * first reach it, not at creation.
 *
 * Creates the object (fails with ROOST_EEXIST if present) and opens it as
 * the consumer. The object becomes visible to ring_open() only once fully
 * initialised. ROOST_EINVAL for a capacity that is not a power of two
 * >= 64 KiB or a start_pos that is not a multiple of RING_ALIGN. */
int ring_create(ring **out, const char *path, const struct ring_config *cfg);

/* Opens an existing ring in role. A producer registers a producer slot; a
 * consumer must be the only one (the caller holds the writer lock), and
 * finishes the release a consumer killed in ring_release left half done; an
 * observer (status, a supervisor's drain) changes nothing and is counted
 * by nothing. expected_capacity 0 accepts any size. Refuses a ring of
 * another version or size with ROOST_EVERSION, a missing one with
 * ROOST_ENOENT. A ring still being created is waited for up to 2 s; one
 * whose creator died before finishing also gives ROOST_ENOENT (its creator
 * may ring_unlink() and ring_create() again). ROOST_EBUSY when all
 * RING_MAX_PRODUCERS slots are taken.
 *
 * A producer handle belongs to the process that opened it: a forked child
 * must open its own, since an inherited one shares the slot's lock and
 * would keep a dead parent looking alive. */
int ring_open(ring **out, const char *path, uint64_t expected_capacity, enum ring_role role);

/* Unmaps and closes; a producer's slot is freed by closing its lock. */
void ring_close(ring *r);

/* Removes the name; mapped users keep working. */
int ring_unlink(const char *path);

/* Largest payload a claim can hold. */
uint32_t ring_max_payload(const ring *r);

/* Claims len payload bytes, waiting at most timeout_ms for space (futex
 * sleep; < 0 waits without limit); lock-free while there is space. ROOST_EBUSY when still full
 * at the deadline, ROOST_ETOOBIG when len > ring_max_payload(), ROOST_ENOSPC when the memory file
 * system cannot hold the ring's part not yet reserved, ROOST_EINVAL on another role's handle.
 * Thread-safe. Every claim must be committed or aborted: a live process's claim is waited for,
 * however long. */
int ring_claim(ring *r, uint32_t len, int timeout_ms, struct ring_claim *out);

/* Publishes the claimed record (release store); wakes a sleeping consumer. */
void ring_commit(ring *r, const struct ring_claim *c);

/* Gives the claimed record up; the consumer skips it. */
void ring_abort(ring *r, const struct ring_claim *c);

/* Consumer: the first committed record at or after pos (padding and
 * aborted records are skipped, dead owners detected). Waits at most
 * timeout_ms (futex sleep; < 0 without limit) and returns ROOST_ETIMEDOUT
 * when nothing is committed at pos by then. pos must be a record position
 * >= ring_head() and <= ring_reserve(), else ROOST_EINVAL (also on a
 * handle of another role). ROOST_ECORRUPT when a record header in shared memory is
 * impossible. Consumer calls are not thread-safe: one thread drives them. */
int ring_read(ring *r, uint64_t pos, int timeout_ms, struct ring_record *out);

/* Consumer: 1 (and its position in *found) when a record at or after pos
 * may still carry a batch: one committed, or claimed by a live producer;
 * 0 when everything from pos to the reserve is padding, aborted or claimed
 * by a producer that died. Waits for nothing. ROOST_EINVAL as ring_read,
 * ROOST_ECORRUPT on an impossible record header. */
int ring_unread(ring *r, uint64_t pos, uint64_t *found);

/* 1 while some producer process has the ring open. */
int ring_producers_alive(const ring *r);

/* Consumer: frees everything before pos for reuse and wakes producers
 * waiting for space. A pos outside (ring_head(), ring_reserve()] is
 * ignored. */
void ring_release(ring *r, uint64_t pos);

/* State of the record at pos as seen now: RING_CLAIMED, RING_COMMITTED,
 * RING_ABORTED (RING_PADDING at a filler), or 0 when pos is already released
 * (its state can no longer be known from the ring), not yet claimed, or
 * claimed with its header not yet written. */
int ring_state_at(ring *r, uint64_t pos);

uint64_t ring_head(const ring *r); /* consumer position */
/* Every record before it is consumed: its header may read as zero
 * already, though head has not passed it yet. */
uint64_t ring_released(const ring *r);
uint64_t ring_reserve(const ring *r); /* next position to be claimed */
uint64_t ring_capacity(const ring *r);

/* Test hook: called at named points of a claim so tests can kill the
 * process there. NULL in production. */
enum ring_hook_point {
	RING_HOOK_CLAIM_COUNTED,  /* counted in flight, reserve not yet advanced */
	RING_HOOK_CLAIM_LOADED,	  /* head and reserve loaded, before the compare-and-swap */
	RING_HOOK_CLAIM_RESERVED, /* reserve advanced, no header written */
	RING_HOOK_CLAIM_HEADER,	  /* headers written, still counted in flight */
	RING_HOOK_RELEASE_ZEROED, /* consumer: released announced, bytes zeroed, head not moved */
};
extern void (*ring_test_hook)(enum ring_hook_point point);

#endif
