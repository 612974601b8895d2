/* A strict JSON lexer for texts whose schema is known in advance.
 *
 * It builds no tree: the caller reads each value where its schema expects
 * one ("an object with these fields", "an array of at most n entries",
 * "an int64"), and every call checks exactly that, so memory stays
 * proportional to what the caller keeps and nesting is the schema's own.
 * Nothing in the text is trusted: unknown and duplicate fields, null,
 * values of the wrong type, integers with a fraction or exponent or out of
 * range, numbers not finite as float32 or longer than JSONLEX_MAX_NUMBER,
 * invalid UTF-8, U+0000 and lone surrogates in strings, and anything after
 * the top-level object are refused. Every failure writes a message that
 * names the field's path ("add.docs[3].vector[17]") and the byte offset
 * where reading stopped.
 *
 * Debian's libjson-c cannot give these guarantees: it keeps the last of
 * duplicate keys without a word, saturates int64/uint64 overflow while
 * reporting success, and has no per-value byte offsets.
 *
 * Failure codes: ROOST_EPROTO (not JSON: syntax, truncation), ROOST_EINVAL
 * (a value of the wrong type or range, an unknown or duplicate field,
 * U+0000), ROOST_EUTF8, ROOST_EVALUE (a number not finite as float32),
 * ROOST_ETOOBIG (an array over its cap, a number over JSONLEX_MAX_NUMBER)
 * and ROOST_ENOMEM. Numbers always use '.', whatever the locale.
 */
#ifndef ROOST_JSONLEX_H
#define ROOST_JSONLEX_H

#include <stddef.h>
#include <stdint.h>

/* Longest number token accepted, in characters. */
#define JSONLEX_MAX_NUMBER 64u
/* Room for a field path in messages; a longer one is cut. */
#define JSONLEX_PATH_MAX 160u

struct jsonlex {
	const char *s; /* the text, len bytes, no NUL needed */
	size_t len;
	size_t pos; /* where reading is; messages give it as the byte offset */
	char *msg;  /* where failures are described; NULL: nowhere */
	size_t msglen;
	char path[JSONLEX_PATH_MAX]; /* of the value being read */
	size_t plen;
};

/* Starts reading s[0..len); msg (msglen bytes) gets the failure, if any,
 * and is emptied now. */
void jsonlex_begin(struct jsonlex *lx, const char *s, size_t len, char *msg, size_t msglen);

/* Describes a failure at the current path and offset and returns code, for
 * a caller whose schema refuses a value the lexer accepted. */
__attribute__((format(printf, 3, 4))) int jsonlex_fail(struct jsonlex *lx, int code,
						       const char *fmt, ...);
/* jsonlex_fail() for an allocation that failed. */
int jsonlex_nomem(struct jsonlex *lx);

/* Appends to the path; returns what jsonlex_pop() takes to undo it. */
__attribute__((format(printf, 2, 3))) size_t jsonlex_push(struct jsonlex *lx, const char *fmt, ...);
void jsonlex_pop(struct jsonlex *lx, size_t mark);

/* The next byte that is not JSON whitespace (skipping it), or -1 at the
 * end. */
int jsonlex_peek(struct jsonlex *lx);

/* Makes room for element n of a growing array of elem-byte elements that
 * has room for *cap: *out is arr, or arr moved to a larger block. */
int jsonlex_grow(struct jsonlex *lx, void *arr, size_t *cap, size_t n, size_t elem, void **out);

/* Writes code point cp (below 0x110000) as UTF-8 to dst, which has room
 * for 4 bytes; returns its length. */
size_t jsonlex_utf8_put(unsigned cp, char *dst);

/* Values. Each reads one, or fails at it. */

/* A string, unescaped into a malloc'ed, NUL-terminated buffer. */
int jsonlex_string(struct jsonlex *lx, char **out, size_t *outlen);
/* An integer from 0 to max, exactly. */
int jsonlex_u64(struct jsonlex *lx, uint64_t max, uint64_t *out);
int jsonlex_u32(struct jsonlex *lx, uint32_t *out);
/* An integer in int64's range, exactly (never through a double). */
int jsonlex_i64(struct jsonlex *lx, int64_t *out);
/* Any JSON number, rounded once to the nearest float32; it must be finite. */
int jsonlex_float(struct jsonlex *lx, float *out);
/* Any JSON number, rounded once to the nearest double; it must be finite. */
int jsonlex_double(struct jsonlex *lx, double *out);
int jsonlex_bool(struct jsonlex *lx, int *out);

/* An object whose fields are known: names[i] is read by field(lx, i, obj).
 * A field may appear once; an unknown one fails with unknown_code, naming
 * the fields the object takes. */
struct jsonlex_object {
	const char *name;	  /* for messages: "add", "a document", ... */
	const char *const *names; /* NULL-terminated, at most 32 */
	int (*field)(struct jsonlex *lx, int field, void *obj);
	int unknown_code;
};

int jsonlex_object(struct jsonlex *lx, const struct jsonlex_object *o, void *obj);

/* An array of at most max entries, each read by item(lx, ctx) with its
 * index on the path. */
typedef int (*jsonlex_item)(struct jsonlex *lx, void *ctx);
int jsonlex_array(struct jsonlex *lx, size_t max, jsonlex_item item, void *ctx);

/* An array of at most max numbers, appended to *v, which holds *n values
 * in room for *cap (all 0 and NULL to start a new one). On failure *v and
 * *n still say what to free. */
int jsonlex_floats(struct jsonlex *lx, size_t max, float **v, size_t *n, size_t *cap);
int jsonlex_ints(struct jsonlex *lx, size_t max, int64_t **v, size_t *n, size_t *cap);

/* An object whose fields are not known: member(lx, key, keylen, ctx) is
 * called for each, after its ':', with the key on the path, and reads the
 * value. Keys are unescaped and NUL-terminated (strings hold no U+0000). */
typedef int (*jsonlex_member)(struct jsonlex *lx, const char *key, size_t keylen, void *ctx);
int jsonlex_members(struct jsonlex *lx, jsonlex_member member, void *ctx);

/* Any one value, checked and skipped: arrays and objects nested at most
 * depth deep (depth 0 takes only scalars). */
int jsonlex_any(struct jsonlex *lx, unsigned depth);

/* One scalar (a string, a number, true, false or null), checked and
 * skipped; an object or an array fails with ROOST_EINVAL. *start receives
 * where it begins, past any whitespace: its JSON text ends at lx->pos. */
int jsonlex_scalar(struct jsonlex *lx, size_t *start);

/* The whole text: one object, then nothing but whitespace. */
int jsonlex_text(struct jsonlex *lx, const struct jsonlex_object *o, void *obj);

#endif
