/*
 * delta_pairs.c — the (W_0, W_ft) weight pairs of two safetensors files
 * that deltaspec and extract analyse (see delta_pairs.h). Not the analyses:
 * only the names, the matching and the reading of ΔW = W_ft − W_0.
 */
#include <stdio.h>
#include <string.h>

#include "delta_pairs.h"
#include "progress.h"

// ---- names ----

int ana_delta_targets_check(const char *cmd, const char *targets)
{
    char list[256];
    snprintf(list, sizeof list, "%s", targets);
    for (char *t = strtok(list, ","); t; t = strtok(NULL, ","))
        if (lsc_lora_target_parse(t) < 0)
            return cli_error(cmd, CLI_USAGE, "unknown target '%s' (q k v o fc_in fc_out gate up down)", t);
    return CLI_OK;
}

/* Is name "<module>.weight" with module a LoRA module name whose target is
 * in targets? The module name into module (n bytes). */
static int wanted(const char *name, const char *targets, char *module, size_t n)
{
    int layer, target;
    size_t l = strlen(name);
    if (l < 8 || strcmp(name + l - 7, ".weight") != 0 || l - 7 >= n)
        return 0;
    memcpy(module, name, l - 7);
    module[l - 7] = '\0';
    if (lsc_lora_module_parse(module, &layer, &target) != 0)
        return 0;
    const char *tn = lsc_lora_target_name(target);   /* "q_proj", "fc_in", ... */
    char list[256];
    snprintf(list, sizeof list, "%s", targets);
    for (char *t = strtok(list, ","); t; t = strtok(NULL, ","))
        if (lsc_lora_target_parse(t) == target || strcmp(t, tn) == 0)
            return 1;
    return 0;
}

// ---- files ----

int ana_delta_open(const char *cmd, ana_delta_files *f, const char *base, const char *ft)
{
    lsc_error err = {0};
    memset(f, 0, sizeof *f);
    f->base = base;
    f->ft = ft;
    if (lsc_st_open(&f->fb, base, &err) != LSC_OK || lsc_st_open(&f->ff, ft, &err) != LSC_OK)
        return cli_lib_error(cmd, &err);
    return CLI_OK;
}

void ana_delta_close(ana_delta_files *f)
{
    lsc_st_close(&f->fb);
    lsc_st_close(&f->ff);
}

int ana_delta_each(const char *cmd, const ana_delta_files *f, const char *targets,
                   ana_delta_fn fn, void *ctx, int *n_mod)
{
    int rc = CLI_OK;
    ana_progress pg;   /* a progress line on a terminal (issue 16) */
    ana_progress_start(&pg, cmd, "tensors", f->fb.n_tensors, 0);
    *n_mod = 0;
    for (int ti = 0; ti < f->fb.n_tensors && rc == CLI_OK; ti++) {
        const lsc_st_tensor *tb = &f->fb.tensors[ti];
        char module[128];
        ana_progress_add(&pg, 1);
        if (tb->ndim != 2 || !wanted(tb->name, targets, module, sizeof module))
            continue;
        const lsc_st_tensor *tf = lsc_st_find(&f->ff, tb->name);
        if (!tf || tf->ndim != 2 || tf->shape[0] != tb->shape[0] || tf->shape[1] != tb->shape[1])
            rc = cli_error(cmd, CLI_FAIL, "%s: tensor %s missing or of another shape than in %s", f->ft,
                           tb->name, f->base);
        else if ((rc = fn(ctx, module, tb, tf)) == CLI_OK)
            (*n_mod)++;
    }
    ana_progress_end(&pg);
    if (rc == CLI_OK && *n_mod == 0)
        rc = cli_error(cmd, CLI_FAIL, "%s: no weights of types %s found", f->base, targets);
    return rc;
}

int ana_delta_read(const char *cmd, const ana_delta_files *f, const lsc_st_tensor *tb,
                   const lsc_st_tensor *tf, double *W0, double *D)
{
    lsc_error err = {0};
    if (lsc_st_read_f64(&f->fb, tb, W0, &err) != LSC_OK || lsc_st_read_f64(&f->ff, tf, D, &err) != LSC_OK)
        return cli_lib_error(cmd, &err);
    size_t numel = (size_t)tb->shape[0] * (size_t)tb->shape[1];
    for (size_t i = 0; i < numel; i++)
        D[i] -= W0[i];
    return CLI_OK;
}
