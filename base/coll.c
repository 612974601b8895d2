#include "coll.h"

#include "err.h"

#include <stdio.h>
#include <string.h>

static int coll__name_char(char c, int first)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return !first && (c == '_' || c == '.' || c == '-');
}

/* A name is echoed in messages only when it cannot garble them. */
static int coll__printable(const char *name, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (name[i] < 0x20 || name[i] > 0x7e)
			return 0;
	return n > 0;
}

int coll_name_check(const char *name, char *why, size_t len)
{
	const char *problem = NULL;
	size_t n = name ? strnlen(name, COLL_NAME_MAX + 1) : 0;
	if (n == 0)
		problem = "is empty";
	else if (n > COLL_NAME_MAX)
		problem = "is longer than 63 bytes";
	for (size_t i = 0; !problem && i < n; i++)
		if (!coll__name_char(name[i], i == 0))
			problem = i == 0 ? "must start with a letter or a digit"
					 : "may hold only letters, digits, '_', '.' and '-'";
	if (!problem)
		return 0;
	if (why && len && coll__printable(name, n))
		snprintf(why, len, "collection name '%.*s'%s %s", n > 63 ? 60 : (int)n, name,
			 n > 63 ? "..." : "", problem);
	else if (why && len)
		snprintf(why, len, "a collection name %s", problem);
	return ROOST_EINVAL;
}

const char *coll_name_or_default(const char *name)
{
	return name && *name ? name : COLL_DEFAULT;
}

int coll_settings_equal(const struct coll_settings *a, const struct coll_settings *b)
{
	return a->dim == b->dim && a->metric == b->metric && strcmp(a->index, b->index) == 0 &&
	       a->train_docs == b->train_docs && a->seal_docs == b->seal_docs &&
	       a->seal_interval_ms == b->seal_interval_ms;
}
