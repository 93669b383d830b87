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
