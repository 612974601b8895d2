// Opens sealed segments' indexes over mapped memory (see segindex.h).
#include "segindex.h"

#include "err.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_io.h>
#include <faiss/invlists/OnDiskInvertedLists.h>
#include <faiss/utils/distances.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>

namespace
{

// Distances from a query to rows of memory the index does not own.
struct segindex_distance : faiss::DistanceComputer {
	const float *xb;
	size_t d;
	bool inner_product;
	const float *q = nullptr;

	segindex_distance(const float *xb, size_t d, bool ip) : xb(xb), d(d), inner_product(ip)
	{
	}

	void set_query(const float *x) override
	{
		q = x;
	}

	float dis(const float *a, const float *b) const
	{
		return inner_product ? faiss::fvec_inner_product(a, b, d)
				     : faiss::fvec_L2sqr(a, b, d);
	}

	float operator()(idx_t i) override
	{
		return dis(q, xb + i * d);
	}

	float symmetric_dis(idx_t i, idx_t j) override
	{
		return dis(xb + i * d, xb + j * d);
	}
};

// IndexFlat's searches over a segment's mapped vectors: read-only, since
// the rows are the documents file's, not the index's.
struct segindex_flat : faiss::Index {
	const float *xb;

	segindex_flat(idx_t d, idx_t n, faiss::MetricType metric, const float *xb)
	    : faiss::Index(d, metric), xb(xb)
	{
		ntotal = n;
		is_trained = true;
	}

	void add(idx_t, const float *) override
	{
		FAISS_THROW_MSG("a sealed segment is read-only");
	}

	void reset() override
	{
		FAISS_THROW_MSG("a sealed segment is read-only");
	}

	void search(idx_t n, const float *x, idx_t k, float *distances, idx_t *labels,
		    const faiss::SearchParameters *params) const override
	{
		const faiss::IDSelector *sel = params ? params->sel : nullptr;
		if (metric_type == faiss::METRIC_INNER_PRODUCT)
			faiss::knn_inner_product(x, xb, d, n, ntotal, k, distances, labels, sel);
		else
			faiss::knn_L2sqr(x, xb, d, n, ntotal, k, distances, labels, nullptr, sel);
	}

	void reconstruct(idx_t key, float *recons) const override
	{
		FAISS_THROW_IF_NOT(key >= 0 && key < ntotal);
		memcpy(recons, xb + key * d, sizeof(float) * d);
	}

	faiss::DistanceComputer *get_distance_computer() const override
	{
		return new segindex_distance(xb, d, metric_type == faiss::METRIC_INNER_PRODUCT);
	}
};

// The fields of FAISS's index header that a flat index file starts with.
struct segindex_header {
	char fourcc[4];
	int32_t d;
	int64_t ntotal;
	int metric;
};

int segindex_read_header(const char *path, segindex_header *h)
{
	FILE *f = fopen(path, "rbe");
	if (!f)
		return errno == ENOENT ? ROOST_ENOENT : ROOST_EIO;
	int64_t dummy[2];
	uint8_t trained;
	bool ok = fread(h->fourcc, 4, 1, f) == 1 && fread(&h->d, sizeof h->d, 1, f) == 1 &&
		  fread(&h->ntotal, sizeof h->ntotal, 1, f) == 1 &&
		  fread(dummy, sizeof dummy, 1, f) == 1 && fread(&trained, 1, 1, f) == 1 &&
		  fread(&h->metric, sizeof h->metric, 1, f) == 1;
	fclose(f);
	return ok ? 0 : ROOST_ECORRUPT;
}

bool segindex_is_flat(const segindex_header &h)
{
	return memcmp(h.fourcc, "IxF2", 4) == 0 || memcmp(h.fourcc, "IxFI", 4) == 0;
}

size_t segindex_nprobe(size_t nlist)
{
	size_t n = nlist / SEGINDEX_NPROBE_SHARE;
	n = n < SEGINDEX_NPROBE_MIN ? SEGINDEX_NPROBE_MIN : n;
	return n < nlist ? n : nlist;
}

// A mapped list that reached past the file would fault on a search.
bool segindex_lists_fit(const faiss::OnDiskInvertedLists *l)
{
	for (size_t i = 0; i < l->nlist; i++) {
		const faiss::OnDiskOneList &one = l->lists[i];
		size_t bytes = one.capacity * (l->code_size + sizeof(faiss::Index::idx_t));
		if (one.size > one.capacity || one.offset > l->totsize ||
		    bytes > l->totsize - one.offset)
			return false;
	}
	return true;
}

// Applies segindex.h's per-type choices to an index FAISS read.
bool segindex_share(faiss::Index *idx, const float *xb)
{
	if (auto *ivf = dynamic_cast<faiss::IndexIVF *>(idx)) {
		ivf->nprobe = segindex_nprobe(ivf->nlist);
		auto *l = dynamic_cast<faiss::OnDiskInvertedLists *>(ivf->invlists);
		if (!l)
			return true;
		l->prefetch_nthread = 0;
		return segindex_lists_fit(l);
	}
	auto *hnsw = dynamic_cast<faiss::IndexHNSW *>(idx);
	if (hnsw)
		hnsw->hnsw.efSearch = SEGINDEX_EF_SEARCH;
	auto *flat = hnsw ? dynamic_cast<faiss::IndexFlat *>(hnsw->storage) : nullptr;
	if (!flat || flat->ntotal != idx->ntotal || flat->d != idx->d)
		return true;
	hnsw->storage = new segindex_flat(flat->d, flat->ntotal, flat->metric_type, xb);
	if (hnsw->own_fields)
		delete flat;
	hnsw->own_fields = true;
	return true;
}

faiss::Index *segindex_read(const char *path, const segindex_header &h, const float *xb)
{
	if (segindex_is_flat(h))
		return new segindex_flat(h.d, h.ntotal,
					 h.metric == faiss::METRIC_INNER_PRODUCT
					     ? faiss::METRIC_INNER_PRODUCT
					     : faiss::METRIC_L2,
					 xb);
	std::unique_ptr<faiss::Index> idx(faiss::read_index(path, faiss::IO_FLAG_MMAP));
	return segindex_share(idx.get(), xb) ? idx.release() : nullptr;
}

} // namespace

extern "C" int segindex_open(FaissIndex **out, const char *path, const float *vectors,
			     uint64_t count, uint32_t dim)
{
	*out = nullptr;
	segindex_header h;
	int rc = segindex_read_header(path, &h);
	if (rc)
		return rc;
	if (h.d != (int32_t)dim || h.ntotal != (int64_t)count)
		return ROOST_ECORRUPT;
	faiss::Index *idx = nullptr;
	try {
		idx = segindex_read(path, h, vectors);
	} catch (const std::bad_alloc &) {
		return ROOST_ENOMEM;
	} catch (const std::exception &) {
		return ROOST_ECORRUPT;
	}
	if (!idx || idx->d != (int)dim || idx->ntotal != (faiss::Index::idx_t)count) {
		delete idx;
		return ROOST_ECORRUPT;
	}
	*out = reinterpret_cast<FaissIndex *>(idx);
	return 0;
}
