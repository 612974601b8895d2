/* `roost search --where`: conditions on metadata keys from the command
 * line, as libroost's struct roost_condition:
 *
 *   KEY=JSON      the value equals JSON, a scalar ("cats" in quotes, 5,
 *                 true, null), or any of a JSON array's scalars
 *   KEY>=NUM, KEY>NUM, KEY<=NUM, KEY<NUM   a numeric range
 *
 * The key is what precedes the first '<', '>' or '=' (so it holds none of
 * them). Values are checked here only as far as their form; the server
 * checks the rest (proto/metaq.h). */
#ifndef ROOST_CLIWHERE_H
#define ROOST_CLIWHERE_H

#include "roost.h"

#include <stddef.h>

#define CLIWHERE_MAX	    16u	  /* conditions: the server's limit */
#define CLIWHERE_MAX_VALUES 1024u /* values of one KEY=[...]: the server's limit */

struct cliwhere {
	struct roost_condition conds[CLIWHERE_MAX];
	size_t n;
	char *keys[CLIWHERE_MAX];  /* owned: conds[i].key */
	char **vals[CLIWHERE_MAX]; /* owned: conds[i].any_of, and each value */
};

/* Parses one --where argument into the next condition. ROOST_EINVAL with
 * a message in msg for one that is malformed, ROOST_ETOOBIG past
 * CLIWHERE_MAX, ROOST_ENOMEM. */
int cliwhere_add(struct cliwhere *w, const char *arg, char *msg, size_t msglen);

/* Frees what cliwhere_add kept; w may be zeroed or partly filled. */
void cliwhere_free(struct cliwhere *w);

#endif
