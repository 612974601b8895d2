#include "delrec.h"

#include "batch.h"
#include "err.h"

#include <string.h>

_Static_assert(sizeof(struct delrec_header) == 40, "delrec_header layout");
_Static_assert(sizeof(struct delrec_id) == 16, "delrec_id layout");

int delrec_is(const void *data, size_t len)
{
	uint32_t magic;
	if (len < sizeof magic)
		return 0;
	memcpy(&magic, data, sizeof magic);
	return magic == DELREC_MAGIC;
}

int delrec_is_by_filter(const void *data, size_t len)
{
	struct delrec_header h;
	if (!delrec_is(data, len) || len < sizeof h)
		return 0;
	memcpy(&h, data, sizeof h);
	return (h.flags & DELREC_BY_FILTER) != 0;
}

size_t delrec_size(uint32_t count, uint32_t key_bytes)
{
	if (count == 0)
		return key_bytes && key_bytes <= DELREC_MAX_FILTER
			   ? sizeof(struct delrec_header) + key_bytes
			   : 0;
	if (count > DELREC_MAX_IDS || key_bytes > count * BATCH_MAX_KEY)
		return 0;
	return sizeof(struct delrec_header) + (size_t)count * sizeof(struct delrec_id) + key_bytes;
}

int delrec_parse_id(const char *s, size_t len, uint64_t *number)
{
	*number = 0;
	if (len == 0 || s[0] != '#')
		return batch_key_valid(s, len) ? 0 : ROOST_EINVAL;
	if (len < 2 || len > 21 || s[1] == '0')
		return ROOST_EINVAL;
	uint64_t v = 0;
	for (size_t i = 1; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return ROOST_EINVAL;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return ROOST_EINVAL;
		v = v * 10 + d;
	}
	*number = v;
	return 0;
}

static int delrec__id_ok(const struct delrec_id *id, const char *keys, uint32_t key_bytes)
{
	if (id->key_len == 0)
		return id->number != 0 && id->key_off == 0;
	return id->number == 0 && id->key_off <= key_bytes &&
	       id->key_len <= key_bytes - id->key_off &&
	       batch_key_valid(keys + id->key_off, id->key_len);
}

int delrec_parse(const void *data, size_t len, struct delrec_view *out)
{
	const unsigned char *p = data;
	if (p == NULL || out == NULL || (uintptr_t)p % 8 != 0)
		return ROOST_EINVAL;
	struct delrec_header h;
	if (len < sizeof h)
		return ROOST_ECORRUPT;
	memcpy(&h, p, sizeof h);
	if (h.magic != DELREC_MAGIC || h.version != DELREC_VERSION ||
	    (h.flags & ~DELREC_BY_FILTER) || (h.flags != 0) != (h.count == 0) || h.reserved ||
	    h.collection == 0 || delrec_size(h.count, h.key_bytes) != len)
		return ROOST_ECORRUPT;
	const struct delrec_id *ids = (const struct delrec_id *)(p + sizeof h);
	const char *keys = (const char *)(ids + h.count);
	for (uint32_t i = 0; i < h.count; i++) {
		struct delrec_id id;
		memcpy(&id, &ids[i], sizeof id);
		if (!delrec__id_ok(&id, keys, h.key_bytes))
			return ROOST_ECORRUPT;
	}
	*out = (struct delrec_view){.hdr = (const struct delrec_header *)p,
				    .ids = ids,
				    .keys = keys,
				    .filter = h.count ? NULL : keys};
	return 0;
}
