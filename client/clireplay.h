/* roost replay: rebuilds one collection of a data directory, as of an LSN,
 * into a new data directory, from the source's segments and log.
 *
 * The source is a stopped instance's data directory or a backup (a
 * running writer's is refused: its files change under a reader). The
 * copy's log holds the collection's documents at their original LSNs, so
 * every document keeps its id, numbered ones included: first the rows its
 * segments hold that are visible as of S (the collection's covered LSN,
 * or the LSN asked for when that is older), as batches of consecutive
 * numbers; then the source log's batches and deletes of the collection
 * from S up to the LSN asked for, byte for byte. Its manifest holds the
 * collection alone, with its settings, its trained index (copied) and
 * the source's idempotency keys below S, and no segment: `roost up --data-dir
 * NEW --adopt` rebuilds every index from the log, as a writer recovers.
 * Reads as of an LSN below S are refused there (its history starts at S).
 *
 * Like a backup, the copy is made in NEW.partial and renamed to NEW once
 * it is whole, so an interrupted replay never leaves a NEW to start. */
#ifndef ROOST_CLIREPLAY_H
#define ROOST_CLIREPLAY_H

int clireplay_main(int argc, char **argv);

#endif
