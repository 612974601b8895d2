#include "metaq.h"

#include "batch.h"
#include "clocale.h"
#include "err.h"
#include "jsonlex.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A number as compared: exact when it is an integer below 2^64 in
 * magnitude, else its nearest double. */
struct metaq__num {
	int exact;
	int neg; /* exact only; 0 for zero, so that -0 equals 0 */
	uint64_t mag;
	double d; /* when not exact */
};

struct metaq__str {
	char *s;
	size_t len;
};

enum { METAQ__NULL = 1, METAQ__FALSE = 2, METAQ__TRUE = 4 };

/* A compiled condition: any_of split by type and sorted, so that a row's
 * value is looked up in O(log n) whatever the number of values. */
struct metaq__cond {
	char *key;
	size_t keylen;
	int has_set; /* any_of was given */
	unsigned lits;
	struct metaq__str *strs;
	size_t nstrs, strs_cap;
	struct metaq__num *ints;
	size_t nints, ints_cap;
	double *reals;
	size_t nreals, reals_cap;
	int has_min, min_excl, has_max, max_excl;
	double min, max;
};

struct metaq {
	struct metaq__cond c[METAQ_MAX_CONDITIONS];
	size_t n;
};

/* ------------------------------------------------------------------ */
/* Numbers.                                                            */

static int metaq__digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Checks s[0..n) against JSON's number grammar and works out whether it
 * is an exact integer (struct metaq__num); 0, or -1 when it is no number.
 * The decimal digits are kept apart from the exponent, so that 0.5e1,
 * 5.0 and 5 all come out as the integer 5. */
static int metaq__number(const char *s, size_t n, struct metaq__num *out)
{
	if (n == 0 || n > JSONLEX_MAX_NUMBER)
		return -1;
	size_t i = s[0] == '-', int_start = i;
	while (i < n && metaq__digit(s[i]))
		i++;
	size_t int_end = i, frac_start = i, frac_end = i;
	if (int_end == int_start || (s[int_start] == '0' && int_end > int_start + 1))
		return -1;
	if (i < n && s[i] == '.') {
		frac_start = ++i;
		while (i < n && metaq__digit(s[i]))
			i++;
		frac_end = i;
		if (frac_end == frac_start)
			return -1;
	}
	long exp = 0;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		int eneg = ++i < n && s[i] == '-';
		i += i < n && (s[i] == '+' || s[i] == '-');
		size_t exp_start = i;
		/* Saturated: far beyond any exponent that keeps 20 digits. */
		for (; i < n && metaq__digit(s[i]); i++)
			exp = exp < 100000 ? exp * 10 + (s[i] - '0') : exp;
		if (i == exp_start)
			return -1;
		exp = eneg ? -exp : exp;
	}
	if (i != n)
		return -1;
	/* The value is dig * 10^exp, dig without leading or trailing zeros. */
	char dig[JSONLEX_MAX_NUMBER];
	size_t nd = 0;
	for (size_t k = int_start; k < int_end; k++)
		if (nd || s[k] != '0')
			dig[nd++] = s[k];
	for (size_t k = frac_start; k < frac_end; k++, exp--)
		if (nd || s[k] != '0')
			dig[nd++] = s[k];
	while (nd && dig[nd - 1] == '0') {
		nd--;
		exp++;
	}
	*out = (struct metaq__num){.exact = nd == 0};
	if (nd == 0 || exp < 0 || (long)nd + exp > 20)
		return 0;
	uint64_t v = 0;
	for (size_t k = 0; k < nd; k++) {
		unsigned d = (unsigned)(dig[k] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	for (long e = 0; e < exp; e++) {
		if (v > UINT64_MAX / 10)
			return 0;
		v *= 10;
	}
	*out = (struct metaq__num){.exact = 1, .neg = s[0] == '-', .mag = v};
	return 0;
}

/* The nearest double of a number token, read in the C locale whatever
 * the process's (proto/clocale.h). */
static int metaq__real(const char *s, size_t n, double *out)
{
	char buf[JSONLEX_MAX_NUMBER + 1];
	locale_t c;
	if (n > JSONLEX_MAX_NUMBER || clocale_get(&c) != 0)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	*out = strtod_l(buf, NULL, c);
	return 0;
}

static int metaq__cmp_exact(const struct metaq__num *a, const struct metaq__num *b)
{
	if (a->neg != b->neg)
		return a->neg ? -1 : 1;
	if (a->mag == b->mag)
		return 0;
	return (a->mag < b->mag) != a->neg ? -1 : 1;
}

/* The order of a number and a bound, exact for integers: 9007199254740993
 * lies above the bound 9007199254740992, which its double would equal. */
static int metaq__cmp_bound(const struct metaq__num *v, double b)
{
	static const double two64 = 18446744073709551616.0;
	if (!v->exact)
		return v->d < b ? -1 : v->d > b;
	if (b >= two64)
		return -1;
	if (b <= -two64)
		return 1;
	/* floor(b) is an integer below 2^64 in magnitude: exact as a uint64. */
	double fb = floor(b);
	struct metaq__num ib = {.exact = 1, .neg = fb < 0, .mag = (uint64_t)(fb < 0 ? -fb : fb)};
	int c = metaq__cmp_exact(v, &ib);
	if (c != 0)
		return c;
	return fb == b ? 0 : -1;
}

static int metaq__in_range(const struct metaq__cond *c, const struct metaq__num *v)
{
	if (c->has_min) {
		int k = metaq__cmp_bound(v, c->min);
		if (k < 0 || (k == 0 && c->min_excl))
			return 0;
	}
	if (c->has_max) {
		int k = metaq__cmp_bound(v, c->max);
		if (k > 0 || (k == 0 && c->max_excl))
			return 0;
	}
	return 1;
}

static int metaq__sort_ints(const void *a, const void *b)
{
	return metaq__cmp_exact(a, b);
}

static int metaq__sort_reals(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int metaq__has_num(const struct metaq__cond *c, const struct metaq__num *v)
{
	/* An empty array is NULL, which bsearch may not be given. */
	if (v->exact)
		return c->nints &&
		       bsearch(v, c->ints, c->nints, sizeof *c->ints, metaq__sort_ints) != NULL;
	return c->nreals &&
	       bsearch(&v->d, c->reals, c->nreals, sizeof *c->reals, metaq__sort_reals) != NULL;
}

/* ------------------------------------------------------------------ */
/* Strings.                                                            */

#define METAQ__BAD 2 /* a string that is not JSON: it equals nothing */

static int metaq__hex4(const char *s, size_t n, size_t at, unsigned *out)
{
	unsigned v = 0;
	if (n < 4 || at > n - 4)
		return -1;
	for (size_t i = at; i < at + 4; i++) {
		char c = s[i];
		unsigned d = metaq__digit(c)	    ? (unsigned)(c - '0')
			     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
			     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
						    : 16;
		if (d == 16)
			return -1;
		v = v << 4 | d;
	}
	*out = v;
	return 0;
}

/* The escape at s[*i] (a backslash) as UTF-8 in out, a surrogate pair as
 * one character; its length, or 0 when it is not a valid escape. */
static size_t metaq__escape(const char *s, size_t n, size_t *i, char *out)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	if (*i + 1 >= n)
		return 0;
	const char *hit = memchr(from, s[*i + 1], sizeof from - 1);
	if (hit != NULL) {
		out[0] = to[hit - from];
		*i += 2;
		return 1;
	}
	unsigned cp, lo;
	if (s[*i + 1] != 'u' || metaq__hex4(s, n, *i + 2, &cp) != 0 || cp == 0 ||
	    (cp >= 0xdc00 && cp <= 0xdfff))
		return 0;
	*i += 6;
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (*i + 1 >= n || s[*i] != '\\' || s[*i + 1] != 'u' ||
		    metaq__hex4(s, n, *i + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
			return 0;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		*i += 6;
	}
	return jsonlex_utf8_put(cp, out);
}

/* Compares the string raw[0..n), as it stands between the quotes of JSON
 * text, with the unescaped t[0..tlen), byte by byte once unescaped (UTF-8
 * keeps the order of code points): -1, 0 or 1, or METAQ__BAD. Unescapes
 * as it goes, so nothing is copied. */
static int metaq__strcmp(const char *raw, size_t n, const char *t, size_t tlen)
{
	size_t i = 0, j = 0;
	while (i < n) {
		char ch[4];
		size_t k = 1;
		if (raw[i] == '\\')
			k = metaq__escape(raw, n, &i, ch);
		else
			ch[0] = raw[i++];
		if (k == 0)
			return METAQ__BAD;
		for (size_t m = 0; m < k; m++, j++) {
			if (j == tlen)
				return 1;
			if (ch[m] != t[j])
				return (unsigned char)ch[m] < (unsigned char)t[j] ? -1 : 1;
		}
	}
	return j == tlen ? 0 : -1;
}

static int metaq__sort_strs(const void *a, const void *b)
{
	const struct metaq__str *x = a, *y = b;
	int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* Whether the raw string s[0..n) is one of c's strings (sorted). */
static int metaq__has_str(const struct metaq__cond *c, const char *s, size_t n)
{
	size_t lo = 0, hi = c->nstrs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int k = metaq__strcmp(s, n, c->strs[mid].s, c->strs[mid].len);
		if (k == 0)
			return 1;
		if (k == METAQ__BAD)
			return 0;
		if (k < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Matching.                                                           */

static size_t metaq__ws(const char *s, size_t n, size_t i)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* The closing quote of the string opening at s[i]; n when there is none. */
static size_t metaq__string_end(const char *s, size_t n, size_t i)
{
	for (i++; i < n; i++) {
		if (s[i] == '"')
			return i;
		if (s[i] == '\\')
			i++;
	}
	return n;
}

/* *end: just past the value starting at s[i]. Nested values are skipped
 * by counting brackets, without recursion. 0, or -1 when the text ends
 * first. */
static int metaq__value_end(const char *s, size_t n, size_t i, size_t *end)
{
	if (i >= n)
		return -1;
	if (s[i] == '"') {
		*end = metaq__string_end(s, n, i) + 1;
		return *end <= n ? 0 : -1;
	}
	if (s[i] == '{' || s[i] == '[') {
		size_t depth = 0;
		for (; i < n; i++) {
			if (s[i] == '"')
				i = metaq__string_end(s, n, i);
			else if (s[i] == '{' || s[i] == '[')
				depth++;
			else if ((s[i] == '}' || s[i] == ']') && --depth == 0) {
				*end = i + 1;
				return 0;
			}
		}
		return -1;
	}
	size_t start = i;
	while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' &&
	       s[i] != '\n' && s[i] != '\r')
		i++;
	*end = i;
	return i > start ? 0 : -1;
}

static int metaq__literal(const struct metaq__cond *c, const char *v, size_t n, const char *word,
			  unsigned bit)
{
	return !c->has_min && !c->has_max && (c->lits & bit) && n == strlen(word) &&
	       memcmp(v, word, n) == 0;
}

/* Whether the value v[0..n) (n > 0) meets condition c. */
static int metaq__test(const struct metaq__cond *c, const char *v, size_t n)
{
	switch (v[0]) {
	case '"':
		return !c->has_min && !c->has_max && c->has_set && metaq__has_str(c, v + 1, n - 2);
	case 't':
		return metaq__literal(c, v, n, "true", METAQ__TRUE);
	case 'f':
		return metaq__literal(c, v, n, "false", METAQ__FALSE);
	case 'n':
		return metaq__literal(c, v, n, "null", METAQ__NULL);
	case '{':
	case '[':
		return 0;
	default:;
		struct metaq__num x;
		if (metaq__number(v, n, &x) != 0 || (!x.exact && metaq__real(v, n, &x.d) != 0))
			return 0;
		return (!c->has_set || metaq__has_num(c, &x)) && metaq__in_range(c, &x);
	}
}

/* Finds the values of keys[0..nkeys) (key j: name[j], len[j] bytes) at
 * the top level of the object s[0..n): value j spans s[from[j]..to[j]).
 * The first occurrence of a key counts, and the scan stops once every key
 * is found. Returns the bit set of the keys found (bit j: key j). */
static unsigned metaq__find(const char *s, size_t n, const char *const *name, const size_t *len,
			    size_t nkeys, size_t *from, size_t *to)
{
	unsigned found = 0, all = (1u << nkeys) - 1;
	size_t i = metaq__ws(s, n, 0);
	if (i >= n || s[i] != '{')
		return 0;
	i = metaq__ws(s, n, i + 1);
	while (found != all && i < n && s[i] == '"') {
		size_t key = i + 1, key_end = metaq__string_end(s, n, i), end;
		i = metaq__ws(s, n, key_end + 1);
		if (i >= n || s[i] != ':')
			return 0;
		i = metaq__ws(s, n, i + 1);
		if (metaq__value_end(s, n, i, &end) != 0)
			return 0;
		for (size_t j = 0; j < nkeys; j++)
			if (!(found >> j & 1) &&
			    metaq__strcmp(s + key, key_end - key, name[j], len[j]) == 0) {
				from[j] = i;
				to[j] = end;
				found |= 1u << j;
			}
		i = metaq__ws(s, n, end);
		if (i >= n || s[i] != ',')
			break;
		i = metaq__ws(s, n, i + 1);
	}
	return found;
}

int metaq_match(const struct metaq *q, const char *s, size_t n)
{
	const char *name[METAQ_MAX_CONDITIONS];
	size_t len[METAQ_MAX_CONDITIONS], from[METAQ_MAX_CONDITIONS], to[METAQ_MAX_CONDITIONS];
	if (q->n == 0)
		return 1;
	for (size_t c = 0; c < q->n; c++) {
		name[c] = q->c[c].key;
		len[c] = q->c[c].keylen;
	}
	if (metaq__find(s, n, name, len, q->n, from, to) != (1u << q->n) - 1)
		return 0;
	for (size_t c = 0; c < q->n; c++)
		if (!metaq__test(&q->c[c], s + from[c], to[c] - from[c]))
			return 0;
	return 1;
}

int metaq_value_of(const char *meta, size_t len, const char *key, size_t keylen, const char **value,
		   size_t *value_len)
{
	size_t from, to;
	if (!metaq__find(meta, len, &key, &keylen, 1, &from, &to))
		return 0;
	*value = meta + from;
	*value_len = to - from;
	return 1;
}

size_t metaq_count(const struct metaq *q)
{
	return q ? q->n : 0;
}

const char *metaq_key(const struct metaq *q, size_t i, size_t *keylen)
{
	*keylen = q->c[i].keylen;
	return q->c[i].key;
}

int metaq_value_meets(const struct metaq *q, size_t i, const char *value, size_t len)
{
	return len > 0 && metaq__test(&q->c[i], value, len);
}

/* ------------------------------------------------------------------ */
/* Compiling.                                                          */

__attribute__((format(printf, 4, 5))) static int metaq__fail(char *msg, size_t msglen, int code,
							     const char *fmt, ...)
{
	if (msg != NULL && msglen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, msglen, fmt, ap);
		va_end(ap);
	}
	return code;
}

static int metaq__add_str(struct jsonlex *lx, struct metaq__cond *c)
{
	void *grown;
	int rc = jsonlex_grow(lx, c->strs, &c->strs_cap, c->nstrs, sizeof *c->strs, &grown);
	if (rc)
		return rc;
	c->strs = grown;
	struct metaq__str *s = &c->strs[c->nstrs];
	rc = jsonlex_string(lx, &s->s, &s->len);
	c->nstrs += rc == 0;
	return rc;
}

static int metaq__add_num(struct jsonlex *lx, struct metaq__cond *c, const char *tok, size_t n)
{
	struct metaq__num x;
	void *grown;
	if (metaq__number(tok, n, &x) != 0)
		return jsonlex_fail(lx, ROOST_EINVAL, "is not a JSON number");
	int rc =
	    x.exact
		? jsonlex_grow(lx, c->ints, &c->ints_cap, c->nints, sizeof *c->ints, &grown)
		: jsonlex_grow(lx, c->reals, &c->reals_cap, c->nreals, sizeof *c->reals, &grown);
	if (rc)
		return rc;
	if (x.exact) {
		c->ints = grown;
		c->ints[c->nints++] = x;
		return 0;
	}
	c->reals = grown;
	if (metaq__real(tok, n, &c->reals[c->nreals]) != 0)
		return jsonlex_nomem(lx);
	c->nreals++;
	return 0;
}

/* One any_of value: a JSON scalar as text, with JSON whitespace around it
 * allowed. lx reads it, its path on lx's. */
static int metaq__value(struct jsonlex *lx, struct metaq__cond *c)
{
	int ch = jsonlex_peek(lx);
	if (ch < 0)
		return jsonlex_fail(lx, ROOST_EINVAL,
				    "is empty; give a JSON scalar such as "
				    "\"\\\"cats\\\"\", 5, true or null");
	size_t start;
	int rc = jsonlex_scalar(lx, &start);
	if (rc == ROOST_EPROTO)
		return jsonlex_fail(lx, ROOST_EINVAL,
				    "is not a JSON scalar (strings are written in quotes: "
				    "\"\\\"cats\\\"\")");
	if (rc)
		return rc;
	size_t end = lx->pos;
	if (jsonlex_peek(lx) >= 0)
		return jsonlex_fail(lx, ROOST_EINVAL, "holds more than one JSON value");
	if (ch == '"') {
		lx->pos = start;
		return metaq__add_str(lx, c);
	}
	if (ch == 't' || ch == 'f' || ch == 'n') {
		c->lits |= ch == 't' ? METAQ__TRUE : ch == 'f' ? METAQ__FALSE : METAQ__NULL;
		return 0;
	}
	return metaq__add_num(lx, c, lx->s + start, end - start);
}

static int metaq__any_of(const struct metaq_condition *in, size_t i, const char *what,
			 struct metaq__cond *c, char *msg, size_t msglen)
{
	if (in->n_any_of > METAQ_MAX_ANY_OF)
		return metaq__fail(msg, msglen, ROOST_ETOOBIG,
				   "%s[%zu].any_of has %zu values; the limit is %u", what, i,
				   in->n_any_of, METAQ_MAX_ANY_OF);
	for (size_t j = 0; j < in->n_any_of; j++) {
		const char *v = in->any_of[j] ? in->any_of[j] : "";
		size_t len = strlen(v);
		if (len > METAQ_MAX_VALUE)
			return metaq__fail(msg, msglen, ROOST_ETOOBIG,
					   "%s[%zu].any_of[%zu] is %zu bytes; a value is at most "
					   "%u bytes",
					   what, i, j, len, METAQ_MAX_VALUE);
		struct jsonlex lx;
		jsonlex_begin(&lx, v, len, msg, msglen);
		jsonlex_push(&lx, "%s[%zu].any_of[%zu]", what, i, j);
		int rc = metaq__value(&lx, c);
		if (rc)
			return rc;
	}
	c->has_set = in->n_any_of > 0;
	/* An empty array is NULL, which qsort may not be given. */
	if (c->nstrs)
		qsort(c->strs, c->nstrs, sizeof *c->strs, metaq__sort_strs);
	if (c->nints)
		qsort(c->ints, c->nints, sizeof *c->ints, metaq__sort_ints);
	if (c->nreals)
		qsort(c->reals, c->nreals, sizeof *c->reals, metaq__sort_reals);
	return 0;
}

static int metaq__condition(const struct metaq_condition *in, size_t i, const char *what,
			    struct metaq__cond *c, char *msg, size_t msglen)
{
	const char *key = in->key ? in->key : "";
	size_t keylen = strlen(key);
	if (keylen == 0)
		return metaq__fail(msg, msglen, ROOST_EINVAL, "%s[%zu].key is empty", what, i);
	if (keylen > METAQ_MAX_KEY)
		return metaq__fail(msg, msglen, ROOST_ETOOBIG,
				   "%s[%zu].key is %zu bytes; a key is at most %u bytes", what, i,
				   keylen, METAQ_MAX_KEY);
	if (!batch_utf8_valid(key, keylen))
		return metaq__fail(msg, msglen, ROOST_EUTF8, "%s[%zu].key is not valid UTF-8", what,
				   i);
	if ((in->has_min && !isfinite(in->min)) || (in->has_max && !isfinite(in->max)))
		return metaq__fail(msg, msglen, ROOST_EVALUE, "%s[%zu].%s is not finite", what, i,
				   in->has_min && !isfinite(in->min) ? "min" : "max");
	if (in->n_any_of == 0 && !in->has_min && !in->has_max)
		return metaq__fail(msg, msglen, ROOST_EINVAL,
				   "%s[%zu] tests nothing: give any_of, min or max", what, i);
	if ((c->key = strdup(key)) == NULL)
		return metaq__fail(msg, msglen, ROOST_ENOMEM, "out of memory");
	c->keylen = keylen;
	c->has_min = in->has_min != 0;
	c->min = in->min;
	c->min_excl = in->min_exclusive != 0;
	c->has_max = in->has_max != 0;
	c->max = in->max;
	c->max_excl = in->max_exclusive != 0;
	return metaq__any_of(in, i, what, c, msg, msglen);
}

int metaq_compile(const struct metaq_condition *conds, size_t n, const char *what,
		  struct metaq **out, char *msg, size_t msglen)
{
	if (out)
		*out = NULL;
	if (n > METAQ_MAX_CONDITIONS)
		return metaq__fail(msg, msglen, ROOST_ETOOBIG,
				   "%s has %zu conditions; the limit is %u", what, n,
				   METAQ_MAX_CONDITIONS);
	struct metaq *q = calloc(1, sizeof *q);
	if (q == NULL)
		return metaq__fail(msg, msglen, ROOST_ENOMEM, "out of memory");
	int rc = 0;
	for (; rc == 0 && q->n < n; q->n++)
		rc = metaq__condition(&conds[q->n], q->n, what, &q->c[q->n], msg, msglen);
	if (rc || out == NULL)
		metaq_free(q);
	else
		*out = q;
	return rc;
}

void metaq_free(struct metaq *q)
{
	if (q == NULL)
		return;
	for (size_t i = 0; i < q->n; i++) {
		struct metaq__cond *c = &q->c[i];
		for (size_t j = 0; j < c->nstrs; j++)
			free(c->strs[j].s);
		free(c->strs);
		free(c->ints);
		free(c->reals);
		free(c->key);
	}
	free(q);
}
