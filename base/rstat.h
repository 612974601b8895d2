/* Reader state files: how a running reader tells `roost status` what it
 * serves, without a request that would have to find that very reader.
 *
 * A local reader keeps <run dir>/reader-<pid>.stat up to date on every
 * refresh tick (about twice a second) and removes it when it stops; the
 * supervisor removes the file of a reader that was killed, and readers of
 * the files skip those whose process is gone. The file is one line:
 *
 *   pid P generation G segments S lsn L searches N waiting W stamp_ms T filter_rows F
 *   coll ID N            (one line per collection it answered searches of)
 *
 * generation is the manifest generation of the reader's view, lsn the end
 * of the data it serves (every batch below it), searches the requests it
 * answered since it started, waiting the searches that wait for their
 * min_lsn to be published at the moment, stamp_ms CLOCK_MONOTONIC when the
 * line was written, so two samples of one file give a search rate, and
 * filter_rows the rows (sealed and in the tail) whose fields filtered
 * searches read (rows a metadata index ruled out are not read). A new line
 * replaces the file by rename, so a reader of it never sees half a line.
 */
#ifndef ROOST_RSTAT_H
#define ROOST_RSTAT_H

#include "inst.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* At most this many `coll` lines are read back: one per live collection. */
#define RSTAT_MAX_COLLS 4096u

/* Searches a reader answered in one collection since it started. */
struct rstat_coll {
	uint32_t id;
	uint64_t searches;
};

struct rstat {
	pid_t pid;
	uint64_t generation;
	uint32_t segments;
	uint64_t lsn;
	uint64_t searches;
	uint32_t waiting; /* searches waiting now for their min_lsn */
	int64_t stamp_ms;
	uint64_t filter_rows;
	/* Per collection: the writer's array in rstat_write; malloc'ed by
	 * rstat_read, freed by rstat_clear. */
	struct rstat_coll *colls;
	size_t ncolls;
};

/* Writes st (its stamp_ms set to now) as st->pid's state file. */
int rstat_write(const struct inst *in, struct rstat *st);

/* Removes pid's state file; 0 also when there was none. */
int rstat_remove(const struct inst *in, pid_t pid);

/* Reads pid's state file. ROOST_ENOENT when there is none,
 * ROOST_ECORRUPT when it is not a state line. Give out to rstat_clear. */
int rstat_read(const struct inst *in, pid_t pid, struct rstat *out);

/* Frees what rstat_read allocated; st may be read into again. */
void rstat_clear(struct rstat *st);

/* The pids of up to max state files whose process is alive, in *n. */
int rstat_list(const struct inst *in, pid_t *pids, size_t max, size_t *n);

#endif
