#include "vindex.h"

#include "err.h"
#include "log.h"

#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct vindex {
	FaissIndex *index;
};

static int vindex__fail(const char *what)
{
	const char *msg = faiss_get_last_error();
	log_error("FAISS %s failed: %s", what, msg ? msg : "(no message)");
	return ROOST_EFAISS;
}

static int vindex__wrap(vindex **out, FaissIndex *index)
{
	vindex *v = malloc(sizeof *v);
	if (!v) {
		faiss_Index_free(index);
		return ROOST_ENOMEM;
	}
	v->index = index;
	*out = v;
	return 0;
}

int vindex_new(vindex **out, const char *factory, uint32_t dim, uint32_t metric)
{
	FaissIndex *index = NULL;
	FaissMetricType m = metric ? METRIC_INNER_PRODUCT : METRIC_L2;
	if (faiss_index_factory(&index, (int)dim, factory, m) != 0) {
		vindex__fail("index_factory");
		return ROOST_EINVAL;
	}
	return vindex__wrap(out, index);
}

int vindex_load(vindex **out, const char *path)
{
	FaissIndex *index = NULL;
	if (faiss_read_index_fname(path, 0, &index) != 0)
		return vindex__fail("read_index");
	return vindex__wrap(out, index);
}

void vindex_free(vindex *v)
{
	if (!v)
		return;
	faiss_Index_free(v->index);
	free(v);
}

int vindex_is_trained(const vindex *v)
{
	return faiss_Index_is_trained(v->index);
}

int vindex_train(vindex *v, uint64_t n, const float *x)
{
	if (faiss_Index_train(v->index, (idx_t)n, x) != 0)
		return vindex__fail("train");
	return 0;
}

int vindex_add(vindex *v, uint64_t n, const float *x)
{
	if (n == 0)
		return 0;
	if (faiss_Index_add(v->index, (idx_t)n, x) != 0)
		return vindex__fail("add");
	return 0;
}

uint64_t vindex_count(const vindex *v)
{
	return (uint64_t)faiss_Index_ntotal(v->index);
}

static int vindex__fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return roost_from_errno(errno);
	int rc = fsync(fd) == 0 ? 0 : roost_from_errno(errno);
	close(fd);
	return rc;
}

int vindex_store(const vindex *v, const char *path)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return ROOST_ETOOBIG;
	if (faiss_write_index_fname(v->index, tmp) != 0) {
		unlink(tmp);
		return vindex__fail("write_index");
	}
	int rc = vindex__fsync_path(tmp);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = roost_from_errno(errno);
	if (rc)
		unlink(tmp);
	return rc;
}

int vindex_check_factory(const char *factory, uint32_t dim, uint32_t metric, int *needs_training)
{
	vindex *v;
	int rc = vindex_new(&v, factory, dim, metric);
	if (rc)
		return rc;
	*needs_training = !vindex_is_trained(v);
	vindex_free(v);
	return 0;
}
