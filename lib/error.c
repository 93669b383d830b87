/*
 * error.c — error codes, messages (control characters escaped), the single
 * failure breakpoint, and lsc_strdup_.
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
        char raw[sizeof err->msg];
        va_start(ap, fmt);
        vsnprintf(raw, sizeof raw, fmt, ap);
        va_end(ap);
        lsc_str_escape(err->msg, sizeof err->msg, raw);
    }
    return code;
}

/* Length of the valid UTF-8 sequence at p (2..4), or 0. */
static size_t utf8_len(const unsigned char *p)
{
    size_t k = p[0] >= 0xC2 && p[0] <= 0xDF ? 2 : p[0] >= 0xE0 && p[0] <= 0xEF ? 3
             : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : 0;
    for (size_t i = 1; i < k; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return k;
}

char *lsc_str_escape(char *out, size_t n, const char *s)
{
    size_t j = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        char esc[8];
        size_t take = 1, k = utf8_len(p);
        if (*p < 0x20 || *p == 0x7F || (*p >= 0x80 && k == 0))
            snprintf(esc, sizeof esc, "\\x%02X", *p);
        else if (k == 2 && p[0] == 0xC2 && p[1] < 0xA0) {
            snprintf(esc, sizeof esc, "\\u%04X", p[1]);
            take = 2;
        } else {
            take = k ? k : 1;
            memcpy(esc, p, take);
            esc[take] = '\0';
        }
        size_t w = strlen(esc);
        if (j + w + 1 > n)
            break;
        memcpy(out + j, esc, w);
        j += w;
        p += take;
    }
    out[j] = '\0';
    return out;
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
