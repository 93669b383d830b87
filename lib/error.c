/*
 * error.c — error codes, messages, the single failure breakpoint, and the
 * small file helpers every writer shares (atomic write, whole-file read).
 * Not a logger: the library prints nothing except in LSC_ABORT.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "lsc_internal.h"

const char *lsc_strerror(int code)
{
    switch (code) {
    case LSC_OK:        return "ok";
    case LSC_EIO:       return "input/output error";
    case LSC_EFORMAT:   return "malformed file";
    case LSC_ESHAPE:    return "shape mismatch";
    case LSC_ENOMEM:    return "out of memory";
    case LSC_EARG:      return "invalid argument";
    case LSC_ENOCONV:   return "no convergence";
    case LSC_ENOTFOUND: return "not found";
    case LSC_EHDF5:     return "HDF5 error";
    case LSC_ENAN:      return "non-finite value";
    case LSC_EVERSION:  return "unknown format version";
    default:            return "unknown error";
    }
}

int lsc_error_set(lsc_error *err, int code, const char *file, int line,
                  const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        err->file = file;
        err->line = line;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void lsc_abort_(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "lorascope: internal error at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

char *lsc_strdup_(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = LSC_MALLOC(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

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
