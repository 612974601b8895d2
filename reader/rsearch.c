#include "rsearch.h"

#include "coll.h"
#include "err.h"
#include "futex.h"
#include "jsonsrv.h"
#include "log.h"
#include "manifest.h"
#include "rget.h"
#include "rscroll.h"
#include "search.h"
#include "wire.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RSEARCH_MSG 256

void rsearch_init(struct rsearch *rs)
{
	pthread_mutex_init(&rs->lock, NULL);
	pthread_mutex_init(&rs->build_lock, NULL);
	pthread_mutex_init(&rs->count_lock, NULL);
	rs->views = NULL;
	rs->nviews = 0;
	rs->counts = NULL;
	rs->ncounts = rs->count_cap = 0;
	atomic_init(&rs->waiting, 0);
	atomic_init(&rs->filter_rows, 0);
}

static void rsearch__put_all(struct view **views, size_t n)
{
	for (size_t i = 0; i < n; i++)
		view_put(views[i]);
	free(views);
}

void rsearch_close(struct rsearch *rs)
{
	rsearch__put_all(rs->views, rs->nviews);
	rs->views = NULL;
	rs->nviews = 0;
	free(rs->counts);
	rs->counts = NULL;
	rs->ncounts = rs->count_cap = 0;
}

/* What the views are of: the catalog's version, or the MANIFEST file. */
static uint64_t rsearch__seen_now(const struct rsearch *rs)
{
	if (rs->src.cat)
		return catalog_version(rs->src.cat);
	char path[INST_PATH_MAX];
	struct stat st;
	snprintf(path, sizeof path, "%s/MANIFEST", rs->src.in->data_dir);
	return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* The ids of the live collections, ascending. */
static int rsearch__live(const struct rsearch *rs, uint32_t **ids, size_t *n)
{
	*ids = calloc(CATALOG_SLOTS, sizeof **ids);
	if (!*ids)
		return ROOST_ENOMEM;
	*n = 0;
	if (rs->src.cat) {
		struct catalog_entry *all = calloc(CATALOG_SLOTS, sizeof *all);
		if (!all)
			return ROOST_ENOMEM;
		catalog_list(rs->src.cat, all, CATALOG_SLOTS, n);
		for (size_t i = 0; i < *n; i++)
			(*ids)[i] = all[i].id;
		free(all);
		return 0;
	}
	struct manifest m;
	int rc = manifest_load(rs->src.in->data_dir, &m);
	for (uint32_t i = 0; rc == 0 && i < m.ncolls && i < CATALOG_SLOTS; i++)
		(*ids)[(*n)++] = m.colls[i].id;
	manifest_free(&m);
	return rc;
}

static struct view *rsearch__find_id(struct view **views, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (views[i]->coll == id)
			return views[i];
	return NULL;
}

/* The current views, a reference each; the caller puts them. */
static struct view **rsearch__current(struct rsearch *rs, size_t *n)
{
	pthread_mutex_lock(&rs->lock);
	struct view **views = calloc(rs->nviews ? rs->nviews : 1, sizeof *views);
	*n = views ? rs->nviews : 0;
	for (size_t i = 0; i < *n; i++) {
		views[i] = rs->views[i];
		view_get(views[i]);
	}
	pthread_mutex_unlock(&rs->lock);
	return views;
}

/* A restarted writer replays the log into a new tail that starts empty,
 * while the old tail still holds what was published: next is behind prev
 * until the replay is done. Swapping then would lose documents
 * acknowledged visible for as long as the replay takes, or for good if the
 * writer dies in it. */
static int rsearch__behind(const struct rsearch *rs, const struct view *next,
			   const struct view *prev)
{
	return rs->src.ctl && view_data_end(next) < view_data_end(prev);
}

/* Keeps prev, capped at what was published when its writer went: what a
 * new writer publishes is in its new tail only. */
static struct view *rsearch__hold(struct rsearch *rs, struct view *next, struct view *prev)
{
	if (view_hold(prev, ctl_mark(rs->src.ctl, CTL_PUBLISHED)))
		log_info("collection %u: the writer is recovering; generation %llu serves until "
			 "the new tail reaches LSN %llu",
			 prev->coll, (unsigned long long)prev->manifest_gen,
			 (unsigned long long)view_data_end(prev));
	view_put(next);
	view_get(prev);
	return prev;
}

/* The view of collection id: the current one when it is not stale, else a
 * new one (sharing prev's segments). NULL when the collection is gone or
 * no consistent view could be built now (then prev is kept, if any, as it
 * is while the new one is behind it). */
static struct view *rsearch__view_of(struct rsearch *rs, uint32_t id, struct view *prev, int *ok)
{
	if (prev && !view_stale(prev, &rs->src)) {
		view_get(prev);
		return prev;
	}
	struct view *v;
	int rc = view_build(&v, &rs->src, id, prev);
	if (rc == 0 && prev && rsearch__behind(rs, v, prev)) {
		*ok = 0; /* built again on the next refresh, until it caught up */
		return rsearch__hold(rs, v, prev);
	}
	if (rc == 0)
		return v;
	if (rc != ROOST_ENOCOLL) {
		log_warn("collection %u: new generation not loaded yet: %s", id,
			 roost_strerror(rc));
		*ok = 0;
		if (prev)
			view_get(prev);
		return prev;
	}
	return NULL;
}

static void rsearch__swap(struct rsearch *rs, struct view **views, size_t n)
{
	pthread_mutex_lock(&rs->lock);
	struct view **old = rs->views;
	size_t nold = rs->nviews;
	rs->views = views;
	rs->nviews = n;
	pthread_mutex_unlock(&rs->lock);
	/* Searches still holding old views finish on them; the last frees each. */
	rsearch__put_all(old, nold);
}

/* Builds the views of every live collection. */
static int rsearch__rebuild(struct rsearch *rs, uint64_t seen)
{
	uint32_t *ids;
	size_t nids, ncur;
	int rc = rsearch__live(rs, &ids, &nids);
	struct view **cur = rsearch__current(rs, &ncur);
	struct view **next = calloc(nids ? nids : 1, sizeof *next);
	if (rc == 0 && (!cur || !next))
		rc = ROOST_ENOMEM;
	size_t n = 0;
	int ok = 1;
	for (size_t i = 0; rc == 0 && i < nids; i++) {
		struct view *v =
		    rsearch__view_of(rs, ids[i], rsearch__find_id(cur, ncur, ids[i]), &ok);
		if (v)
			next[n++] = v;
	}
	rsearch__put_all(cur, ncur);
	free(ids);
	if (rc) {
		rsearch__put_all(next, n);
		return rc;
	}
	rsearch__swap(rs, next, n);
	if (ok)
		atomic_store_explicit(&rs->seen, seen, memory_order_relaxed);
	return ok ? 0 : ROOST_EBUSY;
}

int rsearch_load(struct rsearch *rs)
{
	pthread_mutex_lock(&rs->build_lock);
	int rc = rsearch__rebuild(rs, rsearch__seen_now(rs));
	pthread_mutex_unlock(&rs->build_lock);
	return rc;
}

/* Rebuilds the views when the catalog moved. wait: block behind a rebuild
 * another thread is making, then look again, rather than return at once
 * with the views that rebuild is replacing. */
static void rsearch__refresh(struct rsearch *rs, int wait)
{
	uint64_t seen = rsearch__seen_now(rs);
	if (seen == atomic_load_explicit(&rs->seen, memory_order_relaxed))
		return;
	if (!wait && pthread_mutex_trylock(&rs->build_lock) != 0)
		return;
	if (wait) {
		pthread_mutex_lock(&rs->build_lock);
		seen = rsearch__seen_now(rs);
		if (seen == atomic_load_explicit(&rs->seen, memory_order_relaxed)) {
			pthread_mutex_unlock(&rs->build_lock);
			return;
		}
	}
	uint64_t gen = 0;
	if (rsearch__rebuild(rs, seen) == 0) {
		uint32_t segs;
		uint64_t lsn;
		rsearch_stat(rs, &gen, &segs, &lsn);
		log_info("now serving manifest generation %llu (%zu collections, %u segments)",
			 (unsigned long long)gen, rs->nviews, segs);
	}
	pthread_mutex_unlock(&rs->build_lock);
}

void rsearch_refresh(struct rsearch *rs)
{
	rsearch__refresh(rs, 0);
}

void rsearch_stat(struct rsearch *rs, uint64_t *generation, uint32_t *segments, uint64_t *lsn)
{
	size_t n;
	struct view **views = rsearch__current(rs, &n);
	*generation = 0;
	*segments = 0;
	*lsn = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t end = view_end_lsn(views[i]);
		if (views[i]->manifest_gen > *generation)
			*generation = views[i]->manifest_gen;
		*segments += views[i]->nsegs;
		if (end > *lsn)
			*lsn = end;
	}
	rsearch__put_all(views, n);
}

/* The view of the collection named name, a reference the caller puts;
 * NULL when there is no such collection. */
static struct view *rsearch__named(struct rsearch *rs, const char *name)
{
	struct view *v = NULL;
	pthread_mutex_lock(&rs->lock);
	for (size_t i = 0; i < rs->nviews && !v; i++)
		if (strcmp(rs->views[i]->name, name) == 0) {
			v = rs->views[i];
			view_get(v);
		}
	pthread_mutex_unlock(&rs->lock);
	return v;
}

/* Relaxed: a gauge for `roost status`; nothing is ordered by it. */
static void rsearch__waiting(struct rsearch *rs, int delta)
{
	if (delta)
		atomic_fetch_add_explicit(&rs->waiting, (uint32_t)delta, memory_order_relaxed);
}

/* rsearch__named, after any rebuild under way when the name is unknown:
 * a collection created just now may be in the views that rebuild makes. */
static struct view *rsearch__named_now(struct rsearch *rs, const char *name)
{
	struct view *v = rsearch__named(rs, name);
	if (v)
		return v;
	rsearch__refresh(rs, 1);
	return rsearch__named(rs, name);
}

/* Whether a collection missing now may still be created at or below
 * min_lsn: the writer has not yet published past it. */
static int rsearch__may_appear(struct rsearch *rs, uint64_t min_lsn)
{
	return min_lsn && rs->src.ctl && ctl_mark(rs->src.ctl, CTL_PUBLISHED) <= min_lsn;
}

/* What a request naming no LSN must see: every batch published when it
 * came, acknowledged `visible` perhaps. 0: no writer to ask. */
static uint64_t rsearch__published(const struct rsearch *rs)
{
	return rs->src.ctl ? ctl_mark(rs->src.ctl, CTL_PUBLISHED) : 0;
}

/* Whether v, the current view, ends before what was published: a seal
 * replaced its tail and the views are being rebuilt by another thread
 * (this one's refresh did not wait for it). A view held through a
 * writer's recovery ends there on purpose and serves as it is. */
static int rsearch__behind_published(const struct view *v, uint64_t published)
{
	return !view_held(v) && view_end_lsn(v) < published;
}

/* The view of collection name holding min_lsn, waiting up to timeout_ms
 * for it to be published. ROOST_ENOCOLL when there is no such collection. */
static int rsearch__view_for(struct rsearch *rs, const char *name, uint64_t min_lsn, int timeout_ms,
			     struct view **out)
{
	int64_t deadline = futex_now_ms() + timeout_ms;
	uint64_t published = min_lsn ? 0 : rsearch__published(rs);
	int counted = 0;
	for (;;) {
		rsearch_refresh(rs);
		struct view *v = rsearch__named_now(rs, name);
		if (v && published && rsearch__behind_published(v, published)) {
			view_put(v);
			rsearch__refresh(rs, 1);
			v = rsearch__named_now(rs, name);
			published = 0; /* one wait: the rebuild's views are the newest */
		}
		if (v ? min_lsn == 0 || view_end_lsn(v) > min_lsn
		      : !rsearch__may_appear(rs, min_lsn)) {
			rsearch__waiting(rs, counted ? -1 : 0);
			*out = v;
			return v ? 0 : ROOST_ENOCOLL;
		}
		if (v)
			view_put(v);
		int64_t left = deadline - futex_now_ms();
		if (left <= 0) {
			rsearch__waiting(rs, counted ? -1 : 0);
			return ROOST_ENOTVISIBLE;
		}
		if (!counted++)
			rsearch__waiting(rs, 1);
		if (rs->src.ctl)
			ctl_wait(rs->src.ctl, CTL_PUBLISHED, min_lsn, (int)left);
		else
			usleep(left < 50 ? (useconds_t)left * 1000 : 50000);
	}
}

/* Checks the request against the collection; *where receives its
 * metadata conditions, compiled (NULL: none), to free with metaq_free. */
static int rsearch__check(const Roost__SearchRequest *s, const struct view *v, char *msg,
			  struct metaq **where)
{
	*where = NULL;
	if (s->dim != v->dim) {
		snprintf(msg, RSEARCH_MSG, "request dim %u but collection dimension is %u", s->dim,
			 v->dim);
		return ROOST_EDIM;
	}
	if (s->n_queries == 0 || s->n_queries % v->dim != 0 ||
	    s->n_queries / v->dim > RSEARCH_MAX_QUERIES) {
		snprintf(msg, RSEARCH_MSG,
			 "queries must hold 1..%u vectors of %u values, not %zu values",
			 RSEARCH_MAX_QUERIES, v->dim, s->n_queries);
		return s->n_queries / v->dim > RSEARCH_MAX_QUERIES ? ROOST_ETOOBIG : ROOST_EDIM;
	}
	for (size_t i = 0; i < s->n_queries; i++)
		if (!isfinite(s->queries[i])) {
			snprintf(msg, RSEARCH_MSG, "queries[%zu] is not finite", i);
			return ROOST_EVALUE;
		}
	if (s->k == 0 || s->k > SEARCH_MAX_K) {
		snprintf(msg, RSEARCH_MSG, "k must be 1..%u, not %u", SEARCH_MAX_K, s->k);
		return ROOST_EINVAL;
	}
	if (s->nprobe > SEARCH_MAX_NPROBE || s->ef_search > SEARCH_MAX_EF_SEARCH) {
		snprintf(msg, RSEARCH_MSG, "nprobe and ef_search must be 0..%u and 0..%u",
			 SEARCH_MAX_NPROBE, SEARCH_MAX_EF_SEARCH);
		return ROOST_EINVAL;
	}
	if (s->filter && s->filter->n_agents > RSEARCH_MAX_AGENTS) {
		snprintf(msg, RSEARCH_MSG, "at most %u agents in a filter", RSEARCH_MAX_AGENTS);
		return ROOST_ETOOBIG;
	}
	return wire_check_filter(s->filter, where, msg, RSEARCH_MSG);
}

/* One more search answered in collection id (a count lost to a failed
 * allocation only understates a rate). */
static void rsearch__count(struct rsearch *rs, uint32_t id)
{
	pthread_mutex_lock(&rs->count_lock);
	size_t i = 0;
	while (i < rs->ncounts && rs->counts[i].id != id)
		i++;
	if (i == rs->ncounts && rs->ncounts == rs->count_cap) {
		size_t cap = rs->count_cap ? rs->count_cap * 2 : 16;
		struct rstat_coll *a = realloc(rs->counts, cap * sizeof *a);
		if (a) {
			rs->counts = a;
			rs->count_cap = cap;
		}
	}
	if (i == rs->ncounts && rs->ncounts < rs->count_cap)
		rs->counts[rs->ncounts++] = (struct rstat_coll){.id = id};
	if (i < rs->ncounts)
		rs->counts[i].searches++;
	pthread_mutex_unlock(&rs->count_lock);
}

int rsearch_counts(struct rsearch *rs, struct rstat_coll **out, size_t *n)
{
	pthread_mutex_lock(&rs->count_lock);
	size_t have = rs->ncounts;
	*out = have ? malloc(have * sizeof **out) : NULL;
	if (*out)
		memcpy(*out, rs->counts, have * sizeof **out);
	pthread_mutex_unlock(&rs->count_lock);
	*n = *out ? have : 0;
	return *n == have ? 0 : ROOST_ENOMEM;
}

/* A NUL-terminated copy of a row's span of text (empty when the span
 * does not lie in it: the tail is another process's memory). */
static char *rsearch__span(const struct segment_docs *d, uint32_t off, uint32_t len)
{
	if ((uint64_t)off + len > d->text_bytes)
		len = 0;
	return strndup(d->text + off, len);
}

#define RSEARCH__HIT_STRINGS 4

/* Fills h with row x's document; its strings go to strs (freed by the
 * caller, also on failure). */
static int rsearch__hit(const struct search_hit *x, Roost__Hit *h, char **strs)
{
	const struct segment_docs *d = x->docs;
	uint64_t r = x->row;
	struct segment_ref ref = d->refs ? d->refs[r] : (struct segment_ref){0};
	roost__hit__init(h);
	h->id = d->ids[r];
	h->score = x->score;
	h->agent = d->agents[r];
	h->time = d->times[r];
	h->kind = strs[0] = strndup(d->kinds[r].name, d->kinds[r].len < 23 ? d->kinds[r].len : 23);
	h->text = strs[1] = rsearch__span(d, d->text_off[r], d->text_len[r]);
	h->key = strs[2] = rsearch__span(d, ref.key_off, ref.key_len);
	h->metadata = strs[3] = rsearch__span(d, ref.meta_off, ref.meta_len);
	return h->kind && h->text && h->key && h->metadata ? 0 : ROOST_ENOMEM;
}

/* Builds the reply: protobuf strings need their own NUL-terminated copies. */
static int rsearch__reply(const struct search_hit *hits, const uint32_t *counts, uint32_t nq,
			  uint32_t k, uint64_t lsn, void **out, size_t *len)
{
	size_t nhits = 0;
	for (uint32_t q = 0; q < nq; q++)
		nhits += counts[q];
	Roost__QueryResult *res = calloc(nq, sizeof *res);
	Roost__QueryResult **resp = calloc(nq, sizeof *resp);
	Roost__Hit *h = calloc(nhits ? nhits : 1, sizeof *h);
	Roost__Hit **hp = calloc(nhits ? nhits : 1, sizeof *hp);
	char **strs = calloc(nhits ? nhits * RSEARCH__HIT_STRINGS : 1, sizeof *strs);
	int rc = res && resp && h && hp && strs ? 0 : ROOST_ENOMEM;
	size_t at = 0;
	for (uint32_t q = 0; rc == 0 && q < nq; q++) {
		roost__query_result__init(&res[q]);
		res[q].n_hits = counts[q];
		res[q].hits = hp + at;
		resp[q] = &res[q];
		for (uint32_t j = 0; rc == 0 && j < counts[q]; j++, at++) {
			rc = rsearch__hit(&hits[(size_t)q * k + j], &h[at],
					  strs + RSEARCH__HIT_STRINGS * at);
			hp[at] = &h[at];
		}
	}
	if (rc == 0) {
		Roost__SearchReply sr = ROOST__SEARCH_REPLY__INIT;
		sr.lsn = lsn;
		sr.n_results = nq;
		sr.results = resp;
		Roost__Reply reply = ROOST__REPLY__INIT;
		reply.body_case = ROOST__REPLY__BODY_SEARCH;
		reply.search = &sr;
		rc = wire_encode_reply(&reply, out, len);
	}
	for (size_t i = 0; strs && i < RSEARCH__HIT_STRINGS * nhits; i++)
		free(strs[i]);
	free(strs);
	free(hp);
	free(h);
	free(resp);
	free(res);
	return rc;
}

/* The LSN an answer read: everything below it is in it, nothing at or
 * past it. view_lsn is view_end_lsn() read before the tail was, and the
 * tail's end bounds what the answer took from the tail. A tail whose end
 * is below view_lsn got nothing since (a collection without records in
 * the groups between is published no further), so the answer is the
 * state at view_lsn; one that went past it while the answer was made is
 * read to its end, which the answer must then say. */
static uint64_t rsearch__answered(uint64_t view_lsn, uint64_t tail_end)
{
	return tail_end > view_lsn ? tail_end : view_lsn;
}

/* Why rsearch__view_for found no view. */
static void rsearch__view_error(const struct rsearch *rs, int rc, const char *name,
				uint64_t min_lsn, uint64_t as_of, int timeout, char *msg)
{
	if (rc == ROOST_ENOCOLL)
		snprintf(msg, RSEARCH_MSG, "no collection '%s' in instance '%s'", name,
			 rs->src.in->name);
	else if (as_of && as_of - 1 == min_lsn)
		snprintf(msg, RSEARCH_MSG, "as_of_lsn %llu is not visible within %d ms",
			 (unsigned long long)as_of, timeout);
	else
		snprintf(msg, RSEARCH_MSG, "LSN %llu is not visible within %d ms",
			 (unsigned long long)min_lsn, timeout);
}

/* A read as of at waits, as one with min_lsn does, for data that reaches
 * it: everything below at. */
static uint64_t rsearch__wait_for(uint64_t min_lsn, uint64_t at)
{
	return at && at - 1 > min_lsn ? at - 1 : min_lsn;
}

static uint64_t rsearch__history_start(const struct view *v)
{
	return manifest_history_start(v->created_lsn, v->reclaimed_lsn);
}

/* 0, or ROOST_EHISTORY with msg when v cannot be read as of at (0: now). */
static int rsearch__history_check(const struct view *v, uint64_t at, char *msg)
{
	uint64_t start = rsearch__history_start(v);
	if (!at || at >= start)
		return 0;
	if (start == v->created_lsn + 1)
		snprintf(msg, RSEARCH_MSG,
			 "collection '%s' was created at LSN %llu: as_of_lsn must be above it, "
			 "not %llu",
			 v->name, (unsigned long long)v->created_lsn, (unsigned long long)at);
	else
		snprintf(msg, RSEARCH_MSG,
			 "collection '%s' keeps history from LSN %llu (documents deleted or "
			 "replaced below it are no longer kept); as_of_lsn %llu is before it",
			 v->name, (unsigned long long)start, (unsigned long long)at);
	return ROOST_EHISTORY;
}

/* The LSN a read answered from: at when it read as of at, else what
 * rsearch__answered says. */
static uint64_t rsearch__read_at(uint64_t at, uint64_t view_lsn, uint64_t tail_end)
{
	uint64_t now = rsearch__answered(view_lsn, tail_end);
	return at && at < now ? at : now;
}

static int rsearch__search(struct rsearch *rs, const Roost__SearchRequest *s, void **out,
			   size_t *len)
{
	char msg[RSEARCH_MSG] = "";
	/* Inside the requester's timeout, so "not visible" reaches it in time. */
	int timeout = s->timeout_ms ? wire_inner_wait(s->timeout_ms, rs->max_wait_ms)
				    : wire_timeout_ms(0, rs->wait_ms, rs->max_wait_ms);
	const char *name = coll_name_or_default(s->collection);
	int rc = wire_check_collection(name, msg, sizeof msg);
	if (rc)
		return wire_encode_error(rc, msg, out, len);
	struct view *v;
	uint64_t min_lsn = rsearch__wait_for(s->min_lsn, s->as_of_lsn);
	rc = rsearch__view_for(rs, name, min_lsn, timeout, &v);
	if (rc) {
		rsearch__view_error(rs, rc, name, min_lsn, s->as_of_lsn, timeout, msg);
		return wire_encode_error(rc, msg, out, len);
	}
	struct metaq *where = NULL;
	rc = rsearch__history_check(v, s->as_of_lsn, msg);
	if (rc == 0)
		rc = rsearch__check(s, v, msg, &where);
	if (rc) {
		view_put(v);
		return wire_encode_error(rc, msg, out, len);
	}
	uint32_t nq = (uint32_t)(s->n_queries / v->dim);
	uint64_t lsn = view_end_lsn(v);
	struct docfilter f;
	docfilter_from(s->filter, where, &f);
	struct search_hit *hits = malloc(sizeof *hits * (size_t)nq * s->k);
	uint32_t *counts = calloc(nq, sizeof *counts);
	struct segment_docs tail;
	struct search_tuning t = {.nprobe = s->nprobe, .ef_search = s->ef_search};
	uint64_t filter_rows = 0;
	rc = hits && counts ? search_run(v, s->queries, nq, s->k, &f, &t, s->as_of_lsn, hits,
					 counts, &tail, &filter_rows)
			    : ROOST_ENOMEM;
	if (rc == 0) {
		rsearch__count(rs, v->coll);
		/* Relaxed: a counter for `roost status`; read in reader_stat. */
		atomic_fetch_add_explicit(&rs->filter_rows, filter_rows, memory_order_relaxed);
		rc = rsearch__reply(hits, counts, nq, s->k,
				    rsearch__read_at(s->as_of_lsn, lsn, tail.end_lsn), out, len);
	} else {
		rc = wire_encode_error(rc, "search failed", out, len);
	}
	free(hits);
	free(counts);
	metaq_free(where);
	view_put(v);
	return rc;
}

/* The documents a get found, in request order, or a scroll's page (with
 * its cursor: not NULL); vectors point into the view (mapped segment
 * files, the tail). */
static int rsearch__docs_reply(const struct rget_doc *docs, size_t n, uint32_t dim,
			       int with_vectors, uint64_t lsn, const char *cursor, void **out,
			       size_t *len)
{
	Roost__Hit *h = calloc(n ? n : 1, sizeof *h);
	Roost__Hit **hp = calloc(n ? n : 1, sizeof *hp);
	char **strs = calloc(n ? n * RSEARCH__HIT_STRINGS : 1, sizeof *strs);
	int rc = h && hp && strs ? 0 : ROOST_ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const struct search_hit x = {.row = docs[i].row, .docs = docs[i].docs};
		rc = rsearch__hit(&x, &h[i], strs + RSEARCH__HIT_STRINGS * i);
		if (with_vectors && docs[i].docs->vectors) {
			h[i].n_vector = dim;
			h[i].vector = (float *)docs[i].docs->vectors + docs[i].row * dim;
		}
		hp[i] = &h[i];
	}
	Roost__GetReply got = ROOST__GET_REPLY__INIT;
	Roost__ScrollReply scrolled = ROOST__SCROLL_REPLY__INIT;
	Roost__Reply reply = ROOST__REPLY__INIT;
	if (cursor) {
		scrolled.lsn = lsn;
		scrolled.n_docs = n;
		scrolled.docs = hp;
		scrolled.next_cursor = (char *)cursor;
		reply.body_case = ROOST__REPLY__BODY_SCROLLED;
		reply.scrolled = &scrolled;
	} else {
		got.lsn = lsn;
		got.n_docs = n;
		got.docs = hp;
		reply.body_case = ROOST__REPLY__BODY_GOT;
		reply.got = &got;
	}
	if (rc == 0)
		rc = wire_encode_reply(&reply, out, len);
	for (size_t i = 0; strs && i < RSEARCH__HIT_STRINGS * n; i++)
		free(strs[i]);
	free(strs);
	free(hp);
	free(h);
	return rc;
}

/* Finds each id of g in v as of one LSN. */
static int rsearch__get_in(const Roost__GetRequest *g, const struct view *v, void **out,
			   size_t *len)
{
	uint64_t lsn = view_end_lsn(v);
	struct search_snapshot snap;
	struct rget_doc *docs = malloc((g->n_ids ? g->n_ids : 1) * sizeof *docs);
	int rc = docs ? search_snapshot_take(v, g->as_of_lsn, &snap) : ROOST_ENOMEM;
	if (rc) {
		free(docs);
		return wire_encode_error(rc, "get failed", out, len);
	}
	size_t n = 0;
	for (size_t i = 0; i < g->n_ids; i++)
		n += rget_find(v, &snap, g->ids[i], strlen(g->ids[i]), &docs[n]);
	rc = rsearch__docs_reply(docs, n, v->dim, g->with_vectors,
				 rsearch__read_at(g->as_of_lsn, lsn, snap.end), NULL, out, len);
	search_snapshot_free(&snap);
	free(docs);
	return rc;
}

static int rsearch__get(struct rsearch *rs, const Roost__GetRequest *g, void **out, size_t *len)
{
	char msg[RSEARCH_MSG] = "";
	int timeout = g->timeout_ms ? wire_inner_wait(g->timeout_ms, rs->max_wait_ms)
				    : wire_timeout_ms(0, rs->wait_ms, rs->max_wait_ms);
	int rc = wire_check_get(g, msg, sizeof msg);
	if (rc)
		return wire_encode_error(rc, msg, out, len);
	const char *name = coll_name_or_default(g->collection);
	struct view *v;
	uint64_t min_lsn = rsearch__wait_for(g->min_lsn, g->as_of_lsn);
	rc = rsearch__view_for(rs, name, min_lsn, timeout, &v);
	if (rc) {
		rsearch__view_error(rs, rc, name, min_lsn, g->as_of_lsn, timeout, msg);
		return wire_encode_error(rc, msg, out, len);
	}
	rc = rsearch__history_check(v, g->as_of_lsn, msg);
	rc = rc ? wire_encode_error(rc, msg, out, len) : rsearch__get_in(g, v, out, len);
	view_put(v);
	return rc;
}

/* A page of sc in v; at and after come from its cursor (at 0: the first
 * page, as of v's end). */
static int rsearch__scroll_in(const Roost__ScrollRequest *sc, const struct view *v,
			      const struct docfilter *f, uint64_t at, uint64_t after, void **out,
			      size_t *len)
{
	uint32_t limit = sc->limit ? sc->limit : RSCROLL_DEFAULT_LIMIT;
	uint64_t view_lsn = view_end_lsn(v);
	struct search_snapshot snap;
	struct rget_doc *docs = malloc(limit * sizeof *docs);
	int rc = docs ? search_snapshot_take(v, 0, &snap) : ROOST_ENOMEM;
	if (rc) {
		free(docs);
		return wire_encode_error(rc, "scroll failed", out, len);
	}
	if (at == 0)
		at = rsearch__answered(view_lsn, snap.end);
	if (at < v->reclaimed_lsn) {
		char msg[RSEARCH_MSG];
		snprintf(msg, RSEARCH_MSG,
			 "the scroll reads LSN %llu, but compaction has since dropped documents "
			 "deleted below LSN %llu: start the scroll again",
			 (unsigned long long)at, (unsigned long long)v->reclaimed_lsn);
		search_snapshot_free(&snap);
		free(docs);
		return wire_encode_error(ROOST_EINVAL, msg, out, len);
	}
	struct rscroll_page page = {.docs = docs};
	rc = rscroll_page(v, &snap, at, after, f, limit, &page);
	char cursor[RSCROLL_CURSOR_MAX] = "";
	if (page.more)
		rscroll_cursor(at, page.last, cursor, sizeof cursor);
	if (rc == 0)
		rc = rsearch__docs_reply(docs, page.n, v->dim, sc->with_vectors, at, cursor, out,
					 len);
	else
		rc = wire_encode_error(rc, "scroll failed", out, len);
	search_snapshot_free(&snap);
	free(docs);
	return rc;
}

static int rsearch__scroll_check(const Roost__ScrollRequest *sc, uint64_t *at, uint64_t *after,
				 struct metaq **where, char *msg)
{
	*where = NULL;
	*at = *after = 0;
	int rc = wire_check_collection(sc->collection, msg, RSEARCH_MSG);
	if (rc == 0 && sc->limit > RSCROLL_MAX_LIMIT) {
		snprintf(msg, RSEARCH_MSG, "limit must be 1..%u (0: %u), not %u", RSCROLL_MAX_LIMIT,
			 RSCROLL_DEFAULT_LIMIT, sc->limit);
		rc = ROOST_EINVAL;
	}
	if (rc == 0 && sc->cursor && sc->cursor[0] &&
	    rscroll_cursor_parse(sc->cursor, at, after) != 0) {
		snprintf(msg, RSEARCH_MSG, "cursor is not one a scroll gave");
		rc = ROOST_EINVAL;
	}
	if (rc == 0 && sc->filter && sc->filter->n_agents > RSEARCH_MAX_AGENTS) {
		snprintf(msg, RSEARCH_MSG, "at most %u agents in a filter", RSEARCH_MAX_AGENTS);
		rc = ROOST_ETOOBIG;
	}
	return rc ? rc : wire_check_filter(sc->filter, where, msg, RSEARCH_MSG);
}

static int rsearch__scroll(struct rsearch *rs, const Roost__ScrollRequest *sc, void **out,
			   size_t *len)
{
	char msg[RSEARCH_MSG] = "";
	int timeout = sc->timeout_ms ? wire_inner_wait(sc->timeout_ms, rs->max_wait_ms)
				     : wire_timeout_ms(0, rs->wait_ms, rs->max_wait_ms);
	uint64_t at, after;
	struct metaq *where;
	int rc = rsearch__scroll_check(sc, &at, &after, &where, msg);
	if (rc)
		return wire_encode_error(rc, msg, out, len);
	/* A first page as of an LSN reads the state there, as every later
	 * page of it does. */
	int first = at == 0;
	if (first)
		at = sc->as_of_lsn;
	/* A later page needs data that includes the state it reads. */
	uint64_t min_lsn = rsearch__wait_for(first ? sc->min_lsn : 0, at);
	const char *name = coll_name_or_default(sc->collection);
	struct view *v;
	rc = rsearch__view_for(rs, name, min_lsn, timeout, &v);
	if (rc) {
		metaq_free(where);
		rsearch__view_error(rs, rc, name, min_lsn, first ? at : 0, timeout, msg);
		return wire_encode_error(rc, msg, out, len);
	}
	struct docfilter f;
	docfilter_from(sc->filter, where, &f);
	rc = first ? rsearch__history_check(v, at, msg) : 0;
	if (rc)
		rc = wire_encode_error(rc, msg, out, len);
	else
		rc = rsearch__scroll_in(sc, v, &f, at, after, out, len);
	view_put(v);
	metaq_free(where);
	return rc;
}

/* A binary frame; JSON ones arrive here re-encoded by jsonsrv_serve(). */
static int rsearch__handle_binary(void *ctx, const void *frame, size_t len, void **reply,
				  size_t *reply_len)
{
	struct rsearch *rs = ctx;
	/* Parallelism comes from readers and concurrent requests, not from
	 * OpenMP threads inside one search (set per worker thread). */
	omp_set_num_threads(1);
	char msg[RSEARCH_MSG] = "";
	Roost__Request *req;
	int rc = wire_decode_request(frame, len, WIRE_MAX_FRAME, &req, msg, sizeof msg);
	if (rc)
		return wire_encode_error(rc, msg, reply, reply_len);
	if (req->op_case == ROOST__REQUEST__OP_SEARCH)
		rc = rsearch__search(rs, req->search, reply, reply_len);
	else if (req->op_case == ROOST__REQUEST__OP_GET_DOCS)
		rc = rsearch__get(rs, req->get_docs, reply, reply_len);
	else if (req->op_case == ROOST__REQUEST__OP_SCROLL)
		rc = rsearch__scroll(rs, req->scroll, reply, reply_len);
	else
		rc = wire_encode_error(ROOST_EUNSUPPORTED,
				       "readers serve searches, gets and scrolls only", reply,
				       reply_len);
	wire_request_free(req);
	return rc;
}

int rsearch_handle(struct rsearch *rs, const void *frame, size_t len, void **reply,
		   size_t *reply_len)
{
	return jsonsrv_serve(frame, len, WIRE_MAX_FRAME, rsearch__handle_binary, rs, reply,
			     reply_len);
}
