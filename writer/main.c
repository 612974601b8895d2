/* roost-writer: the one process that owns an instance's index. */
#include "err.h"
#include "ingest.h"
#include "inst.h"
#include "log.h"

#include <getopt.h>
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
	fprintf(f, "usage: roost-writer --name NAME [--data-dir DIR] [--dim D] [--metric l2|ip]\n"
		   "                    [--index FACTORY] [--ring-mb MB] [--seal-docs N]\n"
		   "                    [--train-docs N] [--group-max N] [--dead-timeout-ms MS]\n"
		   "                    [--seal-interval-ms MS]\n"
		   "Settings other than --name and --data-dir apply when the instance is new;\n"
		   "later they must match it or be left out.\n");
}

static int writer_parse(int argc, char **argv, struct ingest_config *c, const char **name,
			const char **data_dir)
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
	    {"help", no_argument, 0, 'h'},
	    {0, 0, 0, 0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
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
		case 'h':
			writer_usage(stdout);
			exit(0);
		default:
			return ROOST_EINVAL;
		}
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
	};
	const char *name = NULL, *data_dir = NULL;
	if (writer_parse(argc, argv, &cfg, &name, &data_dir) != 0) {
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
