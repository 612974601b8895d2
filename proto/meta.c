#include "meta.h"

#include "batch.h"
#include "err.h"
#include "jsonlex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The top-level keys read so far, to refuse a repeated one. */
struct meta__keys {
	char **keys;
	size_t n, cap;
};

static int meta__member(struct jsonlex *lx, const char *key, size_t keylen, void *ctx)
{
	struct meta__keys *ks = ctx;
	for (size_t i = 0; i < ks->n; i++)
		if (strcmp(ks->keys[i], key) == 0)
			return jsonlex_fail(lx, ROOST_EINVAL, "key appears twice");
	void *grown;
	int rc = jsonlex_grow(lx, ks->keys, &ks->cap, ks->n, sizeof *ks->keys, &grown);
	if (rc)
		return rc;
	ks->keys = grown;
	if ((ks->keys[ks->n] = malloc(keylen + 1)) == NULL)
		return jsonlex_nomem(lx);
	memcpy(ks->keys[ks->n++], key, keylen + 1);
	return jsonlex_any(lx, META_MAX_DEPTH - 1);
}

int meta_check(const char *s, size_t len, char *msg, size_t msglen)
{
	if (len > BATCH_MAX_META) {
		if (msg && msglen)
			snprintf(msg, msglen, "metadata is %zu bytes; the limit is %u bytes", len,
				 BATCH_MAX_META);
		return ROOST_ETOOBIG;
	}
	struct jsonlex lx;
	jsonlex_begin(&lx, s, len, msg, msglen);
	jsonlex_push(&lx, "metadata");
	struct meta__keys ks = {0};
	int rc = jsonlex_members(&lx, meta__member, &ks);
	if (rc == 0 && jsonlex_peek(&lx) >= 0)
		rc = jsonlex_fail(&lx, ROOST_EPROTO, "unexpected bytes after the object");
	for (size_t i = 0; i < ks.n; i++)
		free(ks.keys[i]);
	free(ks.keys);
	return rc;
}
