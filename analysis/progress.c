/*
 * progress.c — the progress line of progress.h: done/total, rate and ETA, redrawn in place on a
 * terminal at most 4 times a second. Not the training step line (training.c) and not a log:
 * silent whenever stderr is not a terminal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"

#define REDRAW_MS 250   /* at most 4 redraws a second */

void ana_progress_start(ana_progress *p, const char *what, const char *unit, long total, int quiet)
{
    memset(p, 0, sizeof *p);
    p->what = what;
    p->unit = unit;
    p->total = total;
    p->quiet = quiet;
    p->t0 = cli_now();
    p->last_ms = -REDRAW_MS;   /* the first item draws at once */
    const char *env = getenv("LSC_PROGRESS");
    int forced = env && strcmp(env, "1") == 0, off = env && strcmp(env, "0") == 0;
    p->on = !quiet && !off && total > 0 && (forced || isatty(STDERR_FILENO));
}

static void eta_text(double s, char *buf, size_t n)
{
    long t = s > 0 && s < 1e7 ? (long)(s + 0.5) : 0;
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void draw(ana_progress *p, long done, double now)
{
    double el = now - p->t0, rate = el > 0 ? (double)done / el : 0.0;
    char eta[32];
    eta_text(rate > 0 ? (double)(p->total - done) / rate : 0.0, eta, sizeof eta);
    fprintf(stderr, "\r%s: %ld/%ld %s  %.1f/s  ETA %s\033[K", p->what, done, p->total, p->unit, rate, eta);
    fflush(stderr);
    p->drawn = 1;
    __atomic_store_n(&p->last_ms, (long)((now - p->t0) * 1e3), __ATOMIC_RELAXED);
}

void ana_progress_add(ana_progress *p, long k)
{
    long done = __atomic_add_fetch(&p->done, k, __ATOMIC_RELAXED);
    if (!p->on)
        return;
    double now = cli_now();
    if ((long)((now - p->t0) * 1e3) - __atomic_load_n(&p->last_ms, __ATOMIC_RELAXED) < REDRAW_MS && done < p->total)
        return;
    if (__atomic_exchange_n(&p->busy, 1, __ATOMIC_ACQUIRE))
        return;   /* another thread is drawing: this update is dropped, the next one shows it */
    draw(p, done, now);
    __atomic_store_n(&p->busy, 0, __ATOMIC_RELEASE);
}

void ana_progress_cb(void *ctx, long done, long total)
{
    ana_progress *p = ctx;
    if (p->total == 0)
        ana_progress_start(p, p->what, p->unit, total, p->quiet);
    ana_progress_add(p, done - p->done);
}

void ana_progress_end(ana_progress *p)
{
    if (p->on && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    p->drawn = 0;
}
