/*
 * training_snap.c — `train --save-every N` (issue 16): the adapter as it is
 * at step 0 (A0, B = 0), every N steps and the last step, each written as
 * a PEFT adapter directory OUT.snapshots/step-%06ld (lsc_lora_save, the
 * same atomic publication as the final adapter), from the trainer's
 * progress callback (after the step's update, before its checkpoint). The
 * snapshots only read the adapter, so the training, and the final adapter,
 * are the same with and without them. `lorascope trajectory OUT` reads them.
 *
 * Not here: the options (train.c), the loop (lib/train.c), the analysis of
 * the snapshots (trajectory.c).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "training.h"

// ---- paths ----

void training_snap_dir(const char *out, char *buf, size_t n)
{
    size_t len = strlen(out);
    while (len > 1 && out[len - 1] == '/')
        len--;
    snprintf(buf, n, "%.*s.snapshots", (int)len, out);
}

static void snap_path(const training_snap *s, long step, char *buf, size_t n)
{
    snprintf(buf, n, "%s/step-%06ld", s->dir, step);
}

/* "step-" + digits, and nothing else (a temporary has ".tmp.XXXXXX" after). */
static int is_snap_name(const char *name, int *tmp)
{
    if (strncmp(name, "step-", 5) != 0 || !(name[5] >= '0' && name[5] <= '9'))
        return 0;
    const char *p = name + 5;
    while (*p >= '0' && *p <= '9')
        p++;
    *tmp = strncmp(p, ".tmp.", 5) == 0;
    return *p == '\0' || *tmp;
}

/* A fresh run: every earlier step-* (another run's) removed. A resumed
 * one: only the temporaries an interrupted write left (ours). */
static void clear_dir(const char *dir, int resume)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[PATH_MAX + 300];
    while ((e = readdir(d)) != NULL) {
        int tmp = 0;
        if (!is_snap_name(e->d_name, &tmp) || (resume && !tmp))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (tmp) {
            *strstr(path + strlen(dir), ".tmp.") = '\0';
            lsc_atomic_clean(path);
        } else {
            lsc_atomic_remove_tree(path);
        }
    }
    closedir(d);
}

// ---- writing ----

static int snap_save(training_snap *s, long step)
{
    char path[PATH_MAX + 32];
    snap_path(s, step, path, sizeof path);
    return lsc_lora_save(s->lo, s->base, path, &s->err);
}

int training_snap_start(training_snap *s, const char *cmd, const char *out, const char *base,
                        const lsc_lora *lo, long every, long steps, int resume)
{
    memset(s, 0, sizeof *s);
    s->lo = lo;
    s->base = base;
    s->every = every;
    s->steps = steps;
    training_snap_dir(out, s->dir, sizeof s->dir);
    struct stat sb;
    if (stat(s->dir, &sb) != 0 && mkdir(s->dir, 0777) != 0)
        return cli_error(cmd, CLI_FAIL, "%s: cannot create directory: %s", s->dir, strerror(errno));
    if (stat(s->dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cli_error(cmd, CLI_FAIL, "%s: exists and is not a directory", s->dir);
    clear_dir(s->dir, resume);
    char path[PATH_MAX + 32];
    snap_path(s, 0, path, sizeof path);
    if (resume && access(path, F_OK) == 0)
        return CLI_OK;   /* kept: the same A0 from the same seed */
    if (snap_save(s, 0) != LSC_OK)
        return cli_lib_error(cmd, &s->err);
    return CLI_OK;
}

int training_snap_cb(void *ctx, const lsc_train_status *st)
{
    training_snap *s = ctx;
    int stop = s->next ? s->next(s->next_ctx, st) : 0;
    if (st->is_eval || s->rc != LSC_OK || (st->step % s->every != 0 && st->step != s->steps))
        return stop || s->rc != LSC_OK;
    s->rc = snap_save(s, st->step);
    return stop || s->rc != LSC_OK;   /* a failed write stops the run (with its checkpoint) */
}

// ---- the log ----

int training_snap_write_log(lsc_h5 *h, long every, long steps, lsc_error *err)
{
    size_t n = (size_t)(steps / every) + 1 + (steps % every != 0);
    int *st = malloc(n * sizeof *st);
    if (!st)
        return lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "out of memory");
    size_t k = 0;
    for (long t = 0; t <= steps; t += every)
        st[k++] = (int)t;
    if (steps % every != 0)
        st[k++] = (int)steps;
    int rc = lsc_h5_write_i32(h, "/snapshots/step", k, st, err);
    free(st);
    if (rc == LSC_OK)
        rc = lsc_h5_attr_int(h, "/snapshots", "save_every", every, err);
    if (rc == LSC_OK)
        rc = lsc_h5_attr_str(h, "/snapshots", "layout", "OUT.snapshots/step-%06d: PEFT adapter at that step "
                             "(0: A0, B = 0)", err);
    return rc;
}
