/* Command lines: long options only, each value checked as it is read.
 * A value that is not what its option takes is refused with a message
 * naming the option, the value and what it takes; it is never read as 0
 * or cut short, as atoi() and strtoul() would. The daemons parse their
 * whole command line with opt_parse; the CLI checks numbers with
 * opt_number. */
#ifndef ROOST_OPT_H
#define ROOST_OPT_H

#include <stddef.h>

enum opt_kind {
	OPT_FLAG, /* no value: *(int *)dst = 1 */
	OPT_STR,  /* *(const char **)dst = the value */
	OPT_INT,  /* a whole number in [min, max] into *(int *)dst */
	OPT_U32,  /* ... into *(uint32_t *)dst */
	OPT_U64,  /* ... into *(uint64_t *)dst */
	OPT_FN,	  /* fn(value, dst) parses it: 0, or it is refused */
};

struct opt {
	const char *name;
	enum opt_kind kind;
	void *dst;
	long long min, max;			 /* OPT_INT, OPT_U32, OPT_U64 */
	int (*fn)(const char *value, void *dst); /* OPT_FN */
	const char *takes;			 /* OPT_FN: what the value may be */
};

/* Table entries, every field given. */
#define OPT_SWITCH(name, dst)                                                                      \
	{                                                                                          \
		(name), OPT_FLAG, (dst), 0, 0, NULL, NULL                                          \
	}
#define OPT_STRING(name, dst)                                                                      \
	{                                                                                          \
		(name), OPT_STR, (dst), 0, 0, NULL, NULL                                           \
	}
#define OPT_NUMBER(name, kind, dst, lo, hi)                                                        \
	{                                                                                          \
		(name), (kind), (dst), (lo), (hi), NULL, NULL                                      \
	}
#define OPT_PARSED(name, dst, fn, takes)                                                           \
	{                                                                                          \
		(name), OPT_FN, (dst), 0, 0, (fn), (takes)                                         \
	}

/* What opt_parse returns for --help (nothing else is read then). */
#define OPT_HELP 1

/* Parses argv[1..argc) against opts[0..n) and --help. Returns 0, OPT_HELP,
 * or ROOST_EINVAL after printing "PROG: ..." on stderr: an unknown option,
 * a missing value, a value its option does not take, or an argument that
 * is not an option. */
int opt_parse(const char *prog, int argc, char **argv, const struct opt *opts, size_t n);

/* A whole decimal number in [min, max]: an optional '-' (only when min <
 * 0), digits, nothing else. ROOST_EINVAL otherwise. */
int opt_number(const char *s, long long min, long long max, long long *out);

#endif
