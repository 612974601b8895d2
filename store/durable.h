/* Files that survive a crash: written whole, synced, and replacing what
 * was there atomically, so that a reader finds either the old file or the
 * new one, never a mix. Every store module writes through these.
 *
 * close() is checked too: on shared storage (NFS) it can be the call that
 * reports a failed write-back. */
#ifndef ROOST_DURABLE_H
#define ROOST_DURABLE_H

#include <sys/types.h>
#include <sys/uio.h>

/* Writes every byte of iov[0..n) to fd, retrying short writes and EINTR;
 * iov is consumed as it goes. */
int durable_write_all(int fd, struct iovec *iov, int n);

/* Replaces path with iov's bytes: writes "<path>.tmp" (exactly mode), syncs and
 * closes it, renames it over path and syncs the directory. On failure the
 * temporary file is gone and path is as it was. */
int durable_replace(const char *path, struct iovec *iov, int n, mode_t mode);

/* Syncs a directory, so that names created, renamed or removed in it
 * survive a crash. */
int durable_sync_dir(const char *dir);

/* Syncs a file another library wrote and closed. */
int durable_sync_file(const char *path);

/* mkdir -p: the missing components of path, each with mode. */
int durable_mkdirs(const char *path, mode_t mode);

#endif
