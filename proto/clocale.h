/* The C locale for numbers in text. JSON writes numbers with '.', but
 * strtof() and printf() follow the process's locale, which whoever hosts
 * this code may have set to one with a decimal comma (setlocale() is
 * process-wide, and a library cannot know who called it). Converting code
 * therefore uses the C locale explicitly, whatever the process chose. */
#ifndef ROOST_CLOCALE_H
#define ROOST_CLOCALE_H

#include <locale.h>

/* The C locale, made once per process and never freed, for the *_l
 * functions (strtof_l). Fails with ROOST_ENOMEM when it cannot be made. */
int clocale_get(locale_t *out);

/* Switches the calling thread to the C locale, for functions without an
 * *_l form (snprintf); *old receives what clocale_leave() restores. Fails
 * as clocale_get(), and then changes nothing. */
int clocale_enter(locale_t *old);
void clocale_leave(locale_t old);

#endif
