/* The writer's single ingest thread: recovery, then drain the ring in
 * groups (log with one fsync, apply with one FAISS add, publish), sealing
 * the tail into segments as it fills. */
#ifndef ROOST_INGEST_H
#define ROOST_INGEST_H

#include "gpumem.h"
#include "inst.h"
#include "retain.h"

#include <signal.h>
#include <stdint.h>

struct ingest_config {
	struct inst *inst;	  /* its runtime and shared-memory paths are filled in */
	uint32_t dim;		  /* 0: take it from the manifest */
	int metric;		  /* -1: from the manifest (default L2) */
	const char *index;	  /* NULL: from the manifest (default "Flat") */
	const char *indexed_keys; /* NULL: from the manifest (default none) */
	uint64_t ring_capacity;
	uint64_t seal_docs;   /* tail capacity: documents per segment */
	int seal_interval_ms; /* seal a tail this old (0: only when full) */
	int merge_idle_ms;    /* sealed nothing this long: merge at rest (0: never) */
	uint64_t train_docs;  /* vectors to train on, for trained types */
	uint32_t group_max;   /* records per group */
	int dead_timeout_ms;  /* a producer's claim older than this is checked */
	uint32_t clients;     /* idempotency slots of a new control block (0: default) */
	int adopt;	      /* take over a data directory of another name */
	struct retain retain; /* history kept beyond what the collections need */
	/* --gpu: the open segment's index grows on the GPU, within a budget. */
	int gpu;
	int gpu_device;
	uint64_t gpu_budget_bytes; /* 0: gpu_budget_percent of the device */
	uint32_t gpu_budget_percent;
	uint64_t gpu_temp_bytes; /* StandardGpuResources scratch */
	enum gpumem_policy gpu_on_pressure;
};

typedef struct ingest ingest;

/* What ingest_open would refuse for its configuration (a new instance
 * without a dimension, settings or a name that contradict the data
 * directory's, an index FAISS cannot build), logged in roost's words,
 * found without creating or changing anything. */
int ingest_check(const struct ingest_config *cfg);

/* Takes the writer locks, opens or creates the shared objects, loads the
 * manifest and replays the log. A start that fails removes what it
 * created (writer/made.h). */
int ingest_open(ingest **out, const struct ingest_config *cfg);

/* Drains the ring until *stop becomes non-zero. */
int ingest_run(ingest *w, volatile sig_atomic_t *stop);

void ingest_close(ingest *w);

#endif
