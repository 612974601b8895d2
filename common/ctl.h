/* The control block: one shared-memory object per instance through which
 * the writer tells brokers and readers how far it got, and through which
 * brokers keep idempotency keys consistent across processes.
 *
 * The writer creates it and fills it in (collection settings, LSN
 * watermarks, the client table rebuilt from its log after a reboot); brokers
 * and readers open it. It survives writer restarts, so brokers keep serving
 * `queued` writes while no writer runs.
 *
 * LSN watermarks are ends: every batch whose LSN is below durable_end is in
 * the fsynced log, and likewise for applied_end (in the writer's index) and
 * published_end (searchable by readers). They only grow.
 *
 * Layout (CTL_VERSION 1): struct ctl_shm below, then `clients` client
 * slots of 128 bytes (CTL_CLIENTS_DEFAULT unless the writer that made the
 * block was told otherwise; fixed while the block exists). The writer holds an OFD lock on byte
 * CTL_WRITER_LOCK of the object for its lifetime: that is how "writer alive" is known and how a
 * second writer is refused.
 */
#ifndef ROOST_CTL_H
#define ROOST_CTL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define CTL_MAGIC	    0x4c5443545354524full /* "ORTSTCTL" little-endian */
#define CTL_VERSION	    1u
#define CTL_CLIENTS_DEFAULT 16384u
#define CTL_CLIENTS_MIN	    64u
#define CTL_CLIENTS_MAX	    (1u << 20)
#define CTL_PROBE	    64u	   /* slots searched for a client id */
#define CTL_CLIENT_TTL_MS   600000 /* idle clients older than this may be evicted */
#define CTL_WRITER_LOCK	    0

enum ctl_mark { CTL_DURABLE, CTL_APPLIED, CTL_PUBLISHED, CTL_MARKS };

/* Where an idempotency key stands. */
enum ctl_key_state {
	CTL_KEY_NONE = 0,
	CTL_KEY_PENDING = 1, /* a broker is writing its batch into the ring */
	CTL_KEY_DONE = 2,    /* the batch is committed in the ring (or later) */
};

/* One client's idempotency state. Fields other than the atomics are read
 * and written only under `lock`, a process-shared robust mutex: a broker
 * killed while holding it leaves the slot to be repaired by the next one. */
struct ctl_client {
	pthread_mutex_t lock;	      /* 40 bytes on x86-64 glibc */
	_Atomic uint64_t client_id;   /* 0: free; set once by CAS, see ctl_client_lock */
	_Atomic int64_t last_used_ms; /* CLOCK_MONOTONIC; eviction age */
	_Atomic uint64_t applied_seq; /* written by the writer after logging a batch */
	uint64_t seq;		      /* newest sequence number accepted */
	uint64_t lsn;		      /* its batch LSN (ids are lsn .. lsn+count-1) */
	uint32_t count;
	uint32_t state;	   /* enum ctl_key_state */
	uint64_t prev_seq; /* restored when a PENDING batch died */
	uint64_t prev_lsn;
	uint32_t prev_count;
	uint32_t pad;
	/* The last batch of this client the writer did not apply because its
	 * key was already in the log (a slot forgotten and reused, the batch
	 * sent again): written by the writer, read by brokers. */
	_Atomic uint64_t dropped_lsn;
	uint64_t reserved; /* pads the slot to 128 bytes */
};

struct ctl_shm {
	uint64_t magic;
	uint32_t version;
	uint32_t header_size; /* sizeof(struct ctl_shm) */
	uint64_t total_size;
	_Atomic uint32_t ready; /* release by the creator; acquire by ctl_open */
	uint32_t dim;
	uint32_t metric;  /* 0 L2, 1 inner product */
	uint32_t clients; /* client slots, CTL_CLIENTS_MIN..CTL_CLIENTS_MAX */
	char index[64];	  /* FAISS factory string */
	uint64_t ring_capacity;
	_Atomic int32_t writer_pid; /* informational; liveness is the lock */
	_Atomic uint32_t lsn_seq;   /* futex: bumped by ctl_wake */
	uint32_t pad;
	uint32_t pad1;
	_Atomic uint64_t mark[CTL_MARKS];
	_Atomic uint64_t documents;	  /* documents applied */
	_Atomic uint64_t batches;	  /* batches applied */
	char writer_mode[64];		  /* "cpu", "gpu", "cpu (fallback: ...)" */
	_Atomic uint32_t writer_mode_seq; /* seqlock around writer_mode */
	uint32_t pad2;
	/* The current tail object. Release by the writer once the tail is
	 * complete; acquire by readers before they open it. */
	_Atomic uint64_t tail_serial;
	_Atomic uint64_t manifest_gen; /* the manifest that tail follows */
};

typedef struct ctl ctl;

struct ctl_config {
	uint32_t dim;
	uint32_t metric;
	const char *index;
	uint64_t ring_capacity;
	uint32_t clients; /* for a new block; 0: CTL_CLIENTS_DEFAULT */
	mode_t mode;
};

/* Objects are files in the instance's shared-memory directory: path
 * is a path (common/inst.h). */

/* Writer: opens the block, creating it when missing or when it was left by
 * a different layout version; takes the writer lock (ROOST_ELOCKED when
 * another writer holds it); *created tells whether the client table is new
 * and must be refilled. A block of another dimension is ROOST_EDIM. */
int ctl_open_writer(ctl **out, const char *path, const struct ctl_config *cfg, int *created);

/* Brokers and readers: opens an existing, ready block. read_only maps it
 * PROT_READ (readers). ROOST_ENOENT while no writer ever created it. */
int ctl_open(ctl **out, const char *path, int read_only);
void ctl_close(ctl *c);
int ctl_unlink(const char *path);

struct ctl_shm *ctl_shm(ctl *c);

/* 1 while a writer process holds the writer lock. */
int ctl_writer_alive(ctl *c);

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

/* Sets the writer mode text shown by status. */
void ctl_set_writer_mode(ctl *c, const char *mode);
void ctl_writer_mode(ctl *c, char *buf, size_t len);

/* Finds or takes the slot of client_id and locks it. *owner_died is 1 when
 * the previous holder died inside its critical section (the caller repairs
 * a PENDING key). ROOST_EBUSY when the table is full of live clients. */
int ctl_client_lock(ctl *c, uint64_t client_id, struct ctl_client **out, int *owner_died);
void ctl_client_unlock(struct ctl_client *cl);

/* Writer: records that client_id's batch seq is in the log (lock-free;
 * a client no longer in the table is ignored). */
void ctl_client_applied(ctl *c, uint64_t client_id, uint64_t seq);

/* Writer: records that client_id's batch at lsn repeated a logged key and
 * was not applied (lock-free; a client no longer in the table is
 * ignored). Called before the durable mark passes lsn. */
void ctl_client_dropped(ctl *c, uint64_t client_id, uint64_t lsn);

/* Brokers, once the durable mark has passed lsn: 1 when the writer did not
 * apply client_id's batch at lsn (ctl_client_dropped). */
int ctl_client_was_dropped(ctl *c, uint64_t client_id, uint64_t lsn);

/* Writer, on a new block: seeds a client's state from the log. */
void ctl_client_seed(ctl *c, uint64_t client_id, uint64_t seq, uint64_t lsn, uint32_t count);

#endif
