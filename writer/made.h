/* What a writer's start created: the data directory (and the parents it
 * needed), LOCK, the first MANIFEST, the log directory, and the shared
 * memory objects of an instance that had none. A start that fails or is
 * refused removes exactly these, so it leaves nothing behind, and never
 * touches what was there before it. */
#ifndef ROOST_MADE_H
#define ROOST_MADE_H

#include "inst.h"

#include <limits.h>

struct made {
	struct inst *inst;
	char data_dir[PATH_MAX];
	int dirs; /* trailing components of data_dir that did not exist */
	int lock, manifest, wal;
	int shm; /* the instance's shared-memory directory, with all in it */
};

/* Notes which components of the instance's data directory do not exist
 * yet; call it before the directory is created. */
void made_init(struct made *m, struct inst *in);

/* 1 when path does not exist: call it before creating path, and record
 * the answer once the creation succeeded. */
int made_missing(const char *path);

/* Removes what m records, innermost first. */
void made_undo(const struct made *m);

#endif
