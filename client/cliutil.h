/* What the `roost` tool's subcommands share: error messages that say
 * what went wrong and what to do, connecting to an instance, and JSON
 * string output. Numbers are checked with opt_number (base/opt.h). */
#ifndef ROOST_CLIUTIL_H
#define ROOST_CLIUTIL_H

#include "inst.h"
#include "roost.h"

#include <stdint.h>
#include <stdio.h>

/* Exit statuses of every subcommand. */
#define CLI_OK	  0
#define CLI_FAIL  1 /* the operation failed */
#define CLI_USAGE 2 /* the command line was wrong */

/* Prints "roost CMD: <what>: <roost_strerror(rc)>[: detail]" and, for
 * errors with a usual cause, a hint naming instance `name` on the next
 * line; returns CLI_FAIL. detail (NULL or "") is the server's message. */
int cliutil_fail(const char *cmd, const char *name, int rc, const char *detail, const char *what,
		 ...) __attribute__((format(printf, 5, 6)));

/* Prints "roost CMD: <message>" and returns CLI_USAGE. */
int cliutil_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Fills in the instance or says why the name is bad. */
int cliutil_inst(const char *cmd, const char *name, const char *data_dir, struct inst *in);

/* Connects to instance `name` with a per-call timeout, its requests naming
 * `collection` (NULL: "default"), explaining a failure on stderr. */
int cliutil_connect(const char *cmd, const char *name, const char *collection, int timeout_ms,
		    roost **out);

int64_t cliutil_now_ms(void);

/* An --ack value: queued, durable or visible. ROOST_EINVAL otherwise. */
int cliutil_ack(const char *s, enum roost_ack *out);

/* s as a JSON string, quotes included. */
void cliutil_json_str(FILE *f, const char *s);

#endif
