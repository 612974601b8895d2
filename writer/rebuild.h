/* Rebuilding: after an alter, gives each sealed segment of a collection
 * an index of the collection's new settings (another factory string, or
 * fresh training), in the background, one segment at a time.
 *
 * A segment's rows (its documents file) never change; only its index
 * file depends on the settings. So a rebuild writes a second index file
 * for the same rows, named by the collection's index generation
 * (manifest_index_path), and a manifest that names it replaces the
 * segment's entry: readers switch to it atomically, and any reader still
 * on the older manifest keeps searching the older file, which answers
 * for the same rows. A crash anywhere leaves each segment with one of
 * its two files named, every row searchable, and the rest to do.
 *
 * A job runs in three steps, like a merge (compact.h):
 *   rebuild_plan     (ingest thread) picks the collection's first segment
 *                    whose index is of older settings, and copies the
 *                    settings to build with;
 *   rebuild_build    (any thread) trains first when the settings need a
 *                    training and have none (on vectors sampled evenly
 *                    from every segment of the collection), writing the
 *                    trained empty index, then builds the segment's new
 *                    index from its stored vectors;
 *   rebuild_install  (ingest thread) checks that the segment and the
 *                    settings are still the collection's, stores the
 *                    manifest, and only then deletes the old index file.
 */
#ifndef ROOST_REBUILD_H
#define ROOST_REBUILD_H

#include "coll.h"
#include "inst.h"
#include "manifest.h"

#include <stdatomic.h>
#include <stdint.h>

typedef struct rebuild_job rebuild_job;

/* The first segment of collection coll in m whose index predates the
 * collection's settings, or *out NULL when none does. set is the
 * collection's settings resolved (its factory string and training size);
 * when train_gen is not 0 the job trains first and writes the trained
 * index as that generation. */
int rebuild_plan(rebuild_job **out, const struct inst *in, const struct manifest *m, uint32_t coll,
		 const struct coll_settings *set, uint64_t train_gen);

/* 1 when a segment of collection coll in m has an index of settings its
 * collection's index generation replaced. */
int rebuild_needed(const struct manifest *m, uint32_t coll);

/* Writes the new index file (and the trained one); ROOST_ECLOSED when
 * *cancel became non-zero on the way. Touches nothing but its files. */
int rebuild_build(rebuild_job *j, const atomic_int *cancel);

/* Installs a built job into m, a copy of the current manifest with the
 * generation it is to be stored as, and stores it. ROOST_ENOENT when the
 * segment or the settings are no longer m's (merged, dropped, altered
 * again): nothing changed, abandon the job. */
int rebuild_install(rebuild_job *j, struct manifest *m);

/* What an installed job did: its collection, the index generation built
 * for, and the trained file's generation (0: it did not train). */
uint32_t rebuild_coll(const rebuild_job *j);
uint32_t rebuild_index_gen(const rebuild_job *j);
uint64_t rebuild_trained_gen(const rebuild_job *j);

/* Removes what a build wrote that no manifest names. */
void rebuild_abandon(rebuild_job *j);
void rebuild_free(rebuild_job *j);

#endif
