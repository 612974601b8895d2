#include "cliutil.h"

#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void cliutil__hint(const char *name, int rc)
{
	const char *n = name ? name : "NAME";
	switch (rc) {
	case ROOST_ENOENT:
		fprintf(stderr,
			"hint: is instance '%s' up? `roost up --name %s --dim D` starts it\n", n,
			n);
		break;
	case ROOST_EWRITER:
		fprintf(
		    stderr,
		    "hint: the writer is down; its supervisor restarts it (`roost status --name "
		    "%s`), and queued adds are kept until it is back\n",
		    n);
		break;
	case ROOST_ETIMEDOUT:
	case ROOST_ECONN:
		fprintf(stderr, "hint: `roost status --name %s` shows which processes run\n", n);
		break;
	case ROOST_ENOCOLL:
		fprintf(stderr,
			"hint: `roost collections --name %s` lists its collections; `roost "
			"collections --name %s create COLL --dim D` makes one\n",
			n, n);
		break;
	case ROOST_EDIM:
		fprintf(stderr,
			"hint: `roost collections --name %s` shows each collection's dimension\n",
			n);
		break;
	default:
		break;
	}
}

int cliutil_fail(const char *cmd, const char *name, int rc, const char *detail, const char *what,
		 ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, what);
	vsnprintf(msg, sizeof msg, what, ap);
	va_end(ap);
	const char *err = roost_strerror(rc);
	int extra = detail && *detail && strcmp(detail, err) != 0;
	fprintf(stderr, "roost %s: %s: %s%s%s\n", cmd, msg, err, extra ? ": " : "",
		extra ? detail : "");
	cliutil__hint(name, rc);
	return CLI_FAIL;
}

int cliutil_usage(const char *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "roost %s: %s (see `roost %s --help`)\n", cmd, msg, cmd);
	return CLI_USAGE;
}

int cliutil_inst(const char *cmd, const char *name, const char *data_dir, struct inst *in)
{
	if (!name)
		return cliutil_usage(cmd, "--name is required");
	int rc = inst_init(in, name, data_dir);
	if (rc == ROOST_EINVAL)
		return cliutil_usage(cmd, "bad instance name '%s' (1-%d of A-Z a-z 0-9 _ -)", name,
				     INST_NAME_MAX);
	return rc ? cliutil_fail(cmd, name, rc, NULL, "instance '%s'", name) : CLI_OK;
}

int cliutil_connect(const char *cmd, const char *name, const char *collection, int timeout_ms,
		    roost **out)
{
	int rc = roost_connect(out, name);
	if (rc) {
		/* roost_connect has no handle to carry its message: say it here. */
		fprintf(stderr, "roost %s: cannot reach instance '%s': %s\n", cmd, name,
			roost_strerror(rc));
		cliutil__hint(name, rc);
		return rc;
	}
	roost_set_timeout(*out, timeout_ms);
	if (roost_use(*out, collection) != 0) {
		fprintf(stderr, "roost %s: --collection: %s\n", cmd, roost_last_error(*out));
		roost_close(*out);
		*out = NULL;
		return ROOST_EINVAL;
	}
	return 0;
}

int64_t cliutil_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cliutil_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

int cliutil_ack(const char *s, enum roost_ack *out)
{
	static const char *const names[] = {"queued", "durable", "visible"};
	static const enum roost_ack acks[] = {ROOST_ACK_QUEUED, ROOST_ACK_DURABLE,
					      ROOST_ACK_VISIBLE};
	for (size_t i = 0; i < 3; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = acks[i];
			return 0;
		}
	return ROOST_EINVAL;
}
