/* The writer's FAISS index for the segment being filled: built from a
 * factory string, trained when the type needs it, grown by one add call
 * per group, and written out when the segment is sealed. Only the writer's
 * single ingest thread touches it. */
#ifndef ROOST_VINDEX_H
#define ROOST_VINDEX_H

#include <stdint.h>

typedef struct vindex vindex;

/* A new, empty index; ROOST_EINVAL (with the FAISS message in the log) for
 * a factory string FAISS does not accept. */
int vindex_new(vindex **out, const char *factory, uint32_t dim, uint32_t metric);

/* An empty copy of a trained index stored at path. */
int vindex_load(vindex **out, const char *path);

void vindex_free(vindex *v);

int vindex_is_trained(const vindex *v);

/* Trains on n vectors (row-major, dim each). */
int vindex_train(vindex *v, uint64_t n, const float *x);

/* Adds n vectors; their labels continue from vindex_count(). */
int vindex_add(vindex *v, uint64_t n, const float *x);

uint64_t vindex_count(const vindex *v);

/* Writes the index durably: temp file, fsync, rename. */
int vindex_store(const vindex *v, const char *path);

/* Checks a factory string against FAISS without keeping the index. */
int vindex_check_factory(const char *factory, uint32_t dim, uint32_t metric, int *needs_training);

#endif
