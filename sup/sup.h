/* The supervisor behind `roost up`: one process that runs an instance's
 * writer, brokers and readers as a group.
 *
 * It restarts a child that dies, after a delay that doubles with every
 * quick death (SUP_BACKOFF_MIN_MS up to SUP_BACKOFF_MAX_MS; a child that
 * ran SUP_STABLE_MS starts over), and logs which child died, how, and the
 * delay. It adds and removes readers on request (sup/supctl.h has the
 * control protocol). On SIGTERM, SIGINT, SIGHUP or a `down` request it stops the
 * brokers and readers, waits until the writer has logged everything
 * committed to the ring, then stops the writer: each gets SIGTERM and,
 * past its grace period, SIGKILL.
 *
 * Startup: until the process that started it (the starter) reports that
 * the instance serves, a writer that exits, or any child that exits with
 * status 2 (usage) or 127 (cannot run), makes the whole start fail
 * instead of being retried: such an error needs a person.
 */
#ifndef ROOST_SUP_H
#define ROOST_SUP_H

#include "inst.h"

#include <limits.h>
#include <stddef.h>

#define SUP_MAX_BROKERS	   64
#define SUP_MAX_READERS	   64
#define SUP_BACKOFF_MIN_MS 100
#define SUP_BACKOFF_MAX_MS 30000
#define SUP_STABLE_MS	   10000
#define SUP_MAX_EXTRA	   16 /* extra arguments per role */
/* The log line with which stopping begins (errors after it are effects). */
#define SUP_STOPPING_LINE "stopping brokers and readers"

enum sup_role { SUP_WRITER, SUP_BROKER, SUP_READER, SUP_ROLES };

struct sup_config {
	struct inst in; /* data_dir absolute: the supervisor runs in / */
	char bin_dir[PATH_MAX];
	/* Passed to the writer when set; NULL leaves them to the instance. */
	const char *dim, *metric, *index, *indexed_keys;
	const char *retain; /* the writer's --retain; NULL: its default */
	int gpu;
	int adopt; /* the writer may take over a directory of another name */
	int brokers, readers;
	const char *metrics; /* HOST:PORT to serve metrics on; NULL: none */
	/* More arguments for every process of a role (--writer-arg ...). */
	const char *extra[SUP_ROLES][SUP_MAX_EXTRA];
	int nextra[SUP_ROLES];
};

/* The program a role runs: <bin_dir>/roost-<role>. */
int sup_program(const struct sup_config *cfg, enum sup_role role, char *buf, size_t len);

/* A process's command line: bin (filled in with sup_program()) and the
 * arguments the supervisor gives it, NULL-terminated in argv; with
 * SUP_ARGS_SPARE entries free after the NULL for the caller's own. */
#define SUP_ARGS_SPARE 4
struct sup_args {
	char bin[INST_PATH_MAX];
	char id[16];
	const char *argv[16 + SUP_MAX_EXTRA + SUP_ARGS_SPARE];
};
void sup_argv(const struct sup_config *cfg, enum sup_role role, struct sup_args *a, int id);

/* Supervises until told to stop; returns once every child is gone.
 * starter: a socket to the starter, which writes "ok\n" once the instance
 * serves, or closes it to give up; the supervisor writes "fail TEXT\n" on
 * it when the start fails, or "held PID\n" when supervisor PID already
 * runs the instance, and keeps it open until it returns. Returns 0, or
 * ROOST_ECLOSED after a failed start, ROOST_ELOCKED when another
 * supervisor runs the instance, or the error that kept it from starting
 * at all. */
int sup_run(const struct sup_config *cfg, int starter);

/* Removes every shared-memory object of a stopped instance (control
 * block, ring, tails, their directory and link) and the sockets its
 * processes left, once nothing in the ring waits to be logged: batches
 * acknowledged `queued` are never thrown away. 0 when removed or when
 * there was nothing; ROOST_EBUSY when the ring holds batches the log
 * lacks, ROOST_ELOCKED while a writer or broker runs, each with why. The
 * caller holds the supervisor lock (supctl_lock), so nothing starts
 * meanwhile. */
int sup_remove_shm(struct inst *in, char *why, size_t len);

#endif
