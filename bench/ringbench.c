/* roost-bench-ring: the ingest ring (shm/ring.h) on its own, next to
 * memcpy of the same bytes by the same number of processes.
 *
 *   ring    P producer processes claim, fill (one memcpy, as a broker
 *           does) and commit records of --size bytes; this process
 *           consumes and releases them, as the writer does
 *   memcpy  P processes copy --size byte records into a private buffer of
 *           the ring's size: the bandwidth the ring's one copy could reach
 *
 * Each prints records/s and GB/s of payload over --duration seconds.
 */
#include "bargs.h"
#include "bstat.h"
#include "err.h"
#include "ring.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* Shared by the parent and its children (an anonymous shared mapping). */
struct ringb_shared {
	_Atomic int ready;
	_Atomic int stop;
	_Atomic uint64_t records; /* memcpy: the children's counts */
};

struct ringb_opts {
	uint32_t size;
	int procs;
	double duration;
	uint64_t capacity;
};

static int ringb__opts(const struct bargs *a, struct ringb_opts *o)
{
	o->size = (uint32_t)bargs_int(a, "size", 4096);
	o->procs = (int)bargs_int(a, "producers", 1);
	o->duration = bargs_num(a, "duration", 1.0);
	o->capacity = (uint64_t)bargs_int(a, "ring-mb", 64) << 20;
	return o->size && o->procs >= 1 && o->procs <= 64 && o->duration > 0 ? 0 : ROOST_EINVAL;
}

/* Forks n children running child(i); returns how many started. */
static int ringb__fork(int n, void (*child)(int i, void *arg), void *arg)
{
	int started = 0;
	for (; started < n; started++) {
		pid_t pid = fork();
		if (pid < 0)
			break;
		if (pid == 0) {
			child(started, arg);
			_exit(0);
		}
	}
	return started;
}

static void ringb__reap(int n)
{
	for (int i = 0; i < n; i++)
		wait(NULL);
}

static void ringb__wait_ready(struct ringb_shared *sh, int n)
{
	while (atomic_load(&sh->ready) < n)
		usleep(1000);
}

static void ringb__print(const char *kind, const struct ringb_opts *o, uint64_t records,
			 uint64_t ns)
{
	double s = (double)ns / 1e9;
	struct bstat_json j;
	bstat_json_begin(&j, stdout, kind);
	bstat_json_num(&j, "size", o->size);
	bstat_json_num(&j, "producers", o->procs);
	bstat_json_num(&j, "records_per_s", (double)records / s);
	bstat_json_num(&j, "gb_per_s", (double)records * o->size / s / 1e9);
	bstat_json_end(&j);
}

struct ringb_ctx {
	struct ringb_shared *sh;
	const struct ringb_opts *o;
	const char *name;
};

static void ringb__producer(int i, void *arg)
{
	(void)i;
	struct ringb_ctx *c = arg;
	ring *r;
	char *src = malloc(c->o->size);
	if (!src || ring_open(&r, c->name, 0, RING_PRODUCER) != 0)
		_exit(1);
	memset(src, 0x5a, c->o->size);
	atomic_fetch_add(&c->sh->ready, 1);
	while (!atomic_load_explicit(&c->sh->stop, memory_order_relaxed)) {
		struct ring_claim cl;
		if (ring_claim(r, c->o->size, 100, &cl) != 0)
			continue; /* full for 100 ms: look at stop again */
		memcpy(cl.data, src, c->o->size);
		ring_commit(r, &cl);
	}
	ring_close(r);
	free(src);
}

/* Consumes until the deadline, releasing in slices so producers never
 * wait long for space; looks at the clock every 64 records. */
static uint64_t ringb__consume(ring *r, uint64_t *pos, uint64_t until_ns)
{
	uint64_t n = 0, released = *pos, slice = ring_capacity(r) / 16;
	struct ring_record rec;
	for (;;) {
		int rc = ring_read(r, *pos, 10, &rec);
		if ((rc != 0 || n % 64 == 0) && bstat_now_ns() >= until_ns)
			break;
		if (rc != 0)
			continue;
		*pos = rec.next;
		n++;
		if (*pos - released >= slice) {
			ring_release(r, *pos);
			released = *pos;
		}
	}
	ring_release(r, *pos);
	return n;
}

static int ringb_ring(const struct bargs *a, const struct bdata *g)
{
	(void)g;
	struct ringb_opts o;
	int rc = ringb__opts(a, &o);
	if (rc)
		return rc;
	/* A private directory on /dev/shm, as an instance's. */
	char dir[64] = "/dev/shm/roost.bench-ring.XXXXXX", name[96];
	if (!mkdtemp(dir))
		return ROOST_EIO;
	snprintf(name, sizeof name, "%s/ring", dir);
	struct ringb_shared *sh =
	    mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ring *r;
	struct ring_config cfg = {.capacity = o.capacity, .mode = 0600};
	rc = sh == MAP_FAILED ? ROOST_ENOMEM : ring_create(&r, name, &cfg);
	if (rc) {
		if (sh != MAP_FAILED)
			munmap(sh, sizeof *sh);
		rmdir(dir);
		return rc;
	}
	struct ringb_ctx ctx = {sh, &o, name};
	int started = ringb__fork(o.procs, ringb__producer, &ctx);
	if (started == o.procs)
		ringb__wait_ready(sh, o.procs);
	else
		rc = ROOST_ENOMEM;
	/* Only what is consumed before the deadline counts. */
	uint64_t pos = ring_head(r), records = 0, t0 = bstat_now_ns();
	if (rc == 0)
		records = ringb__consume(r, &pos, t0 + (uint64_t)(o.duration * 1e9));
	uint64_t ns = bstat_now_ns() - t0;
	atomic_store(&sh->stop, 1);
	/* Drain so producers blocked on space see the stop flag. */
	for (int live = started; live > 0;) {
		ringb__consume(r, &pos, bstat_now_ns() + 10 * 1000 * 1000);
		while (live > 0 && waitpid(-1, NULL, WNOHANG) > 0)
			live--;
	}
	if (rc == 0)
		ringb__print("ring", &o, records, ns);
	ring_close(r);
	ring_unlink(name);
	rmdir(dir);
	munmap(sh, sizeof *sh);
	return rc;
}

static void ringb__copier(int i, void *arg)
{
	(void)i;
	struct ringb_ctx *c = arg;
	uint64_t area = c->o->capacity / (uint64_t)c->o->procs, at = 0, n = 0;
	char *src = malloc(c->o->size), *dst = malloc(area);
	if (!src || !dst || area < c->o->size)
		_exit(1);
	memset(src, 0x5a, c->o->size);
	memset(dst, 0, area);
	atomic_fetch_add(&c->sh->ready, 1);
	while (!atomic_load_explicit(&c->sh->stop, memory_order_relaxed)) {
		if (at + c->o->size > area)
			at = 0;
		memcpy(dst + at, src, c->o->size);
		/* Keep the copy: the compiler may not drop stores it cannot see read. */
		__asm__ volatile("" : : "r"(dst) : "memory");
		at += c->o->size;
		n++;
	}
	atomic_fetch_add(&c->sh->records, n);
	free(src);
	free(dst);
}

static int ringb_memcpy(const struct bargs *a, const struct bdata *g)
{
	(void)g;
	struct ringb_opts o;
	int rc = ringb__opts(a, &o);
	struct ringb_shared *sh =
	    rc ? MAP_FAILED
	       : mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return rc ? rc : ROOST_ENOMEM;
	struct ringb_ctx ctx = {sh, &o, NULL};
	int started = ringb__fork(o.procs, ringb__copier, &ctx);
	if (started == o.procs)
		ringb__wait_ready(sh, o.procs);
	uint64_t t0 = bstat_now_ns();
	if (started == o.procs)
		usleep((useconds_t)(o.duration * 1e6));
	atomic_store(&sh->stop, 1);
	uint64_t ns = bstat_now_ns() - t0;
	ringb__reap(started);
	if (started == o.procs)
		ringb__print("memcpy", &o, atomic_load(&sh->records), ns);
	munmap(sh, sizeof *sh);
	return started == o.procs ? 0 : ROOST_ENOMEM;
}

static const struct bargs_command ringb_commands[] = {
    {"ring", "size producers duration ring-mb", ringb_ring},
    {"memcpy", "size producers duration ring-mb", ringb_memcpy},
};

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	return bargs_main(argc, argv, ringb_commands,
			  sizeof ringb_commands / sizeof ringb_commands[0]);
}
