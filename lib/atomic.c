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
 * would have given (0666 less the umask) before it is renamed. The stdio
 * writer writes through mkstemp's own descriptor (O_EXCL: a symlink or file
 * planted at any name is never followed or reused).
 *
 * A directory whose files must change together (a PEFT adapter's weights
 * and config) is written into a mkdtemp sibling and exchanged with the old
 * one by renameat2(RENAME_EXCHANGE) — one step, so a kill leaves the old
 * set or the new one — after the old directory's other files are
 * hard-linked into the new one (a run directory keeps its log and
 * checkpoint). Chosen over a manifest written last because readers need no
 * change (every existing adapter, ours or PEFT's, reads as before) and a
 * kill never loses the old adapter. lsc_atomic_publish_dir_keep lets the
 * caller drop old entries (a Hugging Face folder's old shards). A symlink
 * to a directory is published into its target. lsc_atomic_clean removes
 * the orphans a killed writer leaves (every train run, fresh or resumed).
 */
#define _GNU_SOURCE   /* renameat2, RENAME_EXCHANGE, memrchr */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
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

/* mkstemp "<path>.tmp.XXXXXX" into buf (O_CREAT|O_EXCL: never follows or
 * reuses an existing name), mode 0666 less the umask; the open fd, or a
 * negative LSC_E* code with buf emptied. */
static int make_tmp(char *buf, size_t n, const char *path, lsc_error *err)
{
    LSC_ASSERT(buf && n > 0 && path);
    buf[0] = '\0';
    if (!*path)
        LSC_FAIL(err, LSC_EARG, "empty output path");
    if (snprintf(buf, n, "%s.tmp.XXXXXX", path) >= (int)n) {
        buf[0] = '\0';
        LSC_FAIL(err, LSC_EARG, "%s: path too long", path);
    }
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
    return fd;
}

int lsc_atomic_tmpname(char *buf, size_t n, const char *path, lsc_error *err)
{
    int fd = make_tmp(buf, n, path, err);
    if (fd < 0)
        return fd;
    close(fd);
    return LSC_OK;
}

int lsc_atomic_publish(const char *tmp, const char *path, lsc_error *err)
{
    LSC_ASSERT(tmp && path);
    int fd = open(tmp, O_RDONLY | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        if (e != ELOOP)   /* a symlink planted there is not ours to remove */
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
    /* the stream is opened on mkstemp's own descriptor, never by name again */
    int fd = make_tmp(a->tmp, n + 11, path, err);
    if (fd < 0) {
        lsc_atomic_abort(a);
        return fd;
    }
    a->fp = fdopen(fd, "wb");
    if (!a->fp) {
        int e = errno;
        close(fd);
        lsc_atomic_abort(a);
        LSC_FAIL(err, LSC_EIO, "%s: cannot open its temporary file: %s", path, strerror(e));
    }
    return LSC_OK;
}

int lsc_atomic_commit(lsc_atomic *a, lsc_error *err)
{
    LSC_ASSERT(a && a->fp && a->tmp && a->path);
    /* a stream error from an earlier write: its errno, when nothing has
     * overwritten it since, says why (a full disk); else EIO */
    int saved = errno;
    int bad = ferror(a->fp) != 0, e = 0;
    errno = 0;
    if (fflush(a->fp) != 0 || (!bad && fsync(fileno(a->fp)) != 0)) {
        bad = 1;
        e = errno;
    }
    if (fclose(a->fp) != 0 && !e) {
        bad = 1;
        e = errno;
    }
    if (bad && !e)
        e = saved == ENOSPC || saved == EDQUOT || saved == EFBIG ? saved : EIO;
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

// ---- directories written in one step ----

/* nftw callback: removes every entry, depth first, following no link. */
static int remove_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

void lsc_atomic_remove_tree(const char *dir)
{
    if (dir && dir[0])
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* path when it is not a symlink to a directory; else its target's
 * realpath in buf (n bytes). Trailing slashes of path ignored. */
static const char *real_dir(const char *path, char *buf, size_t n)
{
    char p[4096];
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    if (len >= sizeof p)
        return path;
    memcpy(p, path, len);
    p[len] = '\0';
    struct stat ls, st;
    char *r = NULL;
    if (lstat(p, &ls) != 0 || !S_ISLNK(ls.st_mode) || stat(p, &st) != 0 || !S_ISDIR(st.st_mode) ||
        !(r = realpath(p, NULL)) || strlen(r) >= n) {
        free(r);
        return path;
    }
    snprintf(buf, n, "%s", r);
    free(r);
    return buf;
}

int lsc_atomic_mkdtemp(char *buf, size_t n, const char *path, lsc_error *err)
{
    LSC_ASSERT(buf && n > 0 && path);
    buf[0] = '\0';
    char real[4096];
    path = real_dir(path, real, sizeof real);   /* the sibling of the link's target */
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    if (len == 0 || (len == 1 && path[0] == '/'))
        LSC_FAIL(err, LSC_EARG, "'%s': not a directory to write", path);
    if (snprintf(buf, n, "%.*s.tmp.XXXXXX", (int)len, path) >= (int)n) {
        buf[0] = '\0';
        LSC_FAIL(err, LSC_EARG, "%s: path too long", path);
    }
    if (!mkdtemp(buf)) {
        int e = errno;
        buf[0] = '\0';
        LSC_FAIL(err, LSC_EIO, "%s: cannot create: %s", path, strerror(e));
    }
    if (chmod(buf, 0777 & ~current_umask()) != 0) {
        int e = errno;
        rmdir(buf);
        buf[0] = '\0';
        LSC_FAIL(err, LSC_EIO, "%s: cannot set the mode of its temporary directory: %s", path, strerror(e));
    }
    return LSC_OK;
}

/* fsync of a directory by name (a file system that refuses it is fine). */
static int fsync_dir(const char *dir, const char *path, lsc_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (fd < 0)
        LSC_FAIL(err, LSC_EIO, "%s: cannot open %s: %s", path, dir, strerror(errno));
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
        int e = errno;
        close(fd);
        LSC_FAIL(err, LSC_EIO, "%s: cannot sync: %s", path, strerror(e));
    }
    close(fd);
    return LSC_OK;
}

/* Every entry of the old directory that the new one lacks is hard-linked
 * into the new one (a run directory's log and checkpoint survive the
 * exchange); subdirectories, which cannot be linked, are counted in
 * *nsub and moved after the exchange. */
static int link_others(const char *old, const char *tmp, const char *path, lsc_atomic_keep_fn keep, int *nsub,
                       lsc_error *err)
{
    *nsub = 0;
    DIR *d = opendir(old);
    if (!d)
        LSC_FAIL(err, LSC_EIO, "%s: cannot list: %s", path, strerror(errno));
    int ofd = dirfd(d), tfd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    int rc = LSC_OK;
    if (tfd < 0)
        rc = lsc_error_set(err, LSC_EIO, __FILE__, __LINE__, "%s: cannot open %s: %s", path, tmp, strerror(errno));
    struct dirent *de;
    struct stat st;
    while (rc == LSC_OK && (de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0 || (keep && !keep(nm)) ||
            fstatat(tfd, nm, &st, AT_SYMLINK_NOFOLLOW) == 0)
            continue;
        if (fstatat(ofd, nm, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;   /* gone meanwhile */
        if (S_ISDIR(st.st_mode))
            (*nsub)++;
        else if (linkat(ofd, nm, tfd, nm, 0) != 0)
            rc = lsc_error_set(err, LSC_EIO, __FILE__, __LINE__, "%s: cannot keep %s: %s", path, nm, strerror(errno));
    }
    if (tfd >= 0)
        close(tfd);
    closedir(d);
    return rc;
}

/* After the exchange: the old directory's subdirectories (now under tmp)
 * that keep accepts (all when keep is NULL) moved into the new one at path. */
static void move_subdirs(const char *tmp, const char *path, lsc_atomic_keep_fn keep)
{
    DIR *d = opendir(tmp);
    if (!d)
        return;
    int tfd = dirfd(d), pfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    struct dirent *de;
    struct stat st;
    while (pfd >= 0 && (de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
            (!keep || keep(de->d_name)) && fstatat(tfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISDIR(st.st_mode))
            renameat(tfd, de->d_name, pfd, de->d_name);
    if (pfd >= 0)
        close(pfd);
    closedir(d);
}

/* No exchange on this file system, before rename_each: the files of path
 * that keep refuses and tmp lacks removed (they would outlive the old set). */
static void drop_others(const char *tmp, const char *path, lsc_atomic_keep_fn keep)
{
    DIR *d = keep ? opendir(path) : NULL;
    if (!d)
        return;
    int tfd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    struct dirent *de;
    struct stat st;
    while (tfd >= 0 && (de = readdir(d)) != NULL)
        if (!keep(de->d_name) && fstatat(tfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 &&
            fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
            unlinkat(dirfd(d), de->d_name, 0);
    if (tfd >= 0)
        close(tfd);
    closedir(d);
}

/* No exchange on this file system: each entry of tmp renamed over its
 * namesake in path (one entry at a time: the old way, not one step). */
static int rename_each(const char *tmp, const char *path, lsc_error *err)
{
    DIR *d = opendir(tmp);
    if (!d)
        LSC_FAIL(err, LSC_EIO, "%s: cannot list %s: %s", path, tmp, strerror(errno));
    int tfd = dirfd(d), pfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW), rc = LSC_OK;
    struct dirent *de;
    if (pfd < 0)
        rc = lsc_error_set(err, LSC_EIO, __FILE__, __LINE__, "%s: cannot open: %s", path, strerror(errno));
    while (rc == LSC_OK && (de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
            renameat(tfd, de->d_name, pfd, de->d_name) != 0)
            rc = lsc_error_set(err, LSC_EIO, __FILE__, __LINE__, "%s: cannot rename %s into place: %s", path,
                               de->d_name, strerror(errno));
    if (pfd >= 0)
        close(pfd);
    closedir(d);
    return rc;
}

int lsc_atomic_publish_dir(const char *tmp, const char *path, lsc_error *err)
{
    return lsc_atomic_publish_dir_keep(tmp, path, NULL, err);
}

int lsc_atomic_publish_dir_keep(const char *tmp, const char *path, lsc_atomic_keep_fn keep, lsc_error *err)
{
    LSC_ASSERT(tmp && path);
    char real[4096];
    path = real_dir(path, real, sizeof real);   /* a symlink to a directory: its target */
    struct stat st;
    int rc = fsync_dir(tmp, path, err), nsub = 0;
    if (rc == LSC_OK && lstat(path, &st) != 0) {
        if (errno != ENOENT)
            rc = lsc_error_set(err, LSC_EIO, __FILE__, __LINE__, "%s: %s", path, strerror(errno));
        else if (rename(tmp, path) != 0)
            rc = lsc_error_set(err, LSC_EIO, __FILE__, __LINE__, "%s: cannot rename %s into place: %s", path, tmp,
                               strerror(errno));
        else
            return fsync_parent(path, err);
    } else if (rc == LSC_OK && !S_ISDIR(st.st_mode)) {
        rc = lsc_error_set(err, LSC_EIO, __FILE__, __LINE__, "%s: exists and is not a directory", path);
    } else if (rc == LSC_OK && (rc = link_others(path, tmp, path, keep, &nsub, err)) == LSC_OK) {
        /* one step: the new directory takes path's place, the old one tmp's */
        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_EXCHANGE) == 0) {
            rc = fsync_parent(path, err);
            if (nsub > 0)
                move_subdirs(tmp, path, keep);
        } else if (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP) {
            drop_others(tmp, path, keep);
            rc = rename_each(tmp, path, err);
            if (rc == LSC_OK)
                rc = fsync_dir(path, path, err);
        } else {
            rc = lsc_error_set(err, LSC_EIO, __FILE__, __LINE__, "%s: cannot exchange %s into place: %s", path, tmp,
                               strerror(errno));
        }
    }
    lsc_atomic_remove_tree(tmp);   /* the old directory, or the new one after a failure */
    return rc;
}

void lsc_atomic_errpath(lsc_error *err, const char *tmp, const char *path)
{
    char *at = err && tmp[0] ? strstr(err->msg, tmp) : NULL;
    if (!at)
        return;
    char rest[sizeof err->msg];
    snprintf(rest, sizeof rest, "%s", at + strlen(tmp));
    size_t off = (size_t)(at - err->msg);
    snprintf(at, sizeof err->msg - off, "%s%s", path, rest);
}

// ---- orphans ----

/* name is base + ".tmp." + six characters of mkstemp's alphabet */
static int is_orphan_of(const char *name, const char *base)
{
    size_t bl = strlen(base);
    if (strncmp(name, base, bl) != 0 || strncmp(name + bl, ".tmp.", 5) != 0 || strlen(name + bl + 5) != 6)
        return 0;
    for (const char *c = name + bl + 5; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
            return 0;
    return 1;
}

int lsc_atomic_clean(const char *path)
{
    char dir[4096], base[1024], real[4096];
    path = real_dir(path, real, sizeof real);
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    const char *slash = memrchr(path, '/', len);
    if (len >= sizeof dir)
        return 0;
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    const char *b = slash ? slash + 1 : path;
    if (snprintf(base, sizeof base, "%.*s", (int)(len - (size_t)(b - path)), b) >= (int)sizeof base || !base[0])
        return 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    struct stat st;
    char p[8192];
    while ((de = readdir(d)) != NULL) {
        if (!is_orphan_of(de->d_name, base) || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            st.st_uid != geteuid())   /* only ours: another user's name is not our orphan */
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (S_ISREG(st.st_mode) && unlink(p) == 0)
            n++;
        else if (S_ISDIR(st.st_mode)) {
            lsc_atomic_remove_tree(p);
            n++;
        }
    }
    closedir(d);
    return n;
}
