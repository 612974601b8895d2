#include "jsonlex.h"

#include "batch.h"
#include "clocale.h"
#include "err.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for a failure's own words, before the path and offset. */
#define JSONLEX__DETAIL 512

void jsonlex_begin(struct jsonlex *lx, const char *s, size_t len, char *msg, size_t msglen)
{
	memset(lx, 0, sizeof *lx);
	lx->s = s;
	lx->len = len;
	lx->msg = msg;
	lx->msglen = msglen;
	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
}

/* ------------------------------------------------------------------ */
/* Failures and field paths.                                           */

/* Cuts an incomplete UTF-8 sequence off the end of s, as truncation
 * leaves one, so messages stay valid UTF-8 (field names need not be ASCII). */
static void jsonlex__utf8_trim(char *s)
{
	size_t len = strlen(s), cont = 0;

	while (cont < len && cont < 3 && ((unsigned char)s[len - 1 - cont] & 0xc0) == 0x80)
		cont++;
	if (cont == len)
		return;
	unsigned char lead = (unsigned char)s[len - 1 - cont];
	size_t need = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : lead >= 0xc0 ? 1 : 0;
	if (need > cont)
		s[len - 1 - cont] = '\0';
}

int jsonlex_fail(struct jsonlex *lx, int code, const char *fmt, ...)
{
	if (lx->msg == NULL || lx->msglen == 0)
		return code;
	char detail[JSONLEX__DETAIL];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	snprintf(lx->msg, lx->msglen, "%s%s%s (at byte %zu of the JSON text)", lx->path,
		 lx->plen ? ": " : "", detail, lx->pos);
	jsonlex__utf8_trim(lx->msg);
	return code;
}

int jsonlex_nomem(struct jsonlex *lx)
{
	return jsonlex_fail(lx, ROOST_ENOMEM, "server out of memory while decoding");
}

size_t jsonlex_push(struct jsonlex *lx, const char *fmt, ...)
{
	size_t mark = lx->plen;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(lx->path + mark, sizeof lx->path - mark, fmt, ap);
	va_end(ap);
	/* A client's field name may hold control characters: the path goes
	 * into one-line messages and logs. */
	for (char *c = lx->path + mark; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	if (n > 0 && mark + (size_t)n < sizeof lx->path) {
		lx->plen = mark + (size_t)n;
	} else if (n > 0) {
		jsonlex__utf8_trim(lx->path);
		lx->plen = strlen(lx->path);
	}
	return mark;
}

void jsonlex_pop(struct jsonlex *lx, size_t mark)
{
	lx->plen = mark;
	lx->path[mark] = '\0';
}

/* ------------------------------------------------------------------ */
/* Reading bytes and punctuation.                                      */

int jsonlex_peek(struct jsonlex *lx)
{
	while (lx->pos < lx->len && (lx->s[lx->pos] == ' ' || lx->s[lx->pos] == '\t' ||
				     lx->s[lx->pos] == '\n' || lx->s[lx->pos] == '\r'))
		lx->pos++;
	return lx->pos < lx->len ? (unsigned char)lx->s[lx->pos] : -1;
}

static int jsonlex__eat(struct jsonlex *lx, char c)
{
	if (jsonlex_peek(lx) != (unsigned char)c)
		return 0;
	lx->pos++;
	return 1;
}

/* The JSON type a value starting with c has; NULL when none does. */
static const char *jsonlex__type_at(int c)
{
	switch (c) {
	case '"':
		return "a string";
	case '{':
		return "an object";
	case '[':
		return "an array";
	case 't':
	case 'f':
		return "a boolean";
	case 'n':
		return "null";
	default:
		return c == '-' || (c >= '0' && c <= '9') ? "a number" : NULL;
	}
}

/* The text does not go on with what: a value of another JSON type fails
 * with type_code, anything else is a syntax error. */
static int jsonlex__unexpected(struct jsonlex *lx, const char *what, int type_code)
{
	int c = jsonlex_peek(lx);
	const char *type = jsonlex__type_at(c);

	if (c < 0)
		return jsonlex_fail(lx, ROOST_EPROTO, "unexpected end of input, expected %s", what);
	if (type != NULL)
		return jsonlex_fail(lx, type_code, "expected %s, found %s", what, type);
	if (c >= 0x20 && c < 0x7f)
		return jsonlex_fail(lx, ROOST_EPROTO, "expected %s, found '%c'", what, c);
	return jsonlex_fail(lx, ROOST_EPROTO, "expected %s, found byte 0x%02x", what, (unsigned)c);
}

/* A value of the wrong JSON type is the schema's error, not a syntax one. */
static int jsonlex__want(struct jsonlex *lx, const char *what)
{
	return jsonlex__unexpected(lx, what, ROOST_EINVAL);
}

/* Punctuation: anything else is a syntax error. */
static int jsonlex__expect(struct jsonlex *lx, char c, const char *what)
{
	return jsonlex__eat(lx, c) ? 0 : jsonlex__unexpected(lx, what, ROOST_EPROTO);
}

int jsonlex_grow(struct jsonlex *lx, void *arr, size_t *cap, size_t n, size_t elem, void **out)
{
	*out = arr;
	if (n < *cap)
		return 0;
	/* Every array is capped, or bounded by the text, far below where
	 * this could overflow. */
	size_t ncap = *cap ? *cap * 2 : 8;
	void *a = realloc(arr, ncap * elem);
	if (a == NULL)
		return jsonlex_nomem(lx);
	*cap = ncap;
	*out = a;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Strings.                                                            */

/* Finds the closing quote of the string that starts at lx->pos. */
static int jsonlex__string_end(struct jsonlex *lx, size_t *end)
{
	for (size_t i = lx->pos + 1; i < lx->len; i++) {
		unsigned char c = (unsigned char)lx->s[i];

		if (c == '"') {
			*end = i;
			return 0;
		}
		if (c < 0x20) {
			lx->pos = i;
			return jsonlex_fail(lx, ROOST_EPROTO,
					    "control character 0x%02x in a string; escape it", c);
		}
		if (c == '\\')
			i++;
	}
	return jsonlex_fail(lx, ROOST_EPROTO, "unterminated string");
}

static int jsonlex__hex4(struct jsonlex *lx, size_t at, unsigned *out)
{
	unsigned v = 0;

	for (size_t i = 0; i < 4; i++) {
		char c = at + i < lx->len ? lx->s[at + i] : '\0';
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return jsonlex_fail(lx, ROOST_EPROTO, "\\u needs four hex digits");
		v = v << 4 | d;
	}
	*out = v;
	return 0;
}

size_t jsonlex_utf8_put(unsigned cp, char *dst)
{
	if (cp < 0x80) {
		dst[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		dst[0] = (char)(0xc0 | cp >> 6);
		dst[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		dst[0] = (char)(0xe0 | cp >> 12);
		dst[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		dst[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	dst[0] = (char)(0xf0 | cp >> 18);
	dst[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	dst[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	dst[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A \uXXXX escape at lx->pos (the backslash), with its low surrogate when
 * it is a high one; moves lx->pos past it. */
static int jsonlex__unicode(struct jsonlex *lx, unsigned *cp)
{
	int rc = jsonlex__hex4(lx, lx->pos + 2, cp);

	if (rc)
		return rc;
	if (*cp == 0)
		return jsonlex_fail(lx, ROOST_EINVAL, "strings cannot hold U+0000");
	if (*cp >= 0xdc00 && *cp <= 0xdfff)
		return jsonlex_fail(lx, ROOST_EUTF8, "lone low surrogate \\u%04x", *cp);
	lx->pos += 6;
	if (*cp < 0xd800 || *cp > 0xdbff)
		return 0;
	unsigned lo;
	if (lx->pos + 1 >= lx->len || lx->s[lx->pos] != '\\' || lx->s[lx->pos + 1] != 'u' ||
	    jsonlex__hex4(lx, lx->pos + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
		return jsonlex_fail(lx, ROOST_EUTF8, "high surrogate \\u%04x without its low half",
				    *cp);
	*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
	lx->pos += 6;
	return 0;
}

/* One escape at lx->pos (the backslash) into dst; *n gets its bytes. */
static int jsonlex__escape(struct jsonlex *lx, char *dst, size_t *n)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	char c = lx->s[lx->pos + 1];
	const char *hit = c != '\0' ? strchr(from, c) : NULL;

	if (hit != NULL) {
		dst[0] = to[hit - from];
		*n = 1;
		lx->pos += 2;
		return 0;
	}
	if (c != 'u')
		return jsonlex_fail(lx, ROOST_EPROTO, "unknown escape in a string");
	unsigned cp;
	int rc = jsonlex__unicode(lx, &cp);
	if (rc == 0)
		*n = jsonlex_utf8_put(cp, dst);
	return rc;
}

int jsonlex_string(struct jsonlex *lx, char **out, size_t *outlen)
{
	if (jsonlex_peek(lx) != '"')
		return jsonlex__want(lx, "a string");
	size_t start = lx->pos, end = 0;
	int rc = jsonlex__string_end(lx, &end);
	if (rc)
		return rc;
	/* Escapes only shrink: the raw length bounds the decoded one. */
	char *dst = malloc(end - start);
	if (dst == NULL)
		return jsonlex_nomem(lx);
	size_t n = 0;
	lx->pos = start + 1;
	while (rc == 0 && lx->pos < end) {
		if (lx->s[lx->pos] == '\\') {
			size_t k = 0;
			rc = jsonlex__escape(lx, dst + n, &k);
			n += k;
		} else {
			dst[n++] = lx->s[lx->pos++];
		}
	}
	if (rc == 0 && !batch_utf8_valid(dst, n)) {
		lx->pos = start;
		rc = jsonlex_fail(lx, ROOST_EUTF8, "string is not valid UTF-8");
	}
	if (rc) {
		free(dst);
		return rc;
	}
	dst[n] = '\0';
	lx->pos = end + 1;
	*out = dst;
	*outlen = n;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Numbers and booleans.                                               */

static size_t jsonlex__digits(const struct jsonlex *lx, size_t i)
{
	while (i < lx->len && lx->s[i] >= '0' && lx->s[i] <= '9')
		i++;
	return i;
}

/* Checks the number token at lx->pos against JSON's grammar and returns
 * it, leaving lx->pos at its start for messages; *is_int when it has
 * neither fraction nor exponent. */
static int jsonlex__number(struct jsonlex *lx, const char **tok, size_t *n, int *is_int)
{
	int c = jsonlex_peek(lx);

	if (c != '-' && (c < '0' || c > '9'))
		return jsonlex__want(lx, "a number");
	size_t i = lx->pos + (c == '-');
	size_t d = jsonlex__digits(lx, i);
	if (d == i || (lx->s[i] == '0' && d > i + 1))
		return jsonlex_fail(lx, ROOST_EPROTO,
				    "malformed number (no digits, or a leading 0)");
	*is_int = 1;
	if (d < lx->len && lx->s[d] == '.') {
		*is_int = 0;
		i = d + 1;
		d = jsonlex__digits(lx, i);
		if (d == i)
			return jsonlex_fail(lx, ROOST_EPROTO,
					    "malformed number: no digits after '.'");
	}
	if (d < lx->len && (lx->s[d] == 'e' || lx->s[d] == 'E')) {
		*is_int = 0;
		i = d + 1 + (d + 1 < lx->len && (lx->s[d + 1] == '+' || lx->s[d + 1] == '-'));
		d = jsonlex__digits(lx, i);
		if (d == i)
			return jsonlex_fail(lx, ROOST_EPROTO,
					    "malformed number: no exponent digits");
	}
	if (d - lx->pos > JSONLEX_MAX_NUMBER)
		return jsonlex_fail(lx, ROOST_ETOOBIG, "number longer than %u characters",
				    JSONLEX_MAX_NUMBER);
	*tok = lx->s + lx->pos;
	*n = d - lx->pos;
	return 0;
}

/* An integer token's sign and magnitude, exactly; -1 when the magnitude
 * does not fit 64 bits. */
static int jsonlex__magnitude(const char *tok, size_t n, int *neg, uint64_t *mag)
{
	uint64_t v = 0;

	*neg = tok[0] == '-';
	for (size_t i = (size_t)*neg; i < n; i++) {
		unsigned d = (unsigned)(tok[i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*mag = v;
	return 0;
}

static int jsonlex__integer(struct jsonlex *lx, const char **tok, size_t *n, int *neg,
			    uint64_t *mag)
{
	int is_int;
	int rc = jsonlex__number(lx, tok, n, &is_int);

	if (rc)
		return rc;
	if (!is_int)
		return jsonlex_fail(lx, ROOST_EINVAL, "expected an integer, found %.*s", (int)*n,
				    *tok);
	if (jsonlex__magnitude(*tok, *n, neg, mag) != 0)
		return jsonlex_fail(lx, ROOST_EINVAL, "%.*s is out of range", (int)*n, *tok);
	return 0;
}

int jsonlex_u64(struct jsonlex *lx, uint64_t max, uint64_t *out)
{
	const char *tok;
	size_t n;
	int neg;
	int rc = jsonlex__integer(lx, &tok, &n, &neg, out);

	if (rc)
		return rc;
	if ((neg && *out != 0) || *out > max)
		return jsonlex_fail(lx, ROOST_EINVAL, "%.*s is out of range (0 to %llu)", (int)n,
				    tok, (unsigned long long)max);
	lx->pos += n;
	return 0;
}

int jsonlex_u32(struct jsonlex *lx, uint32_t *out)
{
	uint64_t v;
	int rc = jsonlex_u64(lx, UINT32_MAX, &v);

	if (rc == 0)
		*out = (uint32_t)v;
	return rc;
}

int jsonlex_i64(struct jsonlex *lx, int64_t *out)
{
	const char *tok;
	size_t n;
	int neg;
	uint64_t mag;
	int rc = jsonlex__integer(lx, &tok, &n, &neg, &mag);

	if (rc)
		return rc;
	if (mag > (uint64_t)INT64_MAX + (uint64_t)neg)
		return jsonlex_fail(lx, ROOST_EINVAL, "%.*s is out of the int64 range", (int)n,
				    tok);
	/* -(2^63) has no positive twin: negate in unsigned arithmetic. */
	*out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
	lx->pos += n;
	return 0;
}

/* The number at lx->pos, rounded once to the nearest float32 (into f) or
 * double (into d, when f is NULL; never through the other). */
static int jsonlex__real(struct jsonlex *lx, float *f, double *d)
{
	const char *tok;
	size_t n;
	int is_int;
	int rc = jsonlex__number(lx, &tok, &n, &is_int);

	if (rc)
		return rc;
	locale_t c;
	if (clocale_get(&c) != 0)
		return jsonlex_fail(lx, ROOST_ENOMEM, "cannot set up the C locale");
	char buf[JSONLEX_MAX_NUMBER + 1];
	memcpy(buf, tok, n);
	buf[n] = '\0';
	if (f != NULL)
		*f = strtof_l(buf, NULL, c);
	else
		*d = strtod_l(buf, NULL, c);
	if (f != NULL ? !isfinite(*f) : !isfinite(*d))
		return jsonlex_fail(lx, ROOST_EVALUE,
				    "%s is beyond %s range; every value must be finite", buf,
				    f != NULL ? "float32" : "double");
	lx->pos += n;
	return 0;
}

int jsonlex_float(struct jsonlex *lx, float *out)
{
	return jsonlex__real(lx, out, NULL);
}

int jsonlex_double(struct jsonlex *lx, double *out)
{
	return jsonlex__real(lx, NULL, out);
}

/* The literal w at lx->pos, consumed; 0 when it is not there. */
static int jsonlex__word(struct jsonlex *lx, const char *w)
{
	size_t n = strlen(w);

	if (lx->len - lx->pos < n || memcmp(lx->s + lx->pos, w, n) != 0)
		return 0;
	lx->pos += n;
	return 1;
}

int jsonlex_bool(struct jsonlex *lx, int *out)
{
	int c = jsonlex_peek(lx);

	if (c == 't' && jsonlex__word(lx, "true"))
		*out = 1;
	else if (c == 'f' && jsonlex__word(lx, "false"))
		*out = 0;
	else
		return jsonlex__want(lx, "true or false");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Objects and arrays.                                                 */

static int jsonlex__lookup(const char *const *names, const char *key)
{
	for (int i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], key) == 0)
			return i;
	return -1;
}

/* An unknown field: the message lists the ones the object takes. */
static int jsonlex__unknown(struct jsonlex *lx, const struct jsonlex_object *o)
{
	char list[2 * JSONLEX_PATH_MAX] = ""; /* every field of the widest object */
	size_t at = 0;
	int i;

	for (i = 0; o->names[i] != NULL && at < sizeof list; i++)
		at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", i ? ", " : "",
				       o->names[i]);
	if (i == 0)
		return jsonlex_fail(lx, o->unknown_code, "unknown field (%s takes no fields)",
				    o->name);
	return jsonlex_fail(lx, o->unknown_code, "unknown field (%s takes %s)", o->name, list);
}

/* One "name":value member, with the name on the path while it is read. */
static int jsonlex__member(struct jsonlex *lx, const struct jsonlex_object *o, void *obj,
			   unsigned *seen)
{
	char *key;
	size_t n;
	int rc = jsonlex_peek(lx) == '"' ? jsonlex_string(lx, &key, &n)
					 : jsonlex__unexpected(lx, "a field name", ROOST_EPROTO);

	if (rc)
		return rc;
	size_t mark = jsonlex_push(lx, lx->plen ? ".%s" : "%s", key);
	int f = jsonlex__lookup(o->names, key);
	free(key);
	if (f < 0)
		rc = jsonlex__unknown(lx, o);
	else if (*seen & 1u << f)
		rc = jsonlex_fail(lx, ROOST_EINVAL, "duplicate field");
	else
		rc = jsonlex__expect(lx, ':', "':'");
	if (rc == 0) {
		*seen |= 1u << f;
		rc = o->field(lx, f, obj);
	}
	jsonlex_pop(lx, mark);
	return rc;
}

int jsonlex_object(struct jsonlex *lx, const struct jsonlex_object *o, void *obj)
{
	if (!jsonlex__eat(lx, '{'))
		return jsonlex__want(lx, "an object");
	if (jsonlex__eat(lx, '}'))
		return 0;
	unsigned seen = 0;
	do {
		int rc = jsonlex__member(lx, o, obj, &seen);
		if (rc)
			return rc;
	} while (jsonlex__eat(lx, ','));
	return jsonlex__expect(lx, '}', "',' or '}'");
}

int jsonlex_array(struct jsonlex *lx, size_t max, jsonlex_item item, void *ctx)
{
	if (!jsonlex__eat(lx, '['))
		return jsonlex__want(lx, "an array");
	if (jsonlex__eat(lx, ']'))
		return 0;
	size_t i = 0;
	do {
		if (i == max)
			return jsonlex_fail(lx, ROOST_ETOOBIG, "more than %zu entries", max);
		size_t mark = jsonlex_push(lx, "[%zu]", i++);
		int rc = item(lx, ctx);
		jsonlex_pop(lx, mark);
		if (rc)
			return rc;
	} while (jsonlex__eat(lx, ','));
	return jsonlex__expect(lx, ']', "',' or ']'");
}

/* A growing array of floats or of int64s: one of the two is set. */
struct jsonlex__numbers {
	float **floats;
	int64_t **ints;
	size_t *n;
	size_t *cap;
};

static int jsonlex__number_item(struct jsonlex *lx, void *ctx)
{
	struct jsonlex__numbers *a = ctx;
	void *grown;
	int rc;

	if (a->floats != NULL) {
		rc = jsonlex_grow(lx, *a->floats, a->cap, *a->n, sizeof **a->floats, &grown);
		if (rc == 0) {
			*a->floats = grown;
			rc = jsonlex_float(lx, &(*a->floats)[*a->n]);
		}
	} else {
		rc = jsonlex_grow(lx, *a->ints, a->cap, *a->n, sizeof **a->ints, &grown);
		if (rc == 0) {
			*a->ints = grown;
			rc = jsonlex_i64(lx, &(*a->ints)[*a->n]);
		}
	}
	if (rc == 0)
		(*a->n)++;
	return rc;
}

int jsonlex_floats(struct jsonlex *lx, size_t max, float **v, size_t *n, size_t *cap)
{
	return jsonlex_array(lx, max, jsonlex__number_item,
			     &(struct jsonlex__numbers){v, NULL, n, cap});
}

int jsonlex_ints(struct jsonlex *lx, size_t max, int64_t **v, size_t *n, size_t *cap)
{
	return jsonlex_array(lx, max, jsonlex__number_item,
			     &(struct jsonlex__numbers){NULL, v, n, cap});
}

int jsonlex_members(struct jsonlex *lx, jsonlex_member member, void *ctx)
{
	if (!jsonlex__eat(lx, '{'))
		return jsonlex__want(lx, "an object");
	if (jsonlex__eat(lx, '}'))
		return 0;
	do {
		char *key;
		size_t n;
		int rc = jsonlex_peek(lx) == '"'
			     ? jsonlex_string(lx, &key, &n)
			     : jsonlex__unexpected(lx, "a field name", ROOST_EPROTO);
		if (rc)
			return rc;
		size_t mark = jsonlex_push(lx, lx->plen ? ".%s" : "%s", key);
		rc = jsonlex__expect(lx, ':', "':'");
		if (rc == 0)
			rc = member(lx, key, n, ctx);
		jsonlex_pop(lx, mark);
		free(key);
		if (rc)
			return rc;
	} while (jsonlex__eat(lx, ','));
	return jsonlex__expect(lx, '}', "',' or '}'");
}

static int jsonlex__any_member(struct jsonlex *lx, const char *key, size_t keylen, void *ctx)
{
	(void)key;
	(void)keylen;
	return jsonlex_any(lx, *(unsigned *)ctx);
}

static int jsonlex__any_item(struct jsonlex *lx, void *ctx)
{
	return jsonlex_any(lx, *(unsigned *)ctx);
}

int jsonlex_any(struct jsonlex *lx, unsigned depth)
{
	int c = jsonlex_peek(lx);
	if ((c == '{' || c == '[') && depth == 0)
		return jsonlex_fail(lx, ROOST_EINVAL, "nested too deep");
	unsigned inner = depth - 1;
	if (c == '{')
		return jsonlex_members(lx, jsonlex__any_member, &inner);
	if (c == '[')
		return jsonlex_array(lx, SIZE_MAX, jsonlex__any_item, &inner);
	if (c == '"') {
		char *s;
		size_t n;
		int rc = jsonlex_string(lx, &s, &n);
		if (rc == 0)
			free(s);
		return rc;
	}
	if (c == 't' || c == 'f') {
		int b;
		return jsonlex_bool(lx, &b);
	}
	if (c == 'n')
		return jsonlex__word(lx, "null") ? 0 : jsonlex__want(lx, "a value");
	const char *tok;
	size_t n;
	int is_int;
	int rc = jsonlex__number(lx, &tok, &n, &is_int);
	if (rc == 0)
		lx->pos += n;
	return rc;
}

int jsonlex_scalar(struct jsonlex *lx, size_t *start)
{
	int c = jsonlex_peek(lx);
	*start = lx->pos;
	if (c == '{' || c == '[')
		return jsonlex_fail(lx, ROOST_EINVAL,
				    "expected a JSON scalar (a string, a number, true, false or "
				    "null), found %s",
				    c == '{' ? "an object" : "an array");
	return jsonlex_any(lx, 0);
}

int jsonlex_text(struct jsonlex *lx, const struct jsonlex_object *o, void *obj)
{
	int rc = jsonlex_object(lx, o, obj);

	if (rc == 0 && jsonlex_peek(lx) >= 0)
		rc = jsonlex_fail(lx, ROOST_EPROTO, "unexpected bytes after the top-level object");
	return rc;
}
