/* Fair ingest between agents: a token bucket per agent, in each broker.
 *
 * Every document an add carries is charged to its agent (the document's
 * agent field). A batch that names several agents is charged to each for
 * its own documents, and admitted only when every one of them may pay, so
 * that it is written whole or not at all. An agent's bucket holds at most
 * burst documents and refills at rate documents per second. A batch is
 * admitted when the bucket holds what it costs; a batch bigger than the
 * burst is admitted when the bucket is full, and the agent owes the rest.
 * A refused add changes nothing: its client retries (ROOST_EBUSY) once its
 * agents have refilled.
 *
 * The limit is each broker's: an agent whose adds go through several
 * brokers gets the rate at each. The table remembers FAIR_AGENTS agents;
 * a new agent takes the place of one whose bucket has refilled (forgetting
 * it changes nothing), else of the fullest one nearby.
 *
 * Pure logic with the clock passed in, so tests drive it without waiting.
 * Thread-safe: broker workers share one table. */
#ifndef ROOST_FAIR_H
#define ROOST_FAIR_H

#include <stddef.h>
#include <stdint.h>

#define FAIR_AGENTS 16384u /* remembered per broker; a power of two */

struct fair_config {
	uint32_t rate;	/* documents per second per agent; 0: no limit */
	uint32_t burst; /* documents a bucket holds; 0: one second's worth */
};

/* An agent and the documents of one batch it is charged for. */
struct fair_charge {
	int64_t agent;
	uint32_t docs;
};

/* Why an add was refused: the agent that must wait, and how long. */
struct fair_refusal {
	int64_t agent;
	uint32_t retry_ms;
};

typedef struct fair fair;

/* ROOST_EINVAL for a burst without a rate. With rate 0 every add is
 * admitted and nothing is kept. */
int fair_new(fair **out, const struct fair_config *cfg);
void fair_free(fair *f);

/* Admits and charges the n charges (distinct agents) of one batch at
 * now_ms (a monotonic clock), or refuses them all: ROOST_EBUSY with *why
 * filled. */
int fair_admit(fair *f, const struct fair_charge *c, size_t n, int64_t now_ms,
	       struct fair_refusal *why);

/* Folds the documents' agents of a batch into charges: out gets one per
 * distinct agent (at most n), sorted by agent; returns how many. agents is
 * reordered. */
size_t fair_charges(int64_t *agents, size_t n, struct fair_charge *out);

uint32_t fair_rate(const fair *f);
uint64_t fair_refused(const fair *f); /* adds refused so far */

#endif
