/* An instance: the names and directories that one roost deployment uses.
 *
 * Everything of an instance hangs off its name, so two instances with
 * different names never share an object. Nothing another local user can
 * create first may block, stall or stand in for an instance: every
 * directory is checked before it is trusted (a real directory, not a
 * symbolic link, ours, not writable by others), and names in shared
 * places (/tmp, /dev/shm) are either checked that way or unguessable.
 *
 *   runtime root   $XDG_RUNTIME_DIR/roost when XDG_RUNTIME_DIR is set;
 *                  else $TMPDIR/roost-<uid> ($TMPDIR defaults to /tmp)
 *                  when it is ours or can be made; else, when another user
 *                  holds that name, a private $TMPDIR/roost-<uid>-XXXXXX,
 *                  whose path the symbolic link
 *                  ~/.cache/roost/runtime-<host> records for every process
 *   runtime dir    <root>/<name> (dir_mode): ipc:// sockets, pid file, log
 *   shared memory  <runtime dir>/shm: a directory on a memory file system
 *                  (dir_mode) holding the files ctl, ring, catalog and
 *                  tail.<serial>.
 *                  When the runtime dir is on tmpfs it is a subdirectory;
 *                  otherwise a symbolic link to a private
 *                  /dev/shm/roost.<uid>.<name>.XXXXXX
 *   data dir       --data-dir, else $XDG_DATA_HOME/roost/<name> or
 *                  ~/.local/share/roost/<name> (dir_mode; log, segments)
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
/* Room for the explanation of a refused directory. */
#define INST_WHY_MAX (2 * PATH_MAX)
/* Room for any path roost makes: a directory of up to PATH_MAX bytes and a
 * file name (with a suffix such as ".tmp") in it. */
#define INST_PATH_MAX (PATH_MAX + 256)

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
	/* Set by inst_shm_find or inst_shm_make: the checked directory, by
	 * its real path, and the objects in it. */
	char shm_dir[PATH_MAX];
	char ctl_path[INST_PATH_MAX];
	char ring_path[INST_PATH_MAX];
	char catalog_path[INST_PATH_MAX];
};

/* Fills in the names; data_dir NULL picks the default. Names are 1..32 of
 * [A-Za-z0-9_-]; anything else is ROOST_EINVAL. Creates nothing: the
 * runtime dir is where an instance would be, found without writing. */
int inst_init(struct inst *in, const char *name, const char *data_dir);

/* Makes and checks the runtime root and the runtime dir (run_dir may
 * change: the private fallback root). ROOST_EPERM with `why` naming the
 * path and the problem (a symbolic link, not a directory, its owner, its
 * mode) when a directory cannot be trusted; nothing is created through
 * it. */
int inst_make_run_dir(struct inst *in, char *why, size_t len);

/* Checks a data directory the writer made (store/durable.h): a real
 * directory, ours, brought to dir_mode. */
int inst_check_data_dir(const struct inst *in);

/* Finds and checks the shared-memory directory of a runtime dir that
 * inst_make_run_dir made; fills shm_dir and the objects' paths.
 * ROOST_ENOENT while no writer made it, ROOST_EPERM (with why) when it
 * cannot be trusted. */
int inst_shm_find(struct inst *in, char *why, size_t len);

/* Writer: as inst_shm_find, making the directory when it is missing (or
 * its link's target is gone: after a reboot). *made says it is new. */
int inst_shm_make(struct inst *in, int *made, char *why, size_t len);

/* Removes the shared-memory directory with everything in it, and its
 * link. The caller knows nothing in it is needed any more. */
int inst_shm_remove(struct inst *in);

/* Writer: removes the tails for whose serial keep(arg, serial) is 0 (a
 * dead writer's, a dropped collection's). */
void inst_shm_sweep_tails(const struct inst *in, int (*keep)(void *arg, uint64_t serial),
			  void *arg);

/* The tail object of a serial: <shm dir>/tail.<serial>. */
void inst_tail_path(const struct inst *in, uint64_t serial, char *buf, size_t len);

/* "ipc://<run_dir>/<file>" into buf; ROOST_ETOOBIG when the socket path
 * would not fit in sun_path. */
int inst_ipc_url(const struct inst *in, const char *file, char *buf, size_t len);

/* A reader's own socket, where local clients search it directly:
 * search-<pid>.ipc in the runtime directory. */
#define INST_SEARCH_SOCKET_PREFIX "search-"
#define INST_SEARCH_SOCKET_SUFFIX ".ipc"
int inst_search_url(const struct inst *in, pid_t pid, char *buf, size_t len);

/* Removes a reader's socket file, which its process removes when it
 * stops but not when it is killed. */
void inst_search_unlink(const struct inst *in, pid_t pid);

#endif
