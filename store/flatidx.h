/* A Flat segment's index file: FAISS's index header alone.
 *
 * A Flat index is its vectors, and a segment's documents file holds them
 * already: readers search them there, mapped, and the merger and rebuilds
 * build from them. So for a Flat index the writer writes only the header
 * that FAISS's write_index would start the file with, which says the
 * type, dimension, row count and metric, and leaves the vectors out: half
 * the bytes of every Flat seal and merge. FAISS's own read_index refuses
 * such a file (its vectors end early), so nothing mistakes it for a whole
 * index. Files written whole before are read the same way (the header
 * only).
 *
 * Layout, little-endian, as FAISS 1.7.3 writes an index header, 37 bytes:
 *   char   fourcc[4]   "IxF2" (L2) or "IxFI" (inner product)
 *   int32  d
 *   int64  ntotal
 *   int64  dummy[2]    1 << 20 each, as FAISS writes them
 *   uint8  is_trained  1
 *   int32  metric      0 inner product, 1 L2 (faiss::MetricType)
 */
#ifndef ROOST_FLATIDX_H
#define ROOST_FLATIDX_H

#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FLATIDX_SIZE 37u

/* What an index file's header says. */
struct flatidx {
	char fourcc[4];
	int32_t d;
	int64_t ntotal;
	int32_t metric; /* FAISS's: 0 inner product, 1 L2 */
};

/* Writes the header of a Flat index of rows vectors of dim floats, metric
 * as roost's (0 L2, 1 inner product), durably (durable_replace). */
int flatidx_store(const char *path, uint32_t dim, uint64_t rows, uint32_t metric, mode_t mode);

/* Reads the header any FAISS index file starts with. ROOST_ENOENT,
 * ROOST_EIO, or ROOST_ECORRUPT when the file is shorter than a header. */
int flatidx_read(const char *path, struct flatidx *out);

/* 1 when the header is a Flat index's (either metric). */
int flatidx_is_flat(const struct flatidx *h);

#ifdef __cplusplus
}
#endif

#endif
