#include "opt.h"

#include "err.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPT__MAX     64
#define OPT__HELP_ID 0x10000 /* clear of the indexes of opts */

int opt_number(const char *s, long long min, long long max, long long *out)
{
	if (!s || !*s || (*s == '-' && min >= 0) || (*s != '-' && (*s < '0' || *s > '9')))
		return ROOST_EINVAL;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return ROOST_EINVAL;
	*out = v;
	return 0;
}

static int opt__store(const struct opt *o, const char *value)
{
	long long v;
	switch (o->kind) {
	case OPT_FLAG:
		*(int *)o->dst = 1;
		return 0;
	case OPT_STR:
		*(const char **)o->dst = value;
		return 0;
	case OPT_FN:
		return o->fn(value, o->dst);
	default:
		break;
	}
	int rc = opt_number(value, o->min, o->max, &v);
	if (rc)
		return rc;
	if (o->kind == OPT_INT)
		*(int *)o->dst = (int)v;
	else if (o->kind == OPT_U32)
		*(uint32_t *)o->dst = (uint32_t)v;
	else
		*(uint64_t *)o->dst = (uint64_t)v;
	return 0;
}

static void opt__refuse(const char *prog, const struct opt *o, const char *value)
{
	if (o->kind == OPT_FN)
		fprintf(stderr, "%s: --%s takes %s, not '%s'\n", prog, o->name, o->takes, value);
	else
		fprintf(stderr, "%s: --%s takes a whole number from %lld to %lld, not '%s'\n", prog,
			o->name, o->min, o->max, value);
}

int opt_parse(const char *prog, int argc, char **argv, const struct opt *opts, size_t n)
{
	struct option lo[OPT__MAX + 2];
	if (n > OPT__MAX)
		return ROOST_EINVAL;
	for (size_t i = 0; i < n; i++)
		lo[i] = (struct option){opts[i].name,
					opts[i].kind == OPT_FLAG ? no_argument : required_argument,
					NULL, (int)i};
	lo[n] = (struct option){"help", no_argument, NULL, OPT__HELP_ID};
	lo[n + 1] = (struct option){0, 0, 0, 0};
	/* getopt_long prints "unrecognized option" and the like itself. */
	opterr = 1;
	optind = 1;
	int id;
	while ((id = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (id == OPT__HELP_ID)
			return OPT_HELP;
		if (id < 0 || (size_t)id >= n)
			return ROOST_EINVAL;
		if (opt__store(&opts[id], optarg) != 0) {
			opt__refuse(prog, &opts[id], optarg);
			return ROOST_EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
		return ROOST_EINVAL;
	}
	return 0;
}
