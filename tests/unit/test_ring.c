/* Unit tests for the ingest ring (shm/ring.c). Each test works on its own
 * object in a private directory on /dev/shm, and removes both. Children
 * are forked producer processes; they report through their exit status and
 * never call cmocka. */
#include "err.h"
#include "futex.h"
#include "ring.h"
#include "tutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CAP	  (64u * 1024u)
#define DEAD_MS	  100
#define KILL_COPY (-1) /* kill after the claim, in the middle of the copy */

/* Offsets in the shared header that ring.c keeps fixed in every version. */
#define HDR_MAGIC_OFF	0
#define HDR_VERSION_OFF 8

static const char *name_of(void **state)
{
	return tu_file(state, "ring");
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static uint64_t span_of(uint32_t len)
{
	return 16 + (((uint64_t)len + 15) & ~(uint64_t)15);
}

static unsigned char pattern_byte(uint32_t seed, size_t i)
{
	return (unsigned char)(((seed * 2654435761u) >> 24) + i * 13u);
}

static void fill(void *data, size_t n, uint32_t seed)
{
	unsigned char *p = data;
	for (size_t i = 0; i < n; i++)
		p[i] = pattern_byte(seed, i);
}

static int intact(const void *data, size_t n, uint32_t seed)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++)
		if (p[i] != pattern_byte(seed, i))
			return 0;
	return 1;
}

static ring *make_ring(const char *name, uint64_t start_pos, int dead_ms)
{
	struct ring_config cfg = {
	    .capacity = CAP, .start_pos = start_pos, .mode = 0600, .dead_timeout_ms = dead_ms};
	ring *c = NULL;
	assert_int_equal(ring_create(&c, name, &cfg), 0);
	return c;
}

static ring *open_producer(const char *name)
{
	ring *p = NULL;
	assert_int_equal(ring_open(&p, name, CAP, RING_PRODUCER), 0);
	return p;
}

static struct ring_claim put(ring *p, uint32_t len, uint32_t seed)
{
	struct ring_claim cl;
	assert_int_equal(ring_claim(p, len, 1000, &cl), 0);
	assert_int_equal(cl.len, len);
	fill(cl.data, len, seed);
	ring_commit(p, &cl);
	return cl;
}

/* Reads the record at or after pos, checks it and releases it. */
static struct ring_record take(ring *c, uint64_t pos, uint32_t len, uint32_t seed)
{
	struct ring_record rec;
	assert_int_equal(ring_read(c, pos, 2000, &rec), 0);
	assert_int_equal(rec.len, len);
	assert_int_equal(rec.next, rec.pos + span_of(len));
	assert_true(intact(rec.data, len, seed));
	ring_release(c, rec.next);
	return rec;
}

static int waited_exit_code(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* ---- single producer ---- */

static void test_round_trip(void **state)
{
	const uint64_t start = 1ull << 40;
	const uint32_t lens[] = {0, 1, 15, 16, 100, 4000};
	ring *c = make_ring(name_of(state), start, DEAD_MS);
	ring *p = open_producer(name_of(state));
	struct ring_claim cl[6];
	for (uint32_t i = 0; i < 6; i++)
		cl[i] = put(p, lens[i], i);
	assert_int_equal(cl[0].pos, start);
	uint64_t pos = ring_head(c);
	assert_int_equal(pos, start);
	for (uint32_t i = 0; i < 6; i++) {
		assert_int_equal(((uintptr_t)cl[i].data) % 8, 0);
		struct ring_record rec = take(c, pos, lens[i], i);
		assert_int_equal(rec.pos, cl[i].pos);
		pos = rec.next;
	}
	assert_int_equal(ring_head(c), ring_reserve(c));

	struct ring_record rec;
	int64_t t0 = futex_now_ms();
	assert_int_equal(ring_read(c, pos, 30, &rec), ROOST_ETIMEDOUT);
	assert_true(futex_now_ms() - t0 >= 30);
	ring_close(p);
	ring_close(c);
}

/* Producer and consumer in one thread, records of varying size through a
 * small ring: several laps, padding at each wrap, every byte checked. */
static void test_wrap_around(void **state)
{
	enum { N = 3000 };
	static uint32_t lens[N];
	static uint64_t poss[N];
	ring *c = make_ring(name_of(state), 16 * 1000, DEAD_MS);
	ring *p = open_producer(name_of(state));
	uint32_t rnd = 12345, done = 0, laps = 0, paddings = 0;
	uint64_t pos = ring_head(c), last_idx = 0;
	for (uint32_t i = 0; i < N || done < N;) {
		struct ring_claim cl;
		if (i < N) {
			rnd = rnd * 1103515245u + 12345u;
			lens[i] = (rnd >> 8) % 6000;
			if (ring_claim(p, lens[i], 0, &cl) == 0) {
				fill(cl.data, lens[i], i);
				ring_commit(p, &cl);
				poss[i++] = cl.pos;
				continue;
			}
		}
		struct ring_record rec = take(c, pos, lens[done], done);
		assert_int_equal(rec.pos, poss[done]);
		assert_true(rec.pos >= pos);
		paddings += rec.pos != pos;
		uint64_t idx = rec.pos & (CAP - 1);
		laps += idx < last_idx;
		last_idx = idx;
		pos = rec.next;
		done++;
	}
	assert_true(laps >= 3);
	assert_true(paddings >= 1);
	ring_close(p);
	ring_close(c);
}

static void test_too_big(void **state)
{
	ring *c = make_ring(name_of(state), 0, DEAD_MS);
	ring *p = open_producer(name_of(state));
	uint32_t max = ring_max_payload(p);
	assert_int_equal(max, CAP / 4 - 16);
	struct ring_claim cl;
	assert_int_equal(ring_claim(p, max + 1, 0, &cl), ROOST_ETOOBIG);
	assert_int_equal(ring_claim(p, UINT32_MAX, 0, &cl), ROOST_ETOOBIG);
	put(p, max, 7);
	take(c, 0, max, 7);
	ring_close(p);
	ring_close(c);
}

struct blocked_claim {
	ring *p;
	int rc;
	int64_t done_ms;
	struct ring_claim cl;
};

static void *claim_thread(void *arg)
{
	struct blocked_claim *b = arg;
	b->rc = ring_claim(b->p, 100, 5000, &b->cl);
	b->done_ms = futex_now_ms();
	return NULL;
}

static void test_full_then_released(void **state)
{
	ring *c = make_ring(name_of(state), 0, DEAD_MS);
	ring *p = open_producer(name_of(state));
	uint32_t max = ring_max_payload(p);
	for (uint32_t i = 0; i < 4; i++) /* 4 x 16 KiB: exactly full */
		put(p, max, i);
	struct ring_claim cl;
	assert_int_equal(ring_claim(p, 0, 0, &cl), ROOST_EBUSY);
	int64_t t0 = futex_now_ms();
	assert_int_equal(ring_claim(p, 0, 100, &cl), ROOST_EBUSY);
	int64_t waited = futex_now_ms() - t0;
	assert_true(waited >= 100 && waited < 1000);

	struct blocked_claim b = {.p = p};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, claim_thread, &b), 0);
	sleep_ms(100); /* lets it reach its futex sleep; not needed for the assertions */
	int64_t released_ms = futex_now_ms();
	struct ring_record rec = take(c, 0, max, 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(b.rc, 0);
	assert_true(b.done_ms >= released_ms && b.done_ms - released_ms < 1000);
	fill(b.cl.data, 100, 99);
	ring_commit(p, &b.cl);
	for (uint32_t i = 1; i < 4; i++)
		rec = take(c, rec.next, max, i);
	take(c, rec.next, 100, 99);
	ring_close(p);
	ring_close(c);
}

struct blocked_read {
	ring *c;
	int rc;
	int64_t done_ms;
	struct ring_record rec;
};

static void *read_thread(void *arg)
{
	struct blocked_read *b = arg;
	b->rc = ring_read(b->c, ring_head(b->c), 5000, &b->rec);
	b->done_ms = futex_now_ms();
	return NULL;
}

/* A consumer asleep on an empty ring is woken by a commit that follows an
 * abort, long before its timeout. */
static void test_commit_wakes_consumer(void **state)
{
	ring *c = make_ring(name_of(state), 0, DEAD_MS);
	ring *p = open_producer(name_of(state));
	struct blocked_read b = {.c = c};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, read_thread, &b), 0);
	sleep_ms(50); /* lets it reach its futex sleep; not needed for the assertions */
	struct ring_claim dropped, kept;
	assert_int_equal(ring_claim(p, 10, 0, &dropped), 0);
	assert_int_equal(ring_claim(p, 20, 0, &kept), 0);
	ring_abort(p, &dropped);
	fill(kept.data, 20, 5);
	int64_t t0 = futex_now_ms();
	ring_commit(p, &kept);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(b.rc, 0);
	assert_int_equal(b.rec.pos, kept.pos);
	assert_true(intact(b.rec.data, 20, 5));
	assert_true(b.done_ms - t0 < 1000);
	ring_close(p);
	ring_close(c);
}

/* ---- several producer processes ---- */

enum { MP_PROCS = 4, MP_THREADS = 2, MP_RECORDS = 3000 };

struct mp_tag {
	uint32_t proc, thread, seq, len;
};

struct mp_thread_arg {
	ring *p;
	uint32_t proc, thread;
	int ok;
};

static uint32_t mp_seed(const struct mp_tag *t)
{
	return t->proc * 1000003u ^ t->thread * 7919u ^ t->seq;
}

static void *mp_thread(void *arg)
{
	struct mp_thread_arg *a = arg;
	uint32_t rnd = a->proc * 31 + a->thread;
	for (uint32_t seq = 0; seq < MP_RECORDS; seq++) {
		rnd = rnd * 1103515245u + 12345u;
		struct mp_tag tag = {a->proc, a->thread, seq,
				     (uint32_t)sizeof(tag) + (rnd >> 8) % 1500};
		struct ring_claim cl;
		if (ring_claim(a->p, tag.len, 10000, &cl))
			return NULL;
		memcpy(cl.data, &tag, sizeof(tag));
		fill((unsigned char *)cl.data + sizeof(tag), tag.len - sizeof(tag), mp_seed(&tag));
		ring_commit(a->p, &cl);
	}
	a->ok = 1;
	return NULL;
}

static void mp_child(const char *name, uint32_t proc)
{
	ring *p;
	if (ring_open(&p, name, CAP, RING_PRODUCER))
		_exit(2);
	struct mp_thread_arg args[MP_THREADS];
	pthread_t t[MP_THREADS];
	for (uint32_t i = 0; i < MP_THREADS; i++) {
		args[i] = (struct mp_thread_arg){.p = p, .proc = proc, .thread = i};
		if (pthread_create(&t[i], NULL, mp_thread, &args[i]))
			_exit(3);
	}
	int ok = 1;
	for (uint32_t i = 0; i < MP_THREADS; i++) {
		pthread_join(t[i], NULL);
		ok &= args[i].ok;
	}
	ring_close(p);
	_exit(ok ? 0 : 4);
}

static void mp_check(const struct ring_record *rec, uint32_t next_seq[MP_PROCS][MP_THREADS])
{
	struct mp_tag tag;
	assert_true(rec->len >= sizeof(tag));
	memcpy(&tag, rec->data, sizeof(tag));
	assert_true(tag.proc < MP_PROCS && tag.thread < MP_THREADS);
	assert_int_equal(tag.seq, next_seq[tag.proc][tag.thread]);
	next_seq[tag.proc][tag.thread]++;
	assert_int_equal(tag.len, rec->len);
	const unsigned char *body = (const unsigned char *)rec->data + sizeof(tag);
	assert_true(intact(body, rec->len - sizeof(tag), mp_seed(&tag)));
}

static void test_multi_producer(void **state)
{
	ring *c = make_ring(name_of(state), 0, DEAD_MS);
	pid_t pids[MP_PROCS];
	for (uint32_t i = 0; i < MP_PROCS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0)
			mp_child(name_of(state), i);
	}
	uint32_t next_seq[MP_PROCS][MP_THREADS] = {{0}};
	uint64_t pos = ring_head(c);
	for (uint32_t n = 0; n < MP_PROCS * MP_THREADS * MP_RECORDS; n++) {
		struct ring_record rec;
		assert_int_equal(ring_read(c, pos, 10000, &rec), 0);
		assert_true(rec.pos >= pos);
		mp_check(&rec, next_seq);
		pos = rec.next;
		ring_release(c, pos);
	}
	for (uint32_t i = 0; i < MP_PROCS; i++)
		assert_int_equal(waited_exit_code(pids[i]), 0);
	for (uint32_t i = 0; i < MP_PROCS; i++)
		for (uint32_t j = 0; j < MP_THREADS; j++)
			assert_int_equal(next_seq[i][j], MP_RECORDS);
	struct ring_record rec;
	assert_int_equal(ring_read(c, pos, 20, &rec), ROOST_ETIMEDOUT);
	ring_close(c);
}

/* Threads of one process share a handle and its slot. Each plays one
 * producer "process" of the check above. */
static void test_threads_share_handle(void **state)
{
	ring *c = make_ring(name_of(state), 0, DEAD_MS);
	ring *p = open_producer(name_of(state));
	struct mp_thread_arg args[MP_PROCS];
	pthread_t t[MP_PROCS];
	for (uint32_t i = 0; i < MP_PROCS; i++) {
		args[i] = (struct mp_thread_arg){.p = p, .proc = i, .thread = 0};
		assert_int_equal(pthread_create(&t[i], NULL, mp_thread, &args[i]), 0);
	}
	uint32_t next_seq[MP_PROCS][MP_THREADS] = {{0}};
	uint64_t pos = ring_head(c);
	for (uint32_t n = 0; n < MP_PROCS * MP_RECORDS; n++) {
		struct ring_record rec;
		assert_int_equal(ring_read(c, pos, 10000, &rec), 0);
		mp_check(&rec, next_seq);
		pos = rec.next;
		ring_release(c, pos);
	}
	for (uint32_t i = 0; i < MP_PROCS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_true(args[i].ok);
		assert_int_equal(next_seq[i][0], MP_RECORDS);
	}
	ring_close(p);
	ring_close(c);
}

/* ---- producers that die or dawdle ---- */

static int kill_point;

static void kill_hook(enum ring_hook_point point)
{
	if ((int)point == kill_point)
		raise(SIGKILL);
}

/* Claims 200 bytes and dies at kill_point, or half-way through the copy. */
static void dying_child(const char *name, int point)
{
	ring *p;
	if (ring_open(&p, name, CAP, RING_PRODUCER))
		_exit(2);
	kill_point = point;
	ring_test_hook = kill_hook;
	struct ring_claim cl;
	if (ring_claim(p, 200, 1000, &cl))
		_exit(3);
	memset(cl.data, 0xab, 100);
	raise(SIGKILL);
	_exit(4);
}

/* Records past the end of the first lap, consumed: every byte a later
 * claim gets held an earlier record, so what it leaves unwritten must read
 * as nothing. Returns the consumer's position. */
static uint64_t one_lap(ring *c, const char *name)
{
	ring *p = open_producer(name);
	uint64_t pos = ring_head(c);
	while (ring_reserve(c) < CAP + 200) {
		put(p, 1000, 7);
		pos = take(c, pos, 1000, 7).next;
	}
	ring_close(p);
	return pos;
}

static void kill_producer_at(const char *name, int point)
{
	ring *c = make_ring(name, 0, DEAD_MS);
	uint64_t base = one_lap(c, name);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		dying_child(name, point);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

	/* Whether the dead claim advanced reserve decides where ours lands. */
	int published = point != RING_HOOK_CLAIM_COUNTED;
	assert_int_equal(ring_reserve(c), base + (published ? span_of(200) : 0));
	ring *p = open_producer(name);
	struct ring_claim cl = put(p, 64, 1);
	assert_int_equal(cl.pos, ring_reserve(c) - span_of(64));

	int64_t t0 = futex_now_ms();
	struct ring_record rec = take(c, base, 64, 1);
	int64_t took = futex_now_ms() - t0;
	assert_int_equal(rec.pos, cl.pos);
	assert_true(took < 2000);
	if (published) {
		assert_true(took >= DEAD_MS);
		assert_int_equal(ring_state_at(c, base), 0); /* released by now */
	}
	put(p, 32, 2);
	take(c, rec.next, 32, 2);
	ring_close(p);
	ring_close(c);
}

static void test_killed_claim_counted(void **state)
{
	kill_producer_at(name_of(state), RING_HOOK_CLAIM_COUNTED);
}

/* Reserve advanced, no header: zeroed space that no record owns. */
static void test_killed_claim_reserved(void **state)
{
	kill_producer_at(name_of(state), RING_HOOK_CLAIM_RESERVED);
}

static void test_killed_claim_header(void **state)
{
	kill_producer_at(name_of(state), RING_HOOK_CLAIM_HEADER);
}

static void test_killed_mid_copy(void **state)
{
	kill_producer_at(name_of(state), KILL_COPY);
}

/* The dead-owner clock survives short reads, and the owner's free slot
 * lock (nobody re-registered) is what gives it away. */
static void test_dead_owner_found_by_short_reads(void **state)
{
	ring *c = make_ring(name_of(state), 0, DEAD_MS);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		dying_child(name_of(state), KILL_COPY);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(ring_state_at(c, 0), RING_CLAIMED);
	int64_t t0 = futex_now_ms();
	while (ring_state_at(c, 0) == RING_CLAIMED && futex_now_ms() - t0 < 2000) {
		struct ring_record rec;
		assert_int_equal(ring_read(c, 0, 10, &rec), ROOST_ETIMEDOUT);
	}
	assert_int_equal(ring_state_at(c, 0), RING_ABORTED);
	ring_close(c);
}

static int slow_fd = -1, slow_point = -1;

/* Tells the parent, then dawdles, at slow_point. */
static void slow_hook(enum ring_hook_point point)
{
	if ((int)point != slow_point)
		return;
	if (write(slow_fd, "c", 1) != 1)
		_exit(3);
	sleep_ms(4 * DEAD_MS);
}

/* A live producer that takes longer than dead_timeout_ms at point (after
 * the claim when KILL_COPY) is waited for, and its record read in place. */
static void slow_producer_at(const char *name, int point)
{
	ring *c = make_ring(name, 0, DEAD_MS);
	uint64_t base = one_lap(c, name);
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		ring *p;
		struct ring_claim cl;
		slow_fd = fds[1];
		slow_point = point;
		ring_test_hook = slow_hook;
		if (ring_open(&p, name, CAP, RING_PRODUCER) || ring_claim(p, 300, 1000, &cl))
			_exit(2);
		if (point == KILL_COPY)
			slow_hook(KILL_COPY);
		fill(cl.data, 300, 3);
		ring_commit(p, &cl);
		_exit(0);
	}
	close(fds[1]);
	char ch;
	assert_int_equal(read(fds[0], &ch, 1), 1); /* the child is dawdling */
	close(fds[0]);
	ring *p = open_producer(name);
	put(p, 50, 4);
	int64_t t0 = futex_now_ms();
	struct ring_record rec = take(c, base, 300, 3);
	assert_int_equal(rec.pos, base);
	assert_true(futex_now_ms() - t0 >= 2 * DEAD_MS);
	take(c, rec.next, 50, 4);
	assert_int_equal(waited_exit_code(pid), 0);
	ring_close(p);
	ring_close(c);
}

static void test_slow_producer_not_skipped(void **state)
{
	slow_producer_at(name_of(state), KILL_COPY);
}

/* Between its reserve and its header, a claim is still counted in flight. */
static void test_slow_claimer_not_skipped(void **state)
{
	slow_producer_at(name_of(state), RING_HOOK_CLAIM_RESERVED);
}

/* ---- opening, versions, states ---- */

static void poke_u32(const char *name, size_t off, uint32_t value, uint32_t *old)
{
	int fd = open(name, O_RDWR);
	assert_true(fd >= 0);
	unsigned char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(m != MAP_FAILED);
	memcpy(old, m + off, sizeof(*old));
	memcpy(m + off, &value, sizeof(value));
	munmap(m, 4096);
	close(fd);
}

static void test_version_mismatch(void **state)
{
	const char *name = name_of(state);
	ring *c = make_ring(name, 0, DEAD_MS);
	ring *p = NULL;
	uint32_t old, ignored;
	poke_u32(name, HDR_VERSION_OFF, RING_VERSION + 1, &old);
	assert_int_equal(old, RING_VERSION);
	assert_int_equal(ring_open(&p, name, 0, RING_PRODUCER), ROOST_EVERSION);
	poke_u32(name, HDR_VERSION_OFF, old, &ignored);
	poke_u32(name, HDR_MAGIC_OFF, 0x12345678u, &old);
	assert_int_equal(ring_open(&p, name, 0, RING_PRODUCER), ROOST_EVERSION);
	poke_u32(name, HDR_MAGIC_OFF, old, &ignored);
	assert_int_equal(ring_open(&p, name, 2 * CAP, RING_PRODUCER), ROOST_EVERSION);
	assert_int_equal(ring_open(&p, name, 0, RING_PRODUCER), 0);
	assert_int_equal(ring_capacity(p), CAP);
	ring_close(p);
	ring_close(c);
}

static void test_open_errors(void **state)
{
	const char *name = name_of(state);
	ring *r = NULL;
	assert_int_equal(ring_open(&r, name, 0, RING_PRODUCER), ROOST_ENOENT);
	assert_int_equal(ring_open(&r, name, 0, RING_CONSUMER), ROOST_ENOENT);
	assert_int_equal(ring_unlink(name), ROOST_ENOENT);
	struct ring_config cfg = {.capacity = CAP, .mode = 0600};
	cfg.capacity = CAP / 2;
	assert_int_equal(ring_create(&r, name, &cfg), ROOST_EINVAL);
	cfg.capacity = CAP + 4096;
	assert_int_equal(ring_create(&r, name, &cfg), ROOST_EINVAL);
	cfg.capacity = CAP;
	cfg.start_pos = 8;
	assert_int_equal(ring_create(&r, name, &cfg), ROOST_EINVAL);
	cfg.start_pos = 0;
	ring *c = make_ring(name, 0, DEAD_MS);
	assert_int_equal(ring_create(&r, name, &cfg), ROOST_EEXIST);

	/* Roles: the consumer cannot claim, a producer cannot read. */
	ring *p = open_producer(name);
	struct ring_claim cl;
	struct ring_record rec;
	assert_int_equal(ring_claim(c, 8, 0, &cl), ROOST_EINVAL);
	assert_int_equal(ring_read(p, 0, 0, &rec), ROOST_EINVAL);
	assert_int_equal(ring_read(c, 16, 0, &rec), ROOST_EINVAL); /* past reserve */
	ring_close(p);
	ring_close(c);
}

/* An object whose creator died before finishing reads as missing. */
static void test_unfinished_ring(void **state)
{
	const char *name = name_of(state);
	int fd = open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	ring *r = NULL;
	int64_t t0 = futex_now_ms();
	assert_int_equal(ring_open(&r, name, 0, RING_PRODUCER), ROOST_ENOENT); /* not even sized */
	assert_true(futex_now_ms() - t0 >= 1000);
	assert_int_equal(ftruncate(fd, RING_HEADER_SIZE + CAP), 0);
	t0 = futex_now_ms();
	assert_int_equal(ring_open(&r, name, 0, RING_PRODUCER),
			 ROOST_ENOENT); /* sized, never ready */
	assert_true(futex_now_ms() - t0 >= 1000);
	close(fd);
}

static void test_mode_ignores_umask(void **state)
{
	struct ring_config cfg = {.capacity = CAP, .mode = 0640};
	ring *c = NULL;
	mode_t old = umask(077);
	int rc = ring_create(&c, name_of(state), &cfg);
	umask(old);
	assert_int_equal(rc, 0);
	struct stat st;
	assert_int_equal(stat(name_of(state), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	ring_close(c);
}

static void test_state_at(void **state)
{
	ring *c = make_ring(name_of(state), 0, DEAD_MS);
	ring *p = open_producer(name_of(state));
	struct ring_claim a, b;
	assert_int_equal(ring_claim(p, 10, 0, &a), 0);
	assert_int_equal(ring_claim(p, 20, 0, &b), 0);
	assert_int_equal(ring_state_at(c, a.pos), RING_CLAIMED);
	assert_int_equal(ring_state_at(p, b.pos), RING_CLAIMED);
	assert_int_equal(ring_state_at(c, ring_reserve(c)), 0); /* not claimed yet */
	assert_int_equal(ring_state_at(c, a.pos + 8), 0);	/* not a record position */
	fill(b.data, 20, 2);
	ring_commit(p, &b);
	assert_int_equal(ring_state_at(p, b.pos), RING_COMMITTED);
	ring_abort(p, &a);
	assert_int_equal(ring_state_at(p, a.pos), RING_ABORTED);
	struct ring_record rec = take(c, a.pos, 20, 2);
	assert_int_equal(rec.pos, b.pos);
	assert_int_equal(ring_state_at(p, a.pos), 0); /* released */
	assert_int_equal(ring_state_at(p, b.pos), 0);
	ring_close(p);
	ring_close(c);
}

/* ---- claims and releases that race ---- */

static int gate_in = -1, gate_out = -1;

/* Once: tells the parent the cursors are loaded, and waits for its go. */
static void gate_hook(enum ring_hook_point point)
{
	char ch = 'l';
	if (point != RING_HOOK_CLAIM_LOADED || gate_in < 0)
		return;
	if (write(gate_out, &ch, 1) != 1 || read(gate_in, &ch, 1) != 1)
		_exit(3);
	gate_in = -1;
}

/* A claimer that loaded the cursors, then saw other claims and releases go
 * past what it loaded, still claims at once: the ring is empty. */
static void test_claim_after_the_cursors_moved(void **state)
{
	ring *c = make_ring(name_of(state), 0, DEAD_MS);
	int to_child[2], to_parent[2];
	assert_int_equal(pipe(to_child), 0);
	assert_int_equal(pipe(to_parent), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		ring *q;
		struct ring_claim cl;
		gate_in = to_child[0];
		gate_out = to_parent[1];
		ring_test_hook = gate_hook;
		if (ring_open(&q, name_of(state), CAP, RING_PRODUCER))
			_exit(2);
		int rc = ring_claim(q, 64, 0, &cl);
		if (rc == 0)
			ring_commit(q, &cl);
		_exit(rc == 0 ? 0 : 4);
	}
	char ch;
	assert_int_equal(read(to_parent[0], &ch, 1), 1); /* the child has loaded */
	ring *p = open_producer(name_of(state));
	uint64_t pos = 0;
	for (int i = 0; i < 3; i++)
		pos = take(c, put(p, 100, (uint32_t)i).pos, 100, (uint32_t)i).next;
	assert_int_equal(ring_head(c), pos);
	assert_int_equal(write(to_child[1], "g", 1), 1);
	assert_int_equal(waited_exit_code(pid), 0);
	struct ring_record rec;
	assert_int_equal(ring_read(c, pos, 1000, &rec), 0);
	assert_int_equal(rec.len, 64);
	ring_close(p);
	ring_close(c);
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
}

static ring *peek;
static uint64_t peek_pos;
static int peek_state = -1;
static uint64_t peek_released, peek_head;

static void peek_hook(enum ring_hook_point point)
{
	if (point != RING_HOOK_RELEASE_ZEROED)
		return;
	peek_state = ring_state_at(peek, peek_pos);
	peek_released = ring_released(peek);
	peek_head = ring_head(peek);
}

/* In the middle of a release (the record's bytes zeroed, head not moved
 * yet) the record reads as consumed: state 0 below released. A broker
 * that asks about a dead broker's record then knows it was applied. */
static void test_released_while_zeroing(void **state)
{
	ring *c = make_ring(name_of(state), 0, DEAD_MS);
	peek = open_producer(name_of(state));
	struct ring_claim cl = put(peek, 100, 1);
	peek_pos = cl.pos;
	ring_test_hook = peek_hook;
	struct ring_record rec = take(c, 0, 100, 1);
	ring_test_hook = NULL;
	assert_int_equal(peek_state, 0);
	assert_int_equal(peek_head, rec.pos);
	assert_int_equal(peek_released, rec.next);
	assert_int_equal(ring_released(c), ring_head(c));
	ring_close(peek);
	ring_close(c);
}

static void kill_when_zeroed(enum ring_hook_point point)
{
	if (point == RING_HOOK_RELEASE_ZEROED)
		raise(SIGKILL);
}

/* A consumer killed in a release, with the record's bytes not all zero
 * yet (poked back here), leaves a record that is neither whole nor
 * zero; the next consumer finishes the release when it opens the ring. */
static void test_consumer_killed_in_a_release(void **state)
{
	ring *c = make_ring(name_of(state), 0, DEAD_MS);
	ring *p = open_producer(name_of(state));
	struct ring_claim a = put(p, 200, 1);
	put(p, 64, 2);
	ring_close(c);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		ring *k;
		struct ring_record rec;
		if (ring_open(&k, name_of(state), CAP, RING_CONSUMER) ||
		    ring_read(k, 0, 1000, &rec))
			_exit(2);
		ring_test_hook = kill_when_zeroed;
		ring_release(k, rec.next);
		_exit(3);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	fill((unsigned char *)a.data + 64, 136, 9); /* the zeroing it did not finish */
	assert_int_equal(ring_open(&c, name_of(state), CAP, RING_CONSUMER), 0);
	assert_int_equal(ring_head(c), span_of(200));
	take(c, ring_head(c), 64, 2);
	ring_close(p);
	ring_close(c);
}

/* Lengths in shared memory are not trusted. */
static void test_corrupt_header(void **state)
{
	ring *c = make_ring(name_of(state), 0, DEAD_MS);
	ring *p = open_producer(name_of(state));
	struct ring_claim cl = put(p, 32, 1);
	unsigned char *hdr = (unsigned char *)cl.data - 16;
	uint32_t bad = 0x7fffffffu, good;
	memcpy(&good, hdr + 12, sizeof(good));
	memcpy(hdr + 12, &bad, sizeof(bad));
	struct ring_record rec;
	assert_int_equal(ring_read(c, 0, 0, &rec), ROOST_ECORRUPT);
	bad = 64; /* in bounds, but past reserve */
	memcpy(hdr + 12, &bad, sizeof(bad));
	assert_int_equal(ring_read(c, 0, 0, &rec), ROOST_ECORRUPT);
	memcpy(hdr + 12, &good, sizeof(good));
	take(c, 0, 32, 1);
	ring_close(p);
	ring_close(c);
}

/* Memory for the data area is taken as claims reach it, not up front, and
 * a lap later nothing more is taken. */
static void test_memory_reserved_as_used(void **state)
{
	const uint64_t cap = 4u << 20;
	struct ring_config cfg = {.capacity = cap, .mode = 0600, .dead_timeout_ms = DEAD_MS};
	ring *c = NULL, *p = NULL;
	struct stat st;
	assert_int_equal(ring_create(&c, name_of(state), &cfg), 0);
	assert_int_equal(stat(name_of(state), &st), 0);
	assert_int_equal(st.st_size, RING_HEADER_SIZE + cap);
	assert_true((uint64_t)st.st_blocks * 512 <= RING_HEADER_SIZE);
	assert_int_equal(ring_open(&p, name_of(state), cap, RING_PRODUCER), 0);
	uint64_t pos = 0;
	for (int i = 0; i < 3; i++) { /* 3 x 64 KiB: the first 1 MiB step */
		put(p, 65536 - 16, (uint32_t)i);
		pos = take(c, pos, 65536 - 16, (uint32_t)i).next;
	}
	assert_int_equal(stat(name_of(state), &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 >= (1u << 20));
	assert_true((uint64_t)st.st_blocks * 512 <= RING_HEADER_SIZE + (1u << 20));
	for (int i = 0; i < 100; i++) { /* more than a lap */
		put(p, 65536 - 16, (uint32_t)i);
		pos = take(c, pos, 65536 - 16, (uint32_t)i).next;
	}
	assert_int_equal(stat(name_of(state), &st), 0);
	assert_int_equal((uint64_t)st.st_blocks * 512, RING_HEADER_SIZE + cap);
	ring_close(p);
	ring_close(c);
}

/* What `roost down` asks before it removes a ring. */
static void test_unread_and_producers(void **state)
{
	ring *c = make_ring(name_of(state), 0, DEAD_MS);
	uint64_t at = 1;
	assert_int_equal(ring_unread(c, 0, &at), 0);
	assert_int_equal(ring_producers_alive(c), 0);
	ring *p = open_producer(name_of(state));
	assert_int_equal(ring_producers_alive(c), 1);
	struct ring_claim claimed;
	assert_int_equal(ring_claim(p, 40, 0, &claimed), 0);
	struct ring_claim done = put(p, 24, 7);
	assert_int_equal(ring_unread(c, 0, &at), 1); /* claimed by a live producer */
	assert_int_equal(at, claimed.pos);
	ring_close(p); /* the claim's owner is gone: the committed record remains */
	assert_int_equal(ring_producers_alive(c), 0);
	assert_int_equal(ring_unread(c, 0, &at), 1);
	assert_int_equal(at, done.pos);
	struct ring_record rec = take(c, 0, 24, 7);
	assert_int_equal(ring_unread(c, rec.next, &at), 0);
	assert_int_equal(ring_unread(c, 8, &at), ROOST_EINVAL);
	ring_close(c);
}

/* An object is opened only when it is a regular file of ours, never
 * through a link, and never when others may write it. */
static void test_refuses_what_is_not_ours(void **state)
{
	ring *c = make_ring(name_of(state), 0, DEAD_MS), *r = NULL;
	char link[PATH_MAX];
	tu_path(link, tu_dir(state), "link");
	assert_int_equal(symlink(name_of(state), link), 0);
	assert_int_equal(ring_open(&r, link, 0, RING_PRODUCER), ROOST_EPERM);
	assert_int_equal(chmod(name_of(state), 0666), 0);
	assert_int_equal(ring_open(&r, name_of(state), 0, RING_PRODUCER), ROOST_EPERM);
	assert_int_equal(chmod(name_of(state), 0600), 0);
	assert_int_equal(ring_open(&r, name_of(state), 0, RING_PRODUCER), 0);
	ring_close(r);
	ring_close(c);
}

/* An observer reads the cursors and nothing else: it holds no producer
 * slot (a drain waiting for brokers to be gone is not fooled by it), and
 * every call that would change the ring refuses. */
static void test_observer_reads_cursors_only(void **state)
{
	ring *c = make_ring(name_of(state), 0, DEAD_MS);
	ring *o = NULL;
	assert_int_equal(ring_open(&o, name_of(state), CAP, RING_OBSERVER), 0);
	assert_false(ring_producers_alive(c));
	ring *p = open_producer(name_of(state));
	assert_true(ring_producers_alive(o));
	struct ring_claim cl = put(p, 100, 7);
	assert_int_equal(ring_reserve(o), ring_reserve(c));
	assert_int_equal(ring_head(o), 0);
	assert_int_equal(ring_state_at(o, cl.pos), RING_COMMITTED);
	struct ring_claim no;
	assert_int_equal(ring_claim(o, 16, 0, &no), ROOST_EINVAL);
	struct ring_record rec;
	assert_int_equal(ring_read(o, 0, 0, &rec), ROOST_EINVAL);
	uint64_t at;
	assert_int_equal(ring_unread(o, 0, &at), ROOST_EINVAL);
	ring_release(o, cl.pos + 16); /* ignored */
	assert_int_equal(ring_head(c), 0);
	ring_close(p);
	assert_false(ring_producers_alive(o));
	ring_close(o);
	ring_close(c);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup_shmdir, tu_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_round_trip),
	    T(test_wrap_around),
	    T(test_too_big),
	    T(test_full_then_released),
	    T(test_commit_wakes_consumer),
	    T(test_multi_producer),
	    T(test_threads_share_handle),
	    T(test_killed_claim_counted),
	    T(test_killed_claim_reserved),
	    T(test_killed_claim_header),
	    T(test_killed_mid_copy),
	    T(test_dead_owner_found_by_short_reads),
	    T(test_slow_producer_not_skipped),
	    T(test_slow_claimer_not_skipped),
	    T(test_claim_after_the_cursors_moved),
	    T(test_released_while_zeroing),
	    T(test_consumer_killed_in_a_release),
	    T(test_version_mismatch),
	    T(test_open_errors),
	    T(test_unfinished_ring),
	    T(test_mode_ignores_umask),
	    T(test_state_at),
	    T(test_corrupt_header),
	    T(test_memory_reserved_as_used),
	    T(test_unread_and_producers),
	    T(test_refuses_what_is_not_ours),
	    T(test_observer_reads_cursors_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
