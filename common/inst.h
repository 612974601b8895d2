/* An instance: the names and directories that one roost deployment uses.
 *
 * Everything of an instance hangs off its name, so two instances with
 * different names never share an object:
 *   shared memory  /roost.<uid>.<name>.ctl and /roost.<uid>.<name>.ring
 *   runtime dir    $XDG_RUNTIME_DIR/roost/<name> or /tmp/roost-<uid>/<name>
 *                  (0700; ipc:// sockets and pid files)
 *   data dir       --data-dir, else $XDG_DATA_HOME/roost/<name> or
 *                  ~/.local/share/roost/<name> (0700; log and checkpoints)
 */
#ifndef ROOST_INST_H
#define ROOST_INST_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define INST_NAME_MAX 32
/* sun_path holds 108 bytes including the terminating NUL. */
#define INST_IPC_PATH_MAX 107

struct inst {
	char name[INST_NAME_MAX + 1];
	/* Owner-only by default; ROOST_GROUP_ACCESS=1 in the environment of
	 * every process of the instance opens it to the owner's group:
	 * directories 0750, shared memory and sockets 0660, published data
	 * files 0640. */
	mode_t dir_mode;
	mode_t file_mode; /* shared memory objects, sockets, lock files */
	mode_t data_mode; /* manifest and segment files (remote readers) */
	char run_dir[PATH_MAX];
	char data_dir[PATH_MAX];
	char ctl_shm[96];
	char ring_shm[96];
};

/* Fills in the names; data_dir NULL picks the default. Names are 1..32 of
 * [A-Za-z0-9_-]; anything else is ROOST_EINVAL. Creates nothing. */
int inst_init(struct inst *in, const char *name, const char *data_dir);

/* Creates the runtime directory (dir_mode), refusing one that another user
 * owns (ROOST_EPERM) and closing one more open than dir_mode. */
int inst_make_run_dir(const struct inst *in);

/* Creates the data directory (dir_mode) and its parents. */
int inst_make_data_dir(const struct inst *in);

/* The tail object of a serial: /roost.<uid>.<name>.tail.<serial>. */
void inst_tail_shm(const struct inst *in, uint64_t serial, char *buf, size_t len);

/* "ipc://<run_dir>/<file>" into buf; ROOST_ETOOBIG when the socket path
 * would not fit in sun_path. */
int inst_ipc_url(const struct inst *in, const char *file, char *buf, size_t len);

#endif
