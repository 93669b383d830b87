/*
 * atomic.c — the one way lorascope writes a file: a temporary file made by
 * mkstemp in the destination's directory, written, flushed, fsync'd, renamed
 * over the destination, and the directory fsync'd, with every step's error
 * checked. A reader therefore sees the old file or the whole new one, never
 * half of one, and a crash or a full disk leaves the destination untouched.
 *
 * Not here: what goes into the file (callers write through a.fp, or let
 * another library such as HDF5 write to the temporary name and then call
 * lsc_atomic_publish).
 *
 * The temporary name is "<path>.tmp.XXXXXX"; it gets the mode an fopen()
 * would have given (0666 less the umask) before it is renamed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lsc_internal.h"

// ---- helpers ----

/* The umask, read without leaving it changed. */
static mode_t current_umask(void)
{
    mode_t m = umask(0);
    umask(m);
    return m;
}

/* fsync of the directory holding path ("." when path has no slash). */
static int fsync_parent(const char *path, lsc_error *err)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) >= sizeof dir)
        LSC_FAIL(err, LSC_EARG, "%s: path too long", path);
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        LSC_FAIL(err, LSC_EIO, "%s: cannot open its directory %s: %s", path, dir, strerror(errno));
    /* Some file systems refuse fsync on a directory (EINVAL): nothing to do there. */
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
        int e = errno;
        close(fd);
        LSC_FAIL(err, LSC_EIO, "%s: cannot sync its directory %s: %s", path, dir, strerror(e));
    }
    close(fd);
    return LSC_OK;
}

// ---- temporary names ----

int lsc_atomic_tmpname(char *buf, size_t n, const char *path, lsc_error *err)
{
    LSC_ASSERT(buf && n > 0 && path);
    if (!*path)
        LSC_FAIL(err, LSC_EARG, "empty output path");
    if (snprintf(buf, n, "%s.tmp.XXXXXX", path) >= (int)n)
        LSC_FAIL(err, LSC_EARG, "%s: path too long", path);
    int fd = mkstemp(buf);
    if (fd < 0) {
        int e = errno;
        buf[0] = '\0';
        LSC_FAIL(err, LSC_EIO, "%s: cannot create: %s", path, strerror(e));
    }
    if (fchmod(fd, 0666 & ~current_umask()) != 0) {
        int e = errno;
        close(fd);
        unlink(buf);
        buf[0] = '\0';
        LSC_FAIL(err, LSC_EIO, "%s: cannot set the mode of its temporary file: %s", path, strerror(e));
    }
    close(fd);
    return LSC_OK;
}

int lsc_atomic_publish(const char *tmp, const char *path, lsc_error *err)
{
    LSC_ASSERT(tmp && path);
    int fd = open(tmp, O_RDONLY);
    if (fd < 0) {
        int e = errno;
        unlink(tmp);
        LSC_FAIL(err, LSC_EIO, "%s: cannot reopen its temporary file %s: %s", path, tmp, strerror(e));
    }
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        LSC_FAIL(err, LSC_EIO, "%s: cannot sync: %s", path, strerror(e));
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        LSC_FAIL(err, LSC_EIO, "%s: cannot rename %s into place: %s", path, tmp, strerror(e));
    }
    return fsync_parent(path, err);
}

// ---- stdio writer ----

int lsc_atomic_open(lsc_atomic *a, const char *path, lsc_error *err)
{
    LSC_ASSERT(a && path);
    memset(a, 0, sizeof *a);
    size_t n = strlen(path) + 1;
    a->path = LSC_MALLOC(n);
    a->tmp = LSC_CALLOC(n + 11, 1);
    if (!a->path || !a->tmp) {
        lsc_atomic_abort(a);
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory for its temporary name", path);
    }
    memcpy(a->path, path, n);
    int rc = lsc_atomic_tmpname(a->tmp, n + 11, path, err);
    if (rc != LSC_OK) {
        lsc_atomic_abort(a);
        return rc;
    }
    a->fp = fopen(a->tmp, "wb");
    if (!a->fp) {
        int e = errno;
        lsc_atomic_abort(a);
        LSC_FAIL(err, LSC_EIO, "%s: cannot open its temporary file: %s", path, strerror(e));
    }
    return LSC_OK;
}

int lsc_atomic_commit(lsc_atomic *a, lsc_error *err)
{
    LSC_ASSERT(a && a->fp && a->tmp && a->path);
    int bad = ferror(a->fp) != 0;
    int e = bad ? EIO : 0;
    if (!bad && (fflush(a->fp) != 0 || fsync(fileno(a->fp)) != 0)) {
        bad = 1;
        e = errno;
    }
    if (fclose(a->fp) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    a->fp = NULL;
    if (bad) {
        char path[4096];
        snprintf(path, sizeof path, "%s", a->path);
        lsc_atomic_abort(a);
        LSC_FAIL(err, LSC_EIO, "%s: write failed: %s", path, strerror(e));
    }
    int rc = LSC_OK;
    if (rename(a->tmp, a->path) != 0) {
        rc = lsc_error_set(err, LSC_EIO, __FILE__, __LINE__, "%s: cannot rename %s into place: %s",
                           a->path, a->tmp, strerror(errno));
        unlink(a->tmp);
    } else {
        rc = fsync_parent(a->path, err);
    }
    LSC_FREE(a->tmp);
    LSC_FREE(a->path);
    a->tmp = a->path = NULL;
    return rc;
}

void lsc_atomic_abort(lsc_atomic *a)
{
    if (!a)
        return;
    if (a->fp)
        fclose(a->fp);
    if (a->tmp && a->tmp[0])
        unlink(a->tmp);
    LSC_FREE(a->tmp);
    LSC_FREE(a->path);
    memset(a, 0, sizeof *a);
}

int lsc_atomic_write(const char *path, const void *data, size_t n, lsc_error *err)
{
    lsc_atomic a;
    int rc = lsc_atomic_open(&a, path, err);
    if (rc != LSC_OK)
        return rc;
    if (n > 0 && fwrite(data, 1, n, a.fp) != n) {
        int e = errno;
        lsc_atomic_abort(&a);
        LSC_FAIL(err, LSC_EIO, "%s: write failed: %s", path, strerror(e));
    }
    return lsc_atomic_commit(&a, err);
}
