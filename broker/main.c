/* roost-broker: accepts client requests over nng and copies validated
 * batches into the instance's ring. Any number may run per instance. */
#include "batch.h"
#include "broker.h"
#include "err.h"
#include "inst.h"
#include "log.h"
#include "sp.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct broker_proc {
	struct broker b;
	nng_socket sock; /* clients' requests */
	int listening;
	int readers_open;
	atomic_int stop; /* workers return once it is set */
	const char *reader_tcp;
	const char *name;
	const char *tcp;
	int id;
	int workers;
};

static void broker_usage(FILE *f)
{
	fprintf(f, "usage: roost-broker --name NAME [--id N] [--tcp URL] [--reader-tcp URL]\n"
		   "                    [--workers N]\n"
		   "                    [--busy-timeout-ms MS] [--ack-timeout-ms MS]\n"
		   "                    [--max-docs N] [--max-text BYTES] [--max-frame BYTES]\n"
		   "Binds ipc://<runtime dir>/broker-<id>.ipc for clients and\n"
		   "ipc://<runtime dir>/readers-<id>.ipc for readers, and the tcp:// URLs when\n"
		   "given (tcp:// is for trusted networks only).\n");
}

static int broker_parse(int argc, char **argv, struct broker_proc *p)
{
	static const struct option opts[] = {
	    {"name", required_argument, 0, 'n'},
	    {"id", required_argument, 0, 'I'},
	    {"tcp", required_argument, 0, 'T'},
	    {"reader-tcp", required_argument, 0, 'R'},
	    {"workers", required_argument, 0, 'w'},
	    {"busy-timeout-ms", required_argument, 0, 'b'},
	    {"ack-timeout-ms", required_argument, 0, 'a'},
	    {"max-docs", required_argument, 0, 'd'},
	    {"max-text", required_argument, 0, 't'},
	    {"max-frame", required_argument, 0, 'f'},
	    {"help", no_argument, 0, 'h'},
	    {0, 0, 0, 0},
	};
	struct broker_config *c = &p->b.cfg;
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			p->name = optarg;
			break;
		case 'I':
			p->id = atoi(optarg);
			break;
		case 'T':
			p->tcp = optarg;
			break;
		case 'R':
			p->reader_tcp = optarg;
			break;
		case 'w':
			p->workers = atoi(optarg);
			break;
		case 'b':
			c->busy_timeout_ms = atoi(optarg);
			break;
		case 'a':
			c->ack_timeout_ms = atoi(optarg);
			break;
		case 'd':
			c->limits.max_docs = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 't':
			c->limits.max_text = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'f':
			c->limits.max_frame = strtoull(optarg, NULL, 10);
			break;
		case 'h':
			broker_usage(stdout);
			exit(0);
		default:
			return ROOST_EINVAL;
		}
	}
	if (!p->name || p->id < 0 || p->workers < 1 || p->workers > BROKER_MAX_WORKERS ||
	    c->limits.max_docs < 1 || c->limits.max_docs > BATCH_MAX_DOCS ||
	    c->limits.max_text > BATCH_MAX_TEXT || c->limits.max_frame < 4096 ||
	    c->limits.max_frame > WIRE_MAX_FRAME || c->busy_timeout_ms < 0 || c->ack_timeout_ms < 1)
		return ROOST_EINVAL;
	return 0;
}

/* Brokers may start before the writer has created the instance: wait. */
static int broker_attach(struct broker_proc *p, struct inst *in, const sigset_t *sigs)
{
	int said = 0;
	struct timespec tick = {0, 100 * 1000 * 1000};
	char why[INST_WHY_MAX];
	for (;;) {
		int rc = inst_shm_find(in, why, sizeof why);
		if (rc == 0)
			rc = ctl_open(&p->b.ctl, in->ctl_path, 0);
		if (rc == 0) {
			rc = ring_open(&p->b.ring, in->ring_path, 0, RING_PRODUCER);
			if (rc == 0)
				return 0;
			ctl_close(p->b.ctl);
		}
		if (rc != ROOST_ENOENT) {
			log_error("cannot open instance '%s': %s", in->name,
				  why[0] ? why : roost_strerror(rc));
			return rc;
		}
		if (!said++)
			log_info("waiting for the writer to create instance '%s'", in->name);
		if (sigtimedwait(sigs, NULL, &tick) > 0)
			return ROOST_ECLOSED;
	}
}

/* ipc://<run dir>/<file>, refusing with a message a path that does not
 * fit in sun_path, before nng sees it. */
static int broker_ipc_url(const struct inst *in, const char *file, char *url, size_t len)
{
	int rc = inst_ipc_url(in, file, url, len);
	if (rc)
		log_error("ipc socket path %s/%s is longer than %d bytes (the sun_path limit); "
			  "use a shorter runtime directory (XDG_RUNTIME_DIR)",
			  in->run_dir, file, INST_IPC_PATH_MAX);
	return rc;
}

static int broker_bind(struct broker_proc *p, const struct inst *in)
{
	char file[32], url[4200], err[256];
	snprintf(file, sizeof file, "broker-%d.ipc", p->id);
	int rc = broker_ipc_url(in, file, url, sizeof url);
	if (rc)
		return rc;
	rc = sp_open_server(&p->sock, p->b.cfg.limits.max_frame);
	if (rc)
		return rc;
	p->listening = 1;
	rc = sp_listen(p->sock, url, in->file_mode, err, sizeof err);
	if (rc == 0 && p->tcp)
		rc = sp_listen(p->sock, p->tcp, in->file_mode, err, sizeof err);
	if (rc) {
		log_error("%s", err);
		return rc;
	}
	log_info("listening on %s%s%s", url, p->tcp ? " and " : "", p->tcp ? p->tcp : "");
	return 0;
}

/* Where readers connect to take this broker's searches. */
static int broker_bind_search(struct broker_proc *p, const struct inst *in)
{
	char file[32], url[PATH_MAX + 16];
	snprintf(file, sizeof file, "readers-%d.ipc", p->id);
	int rc = broker_ipc_url(in, file, url, sizeof url);
	if (rc)
		return rc;
	rc = broker_readers_open(&p->b, url, in->file_mode, p->reader_tcp);
	p->readers_open = rc == 0;
	return rc;
}

static int broker_handle_frame(void *arg, const void *frame, size_t len, void **reply,
			       size_t *reply_len)
{
	return broker_handle(arg, frame, len, reply, reply_len);
}

static void *broker_worker(void *arg)
{
	struct broker_proc *p = arg;
	sp_serve(p->sock, broker_handle_frame, &p->b, &p->stop);
	broker_thread_close();
	return NULL;
}

static int broker_serve(struct broker_proc *p, sigset_t *sigs)
{
	pthread_t threads[BROKER_MAX_WORKERS];
	int started = 0;
	for (; started < p->workers; started++)
		if (pthread_create(&threads[started], NULL, broker_worker, p) != 0)
			break;
	if (started == 0)
		return ROOST_ENOMEM;
	int sig;
	sigwait(sigs, &sig);
	log_info("signal %d: stopping", sig);
	/* Relaxed: pairs with the relaxed loads in sp_serve; the joins
	 * below order everything the workers did before the sockets close. */
	atomic_store_explicit(&p->stop, 1, memory_order_relaxed);
	broker_readers_stop(&p->b);
	for (int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	return 0;
}

int main(int argc, char **argv)
{
	struct broker_proc p = {
	    .b.cfg =
		{
		    .limits = {.max_docs = 1024, .max_text = 8192, .max_frame = WIRE_MAX_FRAME},
		    .busy_timeout_ms = 1000,
		    .ack_timeout_ms = 5000,
		    .max_timeout_ms = 60000,
		    .search_wait_ms = 1000,
		},
	    .workers = 32,
	};
	if (broker_parse(argc, argv, &p) != 0) {
		broker_usage(stderr);
		return 2;
	}
	struct inst in;
	if (inst_init(&in, p.name, NULL) != 0) {
		fprintf(stderr, "roost-broker: bad instance name '%s'\n", p.name);
		return 2;
	}
	char role[32];
	snprintf(role, sizeof role, "broker-%d", p.id);
	log_init(role);
	signal(SIGPIPE, SIG_IGN);
	/* Signals go to sigwait in the main thread; workers never see them. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	char why[INST_WHY_MAX];
	int rc = inst_make_run_dir(&in, why, sizeof why);
	if (rc) {
		log_error("%s", why[0] ? why : roost_strerror(rc));
		return 1;
	}
	p.b.name = p.name;
	rc = broker_attach(&p, &in, &sigs);
	if (rc == 0) {
		struct ctl_settings cs;
		ctl_settings(p.b.ctl, &cs);
		p.b.cfg.limits.dim = cs.dim;
		rc = broker_bind_search(&p, &in);
		if (rc == 0)
			rc = broker_bind(&p, &in);
	}
	if (rc == 0)
		rc = broker_serve(&p, &sigs);
	if (rc)
		log_error("stopped: %s", roost_strerror(rc));
	if (p.listening)
		nng_close(p.sock);
	if (p.readers_open)
		broker_readers_close(&p.b);
	sp_fini();
	ring_close(p.b.ring);
	ctl_close(p.b.ctl);
	return rc ? 1 : 0;
}
