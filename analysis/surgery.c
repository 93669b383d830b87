/*
 * surgery.c — shared by resize.c, combine.c and recommend.c (surgery.h):
 * unique pattern keys, the config of a built adapter, one-step publishing.
 * What it is not: any linear algebra (lib/lowrank.c) or adapter I/O
 * (lib/peft.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "surgery.h"

// ---- pattern keys ----

/* How many of the n names key matches (PEFT's rule); -1 when it does not compile. */
static int key_matches(const char *key, int n, const char *const *names, int i, int *self)
{
    lsc_pattern *p = NULL;
    lsc_error err = {0};
    if (lsc_pattern_compile(&p, key, &err) != LSC_OK)
        return -1;
    int c = 0;
    for (int j = 0; j < n; j++)
        if (lsc_pattern_match(p, names[j])) {
            c++;
            if (j == i)
                *self = 1;
        }
    lsc_pattern_free(p);
    return c;
}

int surg_unique_key(const char *cmd, int n, const char *const *names, int i, char **key)
{
    const char *name = names[i];
    size_t len = strlen(name);
    char *k = malloc(2 * len + 2);
    if (!k)
        return cli_error(cmd, CLI_FAIL, "out of memory");
    for (int attempt = 0; attempt < 3; attempt++) {
        if (attempt == 0) {
            memcpy(k, name, len + 1);
        } else if (attempt == 1) {
            char *o = k;
            for (const char *s = name; *s; s++) {
                if (strchr(".^$*+?()[]{}|\\", *s))
                    *o++ = '\\';
                *o++ = *s;
            }
            *o = '\0';
        } else {
            memmove(k + 1, k, strlen(k) + 1);
            k[0] = '^';
        }
        int self = 0;
        if (key_matches(k, n, names, i, &self) == 1 && self) {
            *key = k;
            return CLI_OK;
        }
    }
    free(k);
    return cli_error(cmd, CLI_FAIL, "module %s: no rank_pattern key matches it alone", cli_safe(name));
}

// ---- config ----

/* The most common rank of ad's modules (the smallest of equals). */
static int mode_rank(const lsc_adapter *ad)
{
    int best = ad->modules[0].r, best_n = 0;
    for (int i = 0; i < ad->n_modules; i++) {
        int c = 0, r = ad->modules[i].r;
        for (int j = 0; j < ad->n_modules; j++)
            c += ad->modules[j].r == r;
        if (c > best_n || (c == best_n && r < best)) {
            best = r;
            best_n = c;
        }
    }
    return best;
}

/* target_modules: src's list or regex, else the distinct last name parts. */
static int copy_targets(lsc_adapter *ad, const lsc_adapter *src)
{
    int n = src ? src->n_targets : ad->n_modules;
    if (src && src->target_regex)
        return (ad->target_regex = strdup(src->target_regex)) ? 0 : -1;
    if (!(ad->target_modules = calloc((size_t)n + 1, sizeof(char *))))
        return -1;
    for (int i = 0; i < n; i++) {
        const char *t = src ? src->target_modules[i] : strrchr(ad->modules[i].name, '.');
        t = src ? t : (t ? t + 1 : ad->modules[i].name);
        int dup = 0;
        for (int j = 0; j < ad->n_targets; j++)
            dup |= strcmp(ad->target_modules[j], t) == 0;
        if (!dup && !(ad->target_modules[ad->n_targets++] = strdup(t)))
            return -1;
    }
    return 0;
}

int surg_config(const char *cmd, lsc_adapter *ad, const lsc_adapter *src)
{
    int n = ad->n_modules, r0 = mode_rank(ad);
    ad->r = r0;
    ad->lora_alpha = r0;
    ad->use_rslora = 0;
    if (src) {
        ad->lora_dropout = src->lora_dropout;
        ad->fan_in_fan_out = src->fan_in_fan_out;
        if (src->base_model && !(ad->base_model = strdup(src->base_model)))
            return cli_error(cmd, CLI_FAIL, "out of memory");
    }
    const char **names = malloc((size_t)n * sizeof *names);
    ad->rank_pattern_keys = calloc((size_t)n, sizeof(char *));
    ad->rank_pattern_vals = calloc((size_t)n, sizeof(int));
    ad->alpha_pattern_keys = calloc((size_t)n, sizeof(char *));
    ad->alpha_pattern_vals = calloc((size_t)n, sizeof(double));
    if (!names || !ad->rank_pattern_keys || !ad->rank_pattern_vals || !ad->alpha_pattern_keys ||
        !ad->alpha_pattern_vals || copy_targets(ad, src) != 0) {
        free(names);
        return cli_error(cmd, CLI_FAIL, "out of memory");
    }
    for (int i = 0; i < n; i++)
        names[i] = ad->modules[i].name;
    int rc = CLI_OK;
    for (int i = 0; i < n && rc == CLI_OK; i++) {
        const lsc_adapter_module *m = &ad->modules[i];
        if (m->r == r0)
            continue;
        int p = ad->n_rank_pattern;
        if ((rc = surg_unique_key(cmd, n, names, i, &ad->rank_pattern_keys[p])) != CLI_OK)
            break;
        ad->n_rank_pattern++;
        ad->rank_pattern_vals[p] = m->r;
        ad->alpha_pattern_vals[p] = m->r;
        if (!(ad->alpha_pattern_keys[p] = strdup(ad->rank_pattern_keys[p])))
            rc = cli_error(cmd, CLI_FAIL, "out of memory");
        else
            ad->n_alpha_pattern++;
    }
    free(names);
    for (int i = 0; i < n && rc == CLI_OK; i++) {   /* PEFT's rule gives each module its own */
        int r;
        double alpha;
        lsc_adapter_module_params(ad, ad->modules[i].name, &r, &alpha);
        if (r != ad->modules[i].r || alpha != ad->modules[i].alpha)
            rc = cli_error(cmd, CLI_FAIL, "module %s: rank_pattern gives r=%d, not %d",
                           cli_safe(ad->modules[i].name), r, ad->modules[i].r);
    }
    return rc;
}

// ---- modules and publishing ----

int surg_module_init(lsc_adapter_module *m, const char *name, int d, int k, int K)
{
    memset(m, 0, sizeof *m);
    m->name = strdup(name);
    m->A = malloc((size_t)K * (size_t)k * sizeof(float));
    m->B = malloc((size_t)d * (size_t)K * sizeof(float));
    if (!m->name || !m->A || !m->B)
        return -1;
    m->kind = LSC_ADAPTER_LORA;
    m->r = K;
    m->alpha = K;
    m->scaling = 1.0;
    m->in_features = k;
    m->out_features = d;
    snprintf(m->dtype, sizeof m->dtype, "F32");
    return 0;
}

int surg_publish(const char *cmd, const lsc_adapter *ad, const char *out,
                 int (*write_extra)(void *ctx, const char *dir), void *ctx)
{
    lsc_error err = {0};
    char wdir[4096];
    if (lsc_atomic_mkdtemp(wdir, sizeof wdir, out, &err) != LSC_OK)
        return cli_lib_error(cmd, &err);
    int rc = lsc_adapter_save(ad, wdir, &err) == LSC_OK ? CLI_OK : CLI_FAIL;
    if (rc != CLI_OK) {
        lsc_atomic_errpath(&err, wdir, out);
        cli_lib_error(cmd, &err);
    } else if ((!write_extra || (rc = write_extra(ctx, wdir)) == CLI_OK) &&
               lsc_atomic_publish_dir(wdir, out, &err) != LSC_OK) {
        rc = cli_lib_error(cmd, &err);
    }
    if (rc != CLI_OK)
        lsc_atomic_remove_tree(wdir);
    return rc;
}

int surg_check_kinds(const char *cmd, const char *path, const lsc_adapter *ad)
{
    for (int i = 0; i < ad->n_modules; i++)
        if (ad->modules[i].kind != LSC_ADAPTER_LORA)
            return cli_error(cmd, CLI_FAIL, "%s: module %s is %s: only plain LoRA Linear modules are supported",
                             cli_safe(path), cli_safe(ad->modules[i].name),
                             lsc_adapter_kind_name(ad->modules[i].kind));
    if (ad->n_full > 0)
        return cli_error(cmd, CLI_FAIL, "%s: %s is a full tensor (modules_to_save): only LoRA modules are supported",
                         cli_safe(path), cli_safe(ad->full[0].name));
    if (ad->n_modules == 0)
        return cli_error(cmd, CLI_FAIL, "%s: no LoRA modules", cli_safe(path));
    return CLI_OK;
}
