/* The writer's write-ahead log: checksummed records in numbered files,
 * appended in groups with one fdatasync per group.
 *
 * Files live in one directory and are named wal-<start LSN, 16 hex>.log.
 * Each record on disk (WAL_VERSION 1):
 *
 *   struct wal_record_header   32 bytes
 *     uint32 magic   WAL_MAGIC
 *     uint32 len     payload bytes (<= WAL_MAX_PAYLOAD)
 *     uint64 lsn     ring position of the batch
 *     uint64 next    ring position just past it (the next LSN floor)
 *     uint32 crc     CRC-32C of the header (crc field zero) and payload
 *     uint32 pad     zero
 *   payload, len bytes, then zero padding to 8 bytes
 *
 * A torn tail (a short or failing record at the end of the newest file,
 * with no valid record after it) is cut off when the log is opened. Any
 * other failing record is corruption: wal_replay() refuses with
 * ROOST_ECORRUPT rather than silently dropping acknowledged data.
 */
#ifndef ROOST_WAL_H
#define ROOST_WAL_H

#include <stddef.h>
#include <stdint.h>

#define WAL_MAGIC	0x4c415752u /* "RWAL" */
#define WAL_VERSION	1u
#define WAL_HEADER_SIZE 32u
#define WAL_MAX_PAYLOAD (64u << 20)

typedef struct wal wal;

/* Called for every valid record with lsn >= from_lsn, in order. payload is
 * 8-byte aligned and valid only during the call. A non-zero return stops
 * the replay and is returned by wal_replay(). */
typedef int (*wal_replay_fn)(void *arg, uint64_t lsn, uint64_t next, const void *payload,
			     uint32_t len);

/* Reads every file in dir in LSN order, cutting a torn tail off the newest
 * file. On success *end_out receives the larger of from_lsn and the `next`
 * of the last valid record. Creates dir (0700) if missing. Records are
 * delivered as they are read, so after ROOST_ECORRUPT the caller must
 * discard what it was given. */
int wal_replay(const char *dir, uint64_t from_lsn, wal_replay_fn fn, void *arg, uint64_t *end_out);

/* wal_replay() that changes nothing: the log of another instance, or of a
 * stopped one. A torn tail ends the scan where it begins and stays in its
 * file; a missing dir is ROOST_ENOENT. */
int wal_scan(const char *dir, uint64_t from_lsn, wal_replay_fn fn, void *arg, uint64_t *end_out);

/* Opens the log for appending after wal_replay(): continues the newest file,
 * or starts wal-<start_lsn>.log when there is none. */
int wal_open(wal **out, const char *dir, uint64_t start_lsn);
/* Drops records not yet synced. */
void wal_close(wal *w);

/* Queues a record; payload must stay valid until wal_sync() returns.
 * ROOST_ETOOBIG when len > WAL_MAX_PAYLOAD; ROOST_EINVAL when lsn >= next or
 * lsn is below the next of the record appended before it in this session
 * (replay would refuse the log). */
int wal_append(wal *w, uint64_t lsn, uint64_t next, const void *payload, uint32_t len);

/* Writes every queued record and fdatasyncs once. On failure (ROOST_ENOSPC,
 * ROOST_EPERM, ROOST_EIO, ...) the file is cut back to its last synced
 * size, the queue is dropped, and nothing of the group counts as written;
 * the group may be appended again. If the cut itself fails (a read-only
 * file), the next wal_sync() or wal_rotate() cuts first and fails, writing
 * nothing, until the cut succeeds. */
int wal_sync(wal *w);

/* Starts a new file at start_lsn, then deletes the files that hold only
 * records before keep_from (everything before it is checkpointed). The
 * queue must be empty (wal_sync() first), start_lsn at least the last
 * synced record's next and the current file's start, and keep_from at
 * most start_lsn, else ROOST_EINVAL. */
int wal_rotate(wal *w, uint64_t start_lsn, uint64_t keep_from);

/* A file older than the one being written: its records' LSNs lie in
 * [start, end), and mtime_ms is the wall time of its last write. */
struct wal_file {
	uint64_t start, end, size;
	int64_t mtime_ms;
};

/* The files older than the one being written, oldest first, malloc'ed
 * (*n may be 0). */
int wal_older_files(wal *w, struct wal_file **out, size_t *n);

/* The LSN the file being written starts at. */
uint64_t wal_current_start(const wal *w);

/* Synced bytes in the log files, for status and checkpoint decisions. */
uint64_t wal_size(const wal *w);

#endif
