/* Retention: how far back an instance keeps the history that reads as of
 * an LSN, forks and replays need.
 *
 * Two things delete history: compaction drops rows whose versions ended
 * below its cut, and each seal deletes log files below the replay point.
 * The horizon is the LSN both stop at: compaction cuts at
 * min(the collection's covered LSN, horizon) and the log keeps files from
 * min(the replay point, horizon). Without retention (the default) the
 * horizon is RETAIN_NO_HORIZON and nothing costs more than before.
 *
 * A window's horizon is read from the log files it keeps: a file whose
 * last write (its mtime) is older than the window holds only records
 * written before it, so every LSN below that file's end is out of the
 * window. No clock state is kept elsewhere, so a restart finds the same
 * horizon; a file touched later than its last record only keeps more.
 *
 * A simulation time T keeps history from the first document whose own
 * `time` reaches T: the writer shows retain_saw every document it applies
 * (and, at start, every sealed one), so after a restart the horizon is the
 * same number again (rows born at or past the horizon are never dropped).
 * Until a document reaches T there is no horizon.
 * Pure logic, tested with made-up files and clocks. */
#ifndef ROOST_RETAIN_H
#define ROOST_RETAIN_H

#include "wal.h"

#include <stddef.h>
#include <stdint.h>

#define RETAIN_NO_HORIZON UINT64_MAX
#define RETAIN_TEXT_MAX	  48u /* bytes of retain_describe's text, NUL included */

enum retain_kind {
	RETAIN_NONE = 0,      /* keep what the collections need, nothing more */
	RETAIN_ALL = 1,	      /* keep every version since each collection's create */
	RETAIN_FROM_LSN = 2,  /* keep every version visible at or after an LSN */
	RETAIN_WINDOW = 3,    /* keep what was visible within the last value ms */
	RETAIN_FROM_TIME = 4, /* keep what was visible once simulation time reached time */
};

struct retain {
	enum retain_kind kind;
	uint64_t value;	  /* FROM_LSN: the LSN; WINDOW: milliseconds */
	int64_t time;	  /* FROM_TIME: the simulation time */
	uint64_t reached; /* FROM_TIME: the first document number of time >= it; 0: none */
};

/* Parses "none", "all", "lsn:N" (N >= 1), "time:T" (a signed 64-bit
 * simulation time) or a window "N" followed by s, m, h or d (N >= 1, at
 * most 10 years). ROOST_EINVAL otherwise. */
int retain_parse(const char *text, struct retain *out);

/* A document numbered number, of simulation time time, exists: the
 * horizon of FROM_TIME becomes the smallest number that reached its time. */
void retain_saw(struct retain *r, uint64_t number, int64_t time);

/* The setting in the words retain_parse takes ("none", "all", "lsn:N",
 * "Ns" ...), into buf. */
void retain_describe(const struct retain *r, char *buf, size_t len);

/* The LSN history is kept from: RETAIN_NO_HORIZON without retention (or
 * before a simulation time is reached), 0 for all. A window needs the log's older files (oldest
 * first, as wal_older_files gives them), the start of the file being written, and the wall time
 * now. */
uint64_t retain_horizon(const struct retain *r, const struct wal_file *older, size_t n,
			uint64_t current_start, int64_t now_ms);

#endif
