/*
 * progress.h — the one-line progress display of the long-running commands: "WHAT: done/total
 * UNIT  rate/s  ETA m:ss", rewritten in place with \r on stderr at most 4 times a second, only
 * when stderr is a terminal and the command was not asked for --quiet or --json. Not a logger:
 * when stderr is not a terminal it prints nothing at all, so logs and tests see no change.
 * (train and pretrain keep their own step line in training.c: loss and lr beside the rate.)
 */
#ifndef LSC_ANA_PROGRESS_H
#define LSC_ANA_PROGRESS_H

typedef struct ana_progress {
    const char *what;    /* "spectrum", "eval base", ... */
    const char *unit;    /* "modules", "windows", ... */
    long        total;
    long        done;    /* updated atomically by ana_progress_add */
    double      t0;      /* start (cli_now) */
    long        last_ms; /* last redraw, ms after t0 (atomic) */
    int         on;      /* stderr is a terminal and not silenced */
    int         drawn;   /* a line is on screen */
    int         busy;    /* one thread is drawing */
    int         quiet;   /* as given to ana_progress_start */
} ana_progress;

/* Starts p for total items; silent (on = 0) when quiet, when stderr is not a terminal, or when
 * $LSC_PROGRESS is "0". $LSC_PROGRESS "1" turns it on without a terminal (for tests only). */
void ana_progress_start(ana_progress *p, const char *what, const char *unit, long total, int quiet);
/* k more items done; safe from several threads at once; redraws at most every 0.25 s. */
void ana_progress_add(ana_progress *p, long k);
/* A library's progress callback (lsc_eval_progress_fn, lsc_nf4_progress_fn): ctx is an
 * ana_progress started with total 0, which the first call starts with the library's total. */
void ana_progress_cb(void *ctx, long done, long total);
/* Erases the line (the command's own output follows on a clean line). */
void ana_progress_end(ana_progress *p);

#endif
