#include "bstat.h"

#include "err.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t bstat_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int bstat__reserve(struct bstat *s, size_t more)
{
	if (s->n + more <= s->cap)
		return 0;
	size_t cap = s->cap ? s->cap : 1024;
	while (cap < s->n + more)
		cap *= 2;
	uint64_t *ns = realloc(s->ns, cap * sizeof *ns);
	if (!ns)
		return ROOST_ENOMEM;
	s->ns = ns;
	s->cap = cap;
	return 0;
}

int bstat_add(struct bstat *s, uint64_t ns)
{
	int rc = bstat__reserve(s, 1);
	if (rc == 0)
		s->ns[s->n++] = ns;
	return rc;
}

int bstat_merge(struct bstat *into, const struct bstat *from)
{
	int rc = bstat__reserve(into, from->n);
	if (rc == 0 && from->n) {
		memcpy(into->ns + into->n, from->ns, from->n * sizeof *from->ns);
		into->n += from->n;
	}
	return rc;
}

static int bstat__cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

double bstat_pct_ms(struct bstat *s, double p)
{
	if (s->n == 0)
		return 0.0;
	qsort(s->ns, s->n, sizeof *s->ns, bstat__cmp);
	/* Nearest rank: with few samples p999 is the maximum, never beyond. */
	size_t i = (size_t)(p / 100.0 * (double)s->n);
	return (double)s->ns[i < s->n ? i : s->n - 1] / 1e6;
}

void bstat_free(struct bstat *s)
{
	free(s->ns);
	*s = (struct bstat){0};
}

/* Released together, or told to give up when not every thread started. */
struct bstat__gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int state; /* 0 wait, 1 run, -1 give up */
};

struct bstat__start {
	struct bstat__gate *gate;
	void *(*fn)(void *);
	void *arg;
};

static void *bstat__trampoline(void *p)
{
	struct bstat__start *s = p;
	pthread_mutex_lock(&s->gate->lock);
	while (s->gate->state == 0)
		pthread_cond_wait(&s->gate->cond, &s->gate->lock);
	int run = s->gate->state > 0;
	pthread_mutex_unlock(&s->gate->lock);
	return run ? s->fn(s->arg) : NULL;
}

uint64_t bstat_run(int n, void *(*fn)(void *), void *args, size_t size)
{
	pthread_t *t = calloc((size_t)n, sizeof *t);
	struct bstat__start *st = calloc((size_t)n, sizeof *st);
	struct bstat__gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	int started = 0;
	for (; t && st && started < n; started++) {
		st[started] =
		    (struct bstat__start){&gate, fn, (char *)args + (size_t)started * size};
		if (pthread_create(&t[started], NULL, bstat__trampoline, &st[started]) != 0)
			break;
	}
	pthread_mutex_lock(&gate.lock);
	gate.state = started == n ? 1 : -1;
	uint64_t t0 = bstat_now_ns();
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	uint64_t elapsed = started == n ? bstat_now_ns() - t0 : 0;
	free(t);
	free(st);
	return elapsed;
}

void bstat_json_begin(struct bstat_json *j, FILE *f, const char *kind)
{
	j->f = f;
	j->fields = 0;
	fputc('{', f);
	bstat_json_str(j, "kind", kind);
}

static void bstat__key(struct bstat_json *j, const char *key)
{
	fprintf(j->f, "%s\"%s\": ", j->fields++ ? ", " : "", key);
}

void bstat_json_num(struct bstat_json *j, const char *key, double v)
{
	bstat__key(j, key);
	fprintf(j->f, "%.9g", v);
}

void bstat_json_str(struct bstat_json *j, const char *key, const char *v)
{
	bstat__key(j, key);
	fputc('"', j->f);
	for (const char *p = v; *p; p++)
		if (*p == '"' || *p == '\\')
			fprintf(j->f, "\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			fprintf(j->f, "\\u%04x", *p);
		else
			fputc(*p, j->f);
	fputc('"', j->f);
}

void bstat_json_lat(struct bstat_json *j, const char *key, struct bstat *s)
{
	static const struct {
		const char *suffix;
		double p;
	} pcts[] = {{"p50_ms", 50.0}, {"p99_ms", 99.0}, {"p999_ms", 99.9}, {"max_ms", 100.0}};
	char name[96];
	for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
		snprintf(name, sizeof name, "%s_%s", key, pcts[i].suffix);
		bstat_json_num(j, name, bstat_pct_ms(s, pcts[i].p));
	}
}

void bstat_json_end(struct bstat_json *j)
{
	fputs("}\n", j->f);
	fflush(j->f);
}
