/* Process-shared futex waits on 32-bit words in shared memory. */
#ifndef ROOST_FUTEX_H
#define ROOST_FUTEX_H

#include <stdatomic.h>
#include <stdint.h>

/* Sleeps while *word == expected, at most timeout_ms (< 0: no limit).
 * Returns 0 when woken or when the value differed, ROOST_ETIMEDOUT on
 * timeout. Spurious wakeups happen: callers re-check their condition. */
int futex_wait(_Atomic uint32_t *word, uint32_t expected, int timeout_ms);

/* Wakes every sleeper on word. */
void futex_wake_all(_Atomic uint32_t *word);

/* Milliseconds on CLOCK_MONOTONIC, which every process on the host shares. */
int64_t futex_now_ms(void);

#endif
