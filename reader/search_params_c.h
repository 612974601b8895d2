/* Search with parameters (an IDSelector, nprobe, efSearch) through the C
 * API.
 *
 * FAISS 1.7.3's C++ library can filter inside a search with
 * SearchParameters::sel and tune it per call, but its C API cannot. Where
 * later upstream FAISS C APIs have a function, this shim uses its name and
 * signature, so that part can be dropped when roost moves to a newer
 * FAISS. */
#ifndef ROOST_SEARCH_PARAMS_C_H
#define ROOST_SEARCH_PARAMS_C_H

#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/faiss_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

FAISS_DECLARE_CLASS(SearchParameters)
FAISS_DECLARE_CLASS(IDSelectorBitmap)

/* A bitmap selector over labels 0 .. n-1: bit i of bitmap[i / 8] (LSB
 * first) admits label i. The bitmap is not copied. */
int faiss_IDSelectorBitmap_new(FaissIDSelectorBitmap **p_sel, size_t n, const uint8_t *bitmap);

void faiss_SearchParameters_free(FaissSearchParameters *sp);

/* Not upstream: parameters of the subclass index's search expects
 * (SearchParametersIVF, SearchParametersHNSW, or the base), carrying sel
 * (may be NULL), with nprobe (IVF) and ef_search (HNSW) where not 0, else
 * the index's own values. Other indexes ignore both. FAISS 1.7.3 rejects
 * a base SearchParameters for IVF and HNSW indexes. */
int faiss_SearchParameters_new_for(FaissSearchParameters **p_sp, const FaissIndex *index,
				   FaissIDSelector *sel, size_t nprobe, int ef_search);

int faiss_Index_search_with_params(const FaissIndex *index, idx_t n, const float *x, idx_t k,
				   const FaissSearchParameters *params, float *distances,
				   idx_t *labels);

#ifdef __cplusplus
}
#endif

#endif
