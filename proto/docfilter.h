/* A filter on documents: the first-class fields (agent, time, kind) and
 * conditions on metadata (proto/metaq.h). Searches, scrolls and deletes
 * by filter all test documents with it, so they agree on what a filter
 * admits. */
#ifndef ROOST_DOCFILTER_H
#define ROOST_DOCFILTER_H

#include "metaq.h"
#include "roost.pb-c.h"

#include <stddef.h>
#include <stdint.h>

struct docfilter {
	const int64_t *agents; /* NULL: any agent */
	size_t nagents;
	int has_time;
	int64_t time_min, time_max; /* inclusive */
	const char *kind;	    /* NULL or "": any kind */
	const struct metaq *where;  /* NULL: no conditions on metadata */
};

/* The filter a request gives (in: NULL for none) with its conditions
 * compiled (where; NULL: none). It points into both. */
void docfilter_from(const Roost__Filter *in, const struct metaq *where, struct docfilter *out);

/* 1 when f leaves some document out (it sets a part). */
int docfilter_active(const struct docfilter *f);

/* 1 when a document with these fields passes every part of f; meta is
 * its metadata (len 0: none). */
int docfilter_match(const struct docfilter *f, int64_t agent, int64_t time, const char *kind,
		    size_t kind_len, const char *meta, size_t meta_len);

#endif
