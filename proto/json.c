#include "json.h"

#include "batch.h"
#include "err.h"
#include "wire.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON__PATH 160
#define JSON__MSG  512

/* ------------------------------------------------------------------ */
/* Locale: JSON numbers always use '.', whatever the process set.      */

static pthread_once_t json__locale_once = PTHREAD_ONCE_INIT;
static locale_t json__c_locale;

static void json__locale_init(void)
{
	json__c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* Switches this thread to the C locale for strtof and snprintf; *old
 * receives what to restore with uselocale(). */
static int json__locale_enter(locale_t *old)
{
	pthread_once(&json__locale_once, json__locale_init);
	if (json__c_locale == (locale_t)0)
		return ROOST_ENOMEM;
	*old = uselocale(json__c_locale);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Parser state, errors and field paths.                               */

struct json__p {
	const char *s;
	size_t len;
	size_t pos;
	char *msg;
	size_t msglen;
	char path[JSON__PATH]; /* e.g. "add.docs[3].vector[17]", for messages */
	size_t plen;
};

/* Cuts an incomplete UTF-8 sequence off the end of s, as truncation
 * leaves one, so messages stay valid UTF-8 (field names need not be ASCII). */
static void json__utf8_trim(char *s)
{
	size_t len = strlen(s), cont = 0, need;
	unsigned char lead;

	while (cont < len && cont < 3 && ((unsigned char)s[len - 1 - cont] & 0xc0) == 0x80)
		cont++;
	if (cont == len)
		return;
	lead = (unsigned char)s[len - 1 - cont];
	need = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : lead >= 0xc0 ? 1 : 0;
	if (need > cont)
		s[len - 1 - cont] = '\0';
}

__attribute__((format(printf, 3, 4))) static int json__fail(struct json__p *p, int code,
							    const char *fmt, ...)
{
	char detail[JSON__MSG];
	va_list ap;

	if (p->msg == NULL || p->msglen == 0)
		return code;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	snprintf(p->msg, p->msglen, "%s%s%s (at byte %zu of the JSON text)", p->path,
		 p->plen ? ": " : "", detail, p->pos);
	json__utf8_trim(p->msg);
	return code;
}

__attribute__((format(printf, 2, 3))) static size_t json__push(struct json__p *p, const char *fmt,
							       ...)
{
	size_t old = p->plen;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(p->path + old, sizeof p->path - old, fmt, ap);
	va_end(ap);
	if (n > 0 && old + (size_t)n < sizeof p->path) {
		p->plen = old + (size_t)n;
	} else if (n > 0) {
		json__utf8_trim(p->path);
		p->plen = strlen(p->path);
	}
	return old;
}

static void json__pop(struct json__p *p, size_t old)
{
	p->plen = old;
	p->path[old] = '\0';
}

static void json__ws(struct json__p *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
				   p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

/* The next byte that is not whitespace, or -1 at the end. */
static int json__peek(struct json__p *p)
{
	json__ws(p);
	return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static int json__eat(struct json__p *p, char c)
{
	if (json__peek(p) != (unsigned char)c)
		return 0;
	p->pos++;
	return 1;
}

static const char *json__type_at(int c)
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

/* The input does not continue with what; a value of another JSON type
 * fails with type_code, anything else is a syntax error. */
static int json__unexpected(struct json__p *p, const char *what, int type_code)
{
	int c = json__peek(p);
	const char *type = json__type_at(c);

	if (c < 0)
		return json__fail(p, ROOST_EPROTO, "unexpected end of input, expected %s", what);
	if (type != NULL)
		return json__fail(p, type_code, "expected %s, found %s", what, type);
	if (c >= 0x20 && c < 0x7f)
		return json__fail(p, ROOST_EPROTO, "expected %s, found '%c'", what, c);
	return json__fail(p, ROOST_EPROTO, "expected %s, found byte 0x%02x", what, (unsigned)c);
}

/* A value of the wrong JSON type: a schema error. */
static int json__want(struct json__p *p, const char *what)
{
	return json__unexpected(p, what, ROOST_EINVAL);
}

/* Punctuation: anything else is a syntax error. */
static int json__expect(struct json__p *p, char c, const char *what)
{
	return json__eat(p, c) ? 0 : json__unexpected(p, what, ROOST_EPROTO);
}

static int json__reserve(struct json__p *p, void *arr, size_t *cap, size_t n, size_t elem,
			 void **out)
{
	size_t ncap;
	void *a;

	*out = arr;
	if (n < *cap)
		return 0;
	/* Every array is capped far below where this could overflow. */
	ncap = *cap ? *cap * 2 : 8;
	a = realloc(arr, ncap * elem);
	if (a == NULL)
		return json__fail(p, ROOST_ENOMEM, "server out of memory while decoding");
	*cap = ncap;
	*out = a;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Strings.                                                            */

/* Finds the closing quote of the string that starts at p->pos. */
static int json__string_end(struct json__p *p, size_t *end)
{
	size_t i;

	for (i = p->pos + 1; i < p->len; i++) {
		unsigned char c = (unsigned char)p->s[i];

		if (c == '"') {
			*end = i;
			return 0;
		}
		if (c < 0x20) {
			p->pos = i;
			return json__fail(p, ROOST_EPROTO,
					  "control character 0x%02x in a string; escape it", c);
		}
		if (c == '\\')
			i++;
	}
	return json__fail(p, ROOST_EPROTO, "unterminated string");
}

static int json__hex4(struct json__p *p, size_t at, unsigned *out)
{
	unsigned v = 0;
	size_t i;

	for (i = 0; i < 4; i++) {
		char c = at + i < p->len ? p->s[at + i] : '\0';
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return json__fail(p, ROOST_EPROTO, "\\u needs four hex digits");
		v = v << 4 | d;
	}
	*out = v;
	return 0;
}

static size_t json__utf8_put(unsigned cp, char *dst)
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

/* A \uXXXX escape at p->pos (the backslash), with its low surrogate when
 * it is a high one; advances p->pos past it. */
static int json__unicode(struct json__p *p, unsigned *cp)
{
	unsigned lo;
	int rc = json__hex4(p, p->pos + 2, cp);

	if (rc)
		return rc;
	if (*cp == 0)
		return json__fail(p, ROOST_EINVAL, "strings cannot hold U+0000");
	if (*cp >= 0xdc00 && *cp <= 0xdfff)
		return json__fail(p, ROOST_EUTF8, "lone low surrogate \\u%04x", *cp);
	p->pos += 6;
	if (*cp < 0xd800 || *cp > 0xdbff)
		return 0;
	if (p->pos + 1 >= p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
	    json__hex4(p, p->pos + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
		return json__fail(p, ROOST_EUTF8, "high surrogate \\u%04x without its low half",
				  *cp);
	*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
	p->pos += 6;
	return 0;
}

/* One escape at p->pos (the backslash) into dst; *n gets its bytes. */
static int json__escape(struct json__p *p, char *dst, size_t *n)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	char c = p->s[p->pos + 1];
	const char *hit = c != '\0' ? strchr(from, c) : NULL;
	unsigned cp;
	int rc;

	if (hit != NULL) {
		dst[0] = to[hit - from];
		*n = 1;
		p->pos += 2;
		return 0;
	}
	if (c != 'u')
		return json__fail(p, ROOST_EPROTO, "unknown escape in a string");
	rc = json__unicode(p, &cp);
	if (rc == 0)
		*n = json__utf8_put(cp, dst);
	return rc;
}

/* Decodes the string at p->pos into a malloc'ed, NUL-terminated buffer. */
static int json__string(struct json__p *p, char **out, size_t *outlen)
{
	size_t start, end = 0, n = 0, k = 0;
	char *dst;
	int rc = 0;

	if (json__peek(p) != '"')
		return json__want(p, "a string");
	start = p->pos;
	rc = json__string_end(p, &end);
	if (rc)
		return rc;
	/* Escapes only shrink: the raw length bounds the decoded one. */
	dst = malloc(end - start);
	if (dst == NULL)
		return json__fail(p, ROOST_ENOMEM, "server out of memory while decoding");
	p->pos = start + 1;
	while (rc == 0 && p->pos < end) {
		if (p->s[p->pos] == '\\') {
			rc = json__escape(p, dst + n, &k);
			n += k;
		} else {
			dst[n++] = p->s[p->pos++];
		}
	}
	if (rc == 0 && !batch_utf8_valid(dst, n)) {
		p->pos = start;
		rc = json__fail(p, ROOST_EUTF8, "string is not valid UTF-8");
	}
	if (rc) {
		free(dst);
		return rc;
	}
	dst[n] = '\0';
	p->pos = end + 1;
	*out = dst;
	*outlen = n;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Numbers and booleans.                                               */

static size_t json__digits(struct json__p *p, size_t i)
{
	while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9')
		i++;
	return i;
}

/* Checks the number token at p->pos against JSON's grammar and returns
 * it; *is_int when it has neither fraction nor exponent. */
static int json__number(struct json__p *p, const char **tok, size_t *n, int *is_int)
{
	size_t i, d;
	int c = json__peek(p);

	if (c != '-' && (c < '0' || c > '9'))
		return json__want(p, "a number");
	i = p->pos + (c == '-');
	d = json__digits(p, i);
	if (d == i || (p->s[i] == '0' && d > i + 1))
		return json__fail(p, ROOST_EPROTO, "malformed number (no digits, or a leading 0)");
	*is_int = 1;
	if (d < p->len && p->s[d] == '.') {
		*is_int = 0;
		i = d + 1;
		d = json__digits(p, i);
		if (d == i)
			return json__fail(p, ROOST_EPROTO, "malformed number: no digits after '.'");
	}
	if (d < p->len && (p->s[d] == 'e' || p->s[d] == 'E')) {
		*is_int = 0;
		i = d + 1 + (d + 1 < p->len && (p->s[d + 1] == '+' || p->s[d + 1] == '-'));
		d = json__digits(p, i);
		if (d == i)
			return json__fail(p, ROOST_EPROTO, "malformed number: no exponent digits");
	}
	if (d - p->pos > JSON_MAX_NUMBER)
		return json__fail(p, ROOST_ETOOBIG, "number longer than %u characters",
				  JSON_MAX_NUMBER);
	*tok = p->s + p->pos;
	*n = d - p->pos;
	return 0;
}

/* An integer token's sign and magnitude, exactly; -1 when the magnitude
 * does not fit 64 bits. */
static int json__magnitude(const char *tok, size_t n, int *neg, uint64_t *mag)
{
	size_t i = 0;
	uint64_t v = 0;

	*neg = tok[0] == '-';
	for (i = (size_t)*neg; i < n; i++) {
		unsigned d = (unsigned)(tok[i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*mag = v;
	return 0;
}

static int json__integer(struct json__p *p, const char **tok, size_t *n, int *neg, uint64_t *mag)
{
	int is_int, rc = json__number(p, tok, n, &is_int);

	if (rc)
		return rc;
	if (!is_int)
		return json__fail(p, ROOST_EINVAL, "expected an integer, found %.*s", (int)*n,
				  *tok);
	if (json__magnitude(*tok, *n, neg, mag) != 0)
		return json__fail(p, ROOST_EINVAL, "%.*s is out of range", (int)*n, *tok);
	return 0;
}

static int json__u64(struct json__p *p, uint64_t max, uint64_t *out)
{
	const char *tok;
	size_t n;
	int neg, rc = json__integer(p, &tok, &n, &neg, out);

	if (rc)
		return rc;
	if ((neg && *out != 0) || *out > max)
		return json__fail(p, ROOST_EINVAL, "%.*s is out of range (0 to %llu)", (int)n, tok,
				  (unsigned long long)max);
	p->pos += n;
	return 0;
}

static int json__u32(struct json__p *p, uint32_t *out)
{
	uint64_t v;
	int rc = json__u64(p, UINT32_MAX, &v);

	if (rc == 0)
		*out = (uint32_t)v;
	return rc;
}

static int json__i64(struct json__p *p, int64_t *out)
{
	const char *tok;
	size_t n;
	uint64_t mag;
	int neg, rc = json__integer(p, &tok, &n, &neg, &mag);

	if (rc)
		return rc;
	if (mag > (uint64_t)INT64_MAX + (uint64_t)neg)
		return json__fail(p, ROOST_EINVAL, "%.*s is out of the int64 range", (int)n, tok);
	/* -(2^63) has no positive twin: negate in unsigned arithmetic. */
	*out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
	p->pos += n;
	return 0;
}

static int json__float(struct json__p *p, float *out)
{
	char buf[JSON_MAX_NUMBER + 1];
	const char *tok;
	size_t n;
	int is_int, rc = json__number(p, &tok, &n, &is_int);

	if (rc)
		return rc;
	memcpy(buf, tok, n);
	buf[n] = '\0';
	/* strtof rounds once, straight to float32; the caller set the C locale. */
	*out = strtof(buf, NULL);
	if (!isfinite(*out))
		return json__fail(p, ROOST_EVALUE,
				  "%s is beyond float32 range; every value must be finite", buf);
	p->pos += n;
	return 0;
}

static int json__word(struct json__p *p, const char *w)
{
	size_t n = strlen(w);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, w, n) != 0)
		return 0;
	p->pos += n;
	return 1;
}

static int json__bool(struct json__p *p, protobuf_c_boolean *out)
{
	int c = json__peek(p);

	if (c == 't' && json__word(p, "true"))
		*out = 1;
	else if (c == 'f' && json__word(p, "false"))
		*out = 0;
	else
		return json__want(p, "true or false");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Objects and arrays.                                                 */

struct json__object {
	const char *name;	  /* for messages: "add", "a document", ... */
	const char *const *names; /* its fields, NULL-terminated */
	int (*field)(struct json__p *p, int field, void *obj);
	int unknown; /* the error for an unknown field */
};

static int json__lookup(const char *const *names, const char *key)
{
	int i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], key) == 0)
			return i;
	return -1;
}

static int json__unknown(struct json__p *p, const struct json__object *o)
{
	char list[JSON__PATH] = "";
	size_t at = 0;
	int i;

	for (i = 0; o->names[i] != NULL && at < sizeof list; i++)
		at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", i ? ", " : "",
				       o->names[i]);
	if (i == 0)
		return json__fail(p, o->unknown, "unknown field (%s takes no fields)", o->name);
	return json__fail(p, o->unknown, "unknown field (%s takes %s)", o->name, list);
}

static int json__member(struct json__p *p, const struct json__object *o, void *obj, unsigned *seen)
{
	char *key;
	size_t n, old;
	int f, rc = json__peek(p) == '"' ? json__string(p, &key, &n)
					 : json__unexpected(p, "a field name", ROOST_EPROTO);

	if (rc)
		return rc;
	old = json__push(p, p->plen ? ".%s" : "%s", key);
	f = json__lookup(o->names, key);
	free(key);
	if (f < 0)
		rc = json__unknown(p, o);
	else if (*seen & 1u << f)
		rc = json__fail(p, ROOST_EINVAL, "duplicate field");
	else
		rc = json__expect(p, ':', "':'");
	if (rc == 0) {
		*seen |= 1u << f;
		rc = o->field(p, f, obj);
	}
	json__pop(p, old);
	return rc;
}

static int json__object(struct json__p *p, const struct json__object *o, void *obj)
{
	unsigned seen = 0;
	int rc;

	if (!json__eat(p, '{'))
		return json__want(p, "an object");
	if (json__eat(p, '}'))
		return 0;
	do {
		rc = json__member(p, o, obj, &seen);
		if (rc)
			return rc;
	} while (json__eat(p, ','));
	return json__expect(p, '}', "',' or '}'");
}

typedef int (*json__item)(struct json__p *p, void *ctx);

static int json__array(struct json__p *p, size_t max, json__item item, void *ctx)
{
	size_t i = 0, old;
	int rc;

	if (!json__eat(p, '['))
		return json__want(p, "an array");
	if (json__eat(p, ']'))
		return 0;
	do {
		if (i == max)
			return json__fail(p, ROOST_ETOOBIG, "more than %zu entries", max);
		old = json__push(p, "[%zu]", i++);
		rc = item(p, ctx);
		json__pop(p, old);
		if (rc)
			return rc;
	} while (json__eat(p, ','));
	return json__expect(p, ']', "',' or ']'");
}

/* A growing array of floats or of int64s (one of the two is set). */
struct json__numbers {
	float **floats;
	int64_t **ints;
	size_t *n;
	size_t cap;
};

static int json__number_item(struct json__p *p, void *ctx)
{
	struct json__numbers *a = ctx;
	void *grown;
	int rc;

	if (a->floats != NULL) {
		rc = json__reserve(p, *a->floats, &a->cap, *a->n, sizeof **a->floats, &grown);
		if (rc == 0) {
			*a->floats = grown;
			rc = json__float(p, &(*a->floats)[*a->n]);
		}
	} else {
		rc = json__reserve(p, *a->ints, &a->cap, *a->n, sizeof **a->ints, &grown);
		if (rc == 0) {
			*a->ints = grown;
			rc = json__i64(p, &(*a->ints)[*a->n]);
		}
	}
	if (rc == 0)
		(*a->n)++;
	return rc;
}

/* A new message of desc's type with its defaults, freed like an unpacked
 * one. */
static void *json__message(struct json__p *p, const ProtobufCMessageDescriptor *desc, int *rc)
{
	void *m = malloc(desc->sizeof_message);

	*rc = 0;
	if (m == NULL)
		*rc = json__fail(p, ROOST_ENOMEM, "server out of memory while decoding");
	else
		protobuf_c_message_init(desc, m);
	return m;
}

/* Replaces a string field's default with the decoded string. */
static int json__string_field(struct json__p *p, char **field)
{
	size_t n;

	return json__string(p, field, &n);
}

/* ------------------------------------------------------------------ */
/* The schema: documents, add, search, status, request.                */

enum { JSON__DOC_VECTOR, JSON__DOC_AGENT, JSON__DOC_TIME, JSON__DOC_KIND, JSON__DOC_TEXT };
static const char *const json__doc_names[] = {"vector", "agent", "time", "kind", "text", NULL};

static int json__doc_field(struct json__p *p, int f, void *obj)
{
	Roost__Document *d = obj;

	switch (f) {
	case JSON__DOC_VECTOR:
		return json__array(p, BATCH_MAX_DIM, json__number_item,
				   &(struct json__numbers){&d->vector, NULL, &d->n_vector, 0});
	case JSON__DOC_AGENT:
		return json__i64(p, &d->agent);
	case JSON__DOC_TIME:
		return json__i64(p, &d->time);
	case JSON__DOC_KIND:
		return json__string_field(p, &d->kind);
	default:
		return json__string_field(p, &d->text);
	}
}

static const struct json__object json__doc_object = {"a document", json__doc_names, json__doc_field,
						     ROOST_EINVAL};

/* The docs array of an add request. */
struct json__docs {
	Roost__AddRequest *add;
	size_t cap;
};

static int json__doc_item(struct json__p *p, void *ctx)
{
	struct json__docs *ds = ctx;
	Roost__AddRequest *add = ds->add;
	Roost__Document *d;
	void *a;
	int rc = json__reserve(p, add->docs, &ds->cap, add->n_docs, sizeof *add->docs, &a);

	if (rc)
		return rc;
	add->docs = a;
	d = json__message(p, &roost__document__descriptor, &rc);
	if (rc)
		return rc;
	/* Counted at once, so a failure below still frees it with the rest. */
	add->docs[add->n_docs++] = d;
	return json__object(p, &json__doc_object, d);
}

static const char *const json__ack_names[] = {"default", "queued", "durable", "visible", NULL};

static int json__ack(struct json__p *p, Roost__AckMode *out)
{
	char *name;
	size_t n;
	int i, rc = json__string(p, &name, &n);

	if (rc)
		return rc;
	i = json__lookup(json__ack_names, name);
	free(name);
	if (i < 0)
		return json__fail(p, ROOST_EUNSUPPORTED,
				  "unknown ack mode; use default, queued, durable or visible");
	*out = (Roost__AckMode)i;
	return 0;
}

enum {
	JSON__ADD_DIM,
	JSON__ADD_DOCS,
	JSON__ADD_CLIENT,
	JSON__ADD_SEQ,
	JSON__ADD_ACK,
	JSON__ADD_TO
};
static const char *const json__add_names[] = {"dim", "docs",	   "client_id", "seq",
					      "ack", "timeout_ms", NULL};

static int json__add_field(struct json__p *p, int f, void *obj)
{
	Roost__AddRequest *add = obj;
	struct json__docs ds = {add, 0};

	switch (f) {
	case JSON__ADD_DIM:
		return json__u32(p, &add->dim);
	case JSON__ADD_DOCS:
		return json__array(p, BATCH_MAX_DOCS, json__doc_item, &ds);
	case JSON__ADD_CLIENT:
		return json__u64(p, UINT64_MAX, &add->client_id);
	case JSON__ADD_SEQ:
		return json__u64(p, UINT64_MAX, &add->seq);
	case JSON__ADD_ACK:
		return json__ack(p, &add->ack);
	default:
		return json__u32(p, &add->timeout_ms);
	}
}

static const struct json__object json__add_object = {"add", json__add_names, json__add_field,
						     ROOST_EINVAL};

/* A filter, with which time bounds it named. */
struct json__filter {
	Roost__Filter *f;
	int has_min, has_max, has_range;
};

enum { JSON__F_AGENTS, JSON__F_RANGE, JSON__F_MIN, JSON__F_MAX, JSON__F_KIND };
static const char *const json__filter_names[] = {"agents",   "has_time_range", "time_min",
						 "time_max", "kind",	       NULL};

static int json__filter_field(struct json__p *p, int f, void *obj)
{
	struct json__filter *jf = obj;
	struct json__numbers agents = {NULL, &jf->f->agents, &jf->f->n_agents, 0};

	switch (f) {
	case JSON__F_AGENTS:
		return json__array(p, JSON_MAX_AGENTS, json__number_item, &agents);
	case JSON__F_RANGE:
		jf->has_range = 1;
		return json__bool(p, &jf->f->has_time_range);
	case JSON__F_MIN:
		jf->has_min = 1;
		return json__i64(p, &jf->f->time_min);
	case JSON__F_MAX:
		jf->has_max = 1;
		return json__i64(p, &jf->f->time_max);
	default:
		return json__string_field(p, &jf->f->kind);
	}
}

static const struct json__object json__filter_object = {"filter", json__filter_names,
							json__filter_field, ROOST_EINVAL};

static int json__filter(struct json__p *p, Roost__SearchRequest *s)
{
	struct json__filter jf = {0};
	int rc;

	jf.f = json__message(p, &roost__filter__descriptor, &rc);
	if (rc)
		return rc;
	s->filter = jf.f;
	rc = json__object(p, &json__filter_object, &jf);
	if (rc)
		return rc;
	/* A bound alone means a range open on the other side. */
	if (!jf.has_range)
		jf.f->has_time_range = jf.has_min || jf.has_max;
	if (jf.f->has_time_range && !jf.has_min)
		jf.f->time_min = INT64_MIN;
	if (jf.f->has_time_range && !jf.has_max)
		jf.f->time_max = INT64_MAX;
	return 0;
}

/* A search under construction: queries arrive as rows whose length is
 * checked against dim once the whole object (and so dim) is known. */
struct json__search {
	Roost__SearchRequest *s;
	size_t cap;
	size_t rows;
	size_t first_len;
	size_t bad_row; /* first row whose length differs from row 0's */
	size_t bad_len;
};

static int json__query_row(struct json__p *p, void *ctx)
{
	struct json__search *js = ctx;
	struct json__numbers f = {&js->s->queries, NULL, &js->s->n_queries, js->cap};
	size_t before = js->s->n_queries, len;
	int rc = json__array(p, BATCH_MAX_DIM, json__number_item, &f);

	js->cap = f.cap;
	if (rc)
		return rc;
	len = js->s->n_queries - before;
	if (js->rows == 0)
		js->first_len = len;
	else if (len != js->first_len && js->bad_row == SIZE_MAX) {
		js->bad_row = js->rows;
		js->bad_len = len;
	}
	js->rows++;
	return 0;
}

enum {
	JSON__S_DIM,
	JSON__S_QUERIES,
	JSON__S_K,
	JSON__S_FILTER,
	JSON__S_MIN_LSN,
	JSON__S_TO,
	JSON__S_NPROBE,
	JSON__S_EF_SEARCH
};
static const char *const json__search_names[] = {
    "dim", "queries", "k", "filter", "min_lsn", "timeout_ms", "nprobe", "ef_search", NULL};

static int json__search_field(struct json__p *p, int f, void *obj)
{
	struct json__search *js = obj;

	switch (f) {
	case JSON__S_DIM:
		return json__u32(p, &js->s->dim);
	case JSON__S_QUERIES:
		return json__array(p, SIZE_MAX, json__query_row, js);
	case JSON__S_K:
		return json__u32(p, &js->s->k);
	case JSON__S_FILTER:
		return json__filter(p, js->s);
	case JSON__S_MIN_LSN:
		return json__u64(p, UINT64_MAX, &js->s->min_lsn);
	case JSON__S_TO:
		return json__u32(p, &js->s->timeout_ms);
	case JSON__S_NPROBE:
		return json__u32(p, &js->s->nprobe);
	default:
		return json__u32(p, &js->s->ef_search);
	}
}

static const struct json__object json__search_object = {"search", json__search_names,
							json__search_field, ROOST_EINVAL};

static int json__search(struct json__p *p, Roost__SearchRequest *s)
{
	struct json__search js = {s, 0, 0, 0, SIZE_MAX, 0};
	size_t old;
	int rc = json__object(p, &json__search_object, &js);

	if (rc || js.rows == 0 || (js.first_len == s->dim && js.bad_row == SIZE_MAX))
		return rc;
	if (js.first_len != s->dim) {
		js.bad_row = 0;
		js.bad_len = js.first_len;
	}
	old = json__push(p, ".queries[%zu]", js.bad_row);
	rc = json__fail(p, ROOST_EDIM, "query has %zu values but dim is %u", js.bad_len, s->dim);
	json__pop(p, old);
	return rc;
}

/* No field name matches, so no field handler is ever called. */
static const char *const json__no_names[] = {NULL};
static const struct json__object json__status_object = {"status", json__no_names, NULL,
							ROOST_EINVAL};

enum { JSON__R_VERSION, JSON__R_ADD, JSON__R_SEARCH, JSON__R_STATUS };
static const char *const json__request_names[] = {"version", "add", "search", "status", NULL};

static int json__request_field(struct json__p *p, int f, void *obj)
{
	static const ProtobufCMessageDescriptor *const desc[] = {
	    NULL, &roost__add_request__descriptor, &roost__search_request__descriptor,
	    &roost__status_request__descriptor};
	static const Roost__Request__OpCase op[] = {
	    ROOST__REQUEST__OP__NOT_SET, ROOST__REQUEST__OP_ADD, ROOST__REQUEST__OP_SEARCH,
	    ROOST__REQUEST__OP_STATUS};
	Roost__Request *req = obj;
	void *m;
	int rc;

	if (f == JSON__R_VERSION)
		return json__u32(p, &req->version);
	if (req->op_case != ROOST__REQUEST__OP__NOT_SET)
		return json__fail(p, ROOST_EINVAL,
				  "a request sets exactly one of add, search or status");
	m = json__message(p, desc[f], &rc);
	if (rc)
		return rc;
	/* The case is set with the pointer, so a failure frees what was built. */
	req->op_case = op[f];
	switch (f) {
	case JSON__R_ADD:
		req->add = m;
		return json__object(p, &json__add_object, m);
	case JSON__R_SEARCH:
		req->search = m;
		return json__search(p, m);
	default:
		req->status = m;
		return json__object(p, &json__status_object, m);
	}
}

static const struct json__object json__request_object = {"a request", json__request_names,
							 json__request_field, ROOST_EUNSUPPORTED};

/* ------------------------------------------------------------------ */
/* Decoding entry points.                                              */

static void json__begin(struct json__p *p, const char *s, size_t len, char *msg, size_t msglen)
{
	memset(p, 0, sizeof *p);
	p->s = s;
	p->len = len;
	p->msg = msg;
	p->msglen = msglen;
	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
}

/* Parses one top-level object and insists on nothing but whitespace after. */
static int json__document(struct json__p *p, const struct json__object *o, void *obj)
{
	locale_t old;
	int rc = json__locale_enter(&old);

	if (rc)
		return json__fail(p, rc, "cannot set up the C locale");
	rc = json__object(p, o, obj);
	uselocale(old);
	if (rc == 0 && json__peek(p) >= 0)
		rc = json__fail(p, ROOST_EPROTO, "unexpected bytes after the top-level object");
	return rc;
}

static int json__check_request(struct json__p *p, const Roost__Request *req, size_t max_frame)
{
	size_t bin;

	if (req->version != WIRE_VERSION)
		return json__fail(p, ROOST_EVERSION,
				  "protocol version %u is not supported; this server speaks "
				  "version %u only (set \"version\":%u)",
				  req->version, WIRE_VERSION, WIRE_VERSION);
	if (req->op_case == ROOST__REQUEST__OP__NOT_SET)
		return json__fail(p, ROOST_EUNSUPPORTED,
				  "no operation: a request sets one of add, search or status");
	bin = roost__request__get_packed_size(req);
	if (bin > max_frame)
		return json__fail(p, ROOST_ETOOBIG,
				  "request is %zu bytes in binary form; the frame limit is %zu "
				  "bytes, send fewer documents or values",
				  bin, max_frame);
	return 0;
}

int json_decode_request(const char *s, size_t len, size_t max_frame, Roost__Request **out,
			char *msg, size_t msglen)
{
	struct json__p p;
	Roost__Request *req;
	int rc;

	json__begin(&p, s, len, msg, msglen);
	if (out == NULL || (s == NULL && len > 0))
		return json__fail(&p, ROOST_EINVAL, "internal error: no JSON text");
	*out = NULL;
	if (max_frame == 0 || max_frame > WIRE_MAX_FRAME)
		max_frame = WIRE_MAX_FRAME;
	if (len > max_frame)
		return json__fail(&p, ROOST_ETOOBIG, "JSON text is %zu bytes; the limit is %zu",
				  len, max_frame);
	req = json__message(&p, &roost__request__descriptor, &rc);
	if (rc)
		return rc;
	rc = json__document(&p, &json__request_object, req);
	if (rc == 0)
		rc = json__check_request(&p, req, max_frame);
	if (rc) {
		json_request_free(req);
		return rc;
	}
	*out = req;
	return 0;
}

void json_request_free(Roost__Request *req)
{
	/* Built from malloc'ed parts laid out as unpack() lays them out. */
	if (req != NULL)
		roost__request__free_unpacked(req, NULL);
}

/* Takes a string field for the caller: a malloc'ed copy of the default. */
static char *json__take(char **field)
{
	char *s = *field;

	*field = (char *)protobuf_c_empty_string;
	return s != protobuf_c_empty_string ? s : strdup("");
}

static int json__take_document(struct json__p *p, Roost__Document *d, struct json_document *out)
{
	if (d->n_vector == 0)
		return json__fail(p, ROOST_EDIM, "a document needs a non-empty \"vector\"");
	out->kind = json__take(&d->kind);
	out->text = json__take(&d->text);
	if (out->kind == NULL || out->text == NULL) {
		json_document_free(out);
		return json__fail(p, ROOST_ENOMEM, "out of memory");
	}
	out->vector = d->vector;
	out->dim = d->n_vector;
	d->vector = NULL;
	d->n_vector = 0;
	out->agent = d->agent;
	out->time = d->time;
	return 0;
}

int json_parse_document(const char *s, size_t len, struct json_document *out, char *msg,
			size_t msglen)
{
	struct json__p p;
	Roost__Document *d;
	int rc;

	json__begin(&p, s, len, msg, msglen);
	if (out == NULL || (s == NULL && len > 0))
		return json__fail(&p, ROOST_EINVAL, "internal error: no JSON text");
	memset(out, 0, sizeof *out);
	d = json__message(&p, &roost__document__descriptor, &rc);
	if (rc)
		return rc;
	rc = json__document(&p, &json__doc_object, d);
	if (rc == 0)
		rc = json__take_document(&p, d, out);
	roost__document__free_unpacked(d, NULL);
	return rc;
}

void json_document_free(struct json_document *doc)
{
	if (doc == NULL)
		return;
	free(doc->vector);
	free(doc->kind);
	free(doc->text);
	memset(doc, 0, sizeof *doc);
}

int json_is_request(const void *frame, size_t len)
{
	struct json__p p;

	json__begin(&p, frame, len, NULL, 0);
	return frame != NULL && json__peek(&p) == '{';
}

/* ------------------------------------------------------------------ */
/* Encoding.                                                           */

struct json__buf {
	char *s;
	size_t len, cap;
	int err; /* sticky: the first failure */
};

static void json__put(struct json__buf *b, const char *s, size_t n)
{
	size_t ncap;
	char *a;

	if (b->err)
		return;
	if (b->len + n + 1 > b->cap) {
		ncap = b->cap ? b->cap : 256;
		while (b->len + n + 1 > ncap)
			ncap *= 2;
		a = realloc(b->s, ncap);
		if (a == NULL) {
			b->err = ROOST_ENOMEM;
			return;
		}
		b->s = a;
		b->cap = ncap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void json__puts(struct json__buf *b, const char *s)
{
	json__put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void json__putf(struct json__buf *b, const char *fmt,
							     ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	json__put(b, tmp, n > 0 ? (size_t)n : 0);
}

/* A quoted string; runs of plain bytes are copied whole. */
static void json__put_str(struct json__buf *b, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0, i, run = 0;

	if (!batch_utf8_valid(s != NULL ? s : "", n)) {
		if (!b->err)
			b->err = ROOST_EUTF8;
		return;
	}
	json__put(b, "\"", 1);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		json__put(b, s + run, i - run);
		run = i + 1;
		if (c == '"' || c == '\\')
			json__putf(b, "\\%c", c);
		else if (c == '\n')
			json__puts(b, "\\n");
		else if (c == '\t')
			json__puts(b, "\\t");
		else
			json__putf(b, "\\u%04x", c);
	}
	json__put(b, s + run, n - run);
	json__put(b, "\"", 1);
}

/* The shortest decimal that reads back as the same float32; null when
 * the value is not finite, as JSON has no word for it. */
static void json__put_float(struct json__buf *b, float f)
{
	char tmp[32];
	int prec;

	if (!isfinite(f)) {
		json__puts(b, "null");
		return;
	}
	for (prec = 6; prec < 9; prec++) {
		snprintf(tmp, sizeof tmp, "%.*g", prec, (double)f);
		if (strtof(tmp, NULL) == f)
			break;
	}
	json__putf(b, "%.*g", prec, (double)f);
}

/* The helpers below write pre, the literal text before the value (a
 * separator and the quoted key), then the value. */
static void json__put_u64(struct json__buf *b, const char *pre, uint64_t v)
{
	json__putf(b, "%s%llu", pre, (unsigned long long)v);
}

static void json__put_i64(struct json__buf *b, const char *pre, int64_t v)
{
	json__putf(b, "%s%lld", pre, (long long)v);
}

static void json__put_key_str(struct json__buf *b, const char *pre, const char *v)
{
	json__puts(b, pre);
	json__put_str(b, v);
}

static void json__put_floats(struct json__buf *b, const float *v, size_t n)
{
	size_t i;

	json__put(b, "[", 1);
	for (i = 0; i < n; i++) {
		if (i)
			json__put(b, ",", 1);
		json__put_float(b, v[i]);
	}
	json__put(b, "]", 1);
}

static void json__put_hit(struct json__buf *b, const Roost__Hit *h)
{
	json__put_u64(b, "{\"id\":", h->id);
	json__puts(b, ",\"score\":");
	json__put_float(b, h->score);
	json__put_i64(b, ",\"agent\":", h->agent);
	json__put_i64(b, ",\"time\":", h->time);
	json__put_key_str(b, ",\"kind\":", h->kind);
	json__put_key_str(b, ",\"text\":", h->text);
	json__put(b, "}", 1);
}

static void json__put_search_reply(struct json__buf *b, const Roost__SearchReply *s)
{
	size_t q, i;

	json__put_u64(b, ",\"search\":{\"lsn\":", s->lsn);
	json__puts(b, ",\"results\":[");
	for (q = 0; q < s->n_results; q++) {
		const Roost__QueryResult *r = s->results[q];

		json__puts(b, q ? ",{\"hits\":[" : "{\"hits\":[");
		for (i = 0; r != NULL && i < r->n_hits; i++) {
			if (i)
				json__put(b, ",", 1);
			json__put_hit(b, r->hits[i]);
		}
		json__puts(b, "]}");
	}
	json__puts(b, "]}");
}

static void json__put_add_reply(struct json__buf *b, const Roost__AddReply *a)
{
	size_t i;

	json__put_u64(b, ",\"add\":{\"lsn\":", a->lsn);
	json__puts(b, ",\"ids\":[");
	for (i = 0; i < a->n_ids; i++)
		json__putf(b, i ? ",%llu" : "%llu", (unsigned long long)a->ids[i]);
	json__putf(b, "],\"duplicate\":%s}", a->duplicate ? "true" : "false");
}

static void json__put_status_reply(struct json__buf *b, const Roost__StatusReply *s)
{
	json__put_u64(b, ",\"status_reply\":{\"dim\":", s->dim);
	json__putf(b, ",\"metric\":\"%s\"",
		   s->metric == ROOST__METRIC__METRIC_INNER_PRODUCT ? "ip" : "l2");
	json__put_key_str(b, ",\"index\":", s->index);
	json__put_i64(b, ",\"writer_pid\":", s->writer_pid);
	json__put_u64(b, ",\"ring_head\":", s->ring_head);
	json__put_u64(b, ",\"ring_reserve\":", s->ring_reserve);
	json__put_u64(b, ",\"ring_capacity\":", s->ring_capacity);
	json__put_u64(b, ",\"durable_lsn\":", s->durable_lsn);
	json__put_u64(b, ",\"applied_lsn\":", s->applied_lsn);
	json__put_u64(b, ",\"published_lsn\":", s->published_lsn);
	json__put_u64(b, ",\"documents\":", s->documents);
	json__put_key_str(b, ",\"writer_mode\":", s->writer_mode);
	json__put(b, "}", 1);
}

/* Hands the buffer over, or frees it on a sticky error. */
static int json__finish(struct json__buf *b, locale_t old, char **out, size_t *outlen)
{
	uselocale(old);
	if (b->err) {
		free(b->s);
		return b->err;
	}
	*out = b->s;
	*outlen = b->len;
	return 0;
}

int json_encode_reply(const Roost__Reply *reply, char **out, size_t *outlen)
{
	struct json__buf b = {0};
	const char *message;
	locale_t old;
	int rc;

	if (reply == NULL || out == NULL || outlen == NULL)
		return ROOST_EINVAL;
	rc = json__locale_enter(&old);
	if (rc)
		return rc;
	message = reply->message != NULL ? reply->message : "";
	/* A client must never get a failure without a word of explanation. */
	if (reply->status != 0 && message[0] == '\0')
		message = roost_strerror(reply->status);
	json__putf(&b, "{\"version\":%u,\"status\":%d,", WIRE_VERSION, (int)reply->status);
	json__put_key_str(&b, "\"message\":", message);
	if (reply->body_case == ROOST__REPLY__BODY_ADD && reply->add != NULL)
		json__put_add_reply(&b, reply->add);
	else if (reply->body_case == ROOST__REPLY__BODY_SEARCH && reply->search != NULL)
		json__put_search_reply(&b, reply->search);
	else if (reply->body_case == ROOST__REPLY__BODY_STATUS_REPLY && reply->status_reply)
		json__put_status_reply(&b, reply->status_reply);
	json__put(&b, "}", 1);
	return json__finish(&b, old, out, outlen);
}

static void json__put_doc(struct json__buf *b, const Roost__Document *d)
{
	json__puts(b, "{\"vector\":");
	json__put_floats(b, d->vector, d->n_vector);
	json__put_i64(b, ",\"agent\":", d->agent);
	json__put_i64(b, ",\"time\":", d->time);
	json__put_key_str(b, ",\"kind\":", d->kind);
	json__put_key_str(b, ",\"text\":", d->text);
	json__put(b, "}", 1);
}

static void json__put_add(struct json__buf *b, const Roost__AddRequest *a)
{
	size_t i;

	if ((unsigned)a->ack > (unsigned)ROOST__ACK_MODE__ACK_VISIBLE) {
		b->err = ROOST_EINVAL;
		return;
	}
	json__put_u64(b, ",\"add\":{\"dim\":", a->dim);
	json__puts(b, ",\"docs\":[");
	for (i = 0; i < a->n_docs; i++) {
		if (i)
			json__put(b, ",", 1);
		json__put_doc(b, a->docs[i]);
	}
	json__put_u64(b, "],\"client_id\":", a->client_id);
	json__put_u64(b, ",\"seq\":", a->seq);
	json__putf(b, ",\"ack\":\"%s\"", json__ack_names[a->ack]);
	json__put_u64(b, ",\"timeout_ms\":", a->timeout_ms);
	json__put(b, "}", 1);
}

static void json__put_filter(struct json__buf *b, const Roost__Filter *f)
{
	size_t i;

	json__puts(b, ",\"filter\":{\"agents\":[");
	for (i = 0; i < f->n_agents; i++)
		json__putf(b, i ? ",%lld" : "%lld", (long long)f->agents[i]);
	json__putf(b, "],\"has_time_range\":%s", f->has_time_range ? "true" : "false");
	json__put_i64(b, ",\"time_min\":", f->time_min);
	json__put_i64(b, ",\"time_max\":", f->time_max);
	json__put_key_str(b, ",\"kind\":", f->kind);
	json__put(b, "}", 1);
}

static void json__put_search(struct json__buf *b, const Roost__SearchRequest *s)
{
	size_t q;

	if (s->n_queries > 0 && (s->dim == 0 || s->n_queries % s->dim != 0)) {
		b->err = ROOST_EINVAL;
		return;
	}
	json__put_u64(b, ",\"search\":{\"dim\":", s->dim);
	json__puts(b, ",\"queries\":[");
	for (q = 0; q < s->n_queries / (s->dim ? s->dim : 1); q++) {
		if (q)
			json__put(b, ",", 1);
		json__put_floats(b, s->queries + q * s->dim, s->dim);
	}
	json__put_u64(b, "],\"k\":", s->k);
	if (s->filter != NULL)
		json__put_filter(b, s->filter);
	json__put_u64(b, ",\"min_lsn\":", s->min_lsn);
	json__put_u64(b, ",\"timeout_ms\":", s->timeout_ms);
	json__put_u64(b, ",\"nprobe\":", s->nprobe);
	json__put_u64(b, ",\"ef_search\":", s->ef_search);
	json__put(b, "}", 1);
}

int json_encode_request(const Roost__Request *req, char **out, size_t *outlen)
{
	struct json__buf b = {0};
	locale_t old;
	int rc;

	if (req == NULL || out == NULL || outlen == NULL)
		return ROOST_EINVAL;
	rc = json__locale_enter(&old);
	if (rc)
		return rc;
	json__putf(&b, "{\"version\":%u", req->version);
	if (req->op_case == ROOST__REQUEST__OP_ADD && req->add != NULL)
		json__put_add(&b, req->add);
	else if (req->op_case == ROOST__REQUEST__OP_SEARCH && req->search != NULL)
		json__put_search(&b, req->search);
	else if (req->op_case == ROOST__REQUEST__OP_STATUS)
		json__puts(&b, ",\"status\":{}");
	json__put(&b, "}", 1);
	return json__finish(&b, old, out, outlen);
}

/* ------------------------------------------------------------------ */
/* Serving.                                                            */

static int json__reply_out(const Roost__Reply *r, void **reply, size_t *reply_len)
{
	char *s;
	size_t n;
	int rc = json_encode_reply(r, &s, &n);

	if (rc == 0) {
		*reply = s;
		*reply_len = n;
	}
	return rc;
}

static int json__error_reply(int status, const char *message, void **reply, size_t *reply_len)
{
	Roost__Reply r = ROOST__REPLY__INIT;
	int rc;

	r.status = status;
	r.message = (char *)message;
	rc = json__reply_out(&r, reply, reply_len);
	/* A message that is not UTF-8 must not cost the client its reply. */
	if (rc == ROOST_EUTF8) {
		r.message = (char *)roost_strerror(status);
		rc = json__reply_out(&r, reply, reply_len);
	}
	return rc;
}

/* fn's binary reply as JSON. A reply that does not decode or holds bad
 * UTF-8 came from another process (a reader, through the broker): the
 * client gets an error, never broken JSON. */
static int json__transcode(const void *bin, size_t len, void **reply, size_t *reply_len)
{
	Roost__Reply *r = roost__reply__unpack(NULL, len, bin);
	int rc;

	if (r == NULL)
		return json__error_reply(ROOST_EPROTO, "the server's reply did not decode", reply,
					 reply_len);
	rc = json__reply_out(r, reply, reply_len);
	roost__reply__free_unpacked(r, NULL);
	if (rc == ROOST_EUTF8)
		return json__error_reply(rc, "the server's reply holds text that is not UTF-8",
					 reply, reply_len);
	return rc;
}

/* A reply over WIRE_MAX_FRAME would cost its requester the connection on
 * the next hop: the requester gets an error that says what to ask for. */
static int json__cap_reply(int json, void **reply, size_t *reply_len)
{
	if (*reply_len <= WIRE_MAX_FRAME)
		return 0;
	char msg[JSON__MSG];
	snprintf(msg, sizeof msg,
		 "the reply would be %zu bytes, over the %u-byte frame limit: ask for fewer "
		 "queries, a smaller k, or shorter texts",
		 *reply_len, WIRE_MAX_FRAME);
	free(*reply);
	*reply = NULL;
	return json ? json__error_reply(ROOST_ETOOBIG, msg, reply, reply_len)
		    : wire_encode_error(ROOST_ETOOBIG, msg, reply, reply_len);
}

int json_serve(const void *frame, size_t len, size_t max_frame, json_handler fn, void *ctx,
	       void **reply, size_t *reply_len)
{
	char msg[JSON__MSG];
	Roost__Request *req;
	uint8_t *bin;
	void *out;
	size_t n, outlen;
	int rc;

	if (!json_is_request(frame, len)) {
		rc = fn(ctx, frame, len, reply, reply_len);
		return rc ? rc : json__cap_reply(0, reply, reply_len);
	}
	rc = json_decode_request(frame, len, max_frame, &req, msg, sizeof msg);
	if (rc)
		return json__error_reply(rc, msg, reply, reply_len);
	n = roost__request__get_packed_size(req);
	bin = malloc(n > 0 ? n : 1);
	if (bin != NULL)
		roost__request__pack(req, bin);
	json_request_free(req);
	if (bin == NULL)
		return ROOST_ENOMEM;
	rc = fn(ctx, bin, n, &out, &outlen);
	free(bin);
	if (rc)
		return rc;
	rc = json__transcode(out, outlen, reply, reply_len);
	free(out);
	return rc ? rc : json__cap_reply(1, reply, reply_len);
}
