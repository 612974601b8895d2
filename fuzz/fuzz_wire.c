/* Wire requests as a broker receives them: decode, check an add against
 * the collection, and write its batch record. A request that passes
 * wire_check_add() must give a record that batch_parse() accepts and that
 * carries exactly the request's documents: the writer trusts nothing in
 * the ring, but it also must never refuse what a broker acknowledged. */
#include "batch.h"
#include "fuzz.h"
#include "wire.h"

#include <stdlib.h>
#include <string.h>

static size_t fuzz_wire__len(const char *s)
{
	return s ? strlen(s) : 0;
}

static void fuzz_wire__same_doc(const Roost__Document *d, const struct batch_view *v, size_t i)
{
	const struct batch_doc *b = &v->docs[i];
	size_t tl = fuzz_wire__len(d->text), kl = fuzz_wire__len(d->kind);
	FUZZ_CHECK(b->agent == d->agent && b->time == d->time);
	FUZZ_CHECK(b->text_len == tl &&
		   memcmp(v->text + b->text_off, d->text ? d->text : "", tl) == 0);
	FUZZ_CHECK(b->kind_len == kl && memcmp(b->kind, d->kind ? d->kind : "", kl) == 0);
	FUZZ_CHECK(memcmp(v->vectors + i * v->hdr->dim, d->vector, d->n_vector * sizeof(float)) ==
		   0);
}

static void fuzz_wire__add(const Roost__AddRequest *add)
{
	char msg[256];
	/* The collection's dimension is the request's when it could be one,
	 * so the checks beyond the dimension are reached. */
	struct wire_limits lim = {.dim =
				      add->dim >= 1 && add->dim <= BATCH_MAX_DIM ? add->dim : 16};
	if (wire_check_add(add, &lim, msg, sizeof msg) != 0) {
		FUZZ_CHECK(memchr(msg, '\0', sizeof msg) && msg[0] != '\0');
		return;
	}
	size_t size = wire_batch_size(add);
	FUZZ_CHECK(size > 0);
	void *rec = malloc(size);
	FUZZ_CHECK(rec != NULL);
	wire_batch_write(add, rec);
	struct batch_view v;
	FUZZ_CHECK(batch_parse(rec, size, lim.dim, &v) == 0);
	FUZZ_CHECK(v.hdr->count == add->n_docs && v.hdr->client_id == add->client_id &&
		   v.hdr->seq == add->seq);
	for (size_t i = 0; i < add->n_docs; i++)
		fuzz_wire__same_doc(add->docs[i], &v, i);
	free(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char msg[256] = "";
	Roost__Request *req;
	if (wire_decode_request(data, size, 0, &req, msg, sizeof msg) != 0) {
		/* Every refusal explains itself to the client. */
		FUZZ_CHECK(msg[0] != '\0');
		return 0;
	}
	if (req->op_case == ROOST__REQUEST__OP_ADD)
		fuzz_wire__add(req->add);
	wire_request_free(req);
	return 0;
}
