#include "clocale.h"

#include "err.h"

#include <pthread.h>

static pthread_once_t clocale__once = PTHREAD_ONCE_INIT;
static locale_t clocale__c;

static void clocale__init(void)
{
	clocale__c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

int clocale_get(locale_t *out)
{
	/* pthread_once orders the store in clocale__init before every load. */
	pthread_once(&clocale__once, clocale__init);
	if (clocale__c == (locale_t)0)
		return ROOST_ENOMEM;
	*out = clocale__c;
	return 0;
}

int clocale_enter(locale_t *old)
{
	locale_t c;
	int rc = clocale_get(&c);

	if (rc)
		return rc;
	*old = uselocale(c);
	return 0;
}

void clocale_leave(locale_t old)
{
	uselocale(old);
}
