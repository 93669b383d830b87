/*
 * lsc_atomic.h — writing a file so that it is there whole or not at all
 * (atomic.c). Part of liblorascope's public interface; include "lsc.h" for
 * all of it.
 *
 *     lsc_atomic a;
 *     if (lsc_atomic_open(&a, "out.json", &err) != LSC_OK) return err.code;
 *     fprintf(a.fp, "{...}\n");
 *     return lsc_atomic_commit(&a, &err);   // or lsc_atomic_abort(&a)
 */
#ifndef LSC_ATOMIC_H
#define LSC_ATOMIC_H

#include <stddef.h>
#include <stdio.h>

#include "lsc_error.h"

/* A file being written: write through fp. Owns path and tmp (heap). */
typedef struct lsc_atomic {
    FILE *fp;    /* the temporary file, opened "wb" */
    char *path;  /* the destination */
    char *tmp;   /* "<path>.tmp.XXXXXX", made by mkstemp beside path */
} lsc_atomic;

/* Creates the temporary file beside path and opens a.fp on it. On failure
 * nothing is left behind and *a is zeroed. */
int  lsc_atomic_open(lsc_atomic *a, const char *path, lsc_error *err);
/* Flushes, fsyncs and closes a.fp, renames the temporary file over path
 * and fsyncs the directory. Any failure (a write error seen by ferror, a
 * failed fsync, close or rename) removes the temporary file and leaves path
 * as it was. Frees a's names either way. */
int  lsc_atomic_commit(lsc_atomic *a, lsc_error *err);
/* Closes and removes the temporary file; path is untouched. Safe on a
 * zeroed, committed or already aborted lsc_atomic. */
void lsc_atomic_abort(lsc_atomic *a);

/* The whole of data (n bytes) to path, atomically. */
int  lsc_atomic_write(const char *path, const void *data, size_t n, lsc_error *err);

/* For writers that open a file by name (HDF5, a directory of files):
 * lsc_atomic_tmpname creates an empty "<path>.tmp.XXXXXX" with mkstemp
 * (mode 0666 less the umask) and writes its name into buf (n bytes);
 * lsc_atomic_publish then fsyncs tmp (a file or a directory), renames it
 * to path and fsyncs the parent directory; on failure it removes a file
 * tmp and leaves path as it was. */
int  lsc_atomic_tmpname(char *buf, size_t n, const char *path, lsc_error *err);
int  lsc_atomic_publish(const char *tmp, const char *path, lsc_error *err);

/* A directory of files replaced in one step (a PEFT adapter: weights and
 * config must change together). lsc_atomic_mkdtemp makes the empty sibling
 * "<path>.tmp.XXXXXX" with mkdtemp (mode 0777 less the umask; trailing
 * slashes of path ignored); the caller writes the files into it (each
 * with lsc_atomic_*, so each is fsync'd); lsc_atomic_publish_dir then puts
 * it at path: a rename when path does not exist, else
 * renameat2(RENAME_EXCHANGE) — after hard-linking into the new directory
 * every file of the old one that the new one lacks (a run directory's log
 * and checkpoint), subdirectories moved across afterwards — and removes
 * the old directory. A reader sees the old set or the new set, never a
 * mix. Where the file system has no exchange (EINVAL/ENOTSUP), each file
 * is renamed over its namesake instead (the old behaviour, not one step).
 * tmp is removed whatever happens. A path that is a symlink to a
 * directory stands for its target (realpath): the sibling is made beside
 * the target and the target is replaced; the link stays. */
int  lsc_atomic_mkdtemp(char *buf, size_t n, const char *path, lsc_error *err);
int  lsc_atomic_publish_dir(const char *tmp, const char *path, lsc_error *err);
/* Which entries of the old directory outlive the exchange (1: keep). */
typedef int (*lsc_atomic_keep_fn)(const char *name);
/* lsc_atomic_publish_dir keeping only the old entries keep accepts (keep
 * NULL: all): a Hugging Face folder drops its old weight files and index,
 * whose names change with the shard count, and keeps a tokenizer. Where
 * the file system has no exchange, the old files keep refuses are removed
 * before the renames. */
int  lsc_atomic_publish_dir_keep(const char *tmp, const char *path, lsc_atomic_keep_fn keep, lsc_error *err);
/* In err's message, the first tmp replaced by path (so that a failure
 * while writing into a temporary directory names the destination). */
void lsc_atomic_errpath(lsc_error *err, const char *tmp, const char *path);
/* Removes a directory tree without following symlinks (errors ignored). */
void lsc_atomic_remove_tree(const char *dir);

/* Removes the temporaries an interrupted writer of path left beside it:
 * the entries "<path>.tmp.XXXXXX" (exactly six letters or digits, as
 * mkstemp/mkdtemp make them; files, and directories with their contents)
 * in path's directory (its target's when path is a symlink to a
 * directory) owned by this process's effective user, symlinks never
 * followed; nothing else. Not for
 * while another process may be writing path. Returns how many it removed. */
int  lsc_atomic_clean(const char *path);

#endif /* LSC_ATOMIC_H */
