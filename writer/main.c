/* roost-writer: the one process that owns an instance's index. */
#include "coll.h"
#include "ctl.h"
#include "err.h"
#include "ingest.h"
#include "inst.h"
#include "killpoint.h"
#include "log.h"
#include "opt.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t writer_stop;

static void writer_on_signal(int sig)
{
	(void)sig;
	writer_stop = 1;
}

static void writer_usage(FILE *f)
{
	fprintf(f,
		"usage: roost-writer --name NAME [--data-dir DIR] [--dim D] [--metric l2|ip]\n"
		"                    [--index FACTORY] [--indexed-keys K1,K2]\n"
		"                    [--ring-mb MB] [--seal-docs N]\n"
		"                    [--train-docs N] [--group-max N] [--dead-timeout-ms MS]\n"
		"                    [--seal-interval-ms MS] [--merge-idle-ms MS] [--clients N]\n"
		"                    [--retain none|all|lsn:N|time:T|WINDOW] [--adopt] [--check]\n"
		"                    [--gpu] [--gpu-device N] [--gpu-memory-budget BYTES|N%%]\n"
		"                    [--gpu-temp-memory BYTES] [--gpu-on-pressure cpu|refuse]\n"
		"Settings other than --name and --data-dir apply when the instance is new;\n"
		"later they must match it or be left out. --ring-mb (64) and --clients\n"
		"(idempotency slots, 16384) size new shared memory. BYTES may end in K, M,\n"
		"G or T.\n"
		"--merge-idle-ms (10000; 0: never): once nothing was sealed for that long,\n"
		"neighbouring segments merge beyond their size tiers, up to 1Mi rows each.\n"
		"--retain (none) keeps history for reads as of an LSN beyond what the\n"
		"collections need: all of it, what was visible from LSN N on, from the\n"
		"first document of simulation time T on, or within a window (s, m, h or\n"
		"d); it may change at any start.\n"
		"--adopt takes over a data directory that records another instance's name.\n"
		"--check says whether a start would be refused for its settings, creating\n"
		"nothing (exit status 0 or 1).\n"
		"--gpu grows the open segment's index on the GPU (needs make GPU=1) within\n"
		"the budget (default 100%%); when it would not fit, cpu moves it to the CPU,\n"
		"refuse stops taking writes until memory returns.\n");
}

/* BYTES with an optional K, M, G or T suffix (powers of 1024) or, where
 * percent is given, N% of something (1 to 100). */
static int writer_parse_size(const char *s, uint64_t *bytes, uint32_t *percent)
{
	static const char units[] = "KMGT";
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s || errno || s[0] == '-' || v == 0)
		return ROOST_EINVAL;
	if (percent && end[0] == '%' && end[1] == 0 && v <= 100) {
		*bytes = 0;
		*percent = (uint32_t)v;
		return 0;
	}
	const char *unit = end[0] ? strchr(units, end[0]) : NULL;
	unsigned shift = unit ? 10u * (unsigned)(unit - units + 1) : 0;
	if ((end[0] && (!unit || end[1])) || v > (UINT64_MAX >> shift))
		return ROOST_EINVAL;
	*bytes = (uint64_t)v << shift;
	return 0;
}

/* The --gpu-* options write through this, so that one given without
 * --gpu can be refused. */
struct writer_gpu {
	struct ingest_config *c;
	int given;
};

static int writer_parse_device(const char *s, void *dst)
{
	struct writer_gpu *g = dst;
	long long v = 0;
	int rc = opt_number(s, 0, 255, &v);
	g->c->gpu_device = (int)v;
	g->given++;
	return rc;
}

static int writer_parse_budget(const char *s, void *dst)
{
	struct writer_gpu *g = dst;
	g->given++;
	return writer_parse_size(s, &g->c->gpu_budget_bytes, &g->c->gpu_budget_percent);
}

static int writer_parse_temp(const char *s, void *dst)
{
	struct writer_gpu *g = dst;
	g->given++;
	return writer_parse_size(s, &g->c->gpu_temp_bytes, NULL);
}

static int writer_parse_pressure(const char *s, void *dst)
{
	struct writer_gpu *g = dst;
	g->given++;
	if (strcmp(s, "cpu") == 0)
		g->c->gpu_on_pressure = GPUMEM_POLICY_CPU;
	else if (strcmp(s, "refuse") == 0)
		g->c->gpu_on_pressure = GPUMEM_POLICY_REFUSE;
	else
		return ROOST_EINVAL;
	return 0;
}

static int writer_parse_retain(const char *s, void *dst)
{
	return retain_parse(s, dst);
}

static int writer_parse_metric(const char *s, void *dst)
{
	if (strcmp(s, "l2") && strcmp(s, "ip"))
		return ROOST_EINVAL;
	*(int *)dst = strcmp(s, "ip") == 0;
	return 0;
}

/* 0, OPT_HELP, or ROOST_EINVAL after saying what is wrong. */
static int writer_parse(int argc, char **argv, struct ingest_config *c, const char **name,
			const char **data_dir, int *check)
{
	struct writer_gpu gpu = {c, 0};
	uint64_t ring_mb = c->ring_capacity >> 20;
	const struct opt opts[] = {
	    OPT_STRING("name", name),
	    OPT_STRING("data-dir", data_dir),
	    OPT_NUMBER("dim", OPT_U32, &c->dim, 1, 4096),
	    OPT_PARSED("metric", &c->metric, writer_parse_metric, "l2 or ip"),
	    OPT_STRING("index", &c->index),
	    OPT_STRING("indexed-keys", &c->indexed_keys),
	    OPT_NUMBER("ring-mb", OPT_U64, &ring_mb, 1, 1 << 20),
	    OPT_NUMBER("seal-docs", OPT_U64, &c->seal_docs, 4096, 1 << 30),
	    OPT_NUMBER("train-docs", OPT_U64, &c->train_docs, 1, 1 << 24),
	    OPT_NUMBER("group-max", OPT_U32, &c->group_max, 1, 65536),
	    OPT_NUMBER("dead-timeout-ms", OPT_INT, &c->dead_timeout_ms, 1, 3600000),
	    OPT_NUMBER("seal-interval-ms", OPT_INT, &c->seal_interval_ms, 0, 86400000),
	    OPT_NUMBER("merge-idle-ms", OPT_INT, &c->merge_idle_ms, 0, 86400000),
	    OPT_NUMBER("clients", OPT_U32, &c->clients, CTL_CLIENTS_MIN, CTL_CLIENTS_MAX),
	    OPT_PARSED("retain", &c->retain, writer_parse_retain,
		       "none, all, lsn:N, time:T, or a window such as 90s, 30m, 24h or 7d"),
	    OPT_SWITCH("adopt", &c->adopt),
	    OPT_SWITCH("check", check),
	    OPT_SWITCH("gpu", &c->gpu),
	    OPT_PARSED("gpu-device", &gpu, writer_parse_device, "a device number from 0 to 255"),
	    OPT_PARSED("gpu-memory-budget", &gpu, writer_parse_budget,
		       "BYTES (with K, M, G or T) or N% of the device"),
	    OPT_PARSED("gpu-temp-memory", &gpu, writer_parse_temp, "BYTES (with K, M, G or T)"),
	    OPT_PARSED("gpu-on-pressure", &gpu, writer_parse_pressure, "cpu or refuse"),
	};
	int rc = opt_parse("roost-writer", argc, argv, opts, sizeof opts / sizeof opts[0]);
	if (rc)
		return rc;
	if (gpu.given && !c->gpu) {
		fprintf(stderr, "roost-writer: the --gpu-* options need --gpu\n");
		return ROOST_EINVAL;
	}
	c->ring_capacity = ring_mb << 20;
	if (!*name) {
		fprintf(stderr, "roost-writer: --name is required\n");
		return ROOST_EINVAL;
	}
	return 0;
}

/* The ring is a power of two; seal and train sizes must hold a full batch. */
static int writer_check(const struct ingest_config *c)
{
	if (c->ring_capacity & (c->ring_capacity - 1)) {
		fprintf(stderr, "roost-writer: --ring-mb must be a power of two\n");
		return ROOST_EINVAL;
	}
	char why[256];
	if (c->indexed_keys && coll_keys_check(c->indexed_keys, why, sizeof why) != 0) {
		fprintf(stderr, "roost-writer: --indexed-keys: %s\n", why);
		return ROOST_EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct ingest_config cfg = {
	    .metric = -1,
	    .ring_capacity = 64u << 20,
	    .seal_docs = 8192,
	    .train_docs = 65536,
	    .group_max = 1024,
	    .dead_timeout_ms = 1000,
	    .seal_interval_ms = 10000,
	    .merge_idle_ms = 10000,
	    .gpu_budget_percent = 100,
	    .gpu_temp_bytes = 256u << 20,
	    .gpu_on_pressure = GPUMEM_POLICY_CPU,
	};
	const char *name = NULL, *data_dir = NULL;
	int check = 0;
	int rc = writer_parse(argc, argv, &cfg, &name, &data_dir, &check);
	if (rc) {
		writer_usage(rc == OPT_HELP ? stdout : stderr);
		return rc == OPT_HELP ? 0 : 2;
	}
	if (writer_check(&cfg) != 0)
		return 2;
	struct inst in;
	if (inst_init(&in, name, data_dir) != 0) {
		fprintf(stderr, "roost-writer: bad instance name '%s' (1-32 of A-Z a-z 0-9 _ -)\n",
			name);
		return 2;
	}
	cfg.inst = &in;
	log_init("writer");
	if (check)
		return ingest_check(&cfg) ? 1 : 0;
	if (killpoint_init(getenv(KILLPOINT_ENV), getenv(HOLDPOINT_ENV)) != 0)
		return 2;
	struct sigaction sa = {.sa_handler = writer_on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	ingest *w;
	rc = ingest_open(&w, &cfg);
	if (rc) {
		log_error("cannot start: %s", roost_strerror(rc));
		return 1;
	}
	log_info("serving instance '%s' (data %s)", in.name, in.data_dir);
	rc = ingest_run(w, &writer_stop);
	ingest_close(w);
	if (rc) {
		log_error("stopped on error: %s", roost_strerror(rc));
		return 1;
	}
	log_info("stopped");
	return 0;
}
