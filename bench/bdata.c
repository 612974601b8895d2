#include "bdata.h"

#include "err.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Independent random streams, so queries never repeat base rows. */
enum { BDATA_CENTERS = 1, BDATA_ROWS = 2, BDATA_QUERIES = 3 };

static uint64_t bdata__mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* xorshift64*: cheap and good enough for benchmark noise. */
static uint64_t bdata__next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static double bdata__uniform(uint64_t *s)
{
	return (double)(bdata__next(s) >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0;
}

/* Marsaglia's polar method: normal pairs without trigonometry, which keeps
 * generating a million rows at d=384 to about a second. */
static void bdata__normals(uint64_t *s, float *out, uint32_t n, float scale, const float *mean)
{
	for (uint32_t i = 0; i < n; i += 2) {
		double u, v, r;
		do {
			u = bdata__uniform(s);
			v = bdata__uniform(s);
			r = u * u + v * v;
		} while (r >= 1.0 || r == 0.0);
		double f = sqrt(-2.0 * log(r) / r);
		out[i] = (mean ? mean[i] : 0.0f) + scale * (float)(u * f);
		if (i + 1 < n)
			out[i + 1] = (mean ? mean[i + 1] : 0.0f) + scale * (float)(v * f);
	}
}

static uint64_t bdata__state(const struct bdata *g, uint64_t stream, uint64_t i)
{
	uint64_t s = bdata__mix(bdata__mix(g->seed ^ (stream << 56)) ^ i);
	return s ? s : 1;
}

int bdata_init(struct bdata *g, uint32_t dim, uint32_t clusters, uint64_t seed, float sigma)
{
	if (dim == 0 || clusters == 0 || !(sigma >= 0.0f))
		return ROOST_EINVAL;
	*g = (struct bdata){.dim = dim, .clusters = clusters, .seed = seed, .sigma = sigma};
	g->centers = malloc(sizeof(float) * dim * clusters);
	if (!g->centers)
		return ROOST_ENOMEM;
	for (uint32_t c = 0; c < clusters; c++) {
		uint64_t s = bdata__state(g, BDATA_CENTERS, c);
		bdata__normals(&s, g->centers + (size_t)c * dim, dim, 1.0f, NULL);
	}
	return 0;
}

void bdata_free(struct bdata *g)
{
	free(g->centers);
	g->centers = NULL;
}

static void bdata__points(const struct bdata *g, uint64_t stream, uint64_t first, uint64_t n,
			  float *out)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t s = bdata__state(g, stream, first + i);
		uint32_t c = (uint32_t)(bdata__next(&s) % g->clusters);
		bdata__normals(&s, out + i * g->dim, g->dim, g->sigma,
			       g->centers + (size_t)c * g->dim);
	}
}

void bdata_rows(const struct bdata *g, uint64_t first, uint64_t n, float *out)
{
	bdata__points(g, BDATA_ROWS, first, n, out);
}

void bdata_queries(const struct bdata *g, uint64_t first, uint64_t n, float *out)
{
	bdata__points(g, BDATA_QUERIES, first, n, out);
}

int bdata_gt_write(const char *path, uint32_t nq, uint32_t k, const int64_t *labels)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return roost_from_errno(errno);
	uint32_t head[2] = {nq, k};
	int ok = fwrite("RBGT", 1, 4, f) == 4 && fwrite(head, sizeof head, 1, f) == 1 &&
		 fwrite(labels, sizeof *labels, (size_t)nq * k, f) == (size_t)nq * k;
	return fclose(f) == 0 && ok ? 0 : ROOST_EIO;
}

int bdata_gt_read(const char *path, uint32_t *nq, uint32_t *k, int64_t **labels)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return roost_from_errno(errno);
	char magic[4];
	uint32_t head[2];
	int rc = fread(magic, 1, 4, f) == 4 && memcmp(magic, "RBGT", 4) == 0 &&
			 fread(head, sizeof head, 1, f) == 1 && head[0] && head[1] &&
			 head[1] <= 1024
		     ? 0
		     : ROOST_ECORRUPT;
	int64_t *l = rc ? NULL : malloc(sizeof *l * head[0] * head[1]);
	if (rc == 0 && !l)
		rc = ROOST_ENOMEM;
	if (rc == 0 &&
	    fread(l, sizeof *l, (size_t)head[0] * head[1], f) != (size_t)head[0] * head[1])
		rc = ROOST_ECORRUPT;
	fclose(f);
	if (rc) {
		free(l);
		return rc;
	}
	*nq = head[0];
	*k = head[1];
	*labels = l;
	return 0;
}

double bdata_recall(const int64_t *truth, uint32_t gt_k, uint32_t q, const int64_t *got, uint32_t k)
{
	const int64_t *t = truth + (size_t)q * gt_k;
	uint32_t n = k < gt_k ? k : gt_k, found = 0;
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < k; j++)
			if (got[j] >= 0 && got[j] == t[i]) {
				found++;
				break;
			}
	return n ? (double)found / n : 0.0;
}
