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
	       a->seal_interval_ms == b->seal_interval_ms &&
	       strcmp(a->indexed_keys, b->indexed_keys) == 0;
}

size_t coll_keys_next(const char *keys, size_t *at, size_t *start)
{
	size_t i = *at ? *at + 1 : 0; /* past the comma that ended the last key */
	*start = i;
	while (keys[i] && keys[i] != ',')
		i++;
	*at = i;
	return i - *start;
}

/* Whether key[0..n) is one of the keys that start before upto. */
static int coll__key_listed(const char *keys, size_t upto, const char *key, size_t n)
{
	size_t at = 0, start, len;
	while (at < upto) {
		len = coll_keys_next(keys, &at, &start);
		if (start < upto && len == n && memcmp(keys + start, key, n) == 0)
			return 1;
	}
	return 0;
}

static int coll__key_ok(const char *key, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!coll__name_char(key[i], i == 0))
			return 0;
	return n > 0 && n <= COLL_NAME_MAX;
}

static const char *coll__keys_problem(const char *keys)
{
	static const char shape[] = "must each be 1 to 63 letters, digits, '_', '.' or '-', "
				    "starting with a letter or digit, separated by single commas";
	size_t total = keys ? strnlen(keys, COLL_KEYS_MAX + 1) : 0;
	if (total > COLL_KEYS_MAX)
		return "are longer than 127 bytes in all";
	if (total && keys[total - 1] == ',')
		return shape;
	size_t at = 0, start, n, count = 0;
	while (total && at < total) {
		n = coll_keys_next(keys, &at, &start);
		if (++count > COLL_KEYS_COUNT)
			return "are more than 8";
		if (!coll__key_ok(keys + start, n))
			return shape;
		if (coll__key_listed(keys, start, keys + start, n))
			return "name a key twice";
	}
	return NULL;
}

int coll_keys_check(const char *keys, char *why, size_t len)
{
	const char *problem = coll__keys_problem(keys);
	if (!problem)
		return 0;
	if (why && len)
		snprintf(why, len, "indexed keys %s", problem);
	return ROOST_EINVAL;
}
