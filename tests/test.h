/*
 * test.h — the test harness shared by every tests/test_*.c binary.
 * One "PASS/FAIL name" line per check, a final "N passed, N failed" line,
 * and a non-zero exit status on any failure (return test_summary()).
 * Not a framework: checks are plain conditions.
 */
#ifndef LSC_TEST_H
#define LSC_TEST_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed_, test_failed_;

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

static inline void test_skip(const char *why)
{
    printf("SKIP %s\n", why);
    fflush(stdout);
}

static inline int test_summary(void)
{
    printf("%d passed, %d failed\n", test_passed_, test_failed_);
    return test_failed_ ? 1 : 0;
}

/* The binary's scratch directory: test_tmpdir_make("train") creates
 * /tmp/lsc_test_train.XXXXXX (0, or -1 after printing why), test_tmp(name)
 * is a path inside it (8 may be live at once), test_tmpdir() the directory,
 * and test_tmpdir_remove() deletes it with everything in it. */
static inline char *test_tmpdir(void)
{
    static char dir[256];
    return dir;
}

static inline int test_tmpdir_make(const char *name)
{
    snprintf(test_tmpdir(), 256, "/tmp/lsc_test_%s.XXXXXX", name);
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

/* Path of the shared fixtures (../shared/fixtures relative to the project
 * root, or $LSC_SHARED/fixtures), or NULL when absent. */
static inline const char *test_fixtures_dir(void)
{
    static char buf[4096];
    const char *env = getenv("LSC_SHARED");
    snprintf(buf, sizeof buf, "%s/fixtures", env ? env : "../shared");
    FILE *fp;
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/README.md", buf);
    if ((fp = fopen(probe, "r")) == NULL)
        return NULL;
    fclose(fp);
    return buf;
}

#endif
