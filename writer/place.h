/* Where the open segment's index lives with --gpu: applies gpumem's
 * decisions to a vindex, moving it between the GPU and the CPU, so that the
 * writer never crashes and never loses a vector under GPU memory pressure,
 * and keeps the writer mode that status shows. A NULL place is a CPU-only
 * writer: every call then works on the CPU as before. */
#ifndef ROOST_PLACE_H
#define ROOST_PLACE_H

#include "gpumem.h"
#include "vindex.h"

#include <stdint.h>

struct place_config {
	int device;
	uint64_t temp_bytes;   /* StandardGpuResources scratch */
	uint64_t budget_bytes; /* 0: budget_percent of the device */
	uint32_t budget_percent;
	uint64_t segment_vectors; /* documents per segment */
	enum gpumem_policy policy;
};

typedef struct place place;

/* Opens the GPU. Without a usable GPU, policy "cpu" goes on on the CPU
 * for good (mode "cpu (fallback: no usable GPU)", a warning in the log)
 * and policy "refuse" fails with ROOST_ENOENT or ROOST_ENOMEM. Always an
 * error: ROOST_EUNSUPPORTED (built without GPU support), ROOST_EINVAL (no
 * such device, bad budget). */
int place_open(place **out, const struct place_config *cfg);

/* Puts an empty index of this type on the GPU and warms it up (see
 * vindex_warm_up). ROOST_EUNSUPPORTED when FAISS has no GPU version of it,
 * ROOST_EFAISS when the warm-up fails. */
int place_check_index(place *p, const char *factory, uint32_t dim, uint32_t metric);

void place_close(place *p);

/* A new segment's index, on the CPU: moved to the GPU when it has room.
 * Every index on the GPU counts against the budget of the others until it
 * leaves the GPU or is forgotten. Without a GPU, a Flat index keeps its
 * row count alone (vindex_keep_rows_only). */
void place_segment(place *p, vindex *v);

/* v is about to be freed (sealed, dropped, closed): its GPU memory no
 * longer counts. */
void place_forget(place *p, vindex *v);

/* Trains v, on the GPU when it has room for the training set. */
int place_train(place *p, vindex *v, uint64_t n, const float *x);

/* Whether an add may be refused when the GPU has no room. */
enum place_refusal {
	PLACE_MUST_ADD,	  /* the rows must go in (recovery, a seal): on the CPU if need be */
	PLACE_MAY_REFUSE, /* new rows: under policy "refuse" they can wait */
};

/* Adds n vectors x to v. base holds the segment's vectors from label 0:
 * its first vindex_count(v) rows are those already in v, from which the
 * index is rebuilt on the CPU if an add fails on the GPU. With
 * PLACE_MAY_REFUSE and policy "refuse", ROOST_EBUSY when the GPU has no
 * room: nothing was added; ask again later. Otherwise the add happens, on
 * the CPU if need be. */
int place_add(place *p, vindex *v, const float *base, const float *x, uint64_t n,
	      enum place_refusal refusal);

/* The writer mode: "cpu" for a NULL place, else gpumem's. */
const char *place_mode(const place *p);

#endif
