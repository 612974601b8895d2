/* The control block: one shared-memory object per instance through which
 * the writer tells brokers and readers how far it got, and through which
 * brokers keep idempotency keys consistent across processes.
 *
 * The writer creates it and fills it in (LSN watermarks, the client table
 * rebuilt from its log after a reboot); brokers
 * and readers open it. It survives writer restarts, so brokers keep serving
 * `queued` writes while no writer runs. Its layout is private to ctl.c,
 * which documents it and the memory ordering of every shared field; other
 * modules use the functions below.
 *
 * LSN watermarks are ends: every batch whose LSN is below the durable end
 * is in the fsynced log, and likewise for applied (in the writer's index)
 * and published (searchable by readers). They only grow.
 *
 * Idempotency keys: each client (by its random 64-bit id) has a slot that
 * holds its newest key (seq) and the batch that key stored (LSN, count). A
 * broker locks the slot, compares the request's key with it, and, for a new
 * key, marks it PENDING while it writes the batch into the ring and DONE
 * once the batch is committed there. A broker killed in between leaves the
 * slot locked by a dead owner and the key PENDING; the next one to lock it
 * settles it from the ring (ctl_key_lock).
 */
#ifndef ROOST_CTL_H
#define ROOST_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CTL_CLIENTS_DEFAULT 16384u
#define CTL_CLIENTS_MIN	    64u
#define CTL_CLIENTS_MAX	    (1u << 20)
#define CTL_CLIENT_TTL_MS   600000 /* idle clients older than this may be evicted */

enum ctl_mark { CTL_DURABLE, CTL_APPLIED, CTL_PUBLISHED, CTL_MARKS };

typedef struct ctl ctl;
typedef struct ctl_client ctl_client; /* a locked client slot */

struct ctl_config {
	uint64_t ring_capacity;
	uint32_t clients; /* for a new block; 0: CTL_CLIENTS_DEFAULT */
	mode_t mode;
};

/* What the writer that made the block recorded. */
struct ctl_settings {
	uint32_t clients;
	uint64_t ring_capacity;
};

/* Objects are files in the instance's shared-memory directory: path
 * is a path (base/inst.h). */

/* Writer: opens the block, creating it when missing or when it was left by
 * a different layout version; takes the writer lock (ROOST_ELOCKED when
 * another writer holds it); *created tells whether the client table is new
 * and must be refilled. */
int ctl_open_writer(ctl **out, const char *path, const struct ctl_config *cfg, int *created);

enum ctl_access {
	CTL_READ_WRITE, /* brokers: the client table */
	CTL_READ_ONLY,	/* readers and observers: mapped PROT_READ */
};

/* Brokers and readers: opens an existing, ready block. ROOST_ENOENT while
 * no writer ever created it. */
int ctl_open(ctl **out, const char *path, enum ctl_access access);
void ctl_close(ctl *c);
int ctl_unlink(const char *path);

void ctl_settings(ctl *c, struct ctl_settings *out);

/* Writer: the ring's capacity as it found the ring. */
void ctl_set_ring_capacity(ctl *c, uint64_t capacity);

/* 1 while a writer process holds the writer lock. */
int ctl_writer_alive(ctl *c);

/* The pid of the writer that holds the lock, 0 when none does. */
pid_t ctl_writer_pid(ctl *c);

/* Takes the writer lock without being a writer, so that no writer starts
 * while the instance's objects are removed (on a block opened read-write;
 * held until ctl_close). ROOST_ELOCKED while a writer runs. */
int ctl_lock_writer(ctl *c);

/* Writer: raises a watermark (never lowers it). Waiters see it after the
 * next ctl_wake. */
void ctl_advance(ctl *c, enum ctl_mark mark, uint64_t end);

/* Writer: wakes everyone in ctl_wait. One syscall whether or not anyone
 * sleeps: readers map the block read-only and cannot register as waiters. */
void ctl_wake(ctl *c);
uint64_t ctl_mark(ctl *c, enum ctl_mark mark);

/* Sleeps until mark's end exceeds lsn, at most timeout_ms. ROOST_ETIMEDOUT
 * at the deadline. */
int ctl_wait(ctl *c, enum ctl_mark mark, uint64_t lsn, int timeout_ms);

/* The documents applied, for status: the writer adds each batch's and sets
 * the recount after recovery. */
void ctl_count_documents(ctl *c, uint64_t added);
void ctl_set_documents(ctl *c, uint64_t documents);
uint64_t ctl_documents(ctl *c);

/* Sets the writer mode text shown by status. */
void ctl_set_writer_mode(ctl *c, const char *mode);
void ctl_writer_mode(ctl *c, char *buf, size_t len);

/* Writer: a serial for a new tail object, never given out before while
 * the block exists (the catalog names each collection's current one). */
uint64_t ctl_new_tail_serial(ctl *c);

/* A client's newest key and the batch it stored (seq 0: none yet). */
struct ctl_key {
	uint64_t seq;
	uint64_t lsn; /* ids are lsn .. lsn + count - 1 */
	uint32_t count;
};

/* What became of a batch whose broker died writing it, from the ring's
 * state at its LSN. */
enum ctl_fate {
	CTL_FATE_LOST,	   /* never committed, or given up: its key is free again */
	CTL_FATE_IN_RING,  /* committed and still in the ring */
	CTL_FATE_CONSUMED, /* gone from the ring: the writer took it, or skipped it */
};
typedef enum ctl_fate (*ctl_fate_fn)(void *arg, uint64_t lsn);

/* Finds or takes client_id's slot, locks it and gives its newest key in
 * *key. A key a dead broker left PENDING is settled first: fate tells
 * where its batch is (a consumed one counts only if the writer applied
 * it); a lost batch's key is forgotten and *forgot set (to say so).
 * ROOST_EBUSY when the table is full of live clients. */
int ctl_key_lock(ctl *c, uint64_t client_id, ctl_fate_fn fate, void *arg, ctl_client **out,
		 struct ctl_key *key, int *forgot);

/* The slot's new key, whose batch is being written at key->lsn. */
void ctl_key_begin(ctl_client *cl, const struct ctl_key *key);

/* The batch of the key begun is committed in the ring. */
void ctl_key_commit(ctl_client *cl);
void ctl_key_unlock(ctl_client *cl);

/* Writer: records that client_id's batch seq is in the log (lock-free;
 * a client no longer in the table is ignored). */
void ctl_client_applied(ctl *c, uint64_t client_id, uint64_t seq);

/* Writer: records that client_id's record at lsn was not applied, and
 * why: code is ROOST_EKEY (it repeated a logged key), ROOST_ENOCOLL (its
 * collection was gone), ... (lock-free; a client no longer in the table is
 * ignored). Called before the durable mark passes lsn. */
void ctl_client_refused(ctl *c, uint64_t client_id, uint64_t lsn, int code);

/* Brokers, once the durable mark has passed lsn: the code the writer
 * refused client_id's record at lsn with, or 0 when it applied it. */
int ctl_client_refusal(ctl *c, uint64_t client_id, uint64_t lsn);

/* Writer, on a new block: seeds a client's key from the log. */
void ctl_client_seed(ctl *c, uint64_t client_id, const struct ctl_key *key);

#endif
