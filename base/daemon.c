#include "daemon.h"

void daemon_signals(sigset_t *sigs)
{
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(sigs);
	sigaddset(sigs, SIGTERM);
	sigaddset(sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, sigs, NULL);
}

int daemon_start(pthread_t *threads, int n, void *(*fn)(void *), void *arg)
{
	int started = 0;
	while (started < n && pthread_create(&threads[started], NULL, fn, arg) == 0)
		started++;
	return started;
}

void daemon_join(pthread_t *threads, int n)
{
	for (int i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
}
