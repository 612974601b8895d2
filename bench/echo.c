/* roost-bench-echo: the bare transport, for the ratios of the request
 * paths. The server is a raw REP socket answered by several threads, the
 * way brokers and readers serve; the clients are one REQ socket per
 * thread, the way libroost handles are used. Run the server in its own
 * process so that the figure crosses the same process boundary as a
 * request to roost.
 *
 *   serve  --url U [--threads N] [--duration S]   echo every request back
 *   call   --url U [--clients C] [--size B] [--duration S]
 *          C clients send B-byte requests for S seconds; one JSON line
 */
#include "bargs.h"
#include "bstat.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ECHO_MAX_THREADS 256

struct echo_server {
	nng_socket sock;
};

static void *echo__serve_thread(void *arg)
{
	struct echo_server *s = arg;
	for (;;) {
		nng_msg *m;
		if (nng_recvmsg(s->sock, &m, 0) != 0)
			return NULL;
		/* Raw mode: the header routes the same message back. */
		if (nng_sendmsg(s->sock, m, 0) != 0)
			nng_msg_free(m);
	}
}

static int echo_serve(const struct bargs *a, const struct bdata *g)
{
	(void)g;
	const char *url = bargs_str(a, "url", NULL);
	int threads = (int)bargs_int(a, "threads", 4);
	double duration = bargs_num(a, "duration", 600);
	if (!url || threads < 1 || threads > ECHO_MAX_THREADS || duration <= 0) {
		fprintf(stderr, "serve: need --url, 1..%d threads, duration > 0\n",
			ECHO_MAX_THREADS);
		return 2;
	}
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	struct echo_server s;
	if (nng_rep0_open_raw(&s.sock) != 0 || nng_listen(s.sock, url, NULL, 0) != 0) {
		fprintf(stderr, "serve: cannot listen on %s\n", url);
		return 1;
	}
	pthread_t tid[ECHO_MAX_THREADS];
	int started = 0;
	while (started < threads &&
	       pthread_create(&tid[started], NULL, echo__serve_thread, &s) == 0)
		started++;
	printf("serving %s\n", url);
	fflush(stdout);
	struct timespec limit = {(time_t)duration, 0};
	sigtimedwait(&sigs, NULL, &limit);
	nng_close(s.sock);
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	return 0;
}

struct echo_client {
	const char *url;
	size_t size;
	uint64_t end_ns;
	uint64_t calls;
	int failed;
	struct bstat lat;
};

static void *echo__call_thread(void *arg)
{
	struct echo_client *c = arg;
	nng_socket sock;
	char *buf = calloc(1, c->size);
	if (!buf || nng_req0_open(&sock) != 0) {
		c->failed = 1;
		free(buf);
		return NULL;
	}
	nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, 5000);
	if (nng_dial(sock, c->url, NULL, 0) != 0)
		c->failed = 1;
	while (!c->failed && bstat_now_ns() < c->end_ns) {
		uint64_t t0 = bstat_now_ns();
		void *reply;
		size_t len;
		if (nng_send(sock, buf, c->size, 0) != 0 ||
		    nng_recv(sock, &reply, &len, NNG_FLAG_ALLOC) != 0) {
			c->failed = 1;
			break;
		}
		nng_free(reply, len);
		bstat_add(&c->lat, bstat_now_ns() - t0);
		c->calls++;
	}
	nng_close(sock);
	free(buf);
	return NULL;
}

static int echo_call(const struct bargs *a, const struct bdata *g)
{
	(void)g;
	const char *url = bargs_str(a, "url", NULL);
	int clients = (int)bargs_int(a, "clients", 16);
	long long size = bargs_int(a, "size", 1600);
	double duration = bargs_num(a, "duration", 3);
	if (!url || clients < 1 || clients > ECHO_MAX_THREADS || size < 1 || duration <= 0) {
		fprintf(stderr, "call: need --url, 1..%d clients, size > 0, duration > 0\n",
			ECHO_MAX_THREADS);
		return 2;
	}
	struct echo_client *cs = calloc((size_t)clients, sizeof *cs);
	if (!cs)
		return 1;
	uint64_t end = bstat_now_ns() + (uint64_t)(duration * 1e9);
	for (int i = 0; i < clients; i++)
		cs[i] = (struct echo_client){.url = url, .size = (size_t)size, .end_ns = end};
	uint64_t ns = bstat_run(clients, echo__call_thread, cs, sizeof *cs);
	struct bstat all = {0};
	uint64_t calls = 0;
	int failed = ns == 0;
	for (int i = 0; i < clients; i++) {
		calls += cs[i].calls;
		failed |= cs[i].failed;
		bstat_merge(&all, &cs[i].lat);
		bstat_free(&cs[i].lat);
	}
	struct bstat_json j;
	bstat_json_begin(&j, stdout, "echo");
	bstat_json_num(&j, "clients", clients);
	bstat_json_num(&j, "size", (double)size);
	bstat_json_num(&j, "calls", (double)calls);
	bstat_json_num(&j, "per_s", ns ? (double)calls / ((double)ns / 1e9) : 0);
	bstat_json_num(&j, "p50_ms", bstat_pct_ms(&all, 50));
	bstat_json_num(&j, "p99_ms", bstat_pct_ms(&all, 99));
	bstat_json_num(&j, "failed", failed);
	bstat_json_end(&j);
	bstat_free(&all);
	free(cs);
	return failed ? 1 : 0;
}

static const struct bargs_command echo_commands[] = {
    {"serve", "url threads duration", echo_serve},
    {"call", "url clients size duration", echo_call},
};

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	return bargs_main(argc, argv, echo_commands,
			  sizeof echo_commands / sizeof echo_commands[0]);
}
