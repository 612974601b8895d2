/* The ingest ring; ring.h describes the model and its guarantees.
 *
 * Memory ordering, in one place (every atomic below names its partner):
 *  - inflight, reserve: a claimer counts itself in its slot's inflight and
 *    then advances reserve, both sequentially consistent; it writes its
 *    headers and leaves inflight with release. The consumer loads reserve and
 *    then every live slot's inflight, sequentially consistent: a claim below
 *    the reserve it saw is either still counted, or its headers are visible
 *    (ring__unblock).
 *  - state: a claimer stores CLAIMED with release after the header's other
 *    fields, a producer COMMITTED or ABORTED with release after the payload;
 *    the consumer loads it with acquire before it reads the rest.
 *  - head: ring_release zeroes the bytes it frees and then stores head with
 *    release; a claimer loads it with acquire before overwriting them, so a
 *    header it has not written yet reads as zero.
 *  - data_seq/consumer_sleeping and space_seq/space_waiters: futex
 *    handshakes, described at ring__wait_data() and ring__wait_space().
 */
#include "ring.h"

#include "err.h"
#include "futex.h"
#include "shm.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RING__MAGIC	      0x474e5254534f4f52ull /* "ROOSTRNG" as bytes, little-endian */
#define RING__MIN_CAPACITY    (64u * 1024u)
#define RING__MAX_CAPACITY    (1ull << 40)
#define RING__MAX_LEN	      (UINT32_MAX & ~(RING_ALIGN - 1))
#define RING__REC_HDR	      16u
#define RING__DEFAULT_DEAD_MS 1000
#define RING__DEFAULT_MODE    0600
#define RING__OPEN_WAIT_MS    2000 /* how long ring_open waits for a ring being created */
#define RING__SLICE_MS	      50   /* longest sleep before a CLAIMED record is looked at again */
#define RING__NO_POS	      UINT64_MAX /* never a record position: those are 16-aligned */
#define RING__RESERVE_STEP    (1u << 20) /* data memory is reserved ahead in steps this big */
#define RING__SPIN	      1000	 /* polls of a record before the consumer sleeps */
#define RING__UNBLOCKED_GEN   0		 /* owner_gen of a run the consumer marked: no producer's */

/* ring__next() results besides 0 (a record) and errors. */
enum { RING__EMPTY = 1, RING__PENDING = 2 };

struct ring_slot {
	alignas(64) _Atomic uint32_t gen;
	_Atomic int32_t pid;
	_Atomic uint32_t inflight;
};

/* The shared header at offset 0 of the object; every process maps it RW.
 *
 * Identity, written by ring_create before `ready` and never changed after:
 *   magic            u64  RING__MAGIC, "ROOSTRNG"
 *   version          u32  RING_VERSION
 *   header_size      u32  RING_HEADER_SIZE: where the data area starts
 *   capacity         u64  bytes in the data area, a power of two
 *   start_pos        u64  position of the first record ever claimed
 *   dead_timeout_ms  i32  how long a record stays CLAIMED before the consumer
 *                         checks whether its owner still lives
 *   ready            u32  0 until everything above and claim_lock are set up.
 *                         ring_create stores 1 with release and futex-wakes it;
 *                         ring_open loads it with acquire (futex wait).
 * These first 40 bytes keep their offsets in every version, so that any
 * version can recognise another one and refuse it.
 *
 * reserve     u64, own cache line. The next position to claim. Advanced by
 *             claimers with a sequentially consistent compare-and-swap; the
 *             bytes from the old value to the new one then belong to the
 *             claimer that advanced it, which writes their headers after.
 * head        u64, own cache line. The consumer's position: all bytes before
 *             it are free, and zero. Written only by ring_release, with
 *             release after zeroing; pairs with the claimer's acquire load
 *             before it overwrites bytes.
 * released    u64, beside head. Every record before it is consumed; stored
 *             with release, then a fence, before the bytes up to it are
 *             zeroed, so that a reader who finds a zeroed header below it
 *             knows the record was consumed, not lost (ring_state_at), and
 *             a consumer that opens the ring finishes the zeroing that a
 *             dead one left half done.
 * data_seq, consumer_sleeping   u32 + u32, own cache line. The consumer sleeps
 *             on data_seq when nothing is committed; producers bump it and wake
 *             it on commit or abort, only while consumer_sleeping is set.
 * space_seq, space_waiters      u32 + u32, own cache line. Producers sleep on
 *             space_seq when the ring is full, counted in space_waiters;
 *             ring_release bumps and wakes it only while the count is nonzero.
 *             A producer killed while waiting leaves the count high: that
 *             costs a futex wake per release, nothing else.
 * reserved    u64, own cache line. Every position below it (from start_pos
 *             on) has its data memory reserved. Only grows: a claimer that
 *             needs more reserves it (reserving twice is harmless) and raises
 *             it with a release compare-and-swap; pairs with the acquire load
 *             of the next claimer, which then need not. The data area is
 *             reserved lap 0 only, as claims reach it, so a ring holds memory
 *             for what passed through it.
 * slots       RING_MAX_PRODUCERS x 64 bytes (gen u32, pid i32, inflight u32),
 *             a cache line each: inflight changes at every claim. A producer
 *             process owns slot i while it holds the OFD write lock on byte
 *             RING_LOCK_BASE + i of the object. Taking a slot increments gen
 *             with release (pairs with the consumer's acquire load in
 *             ring__owner_dead), so records of an earlier owner of the slot
 *             are recognised as orphaned. inflight counts the process's
 *             claims between advancing reserve and writing their headers
 *             (ring__unblock). pid is for operators only.
 */
struct ring_shm_header {
	uint64_t magic;
	uint32_t version;
	uint32_t header_size;
	uint64_t capacity;
	uint64_t start_pos;
	int32_t dead_timeout_ms;
	_Atomic uint32_t ready;
	alignas(64) _Atomic uint64_t reserve;
	alignas(64) _Atomic uint64_t head;
	_Atomic uint64_t released;
	alignas(64) _Atomic uint32_t data_seq;
	_Atomic uint32_t consumer_sleeping;
	alignas(64) _Atomic uint32_t space_seq;
	_Atomic uint32_t space_waiters;
	alignas(64) _Atomic uint64_t reserved;
	alignas(64) struct ring_slot slots[RING_MAX_PRODUCERS];
};
_Static_assert(sizeof(struct ring_slot) == 64, "a slot per cache line");
_Static_assert(sizeof(struct ring_shm_header) <= RING_HEADER_SIZE, "ring header overflows");
_Static_assert(offsetof(struct ring_shm_header, ready) == 36, "identity prefix moved");

/* Precedes every record in the data area, at a 16-aligned position. All but
 * state are written once by the claimer, after it advanced reserve and
 * before it stores state, and stay unchanged until the consumer releases
 * the record. A header nobody has written yet is zero: state 0. */
struct ring_record_header {
	_Atomic uint32_t state; /* enum ring_state */
	uint32_t owner_slot;	/* the claimer's producer slot */
	uint32_t owner_gen;	/* that slot's generation at claim time */
	uint32_t len;		/* payload bytes; padding: bytes up to the end of the data area */
};
_Static_assert(sizeof(struct ring_record_header) == RING__REC_HDR, "record header size");

struct ring {
	struct ring_shm_header *hdr;
	unsigned char *data;
	size_t map_size;
	uint64_t capacity;
	int fd;
	enum ring_role role;
	int slot;     /* producer slot, -1 for the others */
	uint32_t gen; /* our generation of that slot */
	int dead_timeout_ms;
	/* Consumer only: the CLAIMED record being timed and when it was first
	 * seen. Kept across ring_read calls so that short reads still reap. */
	uint64_t claimed_pos;
	int64_t claimed_since_ms;
};

void (*ring_test_hook)(enum ring_hook_point point) = NULL;

static void ring__hook(enum ring_hook_point point)
{
	if (ring_test_hook)
		ring_test_hook(point);
}

static void ring__zero_to(ring *r, uint64_t head, uint64_t pos);

static uint64_t ring__span(uint32_t len)
{
	return RING__REC_HDR + (((uint64_t)len + RING_ALIGN - 1) & ~(uint64_t)(RING_ALIGN - 1));
}

static struct ring_record_header *ring__rec(const ring *r, uint64_t pos)
{
	return (struct ring_record_header *)(r->data + (pos & (r->capacity - 1)));
}

/* INT64_MAX stands for no deadline (timeout_ms < 0). */
static int64_t ring__deadline(int timeout_ms)
{
	return timeout_ms < 0 ? INT64_MAX : futex_now_ms() + timeout_ms;
}

/* Milliseconds left, 0 when passed, -1 when there is no deadline. */
static int ring__left_ms(int64_t deadline)
{
	if (deadline == INT64_MAX)
		return -1;
	int64_t left = deadline - futex_now_ms();
	return left > 0 ? (int)left : 0;
}

/* ---- creating and opening ---- */

static int ring__check_config(const struct ring_config *cfg)
{
	uint64_t cap = cfg->capacity;
	if (cap < RING__MIN_CAPACITY || cap > RING__MAX_CAPACITY || (cap & (cap - 1)))
		return ROOST_EINVAL;
	if (cfg->start_pos % RING_ALIGN || cfg->dead_timeout_ms < 0)
		return ROOST_EINVAL;
	return 0;
}

static int ring__new_handle(int fd, void *map, size_t map_size, enum ring_role role, ring **out)
{
	ring *r = calloc(1, sizeof(*r));
	if (!r)
		return ROOST_ENOMEM;
	r->hdr = map;
	r->data = (unsigned char *)map + RING_HEADER_SIZE;
	r->map_size = map_size;
	r->capacity = r->hdr->capacity;
	r->fd = fd;
	r->role = role;
	r->slot = -1;
	r->dead_timeout_ms = r->hdr->dead_timeout_ms;
	r->claimed_pos = RING__NO_POS;
	*out = r;
	return 0;
}

/* The object is fresh from ftruncate, so everything not set here is zero,
 * the data area included. */
static void ring__init_header(struct ring_shm_header *h, const struct ring_config *cfg)
{
	h->magic = RING__MAGIC;
	h->version = RING_VERSION;
	h->header_size = RING_HEADER_SIZE;
	h->capacity = cfg->capacity;
	h->start_pos = cfg->start_pos;
	h->dead_timeout_ms = cfg->dead_timeout_ms ? cfg->dead_timeout_ms : RING__DEFAULT_DEAD_MS;
	atomic_init(&h->reserve, cfg->start_pos);
	atomic_init(&h->head, cfg->start_pos);
	atomic_init(&h->released, cfg->start_pos);
	atomic_init(&h->reserved, cfg->start_pos);
}

static int ring__build(int fd, const struct ring_config *cfg, ring **out)
{
	size_t size = RING_HEADER_SIZE + cfg->capacity;
	if (ftruncate(fd, (off_t)size))
		return roost_from_errno(errno);
	/* The header's pages now, the data area's as claims reach it: tmpfs
	 * would raise SIGBUS on first touch of a page it cannot hold. */
	int err = shm_reserve(fd, 0, RING_HEADER_SIZE);
	if (err)
		return err;
	void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return roost_from_errno(errno);
	ring__init_header(map, cfg);
	int rc = ring__new_handle(fd, map, size, RING_CONSUMER, out);
	if (rc) {
		munmap(map, size);
		return rc;
	}
	/* Release: pairs with ring__wait_ready's acquire load; everything above
	 * is visible to an opener that sees ready. */
	atomic_store_explicit(&(*out)->hdr->ready, 1, memory_order_release);
	futex_wake_all(&(*out)->hdr->ready);
	return 0;
}

int ring_create(ring **out, const char *path, const struct ring_config *cfg)
{
	if (!out || !path || !cfg)
		return ROOST_EINVAL;
	int rc = ring__check_config(cfg);
	if (rc)
		return rc;
	mode_t mode = cfg->mode ? cfg->mode & 0777 : RING__DEFAULT_MODE;
	int fd;
	rc = shm_open_file(path, O_RDWR | O_CREAT | O_EXCL, mode, &fd);
	if (rc)
		return rc;
	rc = ring__build(fd, cfg, out);
	if (rc) {
		close(fd);
		unlink(path); /* ours: O_EXCL created it */
	}
	return rc;
}

/* A creator sizes the object right after creating it; until then there is
 * no word to sleep on, so this polls, briefly and only while opening. */
static int ring__wait_size(int fd, int64_t deadline, size_t *size)
{
	const struct timespec nap = {.tv_nsec = 10 * 1000000L};
	struct stat st;
	for (;;) {
		if (fstat(fd, &st))
			return roost_from_errno(errno);
		if (st.st_size >= (off_t)RING_HEADER_SIZE) {
			*size = (size_t)st.st_size;
			return 0;
		}
		if (futex_now_ms() >= deadline)
			return ROOST_ENOENT;
		nanosleep(&nap, NULL);
	}
}

/* A ring whose creator never finished (it died) reads as missing. */
static int ring__wait_ready(struct ring_shm_header *h, int64_t deadline)
{
	/* Acquire: pairs with ring__build's release store of ready. */
	while (!atomic_load_explicit(&h->ready, memory_order_acquire)) {
		int left = ring__left_ms(deadline);
		if (left == 0)
			return ROOST_ENOENT;
		futex_wait(&h->ready, 0, left);
	}
	return 0;
}

static int ring__check_header(const struct ring_shm_header *h, size_t size, uint64_t expected)
{
	if (h->magic != RING__MAGIC || h->version != RING_VERSION ||
	    h->header_size != RING_HEADER_SIZE)
		return ROOST_EVERSION;
	if (expected && h->capacity != expected)
		return ROOST_EVERSION;
	uint64_t cap = h->capacity;
	if (cap < RING__MIN_CAPACITY || cap > RING__MAX_CAPACITY || (cap & (cap - 1)) ||
	    size != RING_HEADER_SIZE + cap || h->dead_timeout_ms <= 0)
		return ROOST_ECORRUPT;
	return 0;
}

static int ring__attach(int fd, uint64_t expected_capacity, enum ring_role role, ring **out)
{
	int64_t deadline = futex_now_ms() + RING__OPEN_WAIT_MS;
	size_t size = 0;
	int rc = ring__wait_size(fd, deadline, &size);
	if (rc)
		return rc;
	int prot = role == RING_OBSERVER ? PROT_READ : PROT_READ | PROT_WRITE;
	void *map = mmap(NULL, size, prot, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return roost_from_errno(errno);
	rc = ring__wait_ready(map, deadline);
	if (!rc)
		rc = ring__check_header(map, size, expected_capacity);
	if (!rc)
		rc = ring__new_handle(fd, map, size, role, out);
	if (rc)
		munmap(map, size);
	return rc;
}

/* Takes the first free producer slot. The OFD lock belongs to this open
 * file description, so the kernel drops it when the process dies, however
 * it dies. */
static int ring__register(ring *r)
{
	for (uint32_t i = 0; i < RING_MAX_PRODUCERS; i++) {
		struct flock fl = {.l_type = F_WRLCK,
				   .l_whence = SEEK_SET,
				   .l_start = RING_LOCK_BASE + i,
				   .l_len = 1};
		if (fcntl(r->fd, F_OFD_SETLK, &fl) == 0) {
			struct ring_slot *s = &r->hdr->slots[i];
			/* Release: pairs with ring__owner_dead's acquire load. */
			r->gen = atomic_fetch_add_explicit(&s->gen, 1, memory_order_release) + 1;
			/* Relaxed: for operators only; nothing synchronises on it. */
			atomic_store_explicit(&s->pid, (int32_t)getpid(), memory_order_relaxed);
			/* Claims a dead owner left counted are not ours. Relaxed:
			 * until this store the consumer counts them as in flight,
			 * which only makes it wait. */
			atomic_store_explicit(&s->inflight, 0, memory_order_relaxed);
			r->slot = (int)i;
			return 0;
		}
		if (errno != EAGAIN && errno != EACCES)
			return roost_from_errno(errno);
	}
	return ROOST_EBUSY; /* every slot is held by a live producer */
}

int ring_open(ring **out, const char *path, uint64_t expected_capacity, enum ring_role role)
{
	if (!out || !path)
		return ROOST_EINVAL;
	int fd;
	int rc = shm_open_file(path, role == RING_OBSERVER ? O_RDONLY : O_RDWR, 0, &fd);
	if (rc)
		return rc;
	ring *r = NULL;
	rc = ring__attach(fd, expected_capacity, role, &r);
	if (rc) {
		close(fd);
		return rc;
	}
	if (role == RING_CONSUMER) {
		/* A consumer killed in its sleep left the flag set, which costs
		 * producers a wake per commit. Relaxed: we are the only consumer
		 * now, and ring__wait_data sets it again, fenced, before sleeping. */
		atomic_store_explicit(&r->hdr->consumer_sleeping, 0, memory_order_relaxed);
		/* One killed while it zeroed what it released left records
		 * half zeroed below released: finish. */
		if (ring_released(r) > ring_head(r))
			ring__zero_to(r, ring_head(r), ring_released(r));
	} else if (role == RING_PRODUCER) {
		rc = ring__register(r);
	}
	if (rc) {
		ring_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

void ring_close(ring *r)
{
	if (!r)
		return;
	munmap(r->hdr, r->map_size);
	close(r->fd);
	free(r);
}

int ring_unlink(const char *path)
{
	if (!path)
		return ROOST_EINVAL;
	return unlink(path) ? roost_from_errno(errno) : 0;
}

uint32_t ring_max_payload(const ring *r)
{
	uint64_t max = r->capacity / 4 - RING__REC_HDR;
	return max > RING__MAX_LEN ? RING__MAX_LEN : (uint32_t)max;
}

/* ---- producers ---- */

static void ring__write_header(ring *r, uint64_t pos, enum ring_state state, uint32_t len)
{
	struct ring_record_header *rh = ring__rec(r, pos);
	rh->owner_slot = (uint32_t)r->slot;
	rh->owner_gen = r->gen;
	rh->len = len;
	/* Release: pairs with the consumer's acquire loads of state: the
	 * fields above are complete once the state is not zero. */
	atomic_store_explicit(&rh->state, state, memory_order_release);
}

/* Reserves the data memory of every position below end, and some more
 * ahead. Lap 0 only: later laps reuse its memory. Claimers that race here
 * may reserve the same pages twice, which is harmless. */
static int ring__reserve(ring *r, uint64_t end)
{
	struct ring_shm_header *h = r->hdr;
	uint64_t full = h->start_pos + r->capacity;
	/* Acquire: pairs with the release compare-and-swap below, by whoever
	 * raised it: the pages below it are reserved. */
	uint64_t from = atomic_load_explicit(&h->reserved, memory_order_acquire);
	if (from >= end || from >= full)
		return 0;
	uint64_t to = from + RING__RESERVE_STEP > end ? from + RING__RESERVE_STEP : end;
	to = to < full ? to : full;
	uint64_t at = from & (r->capacity - 1), n = to - from;
	uint64_t first = n < r->capacity - at ? n : r->capacity - at;
	int rc = shm_reserve(r->fd, RING_HEADER_SIZE + at, first);
	if (rc == 0)
		rc = shm_reserve(r->fd, RING_HEADER_SIZE, n - first);
	/* Never ROOST_EBUSY, which means "full: wait for the consumer". */
	if (rc)
		return rc == ROOST_ENOSPC ? rc : ROOST_ENOSPC;
	/* Release: pairs with the acquire load above in later claimers. On
	 * failure from holds a newer value: raise it only if still lower. */
	while (from < to &&
	       !atomic_compare_exchange_weak_explicit(&h->reserved, &from, to, memory_order_release,
						      memory_order_relaxed))
		;
	return 0;
}

/* Advances reserve past one record of span bytes (and the padding before
 * it when it would wrap), if the ring has room: 0 with the claim's start
 * in *pos and its padding in *pad, ROOST_EBUSY with the head seen. */
static int ring__advance(ring *r, uint64_t span, uint64_t *pos, uint64_t *pad, uint64_t *seen_head)
{
	struct ring_shm_header *h = r->hdr;
	for (;;) {
		/* Head first: reserve, loaded after it, is at or past it, which a
		 * reserve loaded before could not promise once other claims and
		 * releases went by. Acquire: pairs with ring__zero_to's release
		 * store: the consumer is done with the bytes we are about to
		 * overwrite, and they are zero. */
		uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire);
		/* Sequentially consistent, as the compare-and-swap below. */
		uint64_t at = atomic_load(&h->reserve);
		ring__hook(RING_HOOK_CLAIM_LOADED);
		uint64_t idx = at & (r->capacity - 1);
		uint64_t gap = idx + span > r->capacity ? r->capacity - idx : 0;
		if (at + gap + span - head > r->capacity) {
			*seen_head = head;
			return ROOST_EBUSY;
		}
		int rc = ring__reserve(r, at + gap + span);
		if (rc)
			return rc;
		/* Sequentially consistent: after our inflight count, before the
		 * consumer's loads of reserve and inflight (ring__unblock). On
		 * failure, another claim went first: look again. */
		if (atomic_compare_exchange_weak(&h->reserve, &at, at + gap + span)) {
			*pos = at;
			*pad = gap;
			return 0;
		}
	}
}

/* One attempt. ROOST_EBUSY when full, with the head that was seen so the
 * caller can sleep until it moves. */
static int ring__try_claim(ring *r, uint32_t len, struct ring_claim *out, uint64_t *seen_head)
{
	_Atomic uint32_t *inflight = &r->hdr->slots[r->slot].inflight;
	/* Sequentially consistent: before the compare-and-swap of reserve, so
	 * a consumer that sees our claim sees us counted (ring__unblock). */
	atomic_fetch_add(inflight, 1);
	ring__hook(RING_HOOK_CLAIM_COUNTED);
	uint64_t pos, pad;
	int rc = ring__advance(r, ring__span(len), &pos, &pad, seen_head);
	if (rc == 0) {
		ring__hook(RING_HOOK_CLAIM_RESERVED);
		/* The record first: a consumer that sees the padding's state
		 * steps to a record whose header is there. */
		ring__write_header(r, pos + pad, RING_CLAIMED, len);
		if (pad)
			ring__write_header(r, pos, RING_PADDING, (uint32_t)(pad - RING__REC_HDR));
		ring__hook(RING_HOOK_CLAIM_HEADER);
		out->pos = pos + pad;
		out->data = (unsigned char *)ring__rec(r, pos + pad) + RING__REC_HDR;
		out->len = len;
	}
	/* Release: pairs with the consumer's load of inflight in
	 * ring__unblock: once it sees us gone, it sees our headers. */
	atomic_fetch_sub_explicit(inflight, 1, memory_order_release);
	return rc;
}

/* Sleeps until head moves from seen_head or the deadline passes.
 *
 * Handshake with ring_release, the store-fence-load pattern on both sides:
 * we count ourselves in space_waiters, fence, then look at head; it stores
 * head, fences, then looks at space_waiters. The two seq_cst fences forbid
 * both sides missing each other's store, so either we see the new head and
 * do not sleep, or it sees us and bumps space_seq, which futex_wait notices
 * even if the wake comes before the sleep. */
static int ring__wait_space(ring *r, uint64_t seen_head, int64_t deadline)
{
	struct ring_shm_header *h = r->hdr;
	int left = ring__left_ms(deadline);
	if (left == 0)
		return ROOST_EBUSY;
	/* Relaxed: ordered by the fence that follows. */
	atomic_fetch_add_explicit(&h->space_waiters, 1, memory_order_relaxed);
	/* Pairs with ring_release's fence. */
	atomic_thread_fence(memory_order_seq_cst);
	/* Acquire: pairs with ring_release's release increment, so a new seq
	 * comes with the new head. */
	uint32_t seq = atomic_load_explicit(&h->space_seq, memory_order_acquire);
	/* Acquire: pairs with ring_release's store of head. */
	if (atomic_load_explicit(&h->head, memory_order_acquire) == seen_head)
		futex_wait(&h->space_seq, seq, left);
	/* Relaxed: only ring_release reads it, and a stale count only costs
	 * it a spare wake. */
	atomic_fetch_sub_explicit(&h->space_waiters, 1, memory_order_relaxed);
	return 0;
}

int ring_claim(ring *r, uint32_t len, int timeout_ms, struct ring_claim *out)
{
	if (r->role != RING_PRODUCER)
		return ROOST_EINVAL; /* records need an owner: a producer's slot */
	if (len > ring_max_payload(r))
		return ROOST_ETOOBIG;
	int64_t deadline = ring__deadline(timeout_ms);
	for (;;) {
		uint64_t seen_head = 0;
		int rc = ring__try_claim(r, len, out, &seen_head);
		if (rc != ROOST_EBUSY)
			return rc;
		rc = ring__wait_space(r, seen_head, deadline);
		if (rc)
			return rc;
	}
}

/* Publishes a final state and wakes the consumer if it sleeps; the other
 * half of the handshake in ring__wait_data(). */
static void ring__finish(ring *r, uint64_t pos, enum ring_state state)
{
	struct ring_shm_header *h = r->hdr;
	/* Release: pairs with ring_read's acquire load of state; the payload
	 * is visible before the state is. */
	atomic_store_explicit(&ring__rec(r, pos)->state, state, memory_order_release);
	/* Pairs with ring__wait_data's fence: either the consumer sees our
	 * state or we see it sleeping. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&h->consumer_sleeping, memory_order_relaxed)) {
		/* Release: pairs with ring__wait_data's acquire load of data_seq. */
		atomic_fetch_add_explicit(&h->data_seq, 1, memory_order_release);
		futex_wake_all(&h->data_seq);
	}
}

void ring_commit(ring *r, const struct ring_claim *c)
{
	ring__finish(r, c->pos, RING_COMMITTED);
}

void ring_abort(ring *r, const struct ring_claim *c)
{
	ring__finish(r, c->pos, RING_ABORTED);
}

/* ---- the consumer ---- */

/* Bytes spanned by the record at pos, or 0 when its header cannot have been
 * written by a claim. Lengths in shared memory are not trusted: a bad one
 * must not send the consumer outside the data area or past reserve. */
static uint64_t ring__checked_span(const ring *r, uint64_t pos, uint64_t reserve, uint32_t state,
				   const struct ring_record_header *rh)
{
	uint64_t idx = pos & (r->capacity - 1);
	uint64_t span = ring__span(rh->len);
	if (state < RING_CLAIMED || state > RING_PADDING || rh->owner_slot >= RING_MAX_PRODUCERS)
		return 0;
	if (idx + span > r->capacity || span > reserve - pos)
		return 0;
	if (state == RING_PADDING)
		return idx + span == r->capacity ? span : 0;
	/* A run of dead claims the consumer marked (ring__unblock) may be
	 * longer. */
	int unblocked = state == RING_ABORTED && rh->owner_gen == RING__UNBLOCKED_GEN;
	return unblocked || rh->len <= ring_max_payload(r) ? span : 0;
}

/* Whether some live process holds slot's lock. */
static int ring__slot_held(const ring *r, uint32_t slot)
{
	struct flock fl = {
	    .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = RING_LOCK_BASE + slot, .l_len = 1};
	if (fcntl(r->fd, F_OFD_GETLK, &fl))
		return 1; /* cannot tell: waiting is safe, skipping is not */
	return fl.l_type != F_UNLCK;
}

/* Dead when the slot has changed hands since the claim, or when nobody
 * holds the slot's lock. A live owner, however slow, holds it. */
static int ring__owner_dead(const ring *r, const struct ring_record_header *rh)
{
	const struct ring_slot *s = &r->hdr->slots[rh->owner_slot];
	/* Acquire: pairs with ring__register's release increment. */
	if (atomic_load_explicit(&s->gen, memory_order_acquire) != rh->owner_gen)
		return 1;
	return !ring__slot_held(r, rh->owner_slot);
}

/* Whether the record at pos has stayed unsettled for dead_timeout_ms,
 * counted from when the consumer saw it so a second time (kept across
 * ring_read calls, so that short reads still get there). The first look
 * reads no clock: most records settle while the consumer spins. */
static int ring__stuck(ring *r, uint64_t pos)
{
	if (r->claimed_pos != pos) {
		r->claimed_pos = pos;
		r->claimed_since_ms = -1;
		return 0;
	}
	int64_t now = futex_now_ms();
	if (r->claimed_since_ms < 0)
		r->claimed_since_ms = now;
	return now - r->claimed_since_ms >= r->dead_timeout_ms;
}

/* Marks the CLAIMED record at pos ABORTED once it is stuck and its owner
 * is dead. Returns 1 when it did. */
static int ring__reap(ring *r, uint64_t pos, struct ring_record_header *rh)
{
	if (!ring__stuck(r, pos) || !ring__owner_dead(r, rh))
		return 0;
	/* The owner is dead, so no commit can race with this store. Release:
	 * pairs with ring_state_at's acquire load. */
	atomic_store_explicit(&rh->state, RING_ABORTED, memory_order_release);
	return 1;
}

/* Whether a live producer has a claim between advancing reserve and
 * writing its headers. Called after loading reserve, sequentially
 * consistent: a claim below that reserve is counted in its slot's inflight
 * (the claimer counted itself before advancing reserve), or has left it,
 * and then its headers are visible. */
static int ring__claims_in_flight(const ring *r)
{
	for (uint32_t i = 0; i < RING_MAX_PRODUCERS; i++) {
		/* Sequentially consistent: after the caller's load of reserve.
		 * Acquire at least: pairs with ring__try_claim's release
		 * decrement. */
		if (atomic_load(&r->hdr->slots[i].inflight) && ring__slot_held(r, i))
			return 1;
	}
	return 0;
}

/* Bytes of unwritten (zero) headers from pos, up to the first written one,
 * the end of the data area or reserve. Space nobody wrote is zero through
 * and through, since the consumer zeroes what it releases. */
static uint64_t ring__zero_run(const ring *r, uint64_t pos, uint64_t reserve)
{
	uint64_t end = pos + r->capacity - (pos & (r->capacity - 1));
	end = end < reserve ? end : reserve;
	uint64_t at = pos;
	/* Acquire: pairs with ring__write_header's release store. */
	while (at < end && !atomic_load_explicit(&ring__rec(r, at)->state, memory_order_acquire))
		at += RING_ALIGN;
	return at - pos;
}

/* The run of unwritten headers at pos (reserve loaded before, sequentially
 * consistent) was left by producers that died between advancing reserve
 * and writing their headers once no live producer has a claim in flight:
 * it becomes one ABORTED record (PADDING when it reaches the end of the
 * data area). Only once stuck, so that a producer merely slow to write its
 * header costs no scan. 1 when pos is worth another look. */
static int ring__unblock(ring *r, uint64_t pos, uint64_t reserve)
{
	if (!ring__stuck(r, pos) || ring__claims_in_flight(r))
		return 0;
	uint64_t run = ring__zero_run(r, pos, reserve);
	if (!run)
		return 1;					    /* written since: read it */
	uint64_t longest = (uint64_t)RING__MAX_LEN + RING__REC_HDR; /* len is 32 bits */
	if (run > longest)
		run = longest; /* the rest is another run */
	struct ring_record_header *rh = ring__rec(r, pos);
	int to_end = ((pos + run) & (r->capacity - 1)) == 0;
	rh->owner_slot = 0;
	rh->owner_gen = RING__UNBLOCKED_GEN;
	rh->len = (uint32_t)(run - RING__REC_HDR);
	/* Release: pairs with the acquire loads of state in ring_read and
	 * ring_state_at; the fields above come with it. */
	atomic_store_explicit(&rh->state, to_end ? RING_PADDING : RING_ABORTED,
			      memory_order_release);
	return 1;
}

/* Finds the first committed record at or after *pos, skipping padding and
 * aborted records. 0 with *out filled, RING__EMPTY when *pos reached
 * reserve, RING__PENDING when the record at *pos is still CLAIMED. */
static int ring__next(ring *r, uint64_t *pos, struct ring_record *out)
{
	for (;;) {
		/* Sequentially consistent: before ring__unblock's loads of
		 * inflight. */
		uint64_t reserve = atomic_load(&r->hdr->reserve);
		if (*pos == reserve)
			return RING__EMPTY;
		struct ring_record_header *rh = ring__rec(r, *pos);
		/* Acquire: pairs with ring__write_header's and ring__finish's
		 * release stores; the payload is complete once the state says
		 * COMMITTED. */
		uint32_t state = atomic_load_explicit(&rh->state, memory_order_acquire);
		if (!state) {
			if (!ring__unblock(r, *pos, reserve))
				return RING__PENDING;
			continue;
		}
		uint64_t span = ring__checked_span(r, *pos, reserve, state, rh);
		if (!span)
			return ROOST_ECORRUPT;
		if (state == RING_COMMITTED) {
			out->pos = *pos;
			out->next = *pos + span;
			out->data = (const unsigned char *)rh + RING__REC_HDR;
			out->len = rh->len;
			return 0;
		}
		if (state == RING_CLAIMED && !ring__reap(r, *pos, rh))
			return RING__PENDING;
		*pos += span;
	}
}

/* Whether the record at pos exists and is neither unwritten nor CLAIMED. */
static int ring__settled(const ring *r, uint64_t pos)
{
	/* Acquire: ordering only matters for the state below. */
	if (atomic_load_explicit(&r->hdr->reserve, memory_order_acquire) == pos)
		return 0;
	/* Acquire: pairs with ring__finish's release store of state. */
	uint32_t state = atomic_load_explicit(&ring__rec(r, pos)->state, memory_order_acquire);
	return state && state != RING_CLAIMED;
}

/* Sleeps until a producer commits or aborts, or wait_ms passes.
 *
 * Handshake with ring__finish, the store-fence-load pattern on both sides:
 * we set consumer_sleeping, fence, then look at the record; a producer
 * stores the state, fences, then looks at consumer_sleeping. The two seq_cst
 * fences forbid both sides missing each other's store, so either we see the
 * state and do not sleep, or the producer sees us and bumps data_seq, which
 * futex_wait notices even if the wake comes before the sleep. */
static void ring__wait_data(ring *r, uint64_t pos, int wait_ms)
{
	struct ring_shm_header *h = r->hdr;
	/* Relaxed: ordered by the fence that follows. */
	atomic_store_explicit(&h->consumer_sleeping, 1, memory_order_relaxed);
	/* Pairs with ring__finish's fence. */
	atomic_thread_fence(memory_order_seq_cst);
	/* Acquire: pairs with ring__finish's release increment, so a new seq
	 * comes with the new state. */
	uint32_t seq = atomic_load_explicit(&h->data_seq, memory_order_acquire);
	if (!ring__settled(r, pos))
		futex_wait(&h->data_seq, seq, wait_ms);
	/* Relaxed: a producer that still sees the flag only wakes us spare. */
	atomic_store_explicit(&h->consumer_sleeping, 0, memory_order_relaxed);
}

int ring_unread(ring *r, uint64_t pos, uint64_t *found)
{
	if (r->role != RING_CONSUMER || pos % RING_ALIGN || pos < ring_head(r) ||
	    pos > ring_reserve(r))
		return ROOST_EINVAL;
	/* Sequentially consistent: before ring__claims_in_flight's loads. */
	uint64_t reserve = atomic_load(&r->hdr->reserve);
	while (pos < reserve) {
		struct ring_record_header *rh = ring__rec(r, pos);
		/* Acquire: pairs with ring__write_header's and ring__finish's
		 * release stores. */
		uint32_t state = atomic_load_explicit(&rh->state, memory_order_acquire);
		if (!state && ring__claims_in_flight(r)) {
			*found = pos;
			return 1;
		}
		if (!state) {
			pos += ring__zero_run(r, pos, reserve); /* 0: written since */
			continue;
		}
		uint64_t span = ring__checked_span(r, pos, reserve, state, rh);
		if (!span)
			return ROOST_ECORRUPT;
		if (state == RING_COMMITTED ||
		    (state == RING_CLAIMED && !ring__owner_dead(r, rh))) {
			*found = pos;
			return 1;
		}
		pos += span;
	}
	return 0;
}

int ring_producers_alive(const ring *r)
{
	/* One probe over every slot's lock byte finds any holder. */
	struct flock fl = {.l_type = F_WRLCK,
			   .l_whence = SEEK_SET,
			   .l_start = RING_LOCK_BASE,
			   .l_len = RING_MAX_PRODUCERS};
	if (fcntl(r->fd, F_OFD_GETLK, &fl))
		return 1; /* cannot tell: assume someone, which keeps the ring */
	return fl.l_type != F_UNLCK;
}

static void ring__relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

/* Polls the record at pos a little before the consumer sleeps: a producer
 * that has claimed commits within a microsecond or so, and a futex sleep
 * costs it a wake (a system call) per commit. 1 when it settled. */
static int ring__spin(const ring *r, uint64_t pos)
{
	for (int i = 0; i < RING__SPIN; i++) {
		if (ring__settled(r, pos))
			return 1;
		ring__relax();
	}
	return 0;
}

int ring_read(ring *r, uint64_t pos, int timeout_ms, struct ring_record *out)
{
	if (r->role != RING_CONSUMER || pos % RING_ALIGN || pos < ring_head(r) ||
	    pos > ring_reserve(r))
		return ROOST_EINVAL;
	int64_t deadline = INT64_MIN; /* read the clock only to sleep */
	for (;;) {
		int rc = ring__next(r, &pos, out);
		if (rc <= 0)
			return rc;
		if (timeout_ms != 0 && ring__spin(r, pos))
			continue;
		if (deadline == INT64_MIN)
			deadline = ring__deadline(timeout_ms);
		int left = ring__left_ms(deadline);
		if (left == 0)
			return ROOST_ETIMEDOUT;
		/* A CLAIMED record is looked at again in slices, so that a dead
		 * owner is noticed even though nobody will wake us. */
		if (rc == RING__PENDING && (left < 0 || left > RING__SLICE_MS))
			left = RING__SLICE_MS;
		ring__wait_data(r, pos, left);
	}
}

/* Frees [head, pos): announces it consumed, zeroes it (unwritten headers
 * must read as zero to the next lap's claimers), then moves head. */
static void ring__zero_to(ring *r, uint64_t head, uint64_t pos)
{
	struct ring_shm_header *h = r->hdr;
	/* Release, then a fence that keeps the zeroing below after it: a
	 * reader who sees a zeroed header sees released past it
	 * (ring_state_at's fence). */
	atomic_store_explicit(&h->released, pos, memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
	uint64_t at = head & (r->capacity - 1), n = pos - head;
	uint64_t first = n < r->capacity - at ? n : r->capacity - at;
	memset(r->data + at, 0, first);
	memset(r->data, 0, n - first);
	ring__hook(RING_HOOK_RELEASE_ZEROED);
	/* Release: pairs with the claimer's acquire load of head; we are done
	 * with the bytes before pos, and they are zero. */
	atomic_store_explicit(&h->head, pos, memory_order_release);
}

void ring_release(ring *r, uint64_t pos)
{
	struct ring_shm_header *h = r->hdr;
	/* Relaxed: only this consumer writes head. */
	uint64_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
	if (r->role != RING_CONSUMER || pos <= head || pos > ring_reserve(r) || pos % RING_ALIGN)
		return;
	ring__zero_to(r, head, pos);
	/* Pairs with ring__wait_space's fence. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&h->space_waiters, memory_order_relaxed)) {
		/* Release: pairs with ring__wait_space's acquire load of space_seq. */
		atomic_fetch_add_explicit(&h->space_seq, 1, memory_order_release);
		futex_wake_all(&h->space_seq);
	}
}

int ring_state_at(ring *r, uint64_t pos)
{
	if (pos % RING_ALIGN || pos < ring_head(r) || pos >= ring_reserve(r))
		return 0;
	/* Acquire: pairs with ring__write_header's and ring__finish's release
	 * stores. */
	uint32_t state = atomic_load_explicit(&ring__rec(r, pos)->state, memory_order_acquire);
	/* Pairs with ring__zero_to's fence: a header zeroed or recycled by a
	 * later lap since head was read comes with released past pos. */
	atomic_thread_fence(memory_order_seq_cst);
	if (ring_released(r) > pos || state < RING_CLAIMED || state > RING_PADDING)
		return 0;
	return (int)state;
}

uint64_t ring_released(const ring *r)
{
	/* Acquire: pairs with ring__zero_to's release store. */
	return atomic_load_explicit(&r->hdr->released, memory_order_acquire);
}

uint64_t ring_head(const ring *r)
{
	/* Acquire: pairs with ring_release's release store. */
	return atomic_load_explicit(&r->hdr->head, memory_order_acquire);
}

uint64_t ring_reserve(const ring *r)
{
	/* Acquire: pairs with the claimer's release store. */
	return atomic_load_explicit(&r->hdr->reserve, memory_order_acquire);
}

uint64_t ring_capacity(const ring *r)
{
	return r->capacity;
}
