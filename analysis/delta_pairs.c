/*
 * delta_pairs.c — the (W_0, W_ft) weight pairs of two safetensors files
 * that deltaspec and extract analyse (see delta_pairs.h). Not the analyses:
 * only the names, the matching and the reading of ΔW = W_ft − W_0.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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

static int side_open(ana_delta_side *s, const char *path, lsc_error *err)
{
    struct stat sb;
    s->is_dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    return s->is_dir ? lsc_hf_open(&s->hf, path, err) : lsc_st_open(&s->st, path, err);
}

static int side_count(const ana_delta_side *s)
{
    return s->is_dir ? s->hf.n_tensors : s->st.n_tensors;
}

static const lsc_st_tensor *side_tensor(const ana_delta_side *s, int i)
{
    return s->is_dir ? s->hf.tensors[i].t : &s->st.tensors[i];
}

static const lsc_st_tensor *side_find(const ana_delta_side *s, const char *name)
{
    if (!s->is_dir)
        return lsc_st_find(&s->st, name);
    const lsc_hf_tensor *t = lsc_hf_find(&s->hf, name);
    return t ? t->t : NULL;
}

/* The file (the folder's shard) that holds t. */
static const lsc_st_file *side_file(const ana_delta_side *s, const lsc_st_tensor *t)
{
    for (int k = 0; s->is_dir && k < s->hf.n_shards; k++) {
        const lsc_st_file *f = &s->hf.shards[k];
        if (f->n_tensors > 0 && t >= f->tensors && t < f->tensors + f->n_tensors)
            return f;
    }
    return &s->st;
}

int ana_delta_open(const char *cmd, ana_delta_files *f, const char *base, const char *ft)
{
    lsc_error err = {0};
    memset(f, 0, sizeof *f);
    f->base = base;
    f->ft = ft;
    if (side_open(&f->b, base, &err) != LSC_OK || side_open(&f->f, ft, &err) != LSC_OK)
        return cli_lib_error(cmd, &err);
    return CLI_OK;
}

void ana_delta_close(ana_delta_files *f)
{
    lsc_hf_close(&f->b.hf);
    lsc_hf_close(&f->f.hf);
    lsc_st_close(&f->b.st);
    lsc_st_close(&f->f.st);
}

int ana_delta_each(const char *cmd, const ana_delta_files *f, const char *targets,
                   ana_delta_fn fn, void *ctx, int *n_mod)
{
    int rc = CLI_OK;
    ana_progress pg;   /* a progress line on a terminal (issue 16) */
    ana_progress_start(&pg, cmd, "tensors", side_count(&f->b), 0);
    *n_mod = 0;
    for (int ti = 0; ti < side_count(&f->b) && rc == CLI_OK; ti++) {
        const lsc_st_tensor *tb = side_tensor(&f->b, ti);
        char module[128];
        ana_progress_add(&pg, 1);
        if (tb->ndim != 2 || !wanted(tb->name, targets, module, sizeof module))
            continue;
        const lsc_st_tensor *tf = side_find(&f->f, tb->name);
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
    if (lsc_st_read_f64(side_file(&f->b, tb), tb, W0, &err) != LSC_OK ||
        lsc_st_read_f64(side_file(&f->f, tf), tf, D, &err) != LSC_OK)
        return cli_lib_error(cmd, &err);
    size_t numel = (size_t)tb->shape[0] * (size_t)tb->shape[1];
    for (size_t i = 0; i < numel; i++)
        D[i] -= W0[i];
    return CLI_OK;
}
