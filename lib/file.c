/*
 * file.c — opening input files: refuses non-regular files (FIFOs,
 * directories, devices) before a single byte is read, so hostile paths fail
 * with one line instead of blocking forever.
 * Not a parser: callers read and close what they get back; lsc_read_file_
 * (a whole file into memory) is the one reader here.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "lsc_internal.h"

// ---- opening ----

int lsc_file_open_fd(const char *path, lsc_error *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        LSC_FAIL(err, LSC_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        LSC_FAIL(err, LSC_EIO, "%s: not a regular file", path);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        LSC_FAIL(err, LSC_EIO, "%s: cannot open: %s", path, strerror(e));
    }
    return fd;
}

FILE *lsc_file_open_read(const char *path, lsc_error *err)
{
    int fd = lsc_file_open_fd(path, err);
    if (fd < 0)
        return NULL;
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        int e = errno;
        close(fd);
        lsc_error_set(err, e == ENOMEM ? LSC_ENOMEM : LSC_EIO, __FILE__, __LINE__,
                      "%s: cannot open: %s", path, strerror(e));
    }
    return fp;
}

int lsc_file_check(const char *path, lsc_error *err)
{
    int fd = lsc_file_open_fd(path, err);
    if (fd < 0)
        return fd;
    close(fd);
    return LSC_OK;
}

// ---- reading a whole file ----

int lsc_read_file_(const char *path, char **out, size_t *n, lsc_error *err)
{
    *out = NULL;
    if (n)
        *n = 0;
    FILE *fp = lsc_file_open_read(path, err);
    if (!fp)
        return err ? err->code : LSC_EIO;
    struct stat st;
    if (fstat(fileno(fp), &st) != 0) {
        fclose(fp);
        LSC_FAIL(err, LSC_EIO, "%s: cannot stat: %s", path, strerror(errno));
    }
    size_t size = (size_t)st.st_size;
    char *buf = LSC_MALLOC(size + 1);
    if (!buf) {
        fclose(fp);
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory reading %zu bytes", path, size);
    }
    if (size > 0 && fread(buf, 1, size, fp) != size) {
        LSC_FREE(buf);
        fclose(fp);
        LSC_FAIL(err, LSC_EIO, "%s: short read", path);
    }
    fclose(fp);
    buf[size] = '\0';
    *out = buf;
    if (n)
        *n = size;
    return LSC_OK;
}
