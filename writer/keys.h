/* The writer's durable record of idempotency keys: for each client, the
 * newest sequence number it logged and that batch's LSN and size. It is
 * rebuilt from the manifest and the log on start, saved with every
 * manifest, and seeds the brokers' shared table after a reboot. */
#ifndef ROOST_KEYS_H
#define ROOST_KEYS_H

#include "manifest.h"

#include <stdint.h>

/* Keys kept across seals: the most recent ones by LSN. */
#define KEYS_KEEP 65536u

typedef struct keys keys;

int keys_new(keys **out);
void keys_free(keys *k);

/* 1 when the record at `lsn` with (client_id, seq) repeats one logged
 * before it: seq at or below the client's newest, which was logged at a
 * lower LSN. A manifest written while some collection's tail was unsealed
 * holds keys of records that replay meets again (at their own LSN, or
 * after them): those are no repeats, since a client numbers its requests
 * in the order they are logged and retries one before it sends the next. */
int keys_repeats(const keys *k, uint64_t client_id, uint64_t seq, uint64_t lsn);

int keys_put(keys *k, uint64_t client_id, uint64_t seq, uint64_t lsn, uint32_t count);

/* Copies up to KEYS_KEEP keys, newest first, into a malloc'ed array. */
int keys_export(const keys *k, struct manifest_key **out, uint32_t *n);

typedef void (*keys_fn)(void *arg, const struct manifest_key *key);
void keys_each(const keys *k, keys_fn fn, void *arg);

#endif
