/* What `roost backup` and `roost replay` share to write a new data
 * directory: paths in it, a folder removed when the copy fails, files
 * copied durably, and a log written from records read elsewhere. */
#ifndef ROOST_CLICOPY_H
#define ROOST_CLICOPY_H

#include "wal.h"

#include <stddef.h>
#include <stdint.h>

/* dir/name into buf (PATH_MAX); ROOST_ETOOBIG when it does not fit. */
int clicopy_path(char *buf, const char *dir, const char *name);

/* Removes a folder of plain files (one level of subfolders). */
void clicopy_remove_tree(const char *dir);

/* Copies src to dst (a new file, mode 0600) and syncs it, adding the
 * bytes copied to *bytes. */
int clicopy_file(const char *src, const char *dst, uint64_t *bytes);

/* Names a whole copy: syncs the folder partial, renames it to `to` and
 * syncs to's parent, so that `to` appears only once all of it is durable. */
int clicopy_install(const char *partial, const char *to);

/* A log being written: each record's payload is copied and queued, and
 * the queue synced once it holds 64 MiB, so that a long log costs few
 * fsyncs and its source's buffers can be reused at once. */
struct clicopy_log {
	wal *out;
	void **held; /* the copies queued since the last sync */
	size_t nheld, cap, bytes;
};

/* Makes dir (0700) and starts its log at start. */
int clicopy_log_open(struct clicopy_log *l, const char *dir, uint64_t start);

int clicopy_log_append(struct clicopy_log *l, uint64_t lsn, uint64_t next, const void *payload,
		       uint32_t len);

/* Syncs what is queued and closes; the sync's result. Accepts a zeroed
 * or failed log. */
int clicopy_log_close(struct clicopy_log *l);

#endif
