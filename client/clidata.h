/* `roost add` (documents from JSON lines, proto/json.h) and `roost
 * search` (hits as a table or JSON). */
#ifndef ROOST_CLIDATA_H
#define ROOST_CLIDATA_H

/* Both take the subcommand's arguments (argv[0] is its name) and return
 * an exit status (cliutil.h; 130 for a load stopped by a signal). */
int clidata_add(int argc, char **argv);
int clidata_search(int argc, char **argv);

/* What `roost help add` and `roost help search` print. */
extern const char clidata_add_usage[];
extern const char clidata_search_usage[];

#endif
