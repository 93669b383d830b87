/*
 * file.c — opening input files: refuses non-regular files (FIFOs,
 * directories, devices) before a single byte is read, so hostile paths fail
 * with one line instead of blocking forever.
 * Not a reader: callers read and close what they get back.
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
