/* roost-broker: accepts client requests over nng and copies validated
 * batches into the instance's ring. Any number may run per instance. */
#include "batch.h"
#include "broker.h"
#include "daemon.h"
#include "err.h"
#include "inst.h"
#include "log.h"
#include "opt.h"
#include "sp.h"

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
	struct sp_ipc clients;
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
		   "                    [--agent-rate DOCS_PER_S] [--agent-burst DOCS]\n"
		   "Binds ipc://<runtime dir>/broker-<id>.ipc for clients and\n"
		   "ipc://<runtime dir>/readers-<id>.ipc for readers, and the tcp:// URLs when\n"
		   "given (tcp:// is for trusted networks only). --agent-rate holds each agent\n"
		   "(the documents' agent field) to that many documents a second through this\n"
		   "broker, in bursts of --agent-burst (default: one second's worth); adds over\n"
		   "it are refused as busy, and clients retry them. 0 (default): no limit.\n");
}

/* 0, OPT_HELP, or ROOST_EINVAL after saying what is wrong. */
static int broker_parse(int argc, char **argv, struct broker_proc *p)
{
	struct broker_config *c = &p->b.cfg;
	uint64_t max_frame = c->limits.max_frame;
	const struct opt opts[] = {
	    OPT_STRING("name", &p->name),
	    OPT_NUMBER("id", OPT_INT, &p->id, 0, 9999),
	    OPT_STRING("tcp", &p->tcp),
	    OPT_STRING("reader-tcp", &p->reader_tcp),
	    OPT_NUMBER("workers", OPT_INT, &p->workers, 1, BROKER_MAX_WORKERS),
	    OPT_NUMBER("busy-timeout-ms", OPT_INT, &c->busy_timeout_ms, 0, 3600000),
	    OPT_NUMBER("ack-timeout-ms", OPT_INT, &c->ack_timeout_ms, 1, 3600000),
	    OPT_NUMBER("max-docs", OPT_U32, &c->limits.max_docs, 1, BATCH_MAX_DOCS),
	    OPT_NUMBER("max-text", OPT_U32, &c->limits.max_text, 0, BATCH_MAX_TEXT),
	    OPT_NUMBER("max-frame", OPT_U64, &max_frame, 4096, WIRE_MAX_FRAME),
	    OPT_NUMBER("agent-rate", OPT_U32, &c->fair.rate, 0, 100000000),
	    OPT_NUMBER("agent-burst", OPT_U32, &c->fair.burst, 0, 100000000),
	};
	int rc = opt_parse("roost-broker", argc, argv, opts, sizeof opts / sizeof opts[0]);
	c->limits.max_frame = (size_t)max_frame;
	if (rc == 0 && !p->name) {
		fprintf(stderr, "roost-broker: --name is required\n");
		rc = ROOST_EINVAL;
	}
	if (rc == 0 && c->fair.burst && !c->fair.rate) {
		fprintf(stderr, "roost-broker: --agent-burst needs --agent-rate\n");
		rc = ROOST_EINVAL;
	}
	return rc;
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
			rc = ctl_open(&p->b.ctl, in->ctl_path, CTL_READ_WRITE);
		if (rc == 0) {
			rc = ring_open(&p->b.ring, in->ring_path, 0, RING_PRODUCER);
			if (rc == 0 && (rc = catalog_open(&p->b.cat, in->catalog_path)) == 0)
				return 0;
			ring_close(p->b.ring);
			p->b.ring = NULL;
			ctl_close(p->b.ctl);
			p->b.ctl = NULL;
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
	char file[32], url[INST_PATH_MAX], err[256];
	snprintf(file, sizeof file, "broker-%d.ipc", p->id);
	int rc = broker_ipc_url(in, file, url, sizeof url);
	if (rc)
		return rc;
	rc = sp_open_server(&p->sock, p->b.cfg.limits.max_frame);
	if (rc)
		return rc;
	p->listening = 1;
	rc = sp_ipc_listen(&p->clients, p->sock, url, in->file_mode, err, sizeof err);
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
	char file[32], url[INST_PATH_MAX];
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

/* How often a broker checks that its socket files are still there. */
static const struct timespec BROKER_KEEP_TICK = {1, 0};

static int broker_serve(struct broker_proc *p, sigset_t *sigs)
{
	pthread_t threads[BROKER_MAX_WORKERS];
	int started = daemon_start(threads, p->workers, broker_worker, p);
	if (started == 0)
		return ROOST_ENOMEM;
	int sig;
	while ((sig = sigtimedwait(sigs, NULL, &BROKER_KEEP_TICK)) < 0) {
		broker_keep_listening(&p->clients);
		broker_readers_keep(&p->b);
	}
	log_info("signal %d: stopping", sig);
	/* Relaxed: pairs with the relaxed loads in sp_serve; the joins
	 * below order everything the workers did before the sockets close. */
	atomic_store_explicit(&p->stop, 1, memory_order_relaxed);
	broker_readers_stop(&p->b);
	daemon_join(threads, started);
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
	int rc = broker_parse(argc, argv, &p);
	if (rc) {
		broker_usage(rc == OPT_HELP ? stdout : stderr);
		return rc == OPT_HELP ? 0 : 2;
	}
	struct inst in;
	if (inst_init(&in, p.name, NULL) != 0) {
		fprintf(stderr, "roost-broker: bad instance name '%s'\n", p.name);
		return 2;
	}
	char role[32];
	snprintf(role, sizeof role, "broker-%d", p.id);
	log_init(role);
	sigset_t sigs;
	daemon_signals(&sigs);

	char why[INST_WHY_MAX];
	rc = inst_make_run_dir(&in, why, sizeof why);
	if (rc) {
		log_error("%s", why[0] ? why : roost_strerror(rc));
		return 1;
	}
	p.b.name = p.name;
	rc = fair_new(&p.b.fair, &p.b.cfg.fair);
	if (rc == 0)
		rc = broker_attach(&p, &in, &sigs);
	if (rc == 0) {
		rc = broker_bind_search(&p, &in);
		if (rc == 0)
			rc = broker_bind(&p, &in);
	}
	if (rc == 0 && mstat_create(&p.b.metrics, &in, MSTAT_BROKER, role) != 0)
		log_warn("cannot make this broker's metrics object; it is not counted");
	if (rc == 0)
		rc = broker_serve(&p, &sigs);
	if (rc)
		log_error("stopped: %s", roost_strerror(rc));
	if (p.listening)
		nng_close(p.sock);
	if (p.readers_open)
		broker_readers_close(&p.b);
	sp_fini();
	mstat_close(p.b.metrics, &in);
	catalog_close(p.b.cat);
	ring_close(p.b.ring);
	ctl_close(p.b.ctl);
	fair_free(p.b.fair);
	return rc ? 1 : 0;
}
