/*
 * test_oom.c — every allocation the library makes, failed on purpose
 * (STYLE §22; Lua's memerr.lua, SQLite's malloc fault injection).
 *
 * This binary links $(BUILD)/oom/liblorascope.a, the library compiled with
 * LSC_MALLOC & co. routed to tests/failalloc.c. Each operation is a whole
 * sequence (init, use, free) run with allocation k failing, k = 1, 2, ...,
 * until a run makes fewer than k allocations (and must then succeed); once
 * with only allocation k failing, once with every allocation from k on
 * failing. Every failing run must return LSC_ENOMEM, with err.code the same
 * and a message saying "out of memory" (and no stale size of 0), must not
 * crash, and must leave no block allocated (counted by failalloc, so leaks
 * show without ASan too; `make asan` builds this with the sanitizers).
 * One check per operation; LSC_OOM_VERBOSE=1 prints every message.
 *
 * Out of scope: allocations inside cJSON, HDF5, OpenBLAS/LAPACKE and the C
 * library (regcomp, open_memstream, stdio) — they do not go through
 * LSC_MALLOC (routing cJSON through it would need cJSON_InitHooks, which is
 * process-global state). Linear algebra has no allocation to fail: its
 * compute functions take the caller's workspace, and the test checks that
 * they make none.
 */
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "failalloc.h"
#include "lsc.h"
#include "test.h"

// ---- the sweep ----

typedef int (*oom_op)(lsc_error *err);

/* 1 when msg states a size of 0 ("for 0 parameters", "(0 MB)"): a count
 * read after the object holding it was freed, or rounded away. */
static int says_zero_size(const char *msg)
{
    for (const char *p = msg; (p = strchr(p, '0')) != NULL; p++)
        if (p > msg && (p[-1] == ' ' || p[-1] == '(') && (p[1] == ' ' || p[1] == ')'))
            return 1;
    return 0;
}

static int verbose_;   /* LSC_OOM_VERBOSE=1: print every failing run's message */

/* Runs op with allocation k failing, k = 1, 2, ..., until it no longer
 * reaches k: first that allocation alone (mode 0), then it and every one
 * after it (mode 1). Returns the number of bad runs and prints details of
 * the first ones (4 - shown of them). *n_points = allocations of a full run. */
static long sweep_mode(const char *what, oom_op op, int mode, long *n_points, long shown)
{
    long k, bad = 0;
    for (k = 1;; k++) {
        lsc_error err;
        memset(&err, 0, sizeof err);
        long live = lsc_fa_live();
        if (mode)
            lsc_fa_fail_from(k);
        else
            lsc_fa_fail_nth(k);
        int rc = op(&err);
        long hit = lsc_fa_failures(), calls = lsc_fa_calls();
        lsc_fa_fail_nth(0);
        long leaked = lsc_fa_live() - live;
        if (!hit) {
            *n_points = calls;
            if (rc != LSC_OK || leaked != 0) {
                printf("  %s: the run without failures %s: rc %d, %ld blocks leaked, \"%s\"\n", what,
                       rc != LSC_OK ? "fails" : "leaks", rc, leaked, err.msg);
                bad++;
            }
            return bad;
        }
        const char *why = rc != LSC_ENOMEM                   ? "wrong code"
                          : err.code != rc                   ? "err.code differs from the return value"
                          : !strstr(err.msg, "out of memory") ? "message does not say 'out of memory'"
                          : says_zero_size(err.msg)          ? "message gives a size of 0"
                          : leaked != 0                      ? "blocks leaked"
                                                             : NULL;
        if (verbose_)
            printf("  %s [%s %ld/%ld]: rc %d \"%s\"\n", what, mode ? "from" : "only", k, calls, rc, err.msg);
        if (why && shown + bad++ < 4)
            printf("  %s: allocation %ld%s failed -> %s: rc %d (%s), %ld blocks leaked, \"%s\"\n",
                   what, k, mode ? " and on" : "", why, rc, lsc_strerror(rc), leaked, err.msg);
    }
}

static void sweep(const char *what, oom_op op)
{
    long n0 = -1, n1 = -1;
    long bad = sweep_mode(what, op, 0, &n0, 0);
    bad += sweep_mode(what, op, 1, &n1, bad);
    CHECK(bad == 0 && n0 == n1 && n0 > 0,
          "%s: all %ld allocation failures (alone and from there on) give LSC_ENOMEM, 'out of memory', "
          "no leak; succeeds without one%s", what, n0, bad ? " (see above)" : "");
}

// ---- fixtures ----

static const lsc_gpt_config small_cfg = {.n_layer = 2, .n_head = 2, .n_embd = 32, .n_ctx = 16, .vocab = 256};

static void lora_cfg(lsc_lora_config *lc)
{
    memset(lc, 0, sizeof *lc);
    lc->rank[LSC_LORA_Q] = 4;
    lc->rank[LSC_LORA_V] = 2;
    lc->rank[LSC_LORA_FC_OUT] = 2;
    lc->alpha = 8;
    lc->dropout = 0.1;
}

static void fill_tokens(int *x, size_t n, uint64_t seed)
{
    uint64_t rng;
    lsc_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++)
        x[i] = (int)(lsc_rng_u32(&rng) % 256u);
}

static int model_make(lsc_gpt *m, lsc_error *err)
{
    uint64_t rng;
    lsc_rng_seed(&rng, 7);
    int rc = lsc_gpt_init(m, &small_cfg, err);
    if (rc == LSC_OK)
        lsc_gpt_init_weights(m, &rng);
    return rc;
}

// ---- safetensors ----

static float st_data[64];

static int op_st_write(lsc_error *err)
{
    /* enough tensors for the header to outgrow the writer's first buffer */
    enum { N = 40 };
    static char names[N][64];
    lsc_st_entry e[N];
    memset(e, 0, sizeof e);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "h.%02d.some.rather.long.module.name.weight", i);
        e[i] = (lsc_st_entry){.name = names[i], .dtype = LSC_DT_F32, .ndim = 2, .shape = {4, 16},
                              .data = st_data};
    }
    const char *keys[] = {"format", "note"}, *vals[] = {"pt", "written by test_oom"};
    return lsc_st_write(test_tmp("st.safetensors"), e, N, keys, vals, 2, err);
}

static int op_st_read(lsc_error *err)
{
    lsc_st_file f;
    float out[64];
    int rc = lsc_st_open(&f, test_tmp("st.safetensors"), err);
    if (rc != LSC_OK)
        return rc;
    const lsc_st_tensor *t = lsc_st_find(&f, "h.07.some.rather.long.module.name.weight");
    rc = t ? lsc_st_read_f32(&f, t, out, err) : LSC_ENOTFOUND;
    lsc_st_close(&f);
    return rc;
}

// ---- model, LoRA, PEFT ----

static int op_lora_init(lsc_error *err)
{
    lsc_lora lo;
    lsc_lora_config lc;
    uint64_t rng;
    lsc_rng_seed(&rng, 3);
    lora_cfg(&lc);
    int rc = lsc_lora_init(&lo, &small_cfg, &lc, &rng, err);
    lsc_lora_free(&lo);
    return rc;
}

/* init, (LoRA,) activations, forward with targets, backward. */
static int model_step(int with_lora, lsc_error *err)
{
    enum { B = 2, T = 16 };
    int inputs[B * T], targets[B * T];
    fill_tokens(inputs, B * T, 1);
    fill_tokens(targets, B * T, 2);
    lsc_gpt m;
    lsc_lora lo;
    lsc_lora_config lc;
    uint64_t rng;
    lsc_rng_seed(&rng, 3);
    lora_cfg(&lc);
    memset(&lo, 0, sizeof lo);
    int rc = model_make(&m, err);
    if (rc == LSC_OK)
        rc = lsc_gpt_set_trainable(&m, with_lora ? LSC_GPT_FROZEN : LSC_GPT_FULL, err);
    if (rc == LSC_OK && with_lora && (rc = lsc_lora_init(&lo, &m.config, &lc, &rng, err)) == LSC_OK)
        rc = lsc_gpt_set_lora(&m, &lo, err);
    if (rc == LSC_OK)
        rc = lsc_gpt_alloc_acts(&m, B, T, err);
    if (rc == LSC_OK) {
        lsc_gpt_zero_grad(&m);
        rc = lsc_gpt_forward(&m, inputs, targets, NULL, B, T, &rng, err);
    }
    if (rc == LSC_OK)
        rc = lsc_gpt_backward(&m, err);
    lsc_gpt_free(&m);
    lsc_lora_free(&lo);
    return rc;
}

static int op_model_full(lsc_error *err) { return model_step(0, err); }
static int op_model_lora(lsc_error *err) { return model_step(1, err); }

static int op_gpt_save_load(lsc_error *err)
{
    lsc_gpt m, m2;
    memset(&m2, 0, sizeof m2);
    int rc = model_make(&m, err);
    if (rc == LSC_OK)
        rc = lsc_gpt_save(&m, test_tmp("model.safetensors"), err);
    if (rc == LSC_OK)
        rc = lsc_gpt_load(&m2, test_tmp("model.safetensors"), err);
    lsc_gpt_free(&m);
    lsc_gpt_free(&m2);
    return rc;
}

static int op_kv_decode(lsc_error *err)
{
    enum { R = 3, W = 12 };
    int tokens[R * W], plen[R] = {3, 1, 5}, olen[R];
    fill_tokens(tokens, R * W, 4);
    lsc_gpt m;
    lsc_kv_cache kv;
    memset(&kv, 0, sizeof kv);
    int rc = model_make(&m, err);
    if (rc == LSC_OK)
        rc = lsc_gpt_alloc_acts(&m, 2, 12, err);
    if (rc == LSC_OK)
        rc = lsc_kv_cache_alloc(&kv, &m, 2, 12, err);
    if (rc == LSC_OK)
        rc = lsc_decode(&m, R, tokens, W, plen, 6, '\n', 0.0, NULL, olen, err);
    if (rc == LSC_OK) {   /* rows wider than the activations: the windowed path */
        int wide[2 * 20], wlen[2] = {4, 2}, wout[2];
        fill_tokens(wide, 2 * 20, 5);
        rc = lsc_decode(&m, 2, wide, 20, wlen, 16, -1, 0.0, NULL, wout, err);
    }
    lsc_kv_cache_free(&kv);
    lsc_gpt_free(&m);
    return rc;
}

/* A LoRA with two ranks (so the adapter has a rank_pattern), as PEFT. */
static int lora_make(lsc_lora *lo, lsc_error *err)
{
    lsc_lora_config lc;
    uint64_t rng;
    lsc_rng_seed(&rng, 5);
    lora_cfg(&lc);
    lc.rslora = 1;
    return lsc_lora_init(lo, &small_cfg, &lc, &rng, err);
}

static int op_adapter_save(lsc_error *err)
{
    lsc_lora lo;
    lsc_adapter ad;
    memset(&ad, 0, sizeof ad);
    int rc = lora_make(&lo, err);
    if (rc == LSC_OK)
        rc = lsc_lora_to_adapter(&lo, "test-base", &ad, err);
    if (rc == LSC_OK)
        rc = lsc_adapter_save(&ad, test_tmp("adapter"), err);
    lsc_adapter_free(&ad);
    lsc_lora_free(&lo);
    return rc;
}

static const char *adapter_dir_;

static int op_adapter_load(lsc_error *err)
{
    lsc_adapter ad;
    int rc = lsc_adapter_load(&ad, adapter_dir_, err);
    lsc_adapter_free(&ad);
    return rc;
}

static int op_lora_save_load(lsc_error *err)
{
    lsc_lora lo, lo2;
    memset(&lo2, 0, sizeof lo2);
    int rc = lora_make(&lo, err);
    if (rc == LSC_OK)
        rc = lsc_lora_save(&lo, "test-base", test_tmp("adapter2"), err);
    if (rc == LSC_OK)
        rc = lsc_lora_load(&lo2, &small_cfg, test_tmp("adapter2"), err);
    lsc_lora_free(&lo);
    lsc_lora_free(&lo2);
    return rc;
}

/* An adapter as PEFT may write it, with what lsc_lora_save never writes:
 * a regex target_modules, init_lora_weights "gaussian", rank and alpha
 * patterns that vary within a target, and a tensor that is not LoRA's. */
static void write_pattern_adapter(void)
{
    lsc_error err = {0};
    static const char *const mods[] = {"h.0.attn.q_proj", "h.0.attn.k_proj", "h.0.attn.v_proj",
                                       "h.1.attn.q_proj", "h.1.attn.k_proj", "h.1.attn.v_proj"};
    enum { NM = 6 };
    static char names[2 * NM + 1][96];
    static float w[32 * 4];
    lsc_st_entry e[2 * NM + 1];
    memset(e, 0, sizeof e);
    for (int i = 0; i < NM; i++) {
        int r = i == 3 ? 2 : 4;   /* rank_pattern h.1.attn.q_proj */
        snprintf(names[2 * i], sizeof names[0], "base_model.model.%s.lora_A.weight", mods[i]);
        snprintf(names[2 * i + 1], sizeof names[0], "base_model.model.%s.lora_B.weight", mods[i]);
        e[2 * i] = (lsc_st_entry){.name = names[2 * i], .dtype = LSC_DT_F32, .ndim = 2, .shape = {r, 32}, .data = w};
        e[2 * i + 1] = (lsc_st_entry){.name = names[2 * i + 1], .dtype = LSC_DT_F32, .ndim = 2, .shape = {32, r},
                                      .data = w};
    }
    snprintf(names[2 * NM], sizeof names[0], "base_model.model.h.0.attn.q_proj.lora_B.bias");  /* ignored */
    e[2 * NM] = (lsc_st_entry){.name = names[2 * NM], .dtype = LSC_DT_F32, .ndim = 1, .shape = {32}, .data = w};
    mkdir(test_tmp("adapter3"), 0755);
    const char *const mk[] = {"format"}, *const mv[] = {"pt"};
    int ok = lsc_st_write(test_tmp("adapter3/adapter_model.safetensors"), e, 2 * NM + 1, mk, mv, 1, &err) == LSC_OK;
    FILE *fp = fopen(test_tmp("adapter3/adapter_config.json"), "w");
    if (fp) {
        fputs("{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"base_model_name_or_path\": \"test\",\n"
              " \"init_lora_weights\": \"gaussian\", \"target_modules\": \"h\\\\.[01]\\\\.attn\\\\.(q|k|v)_proj\",\n"
              " \"rank_pattern\": {\"h.1.attn.q_proj\": 2},\n"
              " \"alpha_pattern\": {\"v_proj\": 16, \"k_proj\": 2, \"h.1.attn.q_proj\": 4}}\n", fp);
        ok &= fclose(fp) == 0;
    }
    CHECK(ok && fp, "fixture: an adapter with patterns and an ignored tensor written%s%s", ok ? "" : ": ", err.msg);
}

/* Issue 14: a folder with a second adapter in a subfolder "kinds" whose
 * weights hold every kind (DoRA, embedding, conv, full) under ".kinds." key
 * names; loaded as DIR:kinds. */
static void write_kinds_adapter(void)
{
    static float w[16 * 8];   /* the largest tensor below (lm_head) */
    lsc_st_entry e[] = {
        {"base_model.model.h.0.attn.q_proj.lora_A.kinds.weight", LSC_DT_F32, 2, {4, 8}, w},
        {"base_model.model.h.0.attn.q_proj.lora_B.kinds.weight", LSC_DT_F32, 2, {8, 4}, w},
        {"base_model.model.h.0.attn.q_proj.lora_magnitude_vector.kinds.weight", LSC_DT_F32, 1, {8}, w},
        {"base_model.model.wte.lora_embedding_A.kinds", LSC_DT_F32, 2, {4, 16}, w},
        {"base_model.model.wte.lora_embedding_B.kinds", LSC_DT_F32, 2, {8, 4}, w},
        {"base_model.model.conv.lora_A.kinds.weight", LSC_DT_F32, 4, {4, 3, 3, 3}, w},
        {"base_model.model.conv.lora_B.kinds.weight", LSC_DT_F32, 4, {5, 4, 1, 1}, w},
        {"base_model.model.lm_head.modules_to_save.kinds.weight", LSC_DT_F32, 2, {16, 8}, w},
        {"base_model.model.h.0.attn.q_proj.lora_B.kinds.bias", LSC_DT_F32, 1, {8}, w},
    };
    lsc_error err = {0};
    static const char *cfg = "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"use_dora\": true}";
    int ok = 1;
    const char *dirs[2] = {test_tmp("multi"), test_tmp("multi/kinds")};
    for (int i = 0; i < 2; i++) {
        char p[4200];
        mkdir(dirs[i], 0755);
        snprintf(p, sizeof p, "%s/adapter_model.safetensors", dirs[i]);
        ok &= lsc_st_write(p, e, i ? 9 : 2, NULL, NULL, 0, &err) == LSC_OK;
        snprintf(p, sizeof p, "%s/adapter_config.json", dirs[i]);
        FILE *fp = fopen(p, "w");
        ok &= fp && fputs(i ? cfg : "{\"peft_type\": \"LORA\", \"r\": 4}", fp) >= 0 && fclose(fp) == 0;
    }
    CHECK(ok, "fixture: a folder of two adapters, one of every kind, written%s%s", ok ? "" : ": ", err.msg);
}

static int op_lora_patterns(lsc_error *err)
{
    lsc_lora lo;
    int rc = lsc_lora_load(&lo, &small_cfg, test_tmp("adapter3"), err);
    if (rc == LSC_OK)
        rc = lsc_lora_save(&lo, NULL, test_tmp("adapter4"), err);
    lsc_lora_free(&lo);
    return rc;
}

static int op_lora_merge(lsc_error *err)
{
    lsc_gpt m;
    lsc_lora lo;
    memset(&lo, 0, sizeof lo);
    int rc = model_make(&m, err);
    if (rc == LSC_OK)
        rc = lora_make(&lo, err);
    if (rc == LSC_OK)
        rc = lsc_lora_merge(&m, &lo, err);
    if (rc == LSC_OK)
        rc = lsc_lora_unmerge(&m, &lo, err);
    lsc_gpt_free(&m);
    lsc_lora_free(&lo);
    return rc;
}

// ---- training (train.c, adamw.c) ----

static int op_train(lsc_error *err)
{
    lsc_corpus c, tr_c, va_c;
    lsc_gpt m;
    lsc_lora lo;
    lsc_trainer tr;
    memset(&tr_c, 0, sizeof tr_c);
    memset(&va_c, 0, sizeof va_c);
    memset(&m, 0, sizeof m);
    memset(&lo, 0, sizeof lo);
    memset(&tr, 0, sizeof tr);
    int rc = lsc_corpus_load(&c, "data/fixtures/tiny.txt", err);
    if (rc == LSC_OK)
        rc = lsc_corpus_split(&c, 10, &tr_c, &va_c, err);
    if (rc == LSC_OK)
        rc = model_make(&m, err);
    if (rc == LSC_OK)
        rc = lora_make(&lo, err);
    if (rc == LSC_OK) {
        lsc_train_config tc;
        lsc_train_config_default(&tc);
        tc.B = 2;
        tc.T = 16;
        tc.steps = 3;
        tc.eval_every = 2;
        tc.eval_batches = 2;
        tc.ckpt_path = test_tmp("ckpt.safetensors");
        tc.config_json = "{\"test\":\"oom\"}";
        rc = lsc_trainer_init(&tr, &m, &lo, &tc, lsc_corpus_batch, &tr_c, lsc_corpus_batch, &va_c, err);
        if (rc == LSC_OK)
            rc = lsc_trainer_run(&tr, 0, NULL, NULL, err);
        lsc_trainer_free(&tr);
        /* a resume from the checkpoint just written */
        if (rc == LSC_OK)
            rc = lsc_trainer_init(&tr, &m, &lo, &tc, lsc_corpus_batch, &tr_c, NULL, NULL, err);
        if (rc == LSC_OK)
            rc = lsc_trainer_resume(&tr, tc.ckpt_path, err);
        lsc_trainer_free(&tr);
    }
    if (rc == LSC_OK) {
        double loss;
        rc = lsc_eval_loss(&m, lsc_corpus_batch, &va_c, 2, 2, 8, 9, &loss, err);
    }
    lsc_gpt_free(&m);
    lsc_lora_free(&lo);
    lsc_corpus_free(&c);
    lsc_corpus_free(&tr_c);
    lsc_corpus_free(&va_c);
    return rc;
}

static int op_train_full(lsc_error *err)
{
    lsc_corpus c;
    lsc_gpt m;
    lsc_trainer tr;
    memset(&m, 0, sizeof m);
    int rc = lsc_corpus_load(&c, "data/fixtures/tiny.txt", err);
    if (rc == LSC_OK)
        rc = model_make(&m, err);
    if (rc == LSC_OK) {
        lsc_train_config tc;
        lsc_train_config_default(&tc);
        tc.B = 2;
        tc.T = 8;
        tc.steps = 2;
        tc.eval_batches = 0;
        rc = lsc_trainer_init(&tr, &m, NULL, &tc, lsc_corpus_batch, &c, NULL, NULL, err);
        if (rc == LSC_OK)
            rc = lsc_trainer_run(&tr, 0, NULL, NULL, err);
        lsc_trainer_free(&tr);
    }
    lsc_gpt_free(&m);
    lsc_corpus_free(&c);
    return rc;
}

static int op_task_eval(lsc_error *err)
{
    lsc_task t;
    lsc_gpt m;
    memset(&m, 0, sizeof m);
    int rc = lsc_task_load(&t, "data/fixtures/supersense_tiny.tsv", NULL, err);
    if (rc == LSC_OK) {
        lsc_gpt_config cfg = small_cfg;
        cfg.n_ctx = 64;
        uint64_t rng;
        lsc_rng_seed(&rng, 7);
        if ((rc = lsc_gpt_init(&m, &cfg, err)) == LSC_OK)
            lsc_gpt_init_weights(&m, &rng);
    }
    if (rc == LSC_OK) {
        double acc, loss;
        int pred[6];
        rc = lsc_task_eval(&m, &t, 6, &acc, &loss, pred, err);
    }
    lsc_gpt_free(&m);
    lsc_task_free(&t);
    return rc;
}

// ---- NF4 ----

static float nf4_w[48 * 40];

static int nf4_quantize(int dq, lsc_error *err)
{
    lsc_nf4 q;
    int rc = lsc_nf4_quantize(&q, nf4_w, 48, 40, 64, dq, err);
    lsc_nf4_free(&q);
    return rc;
}

static int op_nf4_quantize(lsc_error *err) { return nf4_quantize(0, err); }
static int op_nf4_quantize_dq(lsc_error *err) { return nf4_quantize(1, err); }

static int op_gpt_quantize(lsc_error *err)
{
    lsc_gpt m;
    int rc = model_make(&m, err);
    lsc_nf4_opts o = {64, 1, "q,v,fc_in"};
    if (rc == LSC_OK)
        rc = lsc_gpt_quantize(&m, &o, err);
    if (rc == LSC_OK)
        rc = lsc_gpt_quantize(&m, NULL, err);   /* the rest of the targets */
    if (rc == LSC_OK)
        rc = lsc_gpt_dequantize(&m, err);
    lsc_gpt_free(&m);
    return rc;
}

static int op_qlora_step(lsc_error *err)
{
    enum { B = 2, T = 8 };
    int inputs[B * T], targets[B * T];
    fill_tokens(inputs, B * T, 1);
    fill_tokens(targets, B * T, 2);
    lsc_gpt m;
    lsc_lora lo;
    memset(&lo, 0, sizeof lo);
    uint64_t rng;
    lsc_rng_seed(&rng, 3);
    int rc = lsc_gpt_init_nf4(&m, &small_cfg, NULL, &rng, err);
    if (rc == LSC_OK)
        rc = lora_make(&lo, err);
    if (rc == LSC_OK)
        rc = lsc_gpt_alloc_acts(&m, B, T, err);
    if (rc == LSC_OK)
        rc = lsc_gpt_set_lora(&m, &lo, err);
    if (rc == LSC_OK)
        rc = lsc_gpt_forward(&m, inputs, targets, NULL, B, T, &rng, err);
    if (rc == LSC_OK)
        rc = lsc_gpt_backward(&m, err);
    if (rc == LSC_OK)
        rc = lsc_gpt_save(&m, test_tmp("qmodel.safetensors"), err);
    lsc_gpt_free(&m);
    lsc_lora_free(&lo);
    return rc;
}

static int op_gpt_load_nf4(lsc_error *err)
{
    lsc_gpt m;
    int rc = lsc_gpt_load(&m, test_tmp("qmodel.safetensors"), err);   /* the file holds NF4 weights */
    lsc_gpt_free(&m);
    if (rc == LSC_OK) {
        rc = lsc_gpt_load(&m, test_tmp("qs.safetensors"), err);   /* some targets, without double quant */
        lsc_gpt_free(&m);
    }
    if (rc == LSC_OK) {
        lsc_nf4_opts o = {128, 0, "o,fc_out"};
        rc = lsc_gpt_load_nf4(&m, test_tmp("model.safetensors"), &o, err);   /* quantised while read */
        lsc_gpt_free(&m);
    }
    return rc;
}

static int op_nf4_files(lsc_error *err)
{
    lsc_nf4_opts o = {64, 1, NULL};
    int rc = lsc_nf4_quantize_file(test_tmp("model.safetensors"), test_tmp("q.safetensors"), &o, NULL, err);
    if (rc == LSC_OK)
        rc = lsc_nf4_dequantize_file(test_tmp("q.safetensors"), test_tmp("dq.safetensors"), NULL, err);
    lsc_nf4_opts plain = {128, 0, "q,fc_in"};   /* fp32 absmax, two targets */
    if (rc == LSC_OK)
        rc = lsc_nf4_quantize_file(test_tmp("model.safetensors"), test_tmp("qs.safetensors"), &plain, NULL, err);
    return rc;
}

// ---- data ----

static int op_corpus(lsc_error *err)
{
    lsc_corpus c, a, b;
    int rc = lsc_corpus_load(&c, "data/fixtures/tiny.txt", err);
    if (rc == LSC_OK) {
        rc = lsc_corpus_split(&c, 20, &a, &b, err);
        lsc_corpus_free(&a);
        lsc_corpus_free(&b);
    }
    lsc_corpus_free(&c);
    return rc;
}

static int op_task(lsc_error *err)
{
    lsc_task t, tr, dv, va, again;
    memset(&tr, 0, sizeof tr);
    memset(&dv, 0, sizeof dv);
    memset(&va, 0, sizeof va);
    memset(&again, 0, sizeof again);
    const char *path = "data/fixtures/supersense_tiny.tsv";
    int rc = lsc_task_load(&t, path, NULL, err);
    if (rc == LSC_OK)
        rc = lsc_task_split(&t, &tr, &dv, &va, err);
    if (rc == LSC_OK)
        rc = lsc_task_load(&again, path, &t, err);   /* labels_from */
    if (rc == LSC_OK) {
        lsc_baselines bl;
        rc = lsc_task_baselines(&tr, &va, 3, &bl, err);
    }
    lsc_task_free(&t);
    lsc_task_free(&tr);
    lsc_task_free(&dv);
    lsc_task_free(&va);
    lsc_task_free(&again);
    return rc;
}

// ---- HDF5 results, sha256 ----

static int op_h5_write(lsc_error *err)
{
    lsc_h5 *h;
    double x[6] = {1, 2, 3, 4, 5, 6};
    size_t dims[2] = {2, 3};
    lsc_h5_input in[] = {{"adapter", test_tmp("adapter")}, {"model", test_tmp("model.safetensors")}};
    lsc_h5_param par[] = {{"seed", LSC_H5_INT, NULL, 3, 0}, {"note", LSC_H5_STR, "oom", 0, 0}};
    lsc_provenance p = {"test_oom", NULL, 0.5, 2, in, 2, par};
    int rc = lsc_h5_create(&h, test_tmp("r.h5"), err);
    if (rc != LSC_OK)
        return rc;
    if ((rc = lsc_h5_write_provenance(h, &p, err)) != LSC_OK ||
        (rc = lsc_h5_write_f64(h, "/modules/a/x", 2, dims, x, err)) != LSC_OK ||
        (rc = lsc_h5_write_f64(h, "/modules/b/x", 2, dims, x, err)) != LSC_OK) {
        lsc_h5_abort(h);
        return rc;
    }
    return lsc_h5_commit(h, err);
}

/* A fixed-length string attribute, as h5py writes numpy bytes: the reader
 * copies it through a buffer of its own. */
static void add_fixed_string_attr(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1);
    hid_t sp = H5Screate(H5S_SCALAR);
    int ok = f >= 0 && t >= 0 && sp >= 0 && H5Tset_size(t, 5) >= 0;
    hid_t a = ok ? H5Acreate2(f, "fixed", t, sp, H5P_DEFAULT, H5P_DEFAULT) : -1;
    ok = a >= 0 && H5Awrite(a, t, "bytes") >= 0;
    if (a >= 0)
        H5Aclose(a);
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    if (f >= 0)
        ok &= H5Fclose(f) >= 0;
    CHECK(ok, "fixture: a fixed-length string attribute added to %s", path);
}

static int op_h5_read(lsc_error *err)
{
    lsc_h5 *h;
    char **names = NULL, buf[64];
    int n = 0;
    int rc = lsc_h5_open(&h, test_tmp("r.h5"), err);
    if (rc != LSC_OK)
        return rc;
    if ((rc = lsc_h5_check_format(h, err)) == LSC_OK && (rc = lsc_h5_list(h, "/modules", &names, &n, err)) == LSC_OK)
        if ((rc = lsc_h5_read_attr_str(h, "/", "note", buf, sizeof buf, err)) == LSC_OK)
            rc = lsc_h5_read_attr_str(h, "/", "fixed", buf, sizeof buf, err);
    lsc_h5_free_names(names, n);
    lsc_h5_close(h);
    return rc;
}

static int op_sha256_dir(lsc_error *err)
{
    char hex[65];
    return lsc_sha256_path(test_tmp("many"), hex, err);
}

/* A directory of more files than the first array of names holds. */
static void make_many(void)
{
    mkdir(test_tmp("many"), 0755);
    for (int i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof name, "many/f%02d", i);
        FILE *fp = fopen(test_tmp(name), "w");
        if (fp) {
            fprintf(fp, "%d\n", i);
            fclose(fp);
        }
    }
}

// ---- linear algebra: no allocation at all ----

static void test_linalg_allocates_nothing(void)
{
    enum { M = 12, N = 9, R = 3 };
    double A[M * N], Bm[M * R], Ar[R * N], S[N], U[M * N], Vt[N * N], G[R * R], deg[R], Q[N * R];
    float Af[M * N];
    uint64_t rng;
    lsc_rng_seed(&rng, 11);
    for (int i = 0; i < M * N; i++)
        Af[i] = (float)(A[i] = lsc_rng_normal(&rng));
    for (int i = 0; i < M * R; i++)
        Bm[i] = lsc_rng_normal(&rng);
    for (int i = 0; i < R * N; i++)
        Ar[i] = lsc_rng_normal(&rng);
    size_t lw = lsc_svd_work_size(M, N, 1);
    size_t l2 = lsc_lowrank_svd_work_size(M, N, R, 1), l3 = lsc_svd_topk_work_size(M, N, R, LSC_TOPK_AUTO);
    size_t l4 = lsc_svd_topk_values_work_size(M, N, R), l5 = lsc_principal_angles_work_size(R, R);
    size_t l6 = lsc_random_orthonormal_work_size(N, R);
    size_t mx = lw;
    size_t ls[] = {l2, l3, l4, l5, l6};
    for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++)
        mx = ls[i] > mx ? ls[i] : mx;
    double *work = malloc(mx * sizeof *work);
    lsc_error err = {0};
    lsc_fa_fail_nth(0);
    int ok = work && lsc_svd(M, N, A, S, U, Vt, work, lw, &err) == LSC_OK &&
             lsc_lowrank_svd(M, N, R, 0.5, Bm, Ar, S, U, Vt, work, l2, &err) == LSC_OK &&
             lsc_svd_topk(M, N, R, A, S, U, Vt, LSC_TOPK_AUTO, 1, work, l3, NULL, &err) == LSC_OK &&
             lsc_svd_topk_values(M, N, R, Af, S, 0, 1, work, l4, NULL, &err) == LSC_OK &&
             lsc_random_orthonormal(N, R, &rng, Q, work, l6, &err) == LSC_OK;
    if (ok) {
        lsc_subspace_gram(N, R, Vt, R, Vt, G);
        ok = lsc_principal_angles(R, R, G, deg, work, l5, &err) == LSC_OK;
    }
    CHECK(ok && lsc_fa_calls() == 0,
          "linalg: svd, lowrank_svd, svd_topk(_values), principal_angles, random_orthonormal make %ld "
          "allocations (the caller owns the workspace)%s%s", lsc_fa_calls(), ok ? "" : ": ", ok ? "" : err.msg);
    free(work);
}

int main(void)
{
    verbose_ = getenv("LSC_OOM_VERBOSE") != NULL;
    if (test_tmpdir_make("oom") != 0)
        return 1;
    uint64_t rng;
    lsc_rng_seed(&rng, 1);
    for (size_t i = 0; i < sizeof st_data / sizeof st_data[0]; i++)
        st_data[i] = (float)lsc_rng_normal(&rng);
    for (size_t i = 0; i < sizeof nf4_w / sizeof nf4_w[0]; i++)
        nf4_w[i] = (float)lsc_rng_normal(&rng);

    sweep("safetensors write", op_st_write);
    sweep("safetensors read", op_st_read);
    sweep("lora init", op_lora_init);
    sweep("model init + acts + forward + backward (full)", op_model_full);
    sweep("model init + LoRA + acts + forward + backward", op_model_lora);
    sweep("model save + load", op_gpt_save_load);
    sweep("kv cache + decode", op_kv_decode);
    sweep("lora merge + unmerge", op_lora_merge);
    sweep("lora to PEFT adapter + adapter save", op_adapter_save);
    adapter_dir_ = test_tmp("adapter");
    sweep("PEFT adapter load (written here)", op_adapter_load);
    const char *fx = test_fixtures_dir("PEFT adapter load (PEFT's gptneo125m-r8-qv)");
    static char fixture[4096];
    if (fx) {
        snprintf(fixture, sizeof fixture, "%s/peft/gptneo125m-r8-qv", fx);
        adapter_dir_ = fixture;
        sweep("PEFT adapter load (PEFT's gptneo125m-r8-qv)", op_adapter_load);
    }
    write_kinds_adapter();
    static char kinds_spec[4200];
    snprintf(kinds_spec, sizeof kinds_spec, "%s:kinds", test_tmp("multi"));
    adapter_dir_ = kinds_spec;
    sweep("PEFT adapter load: DIR:NAME, names in keys, DoRA, embedding, conv, full tensor", op_adapter_load);
    sweep("lora save + load", op_lora_save_load);
    write_pattern_adapter();
    sweep("lora load + save of an adapter with regex targets and rank/alpha patterns", op_lora_patterns);
    sweep("corpus load + split", op_corpus);
    sweep("task load + split + labels_from + baselines", op_task);
    sweep("LoRA trainer: init + 3 steps + eval + checkpoint + resume", op_train);
    sweep("full trainer: init + 2 steps", op_train_full);
    sweep("task eval (decode)", op_task_eval);
    sweep("nf4 quantize", op_nf4_quantize);
    sweep("nf4 quantize, double quant", op_nf4_quantize_dq);
    sweep("model quantize + dequantize", op_gpt_quantize);
    sweep("QLoRA: init_nf4 + LoRA + forward + backward + save", op_qlora_step);
    sweep("nf4 quantize_file + dequantize_file", op_nf4_files);
    sweep("model load of NF4 files + load_nf4", op_gpt_load_nf4);
    sweep("h5 create + provenance + datasets + commit", op_h5_write);
    add_fixed_string_attr(test_tmp("r.h5"));
    sweep("h5 open + check_format + list + attributes", op_h5_read);
    make_many();
    sweep("sha256 of a directory", op_sha256_dir);
    test_linalg_allocates_nothing();

    test_tmpdir_remove();
    return test_summary();
}
