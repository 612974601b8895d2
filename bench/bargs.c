#include "bargs.h"

#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bargs__allowed(const char *allowed, const char *key)
{
	size_t n = strlen(key);
	for (const char *p = strstr(allowed, key); p; p = strstr(p + 1, key))
		if ((p == allowed || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return 1;
	return 0;
}

int bargs_parse(struct bargs *a, int argc, char **argv, const char *allowed)
{
	a->n = 0;
	for (int i = 0; i < argc; i += 2) {
		const char *key = argv[i];
		if (strncmp(key, "--", 2) != 0 || !bargs__allowed(allowed, key + 2)) {
			fprintf(stderr, "unknown option %s (options: %s)\n", key, allowed);
			return ROOST_EINVAL;
		}
		if (i + 1 >= argc || bargs_str(a, key + 2, NULL) || a->n == BARGS_MAX) {
			fprintf(stderr, "option %s: missing or repeated value\n", key);
			return ROOST_EINVAL;
		}
		a->key[a->n] = key + 2;
		a->val[a->n++] = argv[i + 1];
	}
	return 0;
}

const char *bargs_str(const struct bargs *a, const char *key, const char *def)
{
	for (int i = 0; i < a->n; i++)
		if (strcmp(a->key[i], key) == 0)
			return a->val[i];
	return def;
}

long long bargs_int(const struct bargs *a, const char *key, long long def)
{
	const char *v = bargs_str(a, key, NULL);
	return v ? strtoll(v, NULL, 10) : def;
}

double bargs_num(const struct bargs *a, const char *key, double def)
{
	const char *v = bargs_str(a, key, NULL);
	return v ? strtod(v, NULL) : def;
}

int bargs_data(const struct bargs *a, struct bdata *g)
{
	return bdata_init(g, (uint32_t)bargs_int(a, "dim", BDATA_DIM),
			  (uint32_t)bargs_int(a, "clusters", BDATA_CLUSTERS),
			  (uint64_t)bargs_int(a, "seed", BDATA_SEED),
			  (float)bargs_num(a, "sigma", BDATA_SIGMA));
}

int bargs_main(int argc, char **argv, const struct bargs_command *cmds, size_t ncmds)
{
	for (size_t i = 0; argc >= 2 && i < ncmds; i++) {
		if (strcmp(argv[1], cmds[i].name) != 0)
			continue;
		char allowed[512];
		snprintf(allowed, sizeof allowed, "%s%s", cmds[i].options, BARGS_DATA);
		struct bargs a;
		struct bdata g;
		int rc = bargs_parse(&a, argc - 2, argv + 2, allowed);
		if (rc == 0)
			rc = bargs_data(&a, &g);
		if (rc == 0) {
			rc = cmds[i].run(&a, &g);
			bdata_free(&g);
		}
		if (rc)
			fprintf(stderr, "%s %s: %s\n", argv[0], argv[1], roost_strerror(rc));
		return rc ? 1 : 0;
	}
	fprintf(stderr, "usage: %s COMMAND --option value ...; commands:", argv[0]);
	for (size_t i = 0; i < ncmds; i++)
		fprintf(stderr, "\n  %s: %s%s", cmds[i].name, cmds[i].options, BARGS_DATA);
	fputc('\n', stderr);
	return 2;
}
