/*
 * lsc_error.h — errors and the library version (error.c).
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 */
#ifndef LSC_ERROR_H
#define LSC_ERROR_H

#include <stddef.h>
#include <stdint.h>


#define LSC_VERSION "0.1.0"

// ---- errors (error.c) ----

enum lsc_status {
    LSC_OK        = 0,
    LSC_EIO       = -1,  /* cannot open/read/write a file */
    LSC_EFORMAT   = -2,  /* malformed file contents */
    LSC_ESHAPE    = -3,  /* shapes disagree */
    LSC_ENOMEM    = -4,  /* allocation failed */
    LSC_EARG      = -5,  /* invalid argument from the user */
    LSC_ENOCONV   = -6,  /* LAPACK did not converge */
    LSC_ENOTFOUND = -7,  /* a named tensor/module/file is missing */
    LSC_EHDF5     = -8,  /* the HDF5 library reported an error */
    LSC_ENAN      = -9,  /* NaN or Inf where finite numbers are required */
    LSC_EVERSION  = -10, /* unknown format version */
};

typedef struct lsc_error {
    int code;        /* one of enum lsc_status */
    char msg[512];   /* one line, names the file and the problem */
    const char *file; /* source file that raised it (for debugging) */
    int line;
} lsc_error;

/* Static string for a code; never NULL. */
const char *lsc_strerror(int code);

/* Fills *err (may be NULL) and returns code. The single breakpoint for every
 * recoverable failure; call it through LSC_FAIL. */
int lsc_error_set(lsc_error *err, int code, const char *file, int line,
                  const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* Copies s into out (n >= 1 bytes, always NUL-terminated, truncated at a
 * whole character) with every control character written as an escape, so
 * text taken from a file cannot move the cursor or rewrite a terminal: C0
 * and DEL as \xNN, the C1 controls U+0080..U+009F (UTF-8 C2 80..C2 9F) as
 * \u00NN, a byte that does not start valid UTF-8 as \xNN. Other text
 * (printable ASCII and UTF-8) is copied as is; a backslash is not
 * escaped, so escaping twice changes nothing. Returns out. lsc_error_set
 * applies it to every message. */
char *lsc_str_escape(char *out, size_t n, const char *s);

#define LSC_FAIL(err, code, ...) \
    return lsc_error_set((err), (code), __FILE__, __LINE__, __VA_ARGS__)

#endif /* LSC_ERROR_H */
