/*
 * inspect.c — `lorascope inspect PATH [--base MODEL.safetensors]`: what is in
 * an adapter (a PEFT directory, DIR:NAME for one of several adapters, or a
 * kohya .safetensors file) or any safetensors file (tensors, dtypes, shapes;
 * per module its kind — LoRA, DoRA, embedding LoRA, conv LoRA with the
 * kernel reshape, full tensor — r, alpha and the scaling it uses; the
 * trainable parameter count and, with a base, the trainable percentage as
 * PEFT's print_trainable_parameters). Reads only; writes nothing.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "analysis_common.h"
#include "commands.h"
#include "inspect.h"

static const char *USAGE =
    "usage: lorascope inspect PATH [--base MODEL]\n"
    "\n"
    "PATH is a PEFT adapter directory (adapter_config.json + adapter_model.safetensors),\n"
    "DIR:NAME for the adapter NAME of a folder holding several (PEFT's save_pretrained\n"
    "puts each non-default adapter in a subfolder named after it; \"default\" is the top\n"
    "level), a kohya / Stable-Diffusion LoRA .safetensors file (lora_down, lora_up,\n"
    "alpha), or any .safetensors file. Prints tensors (name, dtype, shape), and for an\n"
    "adapter each module with its kind (LoRA, DoRA, embedding LoRA, conv LoRA, full\n"
    "tensor), r, alpha, the scaling s of dW = s*B*A, in/out features, and the number\n"
    "of trainable parameters. A conv LoRA's kernel [out, in, kh, kw] is read as the\n"
    "matrix [out, in*kh*kw]; an embedding LoRA's s*B*A is [dim, vocab], the transpose\n"
    "of the embedding table's update; a DoRA module's update also needs the base (its\n"
    "magnitude vector rescales the rows of W0 + s*B*A); a full tensor (modules_to_save)\n"
    "replaces the base tensor. With --base (a .safetensors file, a Hugging Face folder\n"
    "or a llama2.c .bin checkpoint), also the base model's parameter count and the\n"
    "trainable percentage.\n"
    "\n"
    "example:\n"
    "  lorascope inspect ../shared/fixtures/peft/gptneo125m-r8-qv\n"
    "  lorascope inspect my-adapters:french\n";

// ---- rows ----

/* The rows are formatted by hand, not by printf: a million tensors' rows
 * by printf took longer than loading them (issue 15). The text is
 * printf's ("%-60s", "%5d", ...), checked by tests/test_inspect_rows.py. */

/* s (len bytes) left-aligned in width (no truncation). */
static char *put_left(char *o, const char *s, size_t len, size_t width)
{
    memcpy(o, s, len);
    o += len;
    for (; len < width; len++)
        *o++ = ' ';
    return o;
}

/* s right-aligned in width ("%*s"). */
static char *put_right(char *o, const char *s, size_t width)
{
    size_t len = strlen(s);
    for (; len < width; width--)
        *o++ = ' ';
    return put_left(o, s, strlen(s), 0);
}

/* v in decimal, right-aligned in width ("%*lld"). */
static char *put_int(char *o, long long v, size_t width)
{
    char d[24], *e = d + sizeof d, *q = e;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do
        *--q = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--q = '-';
    size_t n = (size_t)(e - q);
    for (; n < width; width--)
        *o++ = ' ';
    memcpy(o, q, (size_t)(e - q));
    return o + (e - q);
}

/* A name as cli_safe prints it: printable ASCII (under cli_safe's 1023
 * bytes) as it is, anything else escaped by cli_safe. */
static char *put_name(char *o, const char *name, size_t width)
{
    const unsigned char *p = (const unsigned char *)name;
    while (*p >= 0x20 && *p < 0x7F)
        p++;
    size_t n = (size_t)(p - (const unsigned char *)name);
    if (*p || n > 1023) {
        name = cli_safe(name);
        n = strlen(name);
    }
    return put_left(o, name, n, width);
}

size_t inspect_tensor_row_(char *row, const lsc_st_tensor *t)
{
    row[0] = row[1] = ' ';
    char *o = put_name(row + 2, t->name, 60);
    *o++ = ' ';
    const char *dt = lsc_dtype_name(t->dtype);
    o = put_left(o, dt, strlen(dt), 5);
    *o++ = ' ';
    *o++ = '[';
    for (int d = 0; d < t->ndim; d++) {
        if (d)
            o = put_left(o, ", ", 2, 0);
        o = put_int(o, (long long)t->shape[d], 0);
    }
    o = put_left(o, "]\n", 2, 0);
    *o = '\0';
    return (size_t)(o - row);
}

size_t inspect_module_row_(char *row, const lsc_adapter_module *m, size_t np, const char *note)
{
    static double alpha = NAN, scaling = NAN;   /* the last "%8g %9.4g": modules mostly share them */
    static char as[80];
    static size_t as_len;
    row[0] = row[1] = ' ';
    char *o = put_name(row + 2, m->name, 48);
    *o++ = ' ';
    const char *kind = lsc_adapter_kind_name(m->kind);
    o = put_left(o, kind, strlen(kind), 14);
    *o++ = ' ';
    o = put_int(o, m->r, 5);
    if (!(m->alpha == alpha && m->scaling == scaling && signbit(m->alpha) == signbit(alpha) &&
          signbit(m->scaling) == signbit(scaling))) {
        as_len = (size_t)snprintf(as, sizeof as, " %8g %9.4g ", m->alpha, m->scaling);
        alpha = m->alpha;
        scaling = m->scaling;
    }
    o = put_left(o, as, as_len, 0);
    o = put_int(o, m->in_features, 7);
    *o++ = ' ';
    o = put_int(o, m->out_features, 7);
    *o++ = ' ';
    o = put_right(o, m->dtype, 5);
    *o++ = ' ';
    o = put_int(o, (long long)np, 10);
    o = put_left(o, note, strlen(note), 0);
    if (m->n_nonfinite)
        o = put_left(o, "  (non-finite values!)", 22, 0);
    o = put_left(o, "\n", 1, 0);
    *o = '\0';
    return (size_t)(o - row);
}

// ---- listing ----

/* The tensors of f (opened from path); their elements in *n_params. */
static void list_tensors(const char *path, const lsc_st_file *f, size_t *n_params)
{
    size_t total = 0;
    char row[INSPECT_ROW_MAX];
    printf("%s: %d tensors\n", path, f->n_tensors);
    for (int i = 0; i < f->n_meta; i++)
        printf("  metadata %s = %s\n", cli_safe(f->meta_keys[i]), cli_safe(f->meta_vals[i]));
    for (int i = 0; i < f->n_tensors; i++) {
        fwrite(row, 1, inspect_tensor_row_(row, &f->tensors[i]), stdout);
        total += f->tensors[i].numel;
    }
    printf("  total elements: %zu\n", total);
    *n_params = total;
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

/* What a module's kind means for its matrix, or "". */
static void kind_note(const lsc_adapter_module *m, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (m->kind == LSC_ADAPTER_CONV) {
        int n = snprintf(buf, cap, "  kernel [%d, %d", m->out_features, m->conv_in_channels);
        for (int d = 0; d < m->conv_ndim; d++)
            n += snprintf(buf + n, cap - (size_t)n, ", %d", m->conv_kernel[d]);
        n += snprintf(buf + n, cap - (size_t)n, "] read as [%d, %d", m->out_features, m->conv_in_channels);
        for (int d = 0; d < m->conv_ndim; d++)
            n += snprintf(buf + n, cap - (size_t)n, "*%d", m->conv_kernel[d]);
        snprintf(buf + n, cap - (size_t)n, "]");
    } else if (m->kind == LSC_ADAPTER_EMBEDDING) {
        snprintf(buf, cap, "  s*B*A is [dim %d, vocab %d], the table update transposed", m->out_features,
                 m->in_features);
    } else if (m->kind == LSC_ADAPTER_DORA) {
        snprintf(buf, cap, "  + magnitude [%d]: the update needs the base", m->out_features);
    }
}

/* The adapter's modules and full tensors; the trainable parameter count. */
static size_t print_adapter(const char *spec, const lsc_adapter *ad)
{
    if (ad->is_kohya)
        printf("%s: kohya LoRA file (scaling alpha/r per module)\n", spec);
    else
        printf("%s: PEFT LoRA adapter '%s', r=%d, lora_alpha=%g, use_rslora=%s, use_dora=%s, fan_in_fan_out=%s\n",
               spec, cli_safe(ad->adapter_name), ad->r, ad->lora_alpha, ad->use_rslora ? "true" : "false",
               ad->use_dora ? "true" : "false", ad->fan_in_fan_out ? "true" : "false");
    if (!ad->is_kohya) {
        printf("  base model: %s\n", ad->base_model ? cli_safe(ad->base_model) : "(not recorded)");
        printf("  target_modules:%s%s%s", ad->target_regex ? " \"" : "", ad->target_regex ? cli_safe(ad->target_regex) : "",
               ad->target_regex ? "\" (regex)" : "");
        for (int i = 0; i < ad->n_targets; i++)
            printf(" %s", cli_safe(ad->target_modules[i]));
        printf("\n");
    }
    size_t trainable = 0;
    char note[160], row[INSPECT_ROW_MAX];
    printf("  %d modules:\n", ad->n_modules + ad->n_full);
    printf("  %-48s %-14s %5s %8s %9s %7s %7s %5s %10s\n", "module", "kind", "r", "alpha", "scaling", "in", "out",
           "dtype", "params");
    for (int i = 0; i < ad->n_modules; i++) {
        const lsc_adapter_module *m = &ad->modules[i];
        size_t np = (size_t)m->r * ((size_t)m->in_features + (size_t)m->out_features) +
                    (m->magnitude ? (size_t)m->out_features : 0);
        trainable += np;
        kind_note(m, note, sizeof note);
        fwrite(row, 1, inspect_module_row_(row, m, np, note), stdout);
    }
    for (int i = 0; i < ad->n_full; i++) {
        const lsc_adapter_module *m = &ad->full[i];
        size_t np = (size_t)m->in_features * (size_t)m->out_features;
        trainable += np;
        printf("  %-48s %-14s %5s %8s %9s %7d %7d %5s %10zu  replaces the base tensor%s\n", cli_safe(m->name),
               lsc_adapter_kind_name(m->kind), "-", "-", "-", m->in_features, m->out_features, m->dtype, np,
               m->n_nonfinite ? "  (non-finite values!)" : "");
    }
    for (int i = 0; i < ad->n_ignored; i++)
        printf("  ignored tensor: %s\n", cli_safe(ad->ignored[i]));
    return trainable;
}

/* PATH as an adapter (*is_ad = 1; prints it and its tensors) or, for a file
 * that is not a kohya LoRA, as a plain safetensors file. */
static int inspect_path(const char *path, size_t *trainable, lsc_error *err)
{
    struct stat sb;
    int exists = stat(path, &sb) == 0;
    lsc_adapter ad;
    int rc = lsc_adapter_load(&ad, path, err);
    if (rc == LSC_EARG && exists && !S_ISDIR(sb.st_mode)) {
        lsc_st_file f;
        if ((rc = lsc_st_open(&f, path, err)) != LSC_OK)
            return rc;
        list_tensors(path, &f, trainable);
        lsc_st_close(&f);
        return LSC_OK;
    }
    if (rc != LSC_OK)
        return rc;
    *trainable = print_adapter(path, &ad);
    char st_path[4200];
    if (ad.is_kohya)
        snprintf(st_path, sizeof st_path, "%s", ad.path);
    else
        snprintf(st_path, sizeof st_path, "%s/adapter_model.safetensors", ad.path);
    size_t dummy;
    list_tensors(st_path, &ad.st, &dummy);   /* the file the loader parsed, not parsed again */
    lsc_adapter_free(&ad);
    return LSC_OK;
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
    lsc_error err = {0};
    size_t trainable = 0;
    if (inspect_path(pos[0], &trainable, &err) != LSC_OK)
        return cli_lib_error("inspect", &err);
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
