/*
 * failalloc.c — the failing allocator declared in failalloc.h: counts
 * allocation calls and live blocks, and fails the armed k-th call.
 * Compiled into the $(BUILD)/oom library only.
 */
#include <stdlib.h>

#include "failalloc.h"

static long fa_calls_, fa_fail_at_, fa_failures_, fa_live_;
static int  fa_persist_;

void lsc_fa_fail_nth(long k)
{
    fa_calls_ = 0;
    fa_failures_ = 0;
    fa_fail_at_ = k > 0 ? k : 0;
    fa_persist_ = 0;
}

void lsc_fa_fail_from(long k)
{
    lsc_fa_fail_nth(k);
    fa_persist_ = 1;
}

long lsc_fa_calls(void) { return fa_calls_; }
long lsc_fa_failures(void) { return fa_failures_; }
long lsc_fa_live(void) { return fa_live_; }

/* 1 when this call is the one to fail. */
static int fa_fail_now(void)
{
    fa_calls_++;
    if (fa_fail_at_ && (fa_calls_ == fa_fail_at_ || (fa_persist_ && fa_calls_ > fa_fail_at_))) {
        fa_failures_++;
        return 1;
    }
    return 0;
}

void *lsc_fa_malloc(size_t n)
{
    if (fa_fail_now())
        return NULL;
    void *p = malloc(n ? n : 1);
    if (p)
        fa_live_++;
    return p;
}

void *lsc_fa_calloc(size_t n, size_t size)
{
    if (fa_fail_now())
        return NULL;
    void *p = calloc(n && size ? n : 1, n && size ? size : 1);
    if (p)
        fa_live_++;
    return p;
}

void *lsc_fa_realloc(void *p, size_t n)
{
    if (fa_fail_now())
        return NULL;   /* like realloc: p stays valid and owned by the caller */
    void *q = realloc(p, n ? n : 1);
    if (q && !p)
        fa_live_++;
    return q;
}

void lsc_fa_free(void *p)
{
    if (p)
        fa_live_--;
    free(p);
}
