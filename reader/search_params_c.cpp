// Mirrors later upstream FAISS C API functions (see search_params_c.h).
#include "search_params_c.h"

#include <faiss/Index.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/IDSelector.h>

#include <exception>

extern "C" {

// The C API's own error slot is internal to libfaiss_c; failures here
// return -1 without a message, as the callers only need success or not.
#define SHIM_TRY(body)                                                                             \
	try {                                                                                      \
		body;                                                                              \
		return 0;                                                                          \
	} catch (const std::exception &) {                                                         \
		return -1;                                                                         \
	}

int faiss_IDSelectorBitmap_new(FaissIDSelectorBitmap **p_sel, size_t n, const uint8_t *bitmap)
{
	SHIM_TRY(*p_sel = reinterpret_cast<FaissIDSelectorBitmap *>(
		     new faiss::IDSelectorBitmap(n, bitmap)))
}

int faiss_SearchParameters_new_for(FaissSearchParameters **p_sp, const FaissIndex *index,
				   FaissIDSelector *sel, size_t nprobe, int ef_search)
{
	auto *idx = reinterpret_cast<const faiss::Index *>(index);
	auto *s = reinterpret_cast<faiss::IDSelector *>(sel);
	SHIM_TRY({
		faiss::SearchParameters *sp;
		if (auto *ivf = dynamic_cast<const faiss::IndexIVF *>(idx)) {
			auto *p = new faiss::SearchParametersIVF();
			p->nprobe = nprobe ? nprobe : ivf->nprobe;
			p->max_codes = ivf->max_codes;
			sp = p;
		} else if (auto *hnsw = dynamic_cast<const faiss::IndexHNSW *>(idx)) {
			auto *p = new faiss::SearchParametersHNSW();
			p->efSearch = ef_search ? ef_search : hnsw->hnsw.efSearch;
			sp = p;
		} else {
			sp = new faiss::SearchParameters();
		}
		sp->sel = s;
		*p_sp = reinterpret_cast<FaissSearchParameters *>(sp);
	})
}

void faiss_SearchParameters_free(FaissSearchParameters *sp)
{
	delete reinterpret_cast<faiss::SearchParameters *>(sp);
}

int faiss_Index_search_with_params(const FaissIndex *index, idx_t n, const float *x, idx_t k,
				   const FaissSearchParameters *params, float *distances,
				   idx_t *labels)
{
	SHIM_TRY(reinterpret_cast<const faiss::Index *>(index)->search(
	    n, x, k, distances, labels, reinterpret_cast<const faiss::SearchParameters *>(params)))
}
}
