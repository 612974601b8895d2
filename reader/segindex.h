/* A sealed segment's FAISS index, opened so that readers share what the
 * page cache can hold instead of each reading its own copy.
 *
 * FAISS 1.7.3 reads an index file into the heap. Per type:
 * - Flat: only the index file's header is read (the writer writes no
 *   more: store/flatidx.h). The segment's vectors, mapped from its
 *   documents file, are searched in place by a read-only index (the same
 *   FAISS kernels, IDSelector and BLAS path as IndexFlat).
 * - IVF: inverted lists are mapped from the index file (FAISS's
 *   IO_FLAG_MMAP, the C++ value: the C API's FAISS_IO_FLAG_MMAP is 1 and
 *   would read everything), with the lists' prefetch threads off (they
 *   would start 32 threads per search to read pages the kernel brings in
 *   anyway) and every list checked to lie inside the file.
 * - HNSW over flat storage: the graph is read into the reader (about 17%
 *   of the index at d=384); the storage read with it is dropped for the
 *   mapped vectors, so the reader keeps only the graph. The index walks
 *   the graph itself (FAISS's default walk), because FAISS 1.7.3's sizes
 *   its candidate queue from the index's efSearch and takes only the
 *   stopping point from a search's parameters: ef_search above the
 *   index's would reach no further.
 * Other types are read as FAISS reads them.
 *
 * A search that leaves nprobe or ef_search at 0 gets these defaults, set
 * in each index opened, rather than FAISS's (nprobe 1, efSearch 16: recall
 * at 10 of 0.29 and 0.83 on 100k documents of d=384 drawn like bench/'s,
 * 100 Gaussian clusters). Measured there with python3-faiss (one thread,
 * recall at 10 against exact search; bench/'s own data gives 0.92 at 64):
 *   HNSW32, 100k rows: efSearch 16 0.834, 32 0.937, 48 0.963, 64 0.974,
 *     128 0.984, at 0.35, 0.49, 0.59, 0.64, 0.73 ms a query;
 *   IVF1024: nprobe 1 0.286, 4 0.780, 8 0.979, 16 1.000, at 0.11, 0.23,
 *     0.34, 0.59 ms.
 * nprobe is a share of the lists, so that it keeps its meaning at any
 * nlist, but at least 8 (of a few lists, one holds too few neighbours). */
#define SEGINDEX_EF_SEARCH    64
#define SEGINDEX_NPROBE_SHARE 64
#define SEGINDEX_NPROBE_MIN   8
#ifndef ROOST_SEGINDEX_H
#define ROOST_SEGINDEX_H

#include <faiss/c_api/Index_c.h>

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Opens the index file at path over vectors (count rows of dim floats,
 * which must outlive the index), checking that the index has that many
 * rows of that dimension. 0, or ROOST_ECORRUPT (a file FAISS cannot read
 * or that does not match), ROOST_ENOMEM, ROOST_ENOENT. Free with
 * faiss_Index_free. */
int segindex_open(FaissIndex **out, const char *path, const float *vectors, uint64_t count,
		  uint32_t dim);

#ifdef __cplusplus
}
#endif

#endif
