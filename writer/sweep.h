/* Clean-up of the data directory, at start-up and after a drop.
 *
 * A dropped collection's files go once a stored manifest no longer names
 * them. A writer killed in the middle of a seal, a training, a compaction
 * or a drop leaves files that no manifest names: temporary files (*.tmp), segment
 * files stored before the manifest that would have named them (the next
 * seal covers another LSN range, so another name), a trained index not yet
 * recorded, segments a compaction merged but had not deleted yet, a dropped
 * collection's files. Nothing
 * ever reads them, and each kill at the wrong moment would add more.
 */
#ifndef ROOST_SWEEP_H
#define ROOST_SWEEP_H

#include "manifest.h"

/* Removes from dir every *.tmp file, and every seg-*, trained-* and tombs-* file
 * that m (stored) does not name, logging each. Call it holding the data
 * directory lock, between writes of the writer's own. A file that cannot
 * be removed is logged and left; only an unreadable directory is an
 * error. */
int sweep_data_dir(const char *dir, const struct manifest *m);

#endif
