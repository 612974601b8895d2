/* Benchmark measurement helpers: a monotonic clock, latency samples with
 * percentiles, timed thread groups, and one-line JSON results that
 * bench/run.py reads from each program's standard output. */
#ifndef ROOST_BENCH_BSTAT_H
#define ROOST_BENCH_BSTAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

uint64_t bstat_now_ns(void);

/* Latency samples in nanoseconds. Zero-initialise before use. */
struct bstat {
	uint64_t *ns;
	size_t n, cap;
};

int bstat_add(struct bstat *s, uint64_t ns);
int bstat_merge(struct bstat *into, const struct bstat *from);
/* The p-th percentile (0..100) in milliseconds; sorts the samples. 0 when
 * there are none. */
double bstat_pct_ms(struct bstat *s, double p);
void bstat_free(struct bstat *s);

/* Runs fn on n threads, arg i being args + i * size, released together;
 * returns the wall time from release to the last join, or 0 when a thread
 * could not start (then none runs). */
uint64_t bstat_run(int n, void *(*fn)(void *), void *args, size_t size);

/* One JSON object per line: begin, any number of fields, end. */
struct bstat_json {
	FILE *f;
	int fields;
};

void bstat_json_begin(struct bstat_json *j, FILE *f, const char *kind);
void bstat_json_num(struct bstat_json *j, const char *key, double v);
void bstat_json_str(struct bstat_json *j, const char *key, const char *v);
/* key_p50_ms, key_p99_ms and key_p999_ms of s. */
void bstat_json_lat(struct bstat_json *j, const char *key, struct bstat *s);
void bstat_json_end(struct bstat_json *j);

#endif
