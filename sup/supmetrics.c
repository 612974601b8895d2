#include "supmetrics.h"

#include "catalog.h"
#include "ctl.h"
#include "err.h"
#include "futex.h"
#include "mstat.h"
#include "ring.h"
#include "roost.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SUPMETRICS__PROCS	256 /* metrics objects read per scrape */
#define SUPMETRICS__REQUEST	4096
#define SUPMETRICS__DEADLINE_MS 1000 /* to read a request, and to write the answer */

static const char *const supmetrics__acks[MSTAT_ACKS] = {"queued", "durable", "visible"};
static const char *const supmetrics__outcomes[MSTAT_OUTCOMES] = {
    "ok", "duplicate", "busy", "timeout", "writer_unavailable", "refused", "invalid"};
static const char *const supmetrics__marks[CTL_MARKS] = {"durable", "applied", "published"};

/* ---- listening ---- */

/* "HOST:PORT" or "[ADDR]:PORT" into host and port. */
static int supmetrics__split(const char *where, char *host, size_t hlen, const char **port)
{
	const char *colon = strrchr(where, ':');
	if (!colon || !colon[1])
		return ROOST_EINVAL;
	const char *h = where;
	size_t n = (size_t)(colon - where);
	if (where[0] == '[') {
		if (n < 2 || where[n - 1] != ']')
			return ROOST_EINVAL;
		h++;
		n -= 2;
	}
	if (n == 0 || n >= hlen)
		return ROOST_EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = colon + 1;
	return 0;
}

int supmetrics_listen(const char *where, int *fd, char *why, size_t len)
{
	char host[256];
	const char *port;
	if (supmetrics__split(where, host, sizeof host, &port) != 0) {
		snprintf(why, len, "metrics address '%s' is not HOST:PORT", where);
		return ROOST_EINVAL;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
	int gai = getaddrinfo(host, port, &hints, &ai);
	if (gai) {
		snprintf(why, len, "metrics address '%s': %s", where, gai_strerror(gai));
		return ROOST_EINVAL;
	}
	int s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
	int rc = s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
			 bind(s, ai->ai_addr, ai->ai_addrlen) != 0 || listen(s, 16) != 0
		     ? roost_from_errno(errno)
		     : 0;
	freeaddrinfo(ai);
	if (rc) {
		snprintf(why, len, "cannot listen for metrics on %s: %s", where, strerror(errno));
		if (s >= 0)
			close(s);
		return rc;
	}
	*fd = s;
	return 0;
}

/* ---- the page ---- */

/* What one scrape found of each process that publishes metrics. */
struct supmetrics__seen {
	struct mstat_snapshot snap;
	char process[48];
};

static void supmetrics__family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value as the format wants it: \\, \" and \n escaped. */
static void supmetrics__value(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*v, f);
	}
}

/* The supervisor's name for the process of pid ("broker-0", "reader-2"),
 * else the one it gave itself. */
static void supmetrics__name(const struct supmetrics_proc *procs, int nprocs,
			     const struct mstat_snapshot *s, char *out, size_t len)
{
	for (int i = 0; i < nprocs; i++)
		if (procs[i].pid == s->pid) {
			snprintf(out, len, "%s-%d", procs[i].role, procs[i].id);
			return;
		}
	/* The object's own name, written by another process: label-safe
	 * characters only. */
	size_t n = 0;
	for (const char *c = s->name; *c && n + 1 < len; c++)
		if ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-')
			out[n++] = *c;
	snprintf(out + n, len - n, "-pid%d", (int)s->pid);
}

static int supmetrics__gather(const struct inst *in, const struct supmetrics_proc *procs,
			      int nprocs, struct supmetrics__seen *seen, size_t *n)
{
	pid_t pids[SUPMETRICS__PROCS];
	size_t found;
	*n = 0;
	int rc = mstat_list(in, pids, SUPMETRICS__PROCS, &found);
	for (size_t i = 0; rc == 0 && i < found; i++) {
		struct supmetrics__seen *x = &seen[*n];
		if (mstat_read(in, pids[i], &x->snap) != 0)
			continue; /* gone meanwhile, or not ready */
		supmetrics__name(procs, nprocs, &x->snap, x->process, sizeof x->process);
		(*n)++;
	}
	return rc == ROOST_ENOENT ? 0 : rc;
}

static void supmetrics__hist(FILE *f, const char *name, const char *labels,
			     const struct mstat_hist *h)
{
	uint64_t cum = 0;
	for (unsigned b = 0; b < MSTAT_BUCKETS; b++) {
		cum += h->count[b];
		fprintf(f, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels,
			(double)MSTAT_BOUNDS_US[b] / 1e6, (unsigned long long)cum);
	}
	cum += h->count[MSTAT_BUCKETS];
	fprintf(f, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels, (unsigned long long)cum);
	fprintf(f, "%s_sum{%s} %.6f\n", name, labels, (double)h->sum_us / 1e6);
	fprintf(f, "%s_count{%s} %llu\n", name, labels, (unsigned long long)cum);
}

static uint64_t supmetrics__field(const struct mstat_snapshot *s, size_t off)
{
	uint64_t v;
	memcpy(&v, (const char *)s + off, sizeof v);
	return v;
}

/* A counter with a sample for each process of role: the snapshot's
 * uint64_t at off. */
static void supmetrics__counter(FILE *f, const struct supmetrics__seen *seen, size_t n,
				enum mstat_role role, const char *name, const char *help,
				size_t off)
{
	supmetrics__family(f, name, "counter", help);
	for (size_t i = 0; i < n; i++)
		if (seen[i].snap.role == role)
			fprintf(f, "%s{process=\"%s\"} %llu\n", name, seen[i].process,
				(unsigned long long)supmetrics__field(&seen[i].snap, off));
}

static void supmetrics__brokers(FILE *f, const struct supmetrics__seen *seen, size_t n)
{
	supmetrics__family(
	    f, "roost_add_requests_total", "counter",
	    "Add requests answered by brokers, by acknowledgement asked and outcome.");
	for (size_t i = 0; i < n; i++)
		for (unsigned a = 0; seen[i].snap.role == MSTAT_BROKER && a < MSTAT_ACKS; a++)
			for (unsigned o = 0; o < MSTAT_OUTCOMES; o++)
				fprintf(f,
					"roost_add_requests_total{process=\"%s\",ack=\"%s\","
					"outcome=\"%s\"} %llu\n",
					seen[i].process, supmetrics__acks[a],
					supmetrics__outcomes[o],
					(unsigned long long)seen[i].snap.adds[a][o]);
	supmetrics__counter(f, seen, n, MSTAT_BROKER, "roost_added_documents_total",
			    "Documents of add requests written into the ingest ring.",
			    offsetof(struct mstat_snapshot, add_docs));
	supmetrics__counter(f, seen, n, MSTAT_BROKER, "roost_added_bytes_total",
			    "Bytes of batches written into the ingest ring.",
			    offsetof(struct mstat_snapshot, add_bytes));
	supmetrics__family(f, "roost_add_duration_seconds", "histogram",
			   "Time brokers took to answer add requests, by acknowledgement asked.");
	for (size_t i = 0; i < n; i++)
		for (unsigned a = 0; seen[i].snap.role == MSTAT_BROKER && a < MSTAT_ACKS; a++) {
			char labels[128];
			snprintf(labels, sizeof labels, "process=\"%s\",ack=\"%s\"",
				 seen[i].process, supmetrics__acks[a]);
			supmetrics__hist(f, "roost_add_duration_seconds", labels,
					 &seen[i].snap.add_latency[a]);
		}
}

static void supmetrics__readers(FILE *f, const struct supmetrics__seen *seen, size_t n)
{
	size_t readers = 0;
	supmetrics__family(f, "roost_reader_requests_total", "counter",
			   "Searches, gets and scrolls answered by each local reader.");
	for (size_t i = 0; i < n; i++) {
		if (seen[i].snap.role != MSTAT_READER)
			continue;
		readers++;
		fprintf(f, "roost_reader_requests_total{process=\"%s\",outcome=\"ok\"} %llu\n",
			seen[i].process, (unsigned long long)seen[i].snap.searches);
		fprintf(f, "roost_reader_requests_total{process=\"%s\",outcome=\"failed\"} %llu\n",
			seen[i].process, (unsigned long long)seen[i].snap.search_errors);
	}
	supmetrics__family(f, "roost_reader_request_duration_seconds", "histogram",
			   "Time local readers took to answer a request.");
	for (size_t i = 0; i < n; i++) {
		if (seen[i].snap.role != MSTAT_READER)
			continue;
		char labels[80];
		snprintf(labels, sizeof labels, "process=\"%s\"", seen[i].process);
		supmetrics__hist(f, "roost_reader_request_duration_seconds", labels,
				 &seen[i].snap.search_latency);
	}
	supmetrics__family(f, "roost_readers", "gauge", "Local readers serving.");
	fprintf(f, "roost_readers %zu\n", readers);
}

static void supmetrics__writer(FILE *f, const struct supmetrics__seen *seen, size_t n)
{
	static const struct {
		const char *name, *help;
		size_t off;
		int us; /* microseconds, shown as seconds */
	} counters[] = {
	    {"roost_writer_groups_total", "Group commits: one log write and fdatasync each.",
	     offsetof(struct mstat_snapshot, groups), 0},
	    {"roost_writer_logged_bytes_total", "Bytes of ring records logged.",
	     offsetof(struct mstat_snapshot, log_bytes), 0},
	    {"roost_seals_total", "Tails sealed into segments.",
	     offsetof(struct mstat_snapshot, seals), 0},
	    {"roost_seal_seconds_total", "Time spent writing sealed segments.",
	     offsetof(struct mstat_snapshot, seal_us), 1},
	    {"roost_merges_total", "Background merges and rebuilds of segments.",
	     offsetof(struct mstat_snapshot, compactions), 0},
	    {"roost_merge_seconds_total", "Time spent building merged or rebuilt segments.",
	     offsetof(struct mstat_snapshot, compaction_us), 1},
	};
	for (size_t c = 0; c < sizeof counters / sizeof counters[0]; c++) {
		supmetrics__family(f, counters[c].name, "counter", counters[c].help);
		for (size_t i = 0; i < n; i++) {
			if (seen[i].snap.role != MSTAT_WRITER)
				continue;
			uint64_t v = supmetrics__field(&seen[i].snap, counters[c].off);
			if (counters[c].us)
				fprintf(f, "%s %.6f\n", counters[c].name, (double)v / 1e6);
			else
				fprintf(f, "%s %llu\n", counters[c].name, (unsigned long long)v);
		}
	}
}

static void supmetrics__instance(FILE *f, const struct inst *in)
{
	supmetrics__family(f, "roost_build_info", "gauge", "The instance and roost's version.");
	fprintf(f, "roost_build_info{name=\"%s\",version=\"%s\"} 1\n", in->name, ROOST_VERSION);
	ctl *c;
	if (ctl_open(&c, in->ctl_path, CTL_READ_ONLY) == 0) {
		char mode[64];
		ctl_writer_mode(c, mode, sizeof mode);
		supmetrics__family(f, "roost_writer_up", "gauge", "1 while a writer runs.");
		fprintf(f, "roost_writer_up %d\n", ctl_writer_alive(c) ? 1 : 0);
		supmetrics__family(f, "roost_writer_mode", "gauge",
				   "The writer's mode (cpu, gpu, a fallback or why it stalls).");
		fputs("roost_writer_mode{mode=\"", f);
		supmetrics__value(f, mode);
		fputs("\"} 1\n", f);
		supmetrics__family(
		    f, "roost_lsn", "gauge",
		    "Log positions: everything below is durable, applied, published.");
		for (int m = 0; m < CTL_MARKS; m++)
			fprintf(f, "roost_lsn{mark=\"%s\"} %llu\n", supmetrics__marks[m],
				(unsigned long long)ctl_mark(c, (enum ctl_mark)m));
		supmetrics__family(f, "roost_documents", "gauge",
				   "Documents applied, all collections.");
		fprintf(f, "roost_documents %llu\n", (unsigned long long)ctl_documents(c));
		ctl_close(c);
	}
	ring *r;
	if (ring_open(&r, in->ring_path, 0, RING_OBSERVER) == 0) {
		supmetrics__family(f, "roost_ring_capacity_bytes", "gauge",
				   "The ingest ring's size.");
		fprintf(f, "roost_ring_capacity_bytes %llu\n",
			(unsigned long long)ring_capacity(r));
		supmetrics__family(f, "roost_ring_used_bytes", "gauge",
				   "Bytes claimed in the ring and not yet released by the writer.");
		fprintf(f, "roost_ring_used_bytes %llu\n",
			(unsigned long long)(ring_reserve(r) - ring_head(r)));
		ring_close(r);
	}
}

static void supmetrics__collections(FILE *f, const struct inst *in)
{
	catalog *cat;
	if (catalog_open(&cat, in->catalog_path) != 0)
		return;
	struct catalog_entry *e = malloc(CATALOG_SLOTS * sizeof *e);
	size_t n = 0;
	if (e && catalog_list(cat, e, CATALOG_SLOTS, &n) != 0)
		n = 0;
	static const char *const names[] = {"roost_collection_documents",
					    "roost_collection_segments",
					    "roost_collection_rebuilding_segments"};
	static const char *const helps[] = {
	    "Documents in the collection.", "Sealed segments of the collection.",
	    "Segments the writer rebuilds after an alter of the collection."};
	for (int k = 0; k < 3; k++) {
		supmetrics__family(f, names[k], "gauge", helps[k]);
		for (size_t i = 0; i < n; i++)
			fprintf(f, "%s{collection=\"%s\"} %llu\n", names[k], e[i].name,
				(unsigned long long)(k == 0   ? e[i].documents
						     : k == 1 ? e[i].segments
							      : e[i].rebuilding));
	}
	free(e);
	catalog_close(cat);
}

static void supmetrics__procs(FILE *f, const struct supmetrics_proc *procs, int nprocs)
{
	supmetrics__family(f, "roost_process_up", "gauge", "1 while the process runs.");
	for (int i = 0; i < nprocs; i++)
		fprintf(f, "roost_process_up{process=\"%s-%d\"} %d\n", procs[i].role, procs[i].id,
			procs[i].pid ? 1 : 0);
	supmetrics__family(f, "roost_process_restarts_total", "counter",
			   "Times the supervisor started the process again after it died.");
	for (int i = 0; i < nprocs; i++)
		fprintf(f, "roost_process_restarts_total{process=\"%s-%d\"} %d\n", procs[i].role,
			procs[i].id, procs[i].restarts);
}

int supmetrics_render(const struct inst *inst, const struct supmetrics_proc *procs, int nprocs,
		      char **out, size_t *len)
{
	struct supmetrics__seen *seen = calloc(SUPMETRICS__PROCS, sizeof *seen);
	/* The shared-memory directory, which the writer may have made after
	 * the supervisor started. */
	struct inst *in = malloc(sizeof *in);
	size_t n = 0;
	FILE *f = seen && in ? open_memstream(out, len) : NULL;
	if (!f) {
		free(seen);
		free(in);
		return ROOST_ENOMEM;
	}
	*in = *inst;
	char why[INST_WHY_MAX];
	int rc = inst_shm_find(in, why, sizeof why) == 0
		     ? supmetrics__gather(in, procs, nprocs, seen, &n)
		     : 0;
	supmetrics__instance(f, in);
	supmetrics__collections(f, in);
	supmetrics__procs(f, procs, nprocs);
	supmetrics__brokers(f, seen, n);
	supmetrics__readers(f, seen, n);
	supmetrics__writer(f, seen, n);
	if (fclose(f) != 0 && rc == 0)
		rc = ROOST_ENOMEM;
	free(seen);
	free(in);
	if (rc) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

/* ---- serving ---- */

/* Waits for fd to be ready for events until deadline_ms (futex_now_ms's
 * clock); 0 when it is. */
static int supmetrics__wait(int fd, short events, int64_t deadline_ms)
{
	int64_t left = deadline_ms - futex_now_ms();
	struct pollfd p = {.fd = fd, .events = events};
	return left > 0 && poll(&p, 1, (int)left) == 1 ? 0 : -1;
}

static int64_t supmetrics__deadline(void)
{
	return futex_now_ms() + SUPMETRICS__DEADLINE_MS;
}

/* The request's head, up to its blank line, what fits, or the deadline. */
static void supmetrics__read_head(int fd, char *buf, size_t cap)
{
	int64_t deadline = supmetrics__deadline();
	size_t at = 0;
	buf[0] = '\0';
	while (at < cap - 1 && supmetrics__wait(fd, POLLIN, deadline) == 0) {
		ssize_t n = recv(fd, buf + at, cap - 1 - at, 0);
		if (n <= 0)
			break;
		at += (size_t)n;
		buf[at] = '\0';
		if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
			break;
	}
}

/* Writes what the client takes before the deadline. */
static void supmetrics__send_all(int fd, const char *p, size_t n, int64_t deadline)
{
	while (n > 0 && supmetrics__wait(fd, POLLOUT, deadline) == 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void supmetrics__reply(int fd, const char *status, const char *type, const char *body,
			      size_t len)
{
	char head[256];
	int n = snprintf(head, sizeof head,
			 "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 status, type, len);
	int64_t deadline = supmetrics__deadline();
	supmetrics__send_all(fd, head, (size_t)n, deadline);
	supmetrics__send_all(fd, body, len, deadline);
}

void supmetrics_serve(int fd, const struct inst *in, const struct supmetrics_proc *procs,
		      int nprocs)
{
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (c < 0)
		return;
	char req[SUPMETRICS__REQUEST];
	supmetrics__read_head(c, req, sizeof req);
	static const char text[] = "text/plain; charset=utf-8";
	if (strncmp(req, "GET ", 4) != 0) {
		supmetrics__reply(c, "405 Method Not Allowed", text, "GET only\n", 9);
	} else if (strncmp(req + 4, "/metrics", 8) != 0 || (req[12] != ' ' && req[12] != '?')) {
		supmetrics__reply(c, "404 Not Found", text, "try /metrics\n", 13);
	} else {
		char *page;
		size_t len;
		if (supmetrics_render(in, procs, nprocs, &page, &len) == 0) {
			supmetrics__reply(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8",
					  page, len);
			free(page);
		} else {
			supmetrics__reply(c, "500 Internal Server Error", text, "no memory\n", 10);
		}
	}
	close(c);
}
