/* Project-wide error codes. Every fallible function returns 0 or one of
 * these negative values; roost_strerror() names them for humans. The values
 * are part of the wire protocol (Reply.status) and never change meaning. */
#ifndef ROOST_ERR_H
#define ROOST_ERR_H

enum roost_err {
	ROOST_OK = 0,
	ROOST_EINVAL = -1,	  /* invalid argument or request field */
	ROOST_ENOMEM = -2,	  /* out of memory */
	ROOST_EIO = -3,		  /* I/O error (see log for errno) */
	ROOST_ENOENT = -4,	  /* no such instance, object or file */
	ROOST_EEXIST = -5,	  /* already exists */
	ROOST_EVERSION = -6,	  /* layout or protocol version mismatch */
	ROOST_EBUSY = -7,	  /* ring full or server overloaded: retry later */
	ROOST_ETIMEDOUT = -8,	  /* deadline passed */
	ROOST_EWRITER = -9,	  /* writer unavailable; data stays queued */
	ROOST_EDIM = -10,	  /* vector dimension mismatch */
	ROOST_EVALUE = -11,	  /* NaN or infinite vector component */
	ROOST_ETOOBIG = -12,	  /* payload, batch or frame over its limit */
	ROOST_EUTF8 = -13,	  /* text is not valid UTF-8 */
	ROOST_EPROTO = -14,	  /* malformed or truncated frame */
	ROOST_EUNSUPPORTED = -15, /* unknown operation or unsupported mode */
	ROOST_ECORRUPT = -16,	  /* checksum or structure failure on disk */
	ROOST_ELOCKED = -17,	  /* another process holds the role's lock */
	ROOST_ESEQ = -18,	  /* idempotency sequence already superseded */
	ROOST_ENOTVISIBLE = -19,  /* min_lsn not visible within the wait */
	ROOST_ECONN = -20,	  /* transport error */
	ROOST_EFAISS = -21,	  /* FAISS reported an error */
	ROOST_EPERM = -22,	  /* permission denied */
	ROOST_ENOSPC = -23,	  /* no space left (disk or shared memory) */
	ROOST_ECLOSED = -24,	  /* shutting down */
	ROOST_EKEY = -25,	  /* idempotency key reused for another batch */
	ROOST_ENOREADER = -26,	  /* no reader is serving searches */
	ROOST_ENOCOLL = -27,	  /* no such collection (never created, or dropped) */
	ROOST_EHISTORY = -28,	  /* an LSN before the collection's kept history */
	ROOST_ERR_MIN = -28,
};

/* Never NULL; unknown codes give a generic text. */
const char *roost_strerror(int err);

/* Maps an errno value (positive) to the closest roost code. */
int roost_from_errno(int errnum);

#endif
