#include "err.h"

#include <errno.h>

static const char *const err__text[] = {
    [0] = "success",
    [1] = "invalid argument",
    [2] = "out of memory",
    [3] = "I/O error",
    [4] = "no such instance, object or file",
    [5] = "already exists",
    [6] = "version or layout mismatch",
    [7] = "busy: retry later",
    [8] = "timed out",
    [9] = "writer unavailable (the batch stays queued and is applied when it returns)",
    [10] = "vector dimension mismatch",
    [11] = "vector has a NaN or infinite component",
    [12] = "over the size limit",
    [13] = "text is not valid UTF-8",
    [14] = "malformed or truncated frame",
    [15] = "unknown operation or unsupported mode",
    [16] = "checksum or structure failure",
    [17] = "another process holds the lock",
    [18] = "idempotency sequence already superseded",
    [19] = "not yet visible",
    [20] = "transport error",
    [21] = "FAISS error",
    [22] = "permission denied",
    [23] = "no space left",
    [24] = "shutting down",
    [25] = "idempotency key reused for a different batch",
    [26] = "no reader is serving searches",
    [27] = "no such collection",
    [28] = "before the collection's kept history",
};

const char *roost_strerror(int err)
{
	if (err > 0 || err < ROOST_ERR_MIN)
		return "unknown error";
	return err__text[-err];
}

int roost_from_errno(int errnum)
{
	switch (errnum) {
	case 0:
		return ROOST_OK;
	case ENOMEM:
		return ROOST_ENOMEM;
	case ENOENT:
		return ROOST_ENOENT;
	case EEXIST:
		return ROOST_EEXIST;
	case EACCES:
	case EPERM:
	case EROFS:
		return ROOST_EPERM;
	case ENOSPC:
	case EDQUOT:
		return ROOST_ENOSPC;
	case ETIMEDOUT:
		return ROOST_ETIMEDOUT;
	case EINVAL:
		return ROOST_EINVAL;
	case EAGAIN:
		return ROOST_EBUSY;
	default:
		return ROOST_EIO;
	}
}
