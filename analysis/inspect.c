/*
 * inspect.c — `lorascope inspect PATH [--base MODEL.safetensors]`: what is in
 * an adapter directory or a safetensors file (tensors, dtypes, shapes; LoRA
 * modules with r, alpha, scaling; the trainable parameter count and, with a
 * base, the trainable percentage as PEFT's print_trainable_parameters).
 * Reads only; writes nothing.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "analysis_common.h"
#include "commands.h"

static const char *USAGE =
    "usage: lorascope inspect PATH [--base MODEL]\n"
    "\n"
    "PATH is a PEFT adapter directory (adapter_config.json + adapter_model.safetensors)\n"
    "or a .safetensors file. Prints tensors (name, dtype, shape), and for an adapter\n"
    "each LoRA module with r, alpha, scaling and in/out features, and the number of\n"
    "trainable parameters. With --base (a .safetensors file, a Hugging Face folder or a\n"
    "llama2.c .bin checkpoint), also the base model's parameter count and the\n"
    "trainable percentage.\n"
    "\n"
    "example:\n"
    "  lorascope inspect ../shared/fixtures/peft/gptneo125m-r8-qv\n";

static void print_shape(const lsc_st_tensor *t)
{
    printf("[");
    for (int d = 0; d < t->ndim; d++)
        printf("%s%lld", d ? ", " : "", (long long)t->shape[d]);
    printf("]");
}

static int list_tensors(const char *path, size_t *n_params, lsc_error *err)
{
    lsc_st_file f;
    int rc = lsc_st_open(&f, path, err);
    if (rc != LSC_OK)
        return rc;
    size_t total = 0;
    printf("%s: %d tensors\n", path, f.n_tensors);
    for (int i = 0; i < f.n_meta; i++)
        printf("  metadata %s = %s\n", f.meta_keys[i], f.meta_vals[i]);
    for (int i = 0; i < f.n_tensors; i++) {
        const lsc_st_tensor *t = &f.tensors[i];
        printf("  %-60s %-5s ", t->name, lsc_dtype_name(t->dtype));
        print_shape(t);
        printf("\n");
        total += t->numel;
    }
    printf("  total elements: %zu\n", total);
    *n_params = total;
    lsc_st_close(&f);
    return LSC_OK;
}

/* Parameters of a base model: a Hugging Face folder (its tensors'
 * elements), a .safetensors file, or another checkpoint lsc_gpt_load reads
 * (a llama2.c .bin: the model's parameters). */
static size_t count_params(const char *path, lsc_error *err, int *rc)
{
    struct stat sb;
    size_t total = 0;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        lsc_hf_folder hf;
        if ((*rc = lsc_hf_open(&hf, path, err)) != LSC_OK)
            return 0;
        total = hf.n_params;
        lsc_hf_close(&hf);
        return total;
    }
    lsc_st_file f;
    lsc_error st_err = {0};
    if ((*rc = lsc_st_open(&f, path, &st_err)) != LSC_OK) {
        lsc_gpt m;   /* not safetensors: a checkpoint the model loader knows, or st_err */
        if (lsc_gpt_load(&m, path, err) != LSC_OK) {
            *err = st_err;
            return 0;
        }
        *rc = LSC_OK;
        total = m.num_parameters + m.num_quantized;
        lsc_gpt_free(&m);
        return total;
    }
    for (int i = 0; i < f.n_tensors; i++)
        total += f.tensors[i].numel;
    lsc_st_close(&f);
    return total;
}

int cmd_inspect(int argc, char **argv)
{
    cli_opt opts[] = {{"base", 1, NULL}, {"help", 0, NULL}, {NULL, 0, NULL}};
    const char *pos[1];
    int npos, help = 0;
    int rc = ana_parse_args("inspect", USAGE, argc, argv, opts, pos, 1, &npos, &help);
    if (rc != CLI_OK || help)
        return rc;
    if (npos != 1)
        return cli_error("inspect", CLI_USAGE, "expected one PATH (adapter directory or .safetensors file)");
    const char *path = pos[0];
    lsc_error err = {0};
    struct stat sb;
    if (stat(path, &sb) != 0)
        return cli_error("inspect", CLI_FAIL, "%s: no such file or directory", path);
    size_t trainable = 0;
    if (S_ISDIR(sb.st_mode)) {
        lsc_adapter ad;
        if (lsc_adapter_load(&ad, path, &err) != LSC_OK)
            return cli_lib_error("inspect", &err);
        printf("%s: PEFT LoRA adapter, r=%d, lora_alpha=%g, use_rslora=%s, fan_in_fan_out=%s\n", path, ad.r,
               ad.lora_alpha, ad.use_rslora ? "true" : "false", ad.fan_in_fan_out ? "true" : "false");
        printf("  base model: %s\n", ad.base_model ? ad.base_model : "(not recorded)");
        if (ad.target_regex)
            printf("  target_modules: \"%s\" (regex)\n", ad.target_regex);
        else {
            printf("  target_modules:");
            for (int i = 0; i < ad.n_targets; i++)
                printf(" %s", ad.target_modules[i]);
            printf("\n");
        }
        printf("  %d modules:\n", ad.n_modules);
        printf("  %-48s %5s %8s %9s %7s %7s %5s %10s\n", "module", "r", "alpha", "scaling", "in", "out", "dtype",
               "params");
        for (int i = 0; i < ad.n_modules; i++) {
            const lsc_adapter_module *m = &ad.modules[i];
            size_t np = (size_t)m->r * ((size_t)m->in_features + (size_t)m->out_features);
            trainable += np;
            printf("  %-48s %5d %8g %9.4g %7d %7d %5s %10zu%s\n", m->name, m->r, m->alpha, m->scaling,
                   m->in_features, m->out_features, m->dtype, np, m->n_nonfinite ? "  (non-finite values!)" : "");
        }
        for (int i = 0; i < ad.n_ignored; i++)
            printf("  ignored tensor: %s\n", ad.ignored[i]);
        lsc_adapter_free(&ad);
        char st_path[4096];
        snprintf(st_path, sizeof st_path, "%s/adapter_model.safetensors", path);
        size_t dummy;
        if (list_tensors(st_path, &dummy, &err) != LSC_OK)
            return cli_lib_error("inspect", &err);
    } else {
        if (list_tensors(path, &trainable, &err) != LSC_OK)
            return cli_lib_error("inspect", &err);
    }
    if (cli_get(opts, "base")) {
        int rc2;
        size_t base = count_params(cli_get(opts, "base"), &err, &rc2);
        if (rc2 != LSC_OK)
            return cli_lib_error("inspect", &err);
        size_t all = base + trainable;
        printf("trainable params: %zu || all params: %zu || trainable%%: %.4f\n", trainable, all,
               all ? 100.0 * (double)trainable / (double)all : 0.0);
    } else {
        printf("trainable params: %zu\n", trainable);
    }
    return CLI_OK;
}
