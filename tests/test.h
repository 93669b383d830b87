/*
 * test.h — the test harness shared by every tests/test_*.c binary.
 * One "PASS/FAIL name" line per check, one "SKIP name (reason)" line per
 * check (or group of checks) that cannot run here, a final
 * "N passed, N failed, N skipped" line, and a non-zero exit status on any
 * failure (return test_summary()). A skip is never counted as a pass.
 * Not a framework: checks are plain conditions. The same conventions in
 * shell are tests/lib.sh, in Python tests/testlib.py.
 */
#ifndef LSC_TEST_H
#define LSC_TEST_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed_, test_failed_, test_skipped_;

#define CHECK(cond, ...) test_check_((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static inline int test_check_(int ok, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    printf("%s ", ok ? "PASS" : "FAIL");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (!ok)
        printf("  (%s:%d)", file, line);
    printf("\n");
    fflush(stdout);
    if (ok)
        test_passed_++;
    else
        test_failed_++;
    return ok;
}

/* Relative difference with an absolute floor, for comparing numbers. */
static inline double test_reldiff(double a, double b)
{
    double d = fabs(a - b), m = fmax(fabs(a), fabs(b));
    return m > 1e-300 ? d / m : d;
}

/* A check (or a group of checks) that cannot run here: prints
 * "SKIP name (reason)" and counts a skip, not a pass. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static inline void test_skip(const char *name, const char *reason_fmt, ...)
{
    va_list ap;
    printf("SKIP %s (", name);
    va_start(ap, reason_fmt);
    vprintf(reason_fmt, ap);
    va_end(ap);
    printf(")\n");
    fflush(stdout);
    test_skipped_++;
}

static inline int test_summary(void)
{
    printf("%d passed, %d failed, %d skipped\n", test_passed_, test_failed_, test_skipped_);
    return test_failed_ ? 1 : 0;
}

/* The binary's scratch directory: test_tmpdir_make("train") creates
 * ${TMPDIR:-/tmp}/lsc_test_train.XXXXXX (0, or -1 after printing why), test_tmp(name)
 * is a path inside it (8 may be live at once), test_tmpdir() the directory,
 * and test_tmpdir_remove() deletes it with everything in it. */
static inline char *test_tmpdir(void)
{
    static char dir[256];
    return dir;
}

static inline int test_tmpdir_make(const char *name)
{
    const char *base = getenv("TMPDIR");
    snprintf(test_tmpdir(), 256, "%s/lsc_test_%s.XXXXXX", base && *base ? base : "/tmp", name);
    if (!mkdtemp(test_tmpdir())) {
        perror("mkdtemp");
        return -1;
    }
    return 0;
}

static inline const char *test_tmp(const char *name)
{
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", test_tmpdir(), name);
    return buf[k];
}

static inline void test_tmpdir_remove(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", test_tmpdir());
    if (system(cmd) != 0)
        printf("note: could not remove %s\n", test_tmpdir());
}

// ---- the shared fixtures ----

/* Path of the shared fixtures directory: $LSC_FIXTURES, else
 * $LSC_SHARED/fixtures, else ../shared/fixtures (relative to the project
 * root, where tests run). It counts as present when it holds README.md. */
static inline const char *test_fixtures_path(void)
{
    static char buf[4096];
    const char *fx = getenv("LSC_FIXTURES"), *shared = getenv("LSC_SHARED");
    if (fx && *fx)
        snprintf(buf, sizeof buf, "%s", fx);
    else
        snprintf(buf, sizeof buf, "%s/fixtures", shared && *shared ? shared : "../shared");
    return buf;
}

/* The fixtures directory for the checks called `what`, or NULL after
 * reporting them: SKIP in a user's clone without ../shared, FAIL when the
 * environment variable CI is "true" (CI always has the fixtures). */
static inline const char *test_fixtures_dir(const char *what)
{
    const char *dir = test_fixtures_path();
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/README.md", dir);
    FILE *fp = fopen(probe, "r");
    if (fp) {
        fclose(fp);
        return dir;
    }
    const char *ci = getenv("CI");
    if (ci && strcmp(ci, "true") == 0)
        CHECK(0, "%s (fixtures dir missing: %s; CI=true requires it)", what, dir);
    else
        test_skip(what, "fixtures dir missing: %s; set LSC_FIXTURES or clone ../shared", dir);
    return NULL;
}

#endif
