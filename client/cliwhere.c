#include "cliwhere.h"

#include "err.h"
#include "jsonlex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The values of an equality, gathered as their JSON text. */
struct cliwhere__vals {
	char **v;
	size_t n, cap;
};

static int cliwhere__value(struct jsonlex *lx, void *ctx)
{
	struct cliwhere__vals *vs = ctx;
	void *grown;
	size_t start;
	int rc = jsonlex_grow(lx, vs->v, &vs->cap, vs->n, sizeof *vs->v, &grown);
	if (rc)
		return rc;
	vs->v = grown;
	if ((rc = jsonlex_scalar(lx, &start)) != 0)
		return rc;
	if ((vs->v[vs->n] = strndup(lx->s + start, lx->pos - start)) == NULL)
		return jsonlex_nomem(lx);
	vs->n++;
	return 0;
}

/* KEY=JSON: one scalar, or an array of them. */
static int cliwhere__equals(struct cliwhere *w, struct roost_condition *c, const char *json,
			    char *msg, size_t msglen)
{
	struct jsonlex lx;
	struct cliwhere__vals vs = {0};
	jsonlex_begin(&lx, json, strlen(json), msg, msglen);
	int rc = jsonlex_peek(&lx) == '['
		     ? jsonlex_array(&lx, CLIWHERE_MAX_VALUES, cliwhere__value, &vs)
		     : cliwhere__value(&lx, &vs);
	if (rc == 0 && jsonlex_peek(&lx) >= 0)
		rc = jsonlex_fail(&lx, ROOST_EINVAL, "unexpected bytes after the value");
	if (rc == 0 && vs.n == 0)
		rc = jsonlex_fail(&lx, ROOST_EINVAL, "an empty array; give at least one value");
	/* Kept before checking, so that cliwhere_free frees it either way. */
	w->vals[w->n] = vs.v;
	c->any_of = (const char *const *)vs.v;
	c->n_any_of = vs.n;
	return rc;
}

/* KEY<NUM and the like: a JSON number, finite. */
static int cliwhere__bound(struct roost_condition *c, const char *op, const char *num, char *msg,
			   size_t msglen)
{
	struct jsonlex lx;
	double v;
	jsonlex_begin(&lx, num, strlen(num), msg, msglen);
	int rc = jsonlex_double(&lx, &v);
	if (rc == 0 && jsonlex_peek(&lx) >= 0)
		rc = jsonlex_fail(&lx, ROOST_EINVAL, "unexpected bytes after the number");
	if (rc)
		return rc;
	int exclusive = op[1] != '=';
	if (op[0] == '>') {
		c->has_min = 1;
		c->min = v;
		c->min_exclusive = exclusive;
	} else {
		c->has_max = 1;
		c->max = v;
		c->max_exclusive = exclusive;
	}
	return 0;
}

int cliwhere_add(struct cliwhere *w, const char *arg, char *msg, size_t msglen)
{
	if (w->n == CLIWHERE_MAX) {
		snprintf(msg, msglen, "at most %u --where conditions", CLIWHERE_MAX);
		return ROOST_ETOOBIG;
	}
	size_t at = strcspn(arg, "<>=");
	if (at == 0 || arg[at] == '\0') {
		snprintf(msg, msglen,
			 "'%s' is not KEY=JSON, KEY>=NUM, KEY>NUM, KEY<=NUM or KEY<NUM", arg);
		return ROOST_EINVAL;
	}
	struct roost_condition *c = &w->conds[w->n];
	*c = (struct roost_condition){0};
	if ((w->keys[w->n] = strndup(arg, at)) == NULL)
		return ROOST_ENOMEM;
	c->key = w->keys[w->n];
	const char *op = arg + at;
	char detail[256] = "";
	int rc = op[0] == '='
		     ? cliwhere__equals(w, c, op + 1, detail, sizeof detail)
		     : cliwhere__bound(c, op, op + 1 + (op[1] == '='), detail, sizeof detail);
	/* Counted whatever happened, so that cliwhere_free finds it. */
	w->n++;
	if (rc)
		snprintf(msg, msglen, "--where '%s': %s%s", arg, detail,
			 op[0] == '=' && rc == ROOST_EPROTO
			     ? "; strings are JSON, in quotes: KEY='\"text\"'"
			     : "");
	return rc == ROOST_EPROTO ? ROOST_EINVAL : rc;
}

void cliwhere_free(struct cliwhere *w)
{
	for (size_t i = 0; i < w->n; i++) {
		for (size_t j = 0; w->vals[i] && j < w->conds[i].n_any_of; j++)
			free(w->vals[i][j]);
		free(w->vals[i]);
		free(w->keys[i]);
	}
	*w = (struct cliwhere){0};
}
