/* Document metadata: a JSON object per document, stored and returned
 * byte for byte as the client sent it.
 *
 * It is checked once where it enters (a broker, and batch_parse wherever
 * a batch is read) so that everything downstream may splice it into JSON
 * replies as it is: one object of at most BATCH_MAX_META bytes, strict
 * JSON (proto/jsonlex.h: valid UTF-8, no U+0000, numbers in JSON's
 * grammar), nested at most META_MAX_DEPTH deep, and no top-level key twice
 * (filters name top-level keys, so a repeated one would be ambiguous).
 */
#ifndef ROOST_META_H
#define ROOST_META_H

#include <stddef.h>

#define META_MAX_DEPTH 32u

/* 0 when s[0..len) is acceptable metadata; else ROOST_EPROTO (not JSON),
 * ROOST_EINVAL (not an object, too deep, a repeated key), ROOST_EUTF8,
 * ROOST_ETOOBIG (over BATCH_MAX_META) or ROOST_ENOMEM, described in msg
 * (NULL or msglen 0: nowhere) with the path of the offending value. */
int meta_check(const char *s, size_t len, char *msg, size_t msglen);

#endif
