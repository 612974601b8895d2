// Opens sealed segments' indexes over mapped memory (see segindex.h).
#include "segindex.h"

#include "err.h"
#include "flatidx.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_io.h>
#include <faiss/invlists/OnDiskInvertedLists.h>
#include <faiss/utils/Heap.h>
#include <faiss/utils/distances.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>

#include <unistd.h>

namespace
{

// Distances from a query to rows of memory the index does not own;
// inner products negated where lower must be better (an HNSW walk).
struct segindex_distance : faiss::DistanceComputer {
	const float *xb;
	size_t d;
	bool inner_product, negate;
	const float *q = nullptr;

	segindex_distance(const float *xb, size_t d, bool ip, bool negate = false)
	    : xb(xb), d(d), inner_product(ip), negate(negate)
	{
	}

	void set_query(const float *x) override
	{
		q = x;
	}

	float dis(const float *a, const float *b) const
	{
		if (!inner_product)
			return faiss::fvec_L2sqr(a, b, d);
		float ip = faiss::fvec_inner_product(a, b, d);
		return negate ? -ip : ip;
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

using storage_idx_t = faiss::HNSW::storage_idx_t;

// The k best of a walk: a max-heap on distance, as FAISS keeps them.
struct segindex_best {
	idx_t k;
	float *D;
	idx_t *I;
	idx_t n = 0;

	void offer(float d, storage_idx_t v)
	{
		if (n < k)
			faiss::maxheap_push(++n, D, I, d, (idx_t)v);
		else if (d < D[0])
			faiss::maxheap_replace_top(n, D, I, d, (idx_t)v);
	}
};

// IndexHNSW whose walk sizes its candidate queue from the search's
// parameters: FAISS 1.7.3's HNSW::search sizes it from the index's
// efSearch and takes only the stopping point from the parameters, so a
// request could not widen it. The walk is FAISS's default one (greedy on
// the upper levels, a bounded queue on level 0 that stops once efSearch
// candidates are nearer than the next), over the mapped vectors.
struct segindex_hnsw : faiss::IndexHNSW {
	const float *xb;

	segindex_hnsw(faiss::IndexHNSW &from, const float *xb)
	    : faiss::IndexHNSW(new segindex_flat(from.d, from.ntotal, from.metric_type, xb), 1),
	      xb(xb)
	{
		hnsw = std::move(from.hnsw);
		ntotal = from.ntotal;
		is_trained = true;
		own_fields = true;
	}

	void greedy(segindex_distance &dis, int level, storage_idx_t &nearest, float &dn) const
	{
		for (storage_idx_t prev = -1; prev != nearest;) {
			prev = nearest;
			size_t begin, end;
			hnsw.neighbor_range(prev, level, &begin, &end);
			for (size_t j = begin; j < end && hnsw.neighbors[j] >= 0; j++) {
				float d = dis(hnsw.neighbors[j]);
				if (d < dn) {
					nearest = hnsw.neighbors[j];
					dn = d;
				}
			}
		}
	}

	void level0(segindex_distance &dis, faiss::VisitedTable &vt, int ef, bool check,
		    const faiss::IDSelector *sel, faiss::HNSW::MinimaxHeap &cand,
		    segindex_best &best) const
	{
		for (int step = 1; cand.size() > 0; step++) {
			float d0;
			storage_idx_t v0 = cand.pop_min(&d0);
			if (check && cand.count_below(d0) >= ef)
				break;
			size_t begin, end;
			hnsw.neighbor_range(v0, 0, &begin, &end);
			for (size_t j = begin; j < end && hnsw.neighbors[j] >= 0; j++) {
				storage_idx_t v = hnsw.neighbors[j];
				if (vt.get(v))
					continue;
				vt.set(v);
				float d = dis(v);
				if (!sel || sel->is_member(v))
					best.offer(d, v);
				cand.push(v, d);
			}
			if (!check && step > ef)
				break;
		}
	}

	void walk(segindex_distance &dis, faiss::VisitedTable &vt, int ef, bool check,
		  const faiss::IDSelector *sel, segindex_best &best) const
	{
		storage_idx_t nearest = hnsw.entry_point;
		if (nearest < 0)
			return;
		float dn = dis(nearest);
		for (int level = hnsw.max_level; level >= 1; level--)
			greedy(dis, level, nearest, dn);
		faiss::HNSW::MinimaxHeap cand(ef > best.k ? ef : (int)best.k);
		cand.push(nearest, dn);
		if (!sel || sel->is_member(nearest))
			best.offer(dn, nearest);
		vt.set(nearest);
		level0(dis, vt, ef, check, sel, cand, best);
		vt.advance();
	}

	void search(idx_t n, const float *x, idx_t k, float *distances, idx_t *labels,
		    const faiss::SearchParameters *params) const override
	{
		FAISS_THROW_IF_NOT(k > 0);
		auto *p = dynamic_cast<const faiss::SearchParametersHNSW *>(params);
		FAISS_THROW_IF_NOT_MSG(p || !params, "params type invalid");
		int ef = p ? p->efSearch : hnsw.efSearch;
		bool check = p ? p->check_relative_distance : hnsw.check_relative_distance;
		bool ip = metric_type == faiss::METRIC_INNER_PRODUCT;
		segindex_distance dis(xb, d, ip, true);
		faiss::VisitedTable vt(ntotal);
		for (idx_t i = 0; i < n; i++) {
			segindex_best best = {k, distances + i * k, labels + i * k};
			faiss::maxheap_heapify(k, best.D, best.I);
			dis.set_query(x + i * d);
			walk(dis, vt, ef, check, params ? params->sel : nullptr, best);
			faiss::maxheap_reorder(k, best.D, best.I);
			for (idx_t j = 0; ip && j < k; j++)
				best.D[j] = -best.D[j];
		}
	}
};

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
bool segindex_share(faiss::Index *idx)
{
	if (auto *ivf = dynamic_cast<faiss::IndexIVF *>(idx)) {
		ivf->nprobe = segindex_nprobe(ivf->nlist);
		auto *l = dynamic_cast<faiss::OnDiskInvertedLists *>(ivf->invlists);
		if (!l)
			return true;
		l->prefetch_nthread = 0;
		return segindex_lists_fit(l);
	}
	if (auto *hnsw = dynamic_cast<faiss::IndexHNSW *>(idx))
		hnsw->hnsw.efSearch = SEGINDEX_EF_SEARCH;
	return true;
}

// An HNSW index over flat storage, as a segindex_hnsw over the mapped
// vectors; the storage read with the graph goes with idx.
faiss::Index *segindex_hnsw_over(faiss::Index *idx, const float *xb)
{
	auto *hnsw = dynamic_cast<faiss::IndexHNSW *>(idx);
	auto *flat = hnsw ? dynamic_cast<faiss::IndexFlat *>(hnsw->storage) : nullptr;
	if (!flat || flat->ntotal != idx->ntotal || flat->d != idx->d ||
	    hnsw->hnsw.upper_beam != 1 || !hnsw->hnsw.search_bounded_queue)
		return idx;
	std::unique_ptr<faiss::Index> read(idx);
	return new segindex_hnsw(*hnsw, xb);
}

faiss::Index *segindex_read(const char *path, const flatidx &h, const float *xb)
{
	if (flatidx_is_flat(&h))
		return new segindex_flat(h.d, h.ntotal,
					 h.metric == faiss::METRIC_INNER_PRODUCT
					     ? faiss::METRIC_INNER_PRODUCT
					     : faiss::METRIC_L2,
					 xb);
	std::unique_ptr<faiss::Index> idx(faiss::read_index(path, faiss::IO_FLAG_MMAP));
	if (!segindex_share(idx.get()))
		return nullptr;
	return segindex_hnsw_over(idx.release(), xb);
}

} // namespace

extern "C" int segindex_open(FaissIndex **out, const char *path, const float *vectors,
			     uint64_t count, uint32_t dim)
{
	*out = nullptr;
	flatidx h;
	int rc = flatidx_read(path, &h);
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
		/* A merge or a rebuild may have removed the file since its
		 * header was read: the caller reads the newer manifest. */
		return access(path, F_OK) != 0 ? ROOST_ENOENT : ROOST_ECORRUPT;
	}
	if (!idx || idx->d != (int)dim || idx->ntotal != (faiss::Index::idx_t)count) {
		delete idx;
		return ROOST_ECORRUPT;
	}
	*out = reinterpret_cast<FaissIndex *>(idx);
	return 0;
}
