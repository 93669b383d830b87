/*
 * test_model_hf.c — Llama-family models to and from Hugging Face folders
 * (lib/model_hf.c).
 *
 * Normal mode (checks in C, no fixtures): a llama2.c-layout model
 * (rope_half 0, GQA, head_dim != C/NH, q/k/v biases, untied; and a tied
 * one without biases) with random weights saved with lsc_gpt_save_hf and
 * loaded back computes the same logits (1e-5), while the same weights read
 * in the other RoPE layout do not (negative control); a save at a small
 * shard_bytes gives several shards plus the index, no model.safetensors,
 * and loads back bit for bit; lsc_gpt_load and lsc_gpt_load_nf4 of a
 * directory go through the folder loader; a GPT model is refused.
 *
 * Driver modes for tests/test_model_hf.py (each prints err.msg and exits
 * 1 on an error):
 *   --logits DIR TOK...        lsc_gpt_load_hf (extras allowed), one
 *                              forward over TOK..., the (T, V) logits one
 *                              %.9g per line
 *   --load DIR [--allow-extra] key=value: n_extra, n_tensors, untied,
 *                              qkv_bias, n_ctx, num_parameters
 *   --resave DIR OUT BYTES     load DIR, lsc_gpt_save_hf(OUT, BYTES), load
 *                              OUT: same=1 when config and every float match
 *   --rss DIR                  lsc_gpt_load_hf in a forked child; its peak
 *                              RSS (getrusage RUSAGE_CHILDREN ru_maxrss, and
 *                              the child's VmHWM) against the raw tensor
 *                              bytes and the float buffer
 */
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lsc_internal.h"
#include "driver.h"
#include "test.h"

static int die(const lsc_error *err)
{
    fprintf(stderr, "%s\n", err->msg);
    return 1;
}

/* One forward over toks[T]: the logits into a new array (T·V), or NULL. */
static float *logits_of(lsc_gpt *m, const int *toks, int T, lsc_error *err)
{
    if (lsc_gpt_alloc_acts(m, 1, T, err) != LSC_OK || lsc_gpt_forward(m, toks, NULL, NULL, 1, T, NULL, err) != LSC_OK)
        return NULL;
    size_t n = (size_t)T * m->config.vocab;
    float *out = malloc(n * sizeof *out);
    if (out)
        memcpy(out, lsc_gpt_logits(m), n * sizeof *out);
    return out;
}

static int same_model(const lsc_gpt *a, const lsc_gpt *b)
{
    return memcmp(&a->config, &b->config, sizeof a->config) == 0 && a->num_parameters == b->num_parameters &&
           memcmp(a->params_memory, b->params_memory, a->num_parameters * sizeof(float)) == 0;
}

// ---- driver modes ----

static int mode_logits(char **a, int n_args)
{
    const char *dir = a[0];
    char **tok = a + 1;
    int T = n_args - 1;
    lsc_gpt m;
    lsc_error err = {0};
    int *ids = calloc((size_t)T + 1, sizeof *ids);
    for (int t = 0; t < T; t++)
        ids[t] = atoi(tok[t]);
    if (lsc_gpt_load_hf(&m, dir, 1, NULL, &err) != LSC_OK) {
        free(ids);
        return die(&err);
    }
    float *lg = logits_of(&m, ids, T, &err);
    for (size_t i = 0; lg && i < (size_t)T * m.config.vocab; i++)
        printf("%.9g\n", (double)lg[i]);
    free(ids);
    lsc_gpt_free(&m);
    int ok = lg != NULL;
    free(lg);
    return ok ? 0 : die(&err);
}

static int mode_load(char **a, int n_args)
{
    const char *dir = a[0];
    int allow_extra = n_args == 2 && strcmp(a[1], "--allow-extra") == 0;
    lsc_gpt m;
    lsc_error err = {0};
    int n_extra = -1;
    if (lsc_gpt_load_hf(&m, dir, allow_extra, &n_extra, &err) != LSC_OK)
        return die(&err);
    printf("n_extra=%d\nn_tensors=%d\nuntied=%d\nqkv_bias=%d\nn_ctx=%d\nnum_parameters=%zu\n", n_extra,
           m.n_tensors, m.config.untied, m.config.qkv_bias, m.config.n_ctx, m.num_parameters);
    lsc_gpt_free(&m);
    return 0;
}

static int mode_resave(char **arg, int n_args)
{
    const char *dir = arg[0], *out = arg[1];
    size_t bytes = (size_t)strtoull(arg[2], NULL, 10);
    (void)n_args;
    lsc_gpt a, b;
    lsc_error err = {0};
    if (lsc_gpt_load_hf(&a, dir, 1, NULL, &err) != LSC_OK)
        return die(&err);
    int rc = lsc_gpt_save_hf(&a, out, bytes, &err);
    if (rc == LSC_OK)
        rc = lsc_gpt_load_hf(&b, out, 0, NULL, &err);
    if (rc == LSC_OK) {
        printf("same=%d\n", same_model(&a, &b));
        lsc_gpt_free(&b);
    }
    lsc_gpt_free(&a);
    return rc == LSC_OK ? 0 : die(&err);
}

static double vm_hwm(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    double hwm = -1;
    while (fp && fgets(line, sizeof line, fp))
        if (strncmp(line, "VmHWM:", 6) == 0)
            hwm = strtod(line + 6, NULL) * 1024.0;
    if (fp)
        fclose(fp);
    return hwm;
}

/* The child loads and prints its own figures; the parent adds ru_maxrss. */
static int mode_rss(char **a, int n_args)
{
    const char *dir = a[0];
    (void)n_args;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        lsc_gpt m;
        lsc_hf_folder hf;
        lsc_error err = {0};
        if (lsc_hf_open(&hf, dir, &err) != LSC_OK)
            _exit(die(&err));
        printf("n_params=%zu\nraw_bytes=%zu\n", hf.n_params, hf.raw_bytes);
        lsc_hf_close(&hf);
        if (lsc_gpt_load_hf(&m, dir, 0, NULL, &err) != LSC_OK)
            _exit(die(&err));
        printf("float_bytes=%zu\nchild_vmhwm_bytes=%.0f\n", m.num_parameters * sizeof(float), vm_hwm());
        fflush(stdout);
        lsc_gpt_free(&m);
        _exit(0);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "%s: the loading child failed\n", dir);
        return 1;
    }
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    printf("child_ru_maxrss_bytes=%.0f\n", (double)ru.ru_maxrss * 1024.0);
    return 0;
}

// ---- checks ----

/* A small Llama with random weights (norms near 1). */
static int random_llama(lsc_gpt *m, const lsc_gpt_config *c, uint64_t seed)
{
    lsc_error err = {0};
    uint64_t rng;
    if (lsc_gpt_init(m, c, &err) != LSC_OK) {
        printf("init: %s\n", err.msg);
        return -1;
    }
    lsc_rng_seed(&rng, seed);
    for (int i = 0; i < m->n_tensors; i++) {
        const lsc_gpt_tensor *t = &m->tensors[i];
        int norm = strstr(t->name, "norm") != NULL;
        for (size_t j = 0; j < t->numel; j++)
            m->params_memory[t->offset + j] = (float)((norm ? 1.0 : 0.0) + 0.15 * lsc_rng_normal(&rng));
    }
    return 0;
}

static double max_rel(const float *a, const float *b, size_t n)
{
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        s = fmax(s, fabs((double)a[i]));
    }
    return s > 0 ? d / s : d;
}

static const int TOKS[] = {3, 17, 0, 29, 8, 8, 35, 1, 22};
#define NTOK ((int)(sizeof TOKS / sizeof TOKS[0]))

/* llama2.c layout saved as a folder computes the same logits. */
static void check_llama2c_roundtrip(const char *name, const lsc_gpt_config *c)
{
    lsc_gpt m, h;
    lsc_error err = {0};
    if (random_llama(&m, c, 42) != 0)
        return;
    float *want = logits_of(&m, TOKS, NTOK, &err), *got = NULL, *wrong = NULL;
    int rc = lsc_gpt_save_hf(&m, test_tmp(name), (size_t)1 << 30, &err);
    CHECK(rc == LSC_OK, "%s: save_hf of a llama2.c-layout model (%s)", name, rc ? err.msg : "ok");
    rc = rc ? rc : lsc_gpt_load_hf(&h, test_tmp(name), 0, NULL, &err);
    CHECK(rc == LSC_OK && h.config.rope_half == 1 && h.config.untied == c->untied &&
              h.config.qkv_bias == c->qkv_bias && lsc_gpt_head_dim(&h.config) == c->head_dim,
          "%s: loads back as rope_half 1 with the same shape (%s)", name, rc ? err.msg : "ok");
    if (rc == LSC_OK && want) {
        got = logits_of(&h, TOKS, NTOK, &err);
        double r = got ? max_rel(want, got, (size_t)NTOK * c->vocab) : 1;
        CHECK(r <= 1e-5, "%s: same logits after the q/k permutation (max rel %.2g <= 1e-5)", name, r);
        m.config.rope_half = 1;   /* control: the unpermuted weights read as rotate_half */
        wrong = logits_of(&m, TOKS, NTOK, &err);
        double w = wrong ? max_rel(want, wrong, (size_t)NTOK * c->vocab) : 0;
        CHECK(w > 1e-3, "%s: control: unpermuted weights in the other layout differ (max rel %.2g)", name, w);
        lsc_gpt_free(&h);
    }
    free(want);
    free(got);
    free(wrong);
    lsc_gpt_free(&m);
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void check_shards(const lsc_gpt_config *c)
{
    lsc_gpt m, a, b;
    lsc_error err = {0};
    if (random_llama(&m, c, 7) != 0)
        return;
    m.config.rope_half = 1;
    const char *dir = test_tmp("sharded");
    int rc = lsc_gpt_save_hf(&m, dir, (size_t)1 << 30, &err);
    CHECK(rc == LSC_OK && file_exists(test_tmp("sharded/model.safetensors")), "shards: one model.safetensors (%s)",
          rc ? err.msg : "ok");
    rc = rc ? rc : lsc_gpt_save_hf(&m, dir, 3000, &err);
    char last[512];
    int n = 0;
    for (int k = 1; k < 100; k++) {
        snprintf(last, sizeof last, "%s/model-00001-of-%05d.safetensors", dir, k);
        if (file_exists(last))
            n = k;
    }
    CHECK(rc == LSC_OK && n > 2 && file_exists(test_tmp("sharded/model.safetensors.index.json")) &&
              !file_exists(test_tmp("sharded/model.safetensors")),
          "shards: 3000 bytes gives %d shards and the index, the stale model.safetensors removed (%s)", n,
          rc ? err.msg : "ok");
    rc = rc ? rc : lsc_gpt_load_hf(&a, dir, 0, NULL, &err);
    CHECK(rc == LSC_OK && same_model(&m, &a), "shards: load back bit for bit (%s)", rc ? err.msg : "ok");
    if (rc == LSC_OK)
        lsc_gpt_free(&a);
    rc = lsc_gpt_load(&b, dir, &err);
    CHECK(rc == LSC_OK && same_model(&m, &b), "dispatch: lsc_gpt_load of a directory (%s)", rc ? err.msg : "ok");
    if (rc == LSC_OK)
        lsc_gpt_free(&b);
    rc = lsc_gpt_load_nf4(&b, dir, NULL, &err);
    CHECK(rc == LSC_OK && b.quant_targets != 0 && b.num_quantized > 0,
          "dispatch: lsc_gpt_load_nf4 of a directory quantises (%s)", rc ? err.msg : "ok");
    if (rc == LSC_OK) {
        rc = lsc_gpt_save_hf(&b, test_tmp("nf4out"), 1 << 30, &err);
        CHECK(rc == LSC_EARG, "save_hf refuses an NF4 model (%s)", err.msg);
        lsc_gpt_free(&b);
    }
    lsc_gpt_free(&m);
}

static void check_gpt_refused(void)
{
    lsc_gpt m;
    lsc_error err = {0};
    lsc_gpt_config c = {.n_layer = 1, .n_head = 2, .n_embd = 8, .n_ctx = 8, .vocab = 16};
    if (lsc_gpt_init(&m, &c, &err) != LSC_OK)
        return;
    int rc = lsc_gpt_save_hf(&m, test_tmp("gpt"), 1 << 30, &err);
    CHECK(rc == LSC_EARG && strstr(err.msg, "Llama") && !file_exists(test_tmp("gpt/config.json")),
          "save_hf refuses a GPT model (%s)", err.msg);
    lsc_gpt_free(&m);
}

int main(int argc, char **argv)
{
    static const test_mode modes[] = {{"--logits", 1, -1, mode_logits}, {"--load", 1, 2, mode_load},
                                      {"--resave", 3, 3, mode_resave},  {"--rss", 1, 1, mode_rss},
                                      {NULL, 0, 0, NULL}};
    int rc = test_dispatch(argc, argv, modes, "test_model_hf [--logits DIR TOK... | --load DIR [--allow-extra] | "
                                              "--resave DIR OUT BYTES | --rss DIR]");
    if (rc >= 0)
        return rc;
    if (test_tmpdir_make("model_hf") != 0)
        return 1;
    lsc_gpt_config c = {.arch = LSC_ARCH_LLAMA, .n_layer = 2, .n_head = 4, .n_embd = 16, .n_ctx = 16,
                        .vocab = 40, .n_kv_head = 2, .head_dim = 6, .n_ff = 24, .rope_theta = 10000.0f,
                        .norm_eps = 1e-5f, .rope_half = 0, .qkv_bias = 1, .untied = 1};
    check_llama2c_roundtrip("l2c_bias_untied", &c);
    c.qkv_bias = 0;
    c.untied = 0;
    c.head_dim = 4;
    c.n_kv_head = 4;
    check_llama2c_roundtrip("l2c_tied", &c);
    c.qkv_bias = 1;
    c.n_kv_head = 2;
    check_shards(&c);
    check_gpt_refused();
    test_tmpdir_remove();
    return test_summary();
}
