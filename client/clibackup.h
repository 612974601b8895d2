/* roost backup: a consistent copy of a serving instance's data directory,
 * made while it serves.
 *
 * The copy holds a manifest, every file it names and the log from the
 * manifest's start up to an LSN E, which the command prints: `roost up
 * --data-dir DIR` on it (with --adopt under another name) serves exactly
 * the documents of the records below E: the durable end of the log when
 * the backup began, or, if the manifest it copies was stored later, the
 * point that manifest covers (its catalog_lsn).
 *
 * Nothing waits for the backup. It first hard-links, into a staging folder
 * inside the data directory (the same file system), every log file, then
 * every file the manifest names, then the log files again: a file the
 * writer deletes afterwards (a merge, a seal's log rotation, the sweep)
 * keeps its bytes for the backup through the link; one deleted before it
 * was linked makes the backup read the manifest again, and a manifest
 * replaced before the second pass (its seal may have rotated a log file
 * away) makes it start over. The records below E were synced before the
 * second pass, so the links hold them whatever the writer appends later.
 * Then everything is copied to DIR.partial, the log there rewritten with
 * the records below E only, and DIR.partial renamed to DIR: an interrupted
 * backup never leaves a DIR to restore from, and its staging folder (whose
 * LOCK it holds while it lives) is removed by the next backup. */
#ifndef ROOST_CLIBACKUP_H
#define ROOST_CLIBACKUP_H

int clibackup_main(int argc, char **argv);

#endif
