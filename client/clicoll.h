/* `roost collections`: list, create, describe, alter and drop an
 * instance's collections, as a table or JSON. */
#ifndef ROOST_CLICOLL_H
#define ROOST_CLICOLL_H

#include "roost.h"

#include <stdio.h>

/* Takes the subcommand's arguments and returns an exit status. */
int clicoll_main(int argc, char **argv);

/* One collection as a JSON object (also `roost status --json`'s entries,
 * which add the rates and its history; a negative rate, a NULL history,
 * are left out). */
void clicoll_json(FILE *f, const struct roost_collection *c, double ingest_rate, double search_rate,
		  const struct roost_history *h);

/* A collection's indexed keys as a table's last column shows them: the
 * list, or "-" when it has none. */
const char *clicoll_keys_text(const struct roost_collection *c);

/* What `roost help collections` prints. */
extern const char clicoll_usage[];

#endif
