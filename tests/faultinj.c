/*
 * faultinj.c — an LD_PRELOAD shim that makes writes to lorascope's
 * temporary files fail as on a full disk, or kills the process at a chosen
 * rename, for tests/test_durability.sh where mounting a small tmpfs is not
 * possible (and for the kill-between-steps tests everywhere). Built by
 * that test: cc -shared -fPIC -o faultinj.so tests/faultinj.c -ldl.
 *
 * Not a general fault injector: it only sees calls the program makes
 * through the dynamic linker (glibc's stdio writes internally, so fwrite's
 * bytes are counted here but its write(2) is not interposable).
 *
 * Environment:
 *   FAULTINJ_ENOSPC_AFTER=N  once N bytes have been written (write, fwrite,
 *                            fputs, fputc counted) to files whose name
 *                            contains ".tmp.", each further write, fflush,
 *                            fsync and fclose on such a file fails with
 *                            ENOSPC (fclose still closes it).
 *   FAULTINJ_KILL_RENAME=K   the K-th rename/renameat/renameat2 (1-based)
 *                            raises SIGKILL before it happens.
 *   FAULTINJ_NO_EXCHANGE=1   renameat2 with RENAME_EXCHANGE fails with EINVAL
 *                            (a file system without it: the fallback path).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long written;
static long renames;

// ---- which descriptors ----

static int is_tmp_fd(int fd)
{
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0)
        return 0;
    target[n] = '\0';
    return strstr(target, ".tmp.") != NULL;
}

static long limit(void)
{
    const char *s = getenv("FAULTINJ_ENOSPC_AFTER");
    return s && *s ? atol(s) : -1;
}

/* 1 when a call on fd must fail now (errno set); else counts n bytes. */
static int full(int fd, size_t n)
{
    long lim = limit();
    if (lim < 0 || fd < 0 || !is_tmp_fd(fd))
        return 0;
    if (written + (long)n > lim) {
        written = lim;
        errno = ENOSPC;
        return 1;
    }
    written += (long)n;
    return 0;
}

#define REAL(ret, name, ...) \
    static ret (*real_##name)(__VA_ARGS__); \
    if (!real_##name) \
        real_##name = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name)

// ---- writes ----

ssize_t write(int fd, const void *buf, size_t n)
{
    REAL(ssize_t, write, int, const void *, size_t);
    if (full(fd, n))
        return -1;
    return real_write(fd, buf, n);
}

size_t fwrite(const void *p, size_t size, size_t n, FILE *fp)
{
    REAL(size_t, fwrite, const void *, size_t, size_t, FILE *);
    if (full(fileno(fp), size * n))
        return 0;
    return real_fwrite(p, size, n, fp);
}

int fputs(const char *s, FILE *fp)
{
    REAL(int, fputs, const char *, FILE *);
    if (full(fileno(fp), strlen(s)))
        return EOF;
    return real_fputs(s, fp);
}

int fputc(int c, FILE *fp)
{
    REAL(int, fputc, int, FILE *);
    if (full(fileno(fp), 1))
        return EOF;
    return real_fputc(c, fp);
}

int fflush(FILE *fp)
{
    REAL(int, fflush, FILE *);
    if (fp && limit() >= 0 && is_tmp_fd(fileno(fp)) && written >= limit()) {
        errno = ENOSPC;
        return EOF;
    }
    return real_fflush(fp);
}

int fsync(int fd)
{
    REAL(int, fsync, int);
    if (limit() >= 0 && is_tmp_fd(fd) && written >= limit()) {
        errno = ENOSPC;
        return -1;
    }
    return real_fsync(fd);
}

int fclose(FILE *fp)
{
    REAL(int, fclose, FILE *);
    int fail = fp && limit() >= 0 && is_tmp_fd(fileno(fp)) && written >= limit();
    int rc = real_fclose(fp);
    if (fail) {
        errno = ENOSPC;
        return EOF;
    }
    return rc;
}

// ---- renames ----

static void maybe_kill(void)
{
    const char *s = getenv("FAULTINJ_KILL_RENAME");
    if (s && *s && ++renames == atol(s))
        raise(SIGKILL);
}

int rename(const char *a, const char *b)
{
    REAL(int, rename, const char *, const char *);
    maybe_kill();
    return real_rename(a, b);
}

int renameat(int fa, const char *a, int fb, const char *b)
{
    REAL(int, renameat, int, const char *, int, const char *);
    maybe_kill();
    return real_renameat(fa, a, fb, b);
}

/* FAULTINJ_NO_EXCHANGE=1: a file system without RENAME_EXCHANGE (EINVAL,
 * as older kernels and some network file systems answer). */
int renameat2(int fa, const char *a, int fb, const char *b, unsigned flags)
{
    REAL(int, renameat2, int, const char *, int, const char *, unsigned);
    const char *nx = getenv("FAULTINJ_NO_EXCHANGE");
    if (nx && *nx == '1' && (flags & RENAME_EXCHANGE)) {
        errno = EINVAL;
        return -1;
    }
    maybe_kill();
    return real_renameat2(fa, a, fb, b, flags);
}
