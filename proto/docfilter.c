#include "docfilter.h"

#include <string.h>

void docfilter_from(const Roost__Filter *in, const struct metaq *where, struct docfilter *out)
{
	memset(out, 0, sizeof *out);
	out->where = where;
	if (!in)
		return;
	out->agents = in->n_agents ? in->agents : NULL;
	out->nagents = in->n_agents;
	out->has_time = in->has_time_range;
	out->time_min = in->time_min;
	out->time_max = in->time_max;
	out->kind = in->kind;
}

int docfilter_active(const struct docfilter *f)
{
	return f && (f->agents || f->has_time || (f->kind && *f->kind) || f->where);
}

static int docfilter__agent(const struct docfilter *f, int64_t agent)
{
	if (!f->agents)
		return 1;
	for (size_t i = 0; i < f->nagents; i++)
		if (f->agents[i] == agent)
			return 1;
	return 0;
}

/* The first-class fields first: they cost a compare each, metadata a scan.
 * A document without metadata (or from before metadata) has no keys, so
 * it meets no condition. */
int docfilter_match(const struct docfilter *f, int64_t agent, int64_t time, const char *kind,
		    size_t kind_len, const char *meta, size_t meta_len)
{
	if (f->has_time && (time < f->time_min || time > f->time_max))
		return 0;
	if (f->kind && *f->kind) {
		size_t n = strlen(f->kind);
		if (n != kind_len || memcmp(f->kind, kind, n) != 0)
			return 0;
	}
	return docfilter__agent(f, agent) && (!f->where || metaq_match(f->where, meta, meta_len));
}
