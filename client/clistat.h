/* `roost status`: what the supervisor runs, what the writer and the ring
 * say, what each reader serves, and ingest and search rates from two
 * samples taken an interval apart. */
#ifndef ROOST_CLISTAT_H
#define ROOST_CLISTAT_H

/* Takes the subcommand's arguments and returns an exit status. */
int clistat_main(int argc, char **argv);

#endif
