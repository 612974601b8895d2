/* Command-line options of the benchmark programs: `--key value` pairs
 * checked against a list of allowed keys, read back by name with a
 * default. Every program also takes the data set's options (BARGS_DATA). */
#ifndef ROOST_BENCH_BARGS_H
#define ROOST_BENCH_BARGS_H

#include "bdata.h"

#include <stddef.h>

#define BARGS_MAX  32
#define BARGS_DATA " dim clusters seed sigma "

struct bargs {
	int n;
	const char *key[BARGS_MAX];
	const char *val[BARGS_MAX];
};

/* Parses argv[0..argc) (after the program and command names). allowed is
 * a space-separated key list. Prints what is wrong and returns
 * ROOST_EINVAL on an unknown key, a missing value or a repeated key. */
int bargs_parse(struct bargs *a, int argc, char **argv, const char *allowed);

const char *bargs_str(const struct bargs *a, const char *key, const char *def);
long long bargs_int(const struct bargs *a, const char *key, long long def);
double bargs_num(const struct bargs *a, const char *key, double def);

/* The data set the options name (BDATA_* defaults). */
int bargs_data(const struct bargs *a, struct bdata *g);

/* A program's commands: `prog COMMAND --option value ...`. */
struct bargs_command {
	const char *name;
	const char *options; /* allowed keys besides BARGS_DATA */
	int (*run)(const struct bargs *a, const struct bdata *g);
};

/* Parses argv, builds the data set and runs the command named argv[1];
 * returns the process exit status (2: usage). */
int bargs_main(int argc, char **argv, const struct bargs_command *cmds, size_t ncmds);

#endif
