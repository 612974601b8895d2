/* `roost add` (documents from JSON lines, common/json.h) and `roost
 * search` (hits as a table or JSON). */
#ifndef ROOST_CLIDATA_H
#define ROOST_CLIDATA_H

#define CLIDATA_ADD_USAGE                                                                          \
	"usage: roost add --name NAME [--file F|-] [--ack queued|durable|visible]\n"               \
	"                 [--batch N] [--timeout-ms MS]\n"                                         \
	"Adds documents from JSON lines (F, or stdin: -), one per line:\n"                         \
	"  "                                                                                       \
	"{\"vector\":[0.1,...],\"agent\":7,\"time\":1700000000,\"kind\":\"tweet\",\"text\":\"..."  \
	"\"}\n"                                                                                    \
	"(only vector is required), in batches of N (1 to 1024, default 256), each\n"              \
	"acknowledged as --ack says (default durable). Prints each assigned id on\n"               \
	"stdout in input order, and a summary on stderr. MS bounds each batch,\n"                  \
	"retries included (default 60000).\n"

#define CLIDATA_SEARCH_USAGE                                                                       \
	"usage: roost search --name NAME --vector V [-k K] [--agent A]...\n"                       \
	"                    [--time-min T] [--time-max T] [--kind K] [--min-lsn L]\n"             \
	"                    [--nprobe N] [--ef-search N] [--json] [--timeout-ms MS]\n"            \
	"Searches for the K (1 to 1024, default 10) documents nearest to V, given as\n"            \
	"\"0.1,0.2,...\" or as a JSON array '[0.1, 0.2, ...]'. Filters: any of the\n"              \
	"--agent values, time within [T, T] (inclusive), kind. --min-lsn L answers\n"              \
	"only from data that includes LSN L (read your writes). --nprobe (IVF) and\n"              \
	"--ef-search (HNSW) trade recall for speed, 1 to 65536. Prints a table, or\n"              \
	"JSON with --json.\n"

/* Both take the subcommand's arguments (argv[0] is its name) and return
 * an exit status (cliutil.h). */
int clidata_add(int argc, char **argv);
int clidata_search(int argc, char **argv);

#endif
