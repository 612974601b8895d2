#include "seqlock.h"

#include <sched.h>
#include <string.h>

#include "err.h"

/* A writer holds the seqlock for a few stores; a reader that keeps
 * finding it odd (or moved) this many times treats it as abandoned. */
#define SEQLOCK__TRIES 1000

void seqlock_write_begin(_Atomic uint32_t *seq)
{
	/* Odd from here. The release fence keeps the word stores that follow
	 * from moving above the increment; pairs with the acquire fence in
	 * seqlock_read, which then sees the odd or the moved sequence. */
	atomic_fetch_add_explicit(seq, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

void seqlock_store(_Atomic uint64_t *dst, const void *src, size_t words)
{
	for (size_t i = 0; i < words; i++) {
		uint64_t w;
		memcpy(&w, (const char *)src + 8 * i, 8);
		/* Relaxed: the sequence orders them (see begin and end). */
		atomic_store_explicit(&dst[i], w, memory_order_relaxed);
	}
}

void seqlock_write_end(_Atomic uint32_t *seq)
{
	/* Even again. Release: pairs with the acquire load that starts
	 * seqlock_read, so a reader seeing this value sees every word. */
	atomic_fetch_add_explicit(seq, 1, memory_order_release);
}

int seqlock_read(_Atomic uint32_t *seq, _Atomic uint64_t *src, void *dst, size_t words)
{
	for (int tries = 0; tries < SEQLOCK__TRIES; tries++) {
		/* Acquire: pairs with the release increment in seqlock_write_end. */
		uint32_t s1 = atomic_load_explicit(seq, memory_order_acquire);
		if (s1 & 1) {
			sched_yield();
			continue;
		}
		for (size_t i = 0; i < words; i++) {
			uint64_t w = atomic_load_explicit(&src[i], memory_order_relaxed);
			memcpy((char *)dst + 8 * i, &w, 8);
		}
		/* Pairs with the release fence in seqlock_write_begin: a word
		 * from a write in progress means the second load sees it begun. */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(seq, memory_order_relaxed) == s1)
			return 0;
	}
	return ROOST_EBUSY;
}
