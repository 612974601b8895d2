/* roost-writer: the one process that owns an instance's index. */
#include "ctl.h"
#include "err.h"
#include "ingest.h"
#include "inst.h"
#include "log.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t writer_stop;

/* Long-only options, clear of the letters the others use. */
enum {
	WRITER_OPT_GPU = 256,
	WRITER_OPT_GPU_DEVICE,
	WRITER_OPT_GPU_BUDGET,
	WRITER_OPT_GPU_TEMP,
	WRITER_OPT_GPU_ON_PRESSURE,
	WRITER_OPT_ADOPT,
	WRITER_OPT_CHECK,
};

static void writer_on_signal(int sig)
{
	(void)sig;
	writer_stop = 1;
}

static void writer_usage(FILE *f)
{
	fprintf(f, "usage: roost-writer --name NAME [--data-dir DIR] [--dim D] [--metric l2|ip]\n"
		   "                    [--index FACTORY] [--ring-mb MB] [--seal-docs N]\n"
		   "                    [--train-docs N] [--group-max N] [--dead-timeout-ms MS]\n"
		   "                    [--seal-interval-ms MS] [--clients N] [--adopt] [--check]\n"
		   "                    [--gpu] [--gpu-device N] [--gpu-memory-budget BYTES|N%%]\n"
		   "                    [--gpu-temp-memory BYTES] [--gpu-on-pressure cpu|refuse]\n"
		   "Settings other than --name and --data-dir apply when the instance is new;\n"
		   "later they must match it or be left out. --ring-mb (64) and --clients\n"
		   "(idempotency slots, 16384) size new shared memory. BYTES may end in K, M,\n"
		   "G or T.\n"
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

/* The --gpu-* options other than --gpu itself. */
static int writer_parse_gpu(int opt, struct ingest_config *c)
{
	char *end;
	switch (opt) {
	case WRITER_OPT_GPU_DEVICE:
		c->gpu_device = (int)strtol(optarg, &end, 10);
		return *end || end == optarg || c->gpu_device < 0 ? ROOST_EINVAL : 0;
	case WRITER_OPT_GPU_BUDGET:
		return writer_parse_size(optarg, &c->gpu_budget_bytes, &c->gpu_budget_percent);
	case WRITER_OPT_GPU_TEMP:
		return writer_parse_size(optarg, &c->gpu_temp_bytes, NULL);
	case WRITER_OPT_GPU_ON_PRESSURE:
		if (strcmp(optarg, "cpu") == 0)
			c->gpu_on_pressure = GPUMEM_POLICY_CPU;
		else if (strcmp(optarg, "refuse") == 0)
			c->gpu_on_pressure = GPUMEM_POLICY_REFUSE;
		else
			return ROOST_EINVAL;
		return 0;
	}
	return ROOST_EINVAL;
}

static int writer_parse(int argc, char **argv, struct ingest_config *c, const char **name,
			const char **data_dir, int *check)
{
	static const struct option opts[] = {
	    {"name", required_argument, 0, 'n'},
	    {"data-dir", required_argument, 0, 'D'},
	    {"dim", required_argument, 0, 'd'},
	    {"metric", required_argument, 0, 'm'},
	    {"index", required_argument, 0, 'i'},
	    {"ring-mb", required_argument, 0, 'r'},
	    {"seal-docs", required_argument, 0, 's'},
	    {"train-docs", required_argument, 0, 't'},
	    {"group-max", required_argument, 0, 'g'},
	    {"dead-timeout-ms", required_argument, 0, 'k'},
	    {"seal-interval-ms", required_argument, 0, 'S'},
	    {"clients", required_argument, 0, 'c'},
	    {"gpu", no_argument, 0, WRITER_OPT_GPU},
	    {"gpu-device", required_argument, 0, WRITER_OPT_GPU_DEVICE},
	    {"gpu-memory-budget", required_argument, 0, WRITER_OPT_GPU_BUDGET},
	    {"gpu-temp-memory", required_argument, 0, WRITER_OPT_GPU_TEMP},
	    {"gpu-on-pressure", required_argument, 0, WRITER_OPT_GPU_ON_PRESSURE},
	    {"adopt", no_argument, 0, WRITER_OPT_ADOPT},
	    {"check", no_argument, 0, WRITER_OPT_CHECK},
	    {"help", no_argument, 0, 'h'},
	    {0, 0, 0, 0},
	};
	int opt, idx, gpu_opts = 0;
	while ((opt = getopt_long(argc, argv, "", opts, &idx)) != -1) {
		if (opt == WRITER_OPT_ADOPT || opt == WRITER_OPT_CHECK) {
			*(opt == WRITER_OPT_ADOPT ? &c->adopt : check) = 1;
			continue;
		}
		if (opt > WRITER_OPT_GPU) {
			if (writer_parse_gpu(opt, c) != 0) {
				fprintf(stderr, "roost-writer: bad value '%s' for --%s\n", optarg,
					opts[idx].name);
				return ROOST_EINVAL;
			}
			gpu_opts++;
			continue;
		}
		switch (opt) {
		case WRITER_OPT_GPU:
			c->gpu = 1;
			break;
		case 'n':
			*name = optarg;
			break;
		case 'D':
			*data_dir = optarg;
			break;
		case 'd':
			c->dim = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'm':
			if (strcmp(optarg, "l2") && strcmp(optarg, "ip"))
				return ROOST_EINVAL;
			c->metric = strcmp(optarg, "ip") == 0;
			break;
		case 'i':
			c->index = optarg;
			break;
		case 'r':
			c->ring_capacity = strtoull(optarg, NULL, 10) << 20;
			break;
		case 's':
			c->seal_docs = strtoull(optarg, NULL, 10);
			break;
		case 't':
			c->train_docs = strtoull(optarg, NULL, 10);
			break;
		case 'g':
			c->group_max = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'k':
			c->dead_timeout_ms = atoi(optarg);
			break;
		case 'S':
			c->seal_interval_ms = atoi(optarg);
			break;
		case 'c':
			c->clients = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'h':
			writer_usage(stdout);
			exit(0);
		default:
			return ROOST_EINVAL;
		}
	}
	if (gpu_opts && !c->gpu) {
		fprintf(stderr, "roost-writer: the --gpu-* options need --gpu\n");
		return ROOST_EINVAL;
	}
	return *name ? 0 : ROOST_EINVAL;
}

/* The ring is a power of two; seal and train sizes must hold a full batch. */
static int writer_check(const struct ingest_config *c)
{
	if (c->ring_capacity < (1u << 20) || (c->ring_capacity & (c->ring_capacity - 1))) {
		fprintf(stderr, "roost-writer: --ring-mb must be a power of two >= 1\n");
		return ROOST_EINVAL;
	}
	if (c->clients && (c->clients < CTL_CLIENTS_MIN || c->clients > CTL_CLIENTS_MAX)) {
		fprintf(stderr, "roost-writer: --clients must be %u to %u\n", CTL_CLIENTS_MIN,
			CTL_CLIENTS_MAX);
		return ROOST_EINVAL;
	}
	if (c->seal_docs < 4096 || c->train_docs == 0 || c->train_docs > c->seal_docs ||
	    c->group_max == 0 || c->group_max > 65536) {
		fprintf(stderr, "roost-writer: need --seal-docs >= 4096, "
				"1 <= --train-docs <= --seal-docs, 1 <= --group-max <= 65536\n");
		return ROOST_EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct ingest_config cfg = {
	    .metric = -1,
	    .ring_capacity = 64u << 20,
	    .seal_docs = 65536,
	    .train_docs = 0,
	    .group_max = 1024,
	    .dead_timeout_ms = 1000,
	    .seal_interval_ms = 10000,
	    .gpu_budget_percent = 100,
	    .gpu_temp_bytes = 256u << 20,
	    .gpu_on_pressure = GPUMEM_POLICY_CPU,
	};
	const char *name = NULL, *data_dir = NULL;
	int check = 0;
	if (writer_parse(argc, argv, &cfg, &name, &data_dir, &check) != 0) {
		writer_usage(stderr);
		return 2;
	}
	if (cfg.train_docs == 0)
		cfg.train_docs = cfg.seal_docs < 65536 ? cfg.seal_docs : 65536;
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
	struct sigaction sa = {.sa_handler = writer_on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	ingest *w;
	int rc = ingest_open(&w, &cfg);
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
