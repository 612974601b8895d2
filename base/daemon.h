/* What every long-running roost process does the same way: which signals
 * stop it and who takes them, and its pool of worker threads. */
#ifndef ROOST_DAEMON_H
#define ROOST_DAEMON_H

#include <pthread.h>
#include <signal.h>

/* SIGTERM and SIGINT, blocked in the calling thread and so in every
 * thread it starts afterwards: only a thread that waits for *sigs
 * (sigwait, sigtimedwait) takes them. SIGPIPE is ignored: a peer that went
 * away is an error return, not the process's death. Call it first thing in
 * main. */
void daemon_signals(sigset_t *sigs);

/* Starts up to n threads running fn(arg) into threads[]; returns how many
 * started (0: none could). */
int daemon_start(pthread_t *threads, int n, void *(*fn)(void *), void *arg);

/* Joins the first n of threads[]. */
void daemon_join(pthread_t *threads, int n);

#endif
