/* Start-up clean-up of the data directory.
 *
 * A writer killed in the middle of a seal, a training or a compaction
 * leaves files that no manifest names: temporary files (*.tmp), segment
 * files stored before the manifest that would have named them (the next
 * seal covers another LSN range, so another name), a trained index not yet
 * recorded, segments a compaction merged but had not deleted yet. Nothing
 * ever reads them, and each kill at the wrong moment would add more.
 */
#ifndef ROOST_SWEEP_H
#define ROOST_SWEEP_H

#include "manifest.h"

/* Removes from dir every *.tmp file, and every seg-* and trained-* file
 * that m does not name, logging each. Call it holding the data directory
 * lock, before anything new is written. A file that cannot be removed is
 * logged and left; only an unreadable directory is an error. */
int sweep_data_dir(const char *dir, const struct manifest *m);

#endif
