/* The catalog: the collections an instance has now, published by the
 * writer in shared memory for brokers (a name's id, dimension and
 * settings) and readers (each collection's current tail).
 *
 * The writer fills it in from its recovered state when it starts and
 * changes it as it applies creates and drops; it outlives writer restarts,
 * as the control block does, so that brokers keep accepting adds for the
 * collections it lists while no writer runs. A restarting writer updates
 * entries in place instead of clearing them, so a broker never sees a live
 * collection missing. Brokers and readers map it read-only. Its layout is
 * private to catalog.c, which documents it and the memory ordering of every
 * shared field.
 *
 * Besides the collections, it keeps a few notes: why the writer refused a
 * create or a drop (an index FAISS cannot build, a name taken meanwhile),
 * by the record's LSN, for the broker that waits on that record to pass on.
 */
#ifndef ROOST_CATALOG_H
#define ROOST_CATALOG_H

#include "coll.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CATALOG_SLOTS	 1024u /* live collections at most */
#define CATALOG_NOTE_MAX 200u  /* bytes of a refusal note, NUL included */

typedef struct catalog catalog;

/* A collection as published. */
struct catalog_entry {
	uint32_t id;
	char name[COLL_NAME_MAX + 1];
	struct coll_settings settings; /* resolved: no writer defaults left */
	uint64_t created_lsn;
	uint64_t tail_serial;	/* its current tail object (inst_tail_path) */
	uint64_t frozen_serial; /* the tail before it, being sealed; 0: none */
	uint64_t documents;
	uint32_t segments;
	/* Segments whose index was built before the last alter of the
	 * settings: the writer rebuilds them in the background. */
	uint32_t rebuilding;
	/* Reads as of an LSN below it are refused: its create, or what
	 * compaction dropped (0 from a writer that has not said yet). */
	uint64_t history_start;
	uint64_t history_bytes; /* disk its versions ended by deletes and upserts take */
};

#define CATALOG_RETAIN_MAX 48u

/* The instance's retention, as the writer applies it. */
struct catalog_history {
	char retain[CATALOG_RETAIN_MAX]; /* its --retain setting ("" before a writer said) */
	uint64_t horizon;		 /* history is kept from this LSN; UINT64_MAX: none */
	uint64_t log_bytes;		 /* log files kept below the replay point */
};

/* Writer: opens the catalog, creating it when missing or left by another
 * layout version. */
int catalog_open_writer(catalog **out, const char *path, mode_t mode);

/* Brokers and readers: maps an existing catalog read-only. ROOST_ENOENT
 * while no writer made it. */
int catalog_open(catalog **out, const char *path);
void catalog_close(catalog *c);

/* Writer: publishes e (a new collection, or new settings and tail of one
 * listed), complete, under its id; a history_start of 0 keeps the
 * history figures the slot has. ROOST_ENOSPC when CATALOG_SLOTS live
 * collections are listed already. */
int catalog_put(catalog *c, const struct catalog_entry *e);

/* Writer: the collection is gone (dropped, or not in the recovered state). */
void catalog_remove(catalog *c, uint32_t id);

/* Writer: names collection id's current tail and the frozen one before it
 * (0: none), once the objects are complete. */
void catalog_set_tail(catalog *c, uint32_t id, uint64_t serial, uint64_t frozen);

/* Writer: figures for status. */
void catalog_set_counts(catalog *c, uint32_t id, uint64_t documents, uint32_t segments);
void catalog_set_rebuilding(catalog *c, uint32_t id, uint32_t segments);

/* Writer: figures of history for status. */
void catalog_set_history_of(catalog *c, uint32_t id, uint64_t start, uint64_t bytes);
void catalog_set_history(catalog *c, const struct catalog_history *h);

/* The instance's retention; ROOST_EBUSY while the writer kept changing it. */
int catalog_history(catalog *c, struct catalog_history *out);

/* Writer: a new manifest names other segments while every tail stays as
 * it was (a merge installed): readers, which look again when the version
 * moves, rebuild the views of the old segments. */
void catalog_touch(catalog *c);

/* The live collection named name (ROOST_ENOCOLL when none is), or the one
 * with this id. */
int catalog_find(catalog *c, const char *name, struct catalog_entry *out);
int catalog_get(catalog *c, uint32_t id, struct catalog_entry *out);

/* Live collections in ascending id, *n of them: all of them when max is
 * CATALOG_SLOTS; with a smaller max, the first max slots hold, not the
 * lowest ids. */
int catalog_list(catalog *c, struct catalog_entry *out, size_t max, size_t *n);

/* Changes whenever anything but the counts changes: a reader whose view
 * was built at one value rebuilds it at another. */
uint64_t catalog_version(catalog *c);

/* Writer: why the record at lsn was refused, before the mark its broker
 * waits for passes lsn. Only the newest few notes are kept. */
void catalog_note(catalog *c, uint64_t lsn, const char *text);

/* Brokers: the note for lsn into buf; 0, or ROOST_ENOENT when none is
 * kept. */
int catalog_note_find(catalog *c, uint64_t lsn, char *buf, size_t len);

#endif
