/*
 * test_train.c — the optimiser and the training loop: AdamW against a hand
 * computation in double, the learning-rate schedule, gradient clipping,
 * determinism (same seed → same adapter bytes), exact resume, the frozen
 * base staying bit-identical under LoRA training, the tiny profile beating
 * the unigram baseline on data/fixtures/tiny.txt, the NaN stop keeping the
 * last checkpoint, decoding, and the argument errors.
 * Runs from the project root (tests/run.sh does).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "lsc_internal.h"
#include "test.h"

static void sha_buf(const void *p, size_t n, char hex[65])
{
    lsc_sha256 s;
    lsc_sha256_init(&s);
    lsc_sha256_update(&s, p, n);
    lsc_sha256_final(&s, hex);
}

// ---- AdamW, schedule, clipping ----

static void test_adamw_hand(void)
{
    /* three steps of AdamW with weight decay and a gradient scale, against
     * the formulas evaluated in double */
    lsc_adamw_config c;
    lsc_adamw_config_default(&c);
    c.lr = 0.01;
    c.weight_decay = 0.1;
    float p[5] = {0.5f, -1.0f, 2.0f, 0.0f, 3.0f}, m[5] = {0}, v[5] = {0};
    double pd[5], md[5] = {0}, vd[5] = {0};
    for (int i = 0; i < 5; i++)
        pd[i] = p[i];
    const float g[3][5] = {{0.1f, -0.2f, 0.3f, 0.0f, 1.0f},
                           {0.2f, 0.1f, -0.3f, 0.5f, -1.0f},
                           {-0.1f, 0.4f, 0.2f, -0.5f, 0.25f}};
    const double scale[3] = {1.0, 0.5, 2.0}, lr[3] = {0.01, 0.005, 0.02};
    for (int t = 1; t <= 3; t++) {
        lsc_adamw_step(p, g[t - 1], m, v, 5, &c, lr[t - 1], scale[t - 1], t);
        for (int i = 0; i < 5; i++) {
            double gi = (double)g[t - 1][i] * scale[t - 1];
            md[i] = 0.9 * md[i] + 0.1 * gi;
            vd[i] = 0.999 * vd[i] + 0.001 * gi * gi;
            double mh = md[i] / (1 - pow(0.9, t)), vh = vd[i] / (1 - pow(0.999, t));
            pd[i] = pd[i] * (1 - lr[t - 1] * 0.1) - lr[t - 1] * mh / (sqrt(vh) + 1e-8);
        }
    }
    double worst = 0;
    for (int i = 0; i < 5; i++) {
        worst = fmax(worst, fabs(p[i] - pd[i]));
        worst = fmax(worst, fabs(m[i] - md[i]));
        worst = fmax(worst, fabs(v[i] - vd[i]));
    }
    CHECK(worst < 2e-6, "adamw: 3 steps match the hand computation (maxdiff %.2e)", worst);
    /* first step moves every parameter with a non-zero gradient by ~lr */
    float q[2] = {1.0f, 1.0f}, mq[2] = {0}, vq[2] = {0}, gq[2] = {1e-3f, -5.0f};
    c.weight_decay = 0;
    lsc_adamw_step(q, gq, mq, vq, 2, &c, 0.1, 1.0, 1);
    CHECK(fabs(q[0] - 0.9) < 1e-5 && fabs(q[1] - 1.1) < 1e-5,
          "adamw: first step is -lr*sign(g) (%.6f %.6f)", q[0], q[1]);
}

static void test_schedule(void)
{
    lsc_adamw_config c;
    lsc_adamw_config_default(&c);
    c.lr = 1.0;
    c.warmup = 10;
    c.steps = 110;
    c.min_lr_frac = 0.1;
    CHECK(fabs(lsc_lr_at(&c, 0) - 0.1) < 1e-12 && fabs(lsc_lr_at(&c, 4) - 0.5) < 1e-12 &&
              fabs(lsc_lr_at(&c, 9) - 1.0) < 1e-12,
          "schedule: linear warm-up lr*(s+1)/W (%.3f %.3f %.3f)", lsc_lr_at(&c, 0), lsc_lr_at(&c, 4),
          lsc_lr_at(&c, 9));
    CHECK(fabs(lsc_lr_at(&c, 10) - 1.0) < 1e-12, "schedule: cosine starts at the peak");
    CHECK(fabs(lsc_lr_at(&c, 60) - 0.55) < 1e-12, "schedule: cosine midpoint = (lr+min)/2 (%.6f)",
          lsc_lr_at(&c, 60));
    CHECK(fabs(lsc_lr_at(&c, 35) - (0.1 + 0.9 * 0.5 * (1 + cos(M_PI * 0.25)))) < 1e-12,
          "schedule: cosine at a quarter");
    CHECK(fabs(lsc_lr_at(&c, 110) - 0.1) < 1e-12 && fabs(lsc_lr_at(&c, 500) - 0.1) < 1e-12,
          "schedule: floor at and after the end");
    c.schedule = LSC_LR_LINEAR;
    CHECK(fabs(lsc_lr_at(&c, 60) - 0.55) < 1e-12 && fabs(lsc_lr_at(&c, 35) - 0.775) < 1e-12,
          "schedule: linear decay (%.6f)", lsc_lr_at(&c, 35));
    c.schedule = LSC_LR_CONSTANT;
    CHECK(lsc_lr_at(&c, 80) == 1.0 && lsc_lr_at(&c, 2) == 0.3, "schedule: constant after warm-up");
    lsc_lr_schedule s;
    CHECK(lsc_lr_schedule_parse("linear", &s) == LSC_OK && s == LSC_LR_LINEAR &&
              lsc_lr_schedule_parse("cosinus", &s) == LSC_EARG,
          "schedule: names parse, unknown rejected");
}

static void test_clipping(void)
{
    float g2[2] = {3.0f, 4.0f};
    CHECK(lsc_grad_norm(g2, 2) == 5.0, "clip: norm of (3,4) is 5");
    CHECK(fabs(lsc_clip_scale(5.0, 1.0) - 1.0 / (5.0 + 1e-6)) < 1e-15, "clip: scale max/(norm+1e-6)");
    CHECK(lsc_clip_scale(0.5, 1.0) == 1.0 && lsc_clip_scale(5.0, 0.0) == 1.0,
          "clip: no clipping below the max or when disabled");
    /* a long vector: chunked double sum vs a plain double loop, and the
     * same bits with one and two threads */
    size_t n = 300001;
    float *g = malloc(n * sizeof *g);
    uint64_t rng;
    lsc_rng_seed(&rng, 7);
    double ref = 0;
    for (size_t i = 0; i < n; i++) {
        g[i] = (float)lsc_rng_normal(&rng);
        ref += (double)g[i] * g[i];
    }
    ref = sqrt(ref);
    double a = lsc_grad_norm(g, n);
    CHECK(fabs(a - ref) / ref < 1e-12, "clip: chunked norm = plain sum (rel %.1e)", fabs(a - ref) / ref);
#ifdef _OPENMP
    int nt = omp_get_max_threads();
    omp_set_num_threads(1);
    double b1 = lsc_grad_norm(g, n);
    omp_set_num_threads(2);
    double b2 = lsc_grad_norm(g, n);
    omp_set_num_threads(nt);
    CHECK(b1 == b2 && a == b1, "clip: norm is bit-identical with 1 and 2 threads");
#endif
    /* clipping then AdamW: the update uses g·scale */
    lsc_adamw_config c;
    lsc_adamw_config_default(&c);
    float p1[2] = {0, 0}, m1[2] = {0}, v1[2] = {0}, p2[2] = {0, 0}, m2[2] = {0}, v2[2] = {0};
    float gs[2] = {3.0f / 5.0f, 4.0f / 5.0f};
    lsc_adamw_step(p1, g2, m1, v1, 2, &c, 0.1, 0.2, 1);
    lsc_adamw_step(p2, gs, m2, v2, 2, &c, 0.1, 1.0, 1);
    CHECK(fabs(m1[0] - m2[0]) < 1e-7 && fabs(v1[1] - v2[1]) < 1e-7, "clip: scale reaches the moments");
    free(g);
}

// ---- a tiny model and data ----

static lsc_corpus tiny, tiny_train, tiny_valid;
static int have_tiny;

static void load_tiny(void)
{
    lsc_error err = {0};
    if (lsc_corpus_load(&tiny, "data/fixtures/tiny.txt", &err) != LSC_OK) {
        test_skip("training on data/fixtures/tiny.txt", "%s", err.msg);
        return;
    }
    if (lsc_corpus_split(&tiny, 10, &tiny_train, &tiny_valid, &err) != LSC_OK) {
        CHECK(0, "data: split tiny.txt: %s", err.msg);
        return;
    }
    have_tiny = 1;
}

static const lsc_gpt_config small_cfg = {.n_layer = 2, .n_head = 2, .n_embd = 32, .n_ctx = 32, .vocab = 256};

static int make_model(lsc_gpt *m, uint64_t seed)
{
    lsc_error err = {0};
    uint64_t rng;
    lsc_rng_seed(&rng, seed);
    if (lsc_gpt_init(m, &small_cfg, &err) != LSC_OK) {
        CHECK(0, "model init: %s", err.msg);
        return -1;
    }
    lsc_gpt_init_weights(m, &rng);
    return 0;
}

static void lora_cfg(lsc_lora_config *lc, int rq, int rv, double dropout)
{
    memset(lc, 0, sizeof *lc);
    lc->rank[LSC_LORA_Q] = rq;
    lc->rank[LSC_LORA_V] = rv;
    lc->alpha = 8;
    lc->dropout = dropout;
    lc->init = LSC_LORA_INIT_KAIMING;
}

static void train_cfg(lsc_train_config *tc, long steps, const char *ckpt)
{
    lsc_train_config_default(tc);
    tc->B = 4;
    tc->T = 32;
    tc->steps = steps;
    tc->opt.lr = 1e-2;
    tc->opt.warmup = 2;
    tc->eval_every = 4;
    tc->eval_batches = 2;
    tc->ckpt_every = 3;
    tc->ckpt_path = ckpt;
    tc->config_json = "{\"test\":1}";
    tc->seed = 11;
    tc->data_seed = 12;
}

/* Trains a LoRA (q r=4, v r=2, dropout) for `steps`, stopping at `stop`
 * (0 = never) and resuming from the checkpoint when `resume`; saves the
 * adapter to dir. Returns the final step or -1. */
static long lora_run(const char *dir, long steps, long stop, int resume, const char *ckpt,
                     char base_before[65], char base_after[65])
{
    lsc_error err = {0};
    lsc_gpt m;
    lsc_lora lo;
    memset(&lo, 0, sizeof lo);
    if (make_model(&m, 3))
        return -1;
    lsc_lora_config lc;
    lora_cfg(&lc, 4, 2, 0.1);
    uint64_t irng;
    lsc_rng_seed(&irng, 5);
    long out = -1;
    lsc_trainer tr;
    memset(&tr, 0, sizeof tr);
    if (lsc_lora_init(&lo, &m.config, &lc, &irng, &err) != LSC_OK) {
        CHECK(0, "lora init: %s", err.msg);
        goto done;
    }
    if (base_before)
        sha_buf(m.params_memory, m.num_parameters * sizeof(float), base_before);
    lsc_train_config tc;
    train_cfg(&tc, steps, ckpt);
    if (lsc_trainer_init(&tr, &m, &lo, &tc, lsc_corpus_batch, &tiny_train, lsc_corpus_batch, &tiny_valid,
                         &err) != LSC_OK) {
        CHECK(0, "trainer init: %s", err.msg);
        goto done;
    }
    if (resume && lsc_trainer_resume(&tr, ckpt, &err) != LSC_OK) {
        CHECK(0, "resume: %s", err.msg);
        goto done;
    }
    if (lsc_trainer_run(&tr, stop, NULL, NULL, &err) != LSC_OK) {
        CHECK(0, "run: %s", err.msg);
        goto done;
    }
    if (dir && lsc_lora_save(&lo, "test-base", dir, &err) != LSC_OK) {
        CHECK(0, "save adapter: %s", err.msg);
        goto done;
    }
    if (base_after)
        sha_buf(m.params_memory, m.num_parameters * sizeof(float), base_after);
    out = tr.step;
done:
    lsc_trainer_free(&tr);
    lsc_lora_free(&lo);
    lsc_gpt_free(&m);
    return out;
}

static int same_dir(const char *a, const char *b)
{
    char ha[65], hb[65];
    lsc_error err = {0};
    if (lsc_sha256_path(a, ha, &err) != LSC_OK || lsc_sha256_path(b, hb, &err) != LSC_OK)
        return 0;
    return strcmp(ha, hb) == 0;
}

/* Two checkpoints agree on everything but timing (step_ms, wall_s). */
static int same_tensors(const char *a, const char *b)
{
    lsc_st_file fa, fb;
    lsc_error err = {0};
    if (lsc_st_open(&fa, a, &err) != LSC_OK)
        return 0;
    if (lsc_st_open(&fb, b, &err) != LSC_OK) {
        lsc_st_close(&fa);
        return 0;
    }
    int same = fa.n_tensors == fb.n_tensors;
    const char *names[] = {"train.params", "train.adam_m", "train.adam_v", "log.loss", "log.lr",
                           "log.grad_norm", "log.eval_step", "log.eval_loss"};
    for (size_t i = 0; i < sizeof names / sizeof names[0] && same; i++) {
        const lsc_st_tensor *ta = lsc_st_find(&fa, names[i]), *tb = lsc_st_find(&fb, names[i]);
        same = ta && tb && ta->end - ta->begin == tb->end - tb->begin &&
               memcmp(lsc_st_bytes(&fa, ta), lsc_st_bytes(&fb, tb), ta->end - ta->begin) == 0;
    }
    const char *keys[] = {"step", "rng", "data_rng", "config"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0] && same; i++) {
        const char *va = lsc_st_meta(&fa, keys[i]), *vb = lsc_st_meta(&fb, keys[i]);
        same = va && vb && strcmp(va, vb) == 0;
    }
    lsc_st_close(&fa);
    lsc_st_close(&fb);
    return same;
}

static void test_lora_determinism_resume(void)
{
    if (!have_tiny) {
        test_skip("LoRA training: determinism and exact resume", "data/fixtures/tiny.txt did not load");
        return;
    }
    char before[65], after[65];
    long s1 = lora_run(test_tmp("a1"), 10, 0, 0, test_tmp("ck1"), before, after);
    long s2 = lora_run(test_tmp("a2"), 10, 0, 0, test_tmp("ck2"), NULL, NULL);
    CHECK(s1 == 10 && s2 == 10, "lora: two runs of 10 steps finished");
    CHECK(same_dir(test_tmp("a1"), test_tmp("a2")), "lora: same seed -> byte-identical adapter directories");
    CHECK(strcmp(before, after) == 0, "lora: base buffer checksum unchanged by LoRA training");
    /* interrupted at 5 (between checkpoints at 3 and 6), resumed to 10 */
    long h = lora_run(NULL, 10, 5, 0, test_tmp("ck3"), NULL, NULL);
    long r = lora_run(test_tmp("a3"), 10, 0, 1, test_tmp("ck3"), NULL, NULL);
    CHECK(h == 5 && r == 10, "resume: stopped at %ld, resumed to %ld", h, r);
    CHECK(same_dir(test_tmp("a1"), test_tmp("a3")), "resume: interrupted + resumed adapter = uninterrupted, byte for byte");
    lsc_error err = {0};
    CHECK(same_tensors(test_tmp("ck1"), test_tmp("ck3")),
          "resume: final checkpoints hold the same parameters, moments, losses and rng state");
    /* a different seed gives different bytes (the test can fail) */
    lsc_gpt m;
    make_model(&m, 3);
    lsc_lora lo;
    lsc_lora_config lc;
    lora_cfg(&lc, 4, 2, 0.1);
    uint64_t irng;
    lsc_rng_seed(&irng, 5);
    lsc_lora_init(&lo, &m.config, &lc, &irng, &err);
    lsc_train_config tc;
    train_cfg(&tc, 10, NULL);
    tc.data_seed = 99;
    lsc_trainer tr;
    int rc = lsc_trainer_init(&tr, &m, &lo, &tc, lsc_corpus_batch, &tiny_train, NULL, NULL, &err);
    if (rc == LSC_OK)
        rc = lsc_trainer_run(&tr, 0, NULL, NULL, &err);
    if (rc == LSC_OK)
        rc = lsc_lora_save(&lo, "test-base", test_tmp("a4"), &err);
    CHECK(rc == LSC_OK && !same_dir(test_tmp("a1"), test_tmp("a4")), "lora: another data seed -> other adapter");
    CHECK(tr.n == lo.num_parameters && m.grads_memory == NULL,
          "lora: moments sized by the adapter (%zu of %zu), no base grads", tr.n, m.num_parameters);
    CHECK(lsc_train_predicted_bytes(&tr, NULL) > m.num_parameters * sizeof(float), "lora: predicted memory counted");
    lsc_trainer_free(&tr);
    lsc_lora_free(&lo);
    lsc_gpt_free(&m);
}

/* full mode: resume restores parameters, moments and the log exactly */
static void test_full_resume(void)
{
    if (!have_tiny) {
        test_skip("full fine-tuning: exact resume", "data/fixtures/tiny.txt did not load");
        return;
    }
    lsc_error err = {0};
    float *ref = NULL;
    float ref_loss = 0;
    for (int pass = 0; pass < 3; pass++) {
        /* pass 0: 8 steps; pass 1: stop at 4; pass 2: resume to 8 */
        lsc_gpt m;
        make_model(&m, 4);
        lsc_train_config tc;
        train_cfg(&tc, 8, test_tmp("ckf"));
        tc.opt.weight_decay = 0.1;
        lsc_trainer tr;
        int rc = lsc_trainer_init(&tr, &m, NULL, &tc, lsc_corpus_batch, &tiny_train, lsc_corpus_batch,
                                  &tiny_valid, &err);
        if (rc == LSC_OK && pass == 2)
            rc = lsc_trainer_resume(&tr, test_tmp("ckf"), &err);
        if (rc == LSC_OK)
            rc = lsc_trainer_run(&tr, pass == 1 ? 4 : 0, NULL, NULL, &err);
        if (rc != LSC_OK)
            CHECK(0, "full pass %d: %s", pass, err.msg);
        if (pass == 0) {
            ref = malloc(m.num_parameters * sizeof *ref);
            memcpy(ref, m.params_memory, m.num_parameters * sizeof *ref);
            ref_loss = tr.log_loss[7];
            CHECK(m.grads_memory != NULL && tr.n == m.num_parameters, "full: every weight trainable");
        }
        if (pass == 2) {
            CHECK(rc == LSC_OK && memcmp(ref, m.params_memory, m.num_parameters * sizeof *ref) == 0,
                  "full: resumed parameters = uninterrupted, bit for bit");
            CHECK(tr.log_loss[7] == ref_loss && tr.n_eval == 2 && tr.eval_step[0] == 4 && tr.eval_step[1] == 8,
                  "full: loss log and validation log carried across the resume (n_eval %ld)", tr.n_eval);
        }
        lsc_trainer_free(&tr);
        lsc_gpt_free(&m);
    }
    free(ref);
}

// ---- NaN stop ----

typedef struct poison_src {
    lsc_gpt *m;
    int calls, at;
} poison_src;

static int poison_batch(void *ctx, int B, int T, int *in, int *tg, float *mk, uint64_t *rng, lsc_error *err)
{
    poison_src *p = ctx;
    if (++p->calls == p->at)
        p->m->params.lnfw[0] = NAN;   /* the next forward produces NaN */
    return lsc_corpus_batch(&tiny_train, B, T, in, tg, mk, rng, err);
}

static void test_nan_stop(void)
{
    if (!have_tiny) {
        test_skip("NaN loss stops the trainer", "data/fixtures/tiny.txt did not load");
        return;
    }
    lsc_error err = {0};
    lsc_gpt m;
    make_model(&m, 5);
    lsc_train_config tc;
    train_cfg(&tc, 10, test_tmp("ckn"));
    tc.ckpt_every = 2;
    poison_src ps = {&m, 0, 6};
    lsc_trainer tr;
    int rc = lsc_trainer_init(&tr, &m, NULL, &tc, poison_batch, &ps, NULL, NULL, &err);
    CHECK(rc == LSC_OK, "nan: init");
    /* run 5 steps cleanly: checkpoints at 2, 4 and (run end) 5 */
    rc = lsc_trainer_run(&tr, 5, NULL, NULL, &err);
    char h_before[65], h_after[65];
    lsc_sha256_file(test_tmp("ckn"), h_before, &err);
    err.msg[0] = 0;
    rc = lsc_trainer_run(&tr, 0, NULL, NULL, &err);
    CHECK(rc == LSC_ENAN && strstr(err.msg, "step 6") && strstr(err.msg, "NaN"),
          "nan: stops with LSC_ENAN naming the step: %s", err.msg);
    CHECK(strstr(err.msg, "last good checkpoint: step 5") != NULL, "nan: message names the last good checkpoint");
    CHECK(tr.step == 5, "nan: no update was applied at the bad step");
    CHECK(lsc_sha256_file(test_tmp("ckn"), h_after, &err) == LSC_OK && strcmp(h_before, h_after) == 0,
          "nan: the last checkpoint is intact");
    lsc_trainer_free(&tr);
    /* and it still resumes */
    m.params.lnfw[0] = 1.0f;
    poison_src ok = {&m, 0, -1};
    rc = lsc_trainer_init(&tr, &m, NULL, &tc, poison_batch, &ok, NULL, NULL, &err);
    if (rc == LSC_OK)
        rc = lsc_trainer_resume(&tr, test_tmp("ckn"), &err);
    CHECK(rc == LSC_OK && tr.step == 5, "nan: the kept checkpoint resumes at step 5");
    lsc_trainer_free(&tr);
    lsc_gpt_free(&m);
}

// ---- errors ----

static void test_errors(void)
{
    if (!have_tiny) {
        test_skip("trainer error paths", "data/fixtures/tiny.txt did not load");
        return;
    }
    lsc_error err = {0};
    lsc_gpt m;
    make_model(&m, 6);
    lsc_train_config tc;
    lsc_trainer tr;
    train_cfg(&tc, 4, NULL);
    tc.T = 64;
    int rc = lsc_trainer_init(&tr, &m, NULL, &tc, lsc_corpus_batch, &tiny_train, NULL, NULL, &err);
    CHECK(rc == LSC_EARG && strstr(err.msg, "context 64") && strstr(err.msg, "n_ctx 32"),
          "error: context above the model's: %s", err.msg);
    train_cfg(&tc, 4, NULL);
    tc.opt.lr = 0;
    rc = lsc_trainer_init(&tr, &m, NULL, &tc, lsc_corpus_batch, &tiny_train, NULL, NULL, &err);
    CHECK(rc == LSC_EARG && strstr(err.msg, "learning rate"), "error: lr 0: %s", err.msg);
    train_cfg(&tc, 0, NULL);
    rc = lsc_trainer_init(&tr, &m, NULL, &tc, lsc_corpus_batch, &tiny_train, NULL, NULL, &err);
    CHECK(rc == LSC_EARG && strstr(err.msg, "steps"), "error: 0 steps: %s", err.msg);
    /* resume with another configuration */
    train_cfg(&tc, 4, test_tmp("cke"));
    rc = lsc_trainer_init(&tr, &m, NULL, &tc, lsc_corpus_batch, &tiny_train, NULL, NULL, &err);
    if (rc == LSC_OK)
        rc = lsc_trainer_run(&tr, 2, NULL, NULL, &err);
    lsc_trainer_free(&tr);
    tc.config_json = "{\"test\":2}";
    rc = lsc_trainer_init(&tr, &m, NULL, &tc, lsc_corpus_batch, &tiny_train, NULL, NULL, &err);
    if (rc == LSC_OK)
        rc = lsc_trainer_resume(&tr, test_tmp("cke"), &err);
    CHECK(rc == LSC_EARG && strstr(err.msg, "different run configuration"), "error: resume mismatch: %s", err.msg);
    lsc_trainer_free(&tr);
    tc.config_json = "{\"test\":1}";
    rc = lsc_trainer_init(&tr, &m, NULL, &tc, lsc_corpus_batch, &tiny_train, NULL, NULL, &err);
    if (rc == LSC_OK)
        rc = lsc_trainer_resume(&tr, test_tmp("missing"), &err);
    CHECK(rc == LSC_EIO && strstr(err.msg, "missing"), "error: resume from a missing file: %s", err.msg);
    FILE *fp = fopen(test_tmp("junk"), "wb");
    fputs("not a checkpoint at all", fp);
    fclose(fp);
    rc = lsc_trainer_resume(&tr, test_tmp("junk"), &err);
    CHECK(rc != LSC_OK && strstr(err.msg, "junk"), "error: resume from a corrupt file: %s", err.msg);
    lsc_trainer_free(&tr);
    lsc_gpt_free(&m);
}

// ---- decoding, FLOP model ----

static void test_decode(void)
{
    lsc_error err = {0};
    lsc_gpt m;
    make_model(&m, 8);
    int width = 24, n = 5;
    int tok[5 * 24], tok1[5 * 24], plen[5] = {3, 1, 7, 4, 20}, len[5], len1[5];
    uint64_t rng;
    lsc_rng_seed(&rng, 9);
    for (int i = 0; i < n * width; i++)
        tok[i] = tok1[i] = (int)(lsc_rng_u32(&rng) % 256);
    int rc = lsc_gpt_alloc_acts(&m, 4, 32, &err);
    if (rc == LSC_OK)
        rc = lsc_decode(&m, n, tok, width, plen, 6, 10, 0.0, NULL, len, &err);
    CHECK(rc == LSC_OK, "decode: batched greedy decoding runs (%s)", err.msg);
    int same = 1;
    for (int i = 0; i < n && rc == LSC_OK; i++) {
        /* one row at a time must give the same tokens: padding is unseen */
        if (lsc_decode(&m, 1, tok1 + i * width, width, plen + i, 6, 10, 0.0, NULL, len1 + i, &err) != LSC_OK)
            same = 0;
        if (len[i] != len1[i] || memcmp(tok + i * width, tok1 + i * width, (size_t)len[i] * sizeof(int)))
            same = 0;
    }
    CHECK(same, "decode: a batch of 5 rows (chunks of 4) = each row alone");
    CHECK(len[4] == 24 && len[0] <= 9, "decode: stops at width and after max_new (%d %d)", len[4], len[0]);
    /* sampling: same seed, same text; temperature → 0 is greedy */
    int a[24] = {65, 66}, b[24] = {65, 66}, p2 = 2, la, lb;
    uint64_t r1, r2;
    lsc_rng_seed(&r1, 3);
    lsc_rng_seed(&r2, 3);
    lsc_decode(&m, 1, a, 24, &p2, 20, -1, 1.0, &r1, &la, &err);
    lsc_decode(&m, 1, b, 24, &p2, 20, -1, 1.0, &r2, &lb, &err);
    CHECK(la == 22 && lb == 22 && memcmp(a, b, sizeof a) == 0, "decode: sampling is reproducible from the seed");
    lsc_gpt_free(&m);

    lsc_gpt_config c = {.n_layer = 6, .n_head = 6, .n_embd = 384, .n_ctx = 256, .vocab = 256};
    double full = lsc_train_step_flops(&c, NULL, 8, 256, 1);
    double fwd = 2.0 * (6 * 12.0 * 384 * 384 + 256 * 384) * 2048 + 6 * 4.0 * 256 * 384 * 2048;
    CHECK(fabs(full - 3 * fwd) < 1, "flops: full step = 3 x forward");
    lsc_gpt_config lc = c;
    lsc_lora fake;
    memset(&fake, 0, sizeof fake);
    lsc_lora_module mods[12];
    for (int i = 0; i < 12; i++)
        mods[i] = (lsc_lora_module){.r = 8, .in = 384, .out = 384};
    fake.n_modules = 12;
    fake.modules = mods;
    double lora = lsc_train_step_flops(&lc, &fake, 8, 256, 0);
    CHECK(lora / full > 0.6 && lora / full < 0.75, "flops: LoRA r=8 q,v step / full = %.3f (about 2/3)", lora / full);
}

// ---- decoding with the key/value cache ----

/* Greedy decoding of one row by recomputing the whole prefix with
 * lsc_gpt_forward at every step: the reference for the cached path. */
static int decode_reference(lsc_gpt *m, int *row, int width, int plen, int max_new, int stop)
{
    lsc_error err = {0};
    int len = plen, V = m->config.vocab;
    while (len < width && len - plen < max_new) {
        if (lsc_gpt_forward(m, row, NULL, NULL, 1, len, NULL, &err) != LSC_OK)
            return -1;
        const float *lg = lsc_gpt_logits(m) + (size_t)(len - 1) * V;
        int best = 0;
        for (int j = 1; j < V; j++)
            if (lg[j] > lg[best])
                best = j;
        row[len++] = best;
        if (best == stop)
            break;
    }
    return len;
}

/* Step logits against the full forward, token by token, and greedy decoding
 * of 150 rows of different prompt lengths against the reference; m may carry
 * an adapter or NF4 weights. */
static void check_cached_decode(lsc_gpt *m, const char *what)
{
    lsc_error err = {0};
    const int V = m->config.vocab, n = 20;
    int seq[20];
    uint64_t rng;
    lsc_rng_seed(&rng, 21);
    for (int i = 0; i < n; i++)
        seq[i] = (int)(lsc_rng_u32(&rng) % 256);
    lsc_kv_cache kv;
    int rc = lsc_gpt_alloc_acts(m, 4, 32, &err);
    if (rc == LSC_OK)
        rc = lsc_kv_cache_alloc(&kv, m, 3, 24, &err);
    CHECK(rc == LSC_OK, "%s: activations and a 3 x 24 cache (%s)", what, err.msg);
    if (rc != LSC_OK)
        return;
    float *step = malloc((size_t)n * V * sizeof(float));
    int ok = step != NULL;
    for (int t = 0; t < n && ok; t++) {
        int slot = 2, pos = t;   /* any cache row works */
        ok = lsc_gpt_forward_step(m, &kv, &seq[t], &slot, &pos, 1, &err) == LSC_OK;
        if (ok)
            memcpy(step + (size_t)t * V, lsc_gpt_logits(m), (size_t)V * sizeof(float));
    }
    double worst = 0.0, scale = 0.0;
    if (ok && lsc_gpt_forward(m, seq, NULL, NULL, 1, n, NULL, &err) == LSC_OK) {
        const float *full = lsc_gpt_logits(m);
        for (size_t i = 0; i < (size_t)n * V; i++) {
            double d = fabs((double)step[i] - (double)full[i]);
            worst = d > worst ? d : worst;
            scale = fabs((double)full[i]) > scale ? fabs((double)full[i]) : scale;
        }
    } else {
        ok = 0;
    }
    CHECK(ok && worst <= 1e-5 * (1.0 + scale),
          "%s: forward_step logits = full forward at all 20 positions (max diff %.2e, max |logit| %.2f)", what,
          worst, scale);
    free(step);
    lsc_kv_cache_free(&kv);

    /* 150 rows: two chunks of the 128 lanes the activations (4 x 32) give */
    enum { R = 150, W = 24 };
    int tok[R * W], ref[R * W], plen[R], len[R];
    for (int i = 0; i < R * W; i++)
        tok[i] = ref[i] = (int)(lsc_rng_u32(&rng) % 256);
    for (int i = 0; i < R; i++)
        plen[i] = 1 + (int)(lsc_rng_u32(&rng) % (W - 1));
    rc = lsc_decode(m, R, tok, W, plen, 9, 10, 0.0, NULL, len, &err);
    int same = rc == LSC_OK;
    for (int i = 0; i < R && same; i++) {
        int lr = decode_reference(m, ref + i * W, W, plen[i], 9, 10);
        same = lr == len[i] && memcmp(ref + i * W, tok + i * W, (size_t)lr * sizeof(int)) == 0;
    }
    CHECK(same, "%s: cached greedy decoding of 150 rows (chunks of 128 lanes) = prefix recomputation (%s)", what,
          rc == LSC_OK ? "" : err.msg);
}

static void test_decode_cache(void)
{
    lsc_error err = {0};
    lsc_gpt m;
    if (make_model(&m, 31) != 0)
        return;
    check_cached_decode(&m, "kv cache, base");

    /* with an adapter whose B is not zero, so it changes the output */
    lsc_lora lo;
    lsc_lora_config lc;
    lora_cfg(&lc, 4, 2, 0.1);
    uint64_t rng;
    lsc_rng_seed(&rng, 5);
    int ok = lsc_lora_init(&lo, &m.config, &lc, &rng, &err) == LSC_OK;
    if (ok) {
        for (int i = 0; i < lo.n_modules; i++)
            for (int j = 0; j < lo.modules[i].r * lo.modules[i].out; j++)
                lo.modules[i].B[j] = (float)(0.5 * (2.0 * lsc_rng_uniform_d(&rng) - 1.0));
        ok = lsc_gpt_set_lora(&m, &lo, &err) == LSC_OK;
    }
    CHECK(ok, "kv cache: adapter attached (%s)", err.msg);
    if (ok)
        check_cached_decode(&m, "kv cache, LoRA q r4 v r2");

    /* rows longer than the activations take the sliding-window path; while
     * they fit in its window it sees the same tokens */
    int a[2 * 24], b[2 * 24], pl[2] = {2, 3}, la[2], lb[2];
    for (int i = 0; i < 48; i++)
        a[i] = b[i] = 40 + i;
    int rc = lsc_decode(&m, 2, a, 24, pl, 6, -1, 0.0, NULL, la, &err);
    lsc_gpt_free(&m);
    make_model(&m, 31);
    if (ok)
        lsc_gpt_set_lora(&m, &lo, &err);
    rc |= lsc_gpt_alloc_acts(&m, 2, 9, &err);
    rc |= lsc_decode(&m, 2, b, 24, pl, 6, -1, 0.0, NULL, lb, &err);
    CHECK(rc == LSC_OK && la[0] == 8 && lb[0] == 8 && la[1] == 9 && lb[1] == 9 && memcmp(a, b, sizeof a) == 0,
          "kv cache: sliding-window path (T_alloc 9 < width) = cached path while the rows fit (%d %d)", lb[0],
          lb[1]);

    /* bad calls */
    lsc_kv_cache kv;
    CHECK(lsc_kv_cache_alloc(&kv, &m, 2, 33, &err) == LSC_EARG && strstr(err.msg, "n_ctx"),
          "kv cache: more positions than n_ctx refused (%s)", err.msg);
    CHECK(lsc_kv_cache_alloc(&kv, &m, 2, 8, &err) == LSC_OK, "kv cache: 2 x 8 allocated");
    int t1 = 300, s0 = 0, p0 = 0, s9 = 9, p8 = 8;
    CHECK(lsc_gpt_forward_step(&m, &kv, &t1, &s0, &p0, 1, &err) == LSC_EARG && strstr(err.msg, "token 300"),
          "kv cache: a token outside the vocabulary refused (%s)", err.msg);
    int t0 = 65;
    CHECK(lsc_gpt_forward_step(&m, &kv, &t0, &s9, &p0, 1, &err) == LSC_EARG &&
              lsc_gpt_forward_step(&m, &kv, &t0, &s0, &p8, 1, &err) == LSC_EARG,
          "kv cache: a slot or position outside the cache refused (%s)", err.msg);
    lsc_kv_cache other;
    lsc_gpt m2;
    lsc_gpt_config c2 = small_cfg;
    c2.n_embd = 16;
    int have2 = lsc_gpt_init(&m2, &c2, &err) == LSC_OK && lsc_kv_cache_alloc(&other, &m2, 2, 8, &err) == LSC_OK;
    CHECK(have2 && lsc_gpt_forward_step(&m, &other, &t0, &s0, &p0, 1, &err) == LSC_EARG,
          "kv cache: a cache of another model refused (%s)", err.msg);
    if (have2) {
        lsc_kv_cache_free(&other);
        lsc_gpt_free(&m2);
    }
    lsc_kv_cache_free(&kv);
    lsc_kv_cache_free(&kv);   /* safe twice */
    lsc_gpt_free(&m);
    if (ok)
        lsc_lora_free(&lo);

    /* NF4 base: the step goes through the tiled dequantising product */
    lsc_nf4_opts qo = {64, 1, NULL};
    err.msg[0] = '\0';
    if (make_model(&m, 33) != 0)
        return;
    ok = lsc_gpt_quantize(&m, &qo, &err) == LSC_OK;
    CHECK(ok, "kv cache: NF4 model (%s)", err.msg);
    if (ok)
        check_cached_decode(&m, "kv cache, NF4 base");
    lsc_gpt_free(&m);
}

// ---- the tiny profile learns ----

static void test_tiny_profile(void)
{
    if (!have_tiny) {
        test_skip("the tiny pretraining profile", "data/fixtures/tiny.txt did not load");
        return;
    }
    lsc_error err = {0};
    lsc_gpt_config mc;
    lsc_train_config tc;
    CHECK(lsc_pretrain_profile("tiny", &mc, &tc) == LSC_OK && lsc_pretrain_profile("huge", &mc, &tc) == LSC_EARG,
          "profile: tiny exists, unknown rejected");
    lsc_pretrain_profile("tiny", &mc, &tc);
    lsc_gpt m;
    uint64_t rng;
    lsc_rng_seed(&rng, 1);
    if (lsc_gpt_init(&m, &mc, &err) != LSC_OK) {
        CHECK(0, "tiny: %s", err.msg);
        return;
    }
    lsc_gpt_init_weights(&m, &rng);
    lsc_trainer tr;
    int rc = lsc_trainer_init(&tr, &m, NULL, &tc, lsc_corpus_batch, &tiny_train, lsc_corpus_batch, &tiny_valid,
                              &err);
    double v0 = NAN, v1 = NAN;
    if (rc == LSC_OK)
        rc = lsc_trainer_evaluate(&tr, &v0, &err);
    if (rc == LSC_OK)
        rc = lsc_trainer_run(&tr, 0, NULL, NULL, &err);
    if (rc == LSC_OK)
        rc = lsc_trainer_evaluate(&tr, &v1, &err);
    double uni = lsc_corpus_unigram_xent(&tiny_train, &tiny_valid);
    CHECK(rc == LSC_OK, "tiny: trains %ld steps (%s)", tc.steps, rc ? err.msg : "ok");
    CHECK(v1 < uni, "tiny: validation loss %.4f (from %.4f) < unigram cross-entropy %.4f nats/byte", v1, v0, uni);
    CHECK(tr.n_eval == 10 && tr.eval_loss[9] == (float)v1, "tiny: validation every 10%% of the steps, last = final");
    lsc_trainer_free(&tr);
    lsc_gpt_free(&m);
}

int main(void)
{
    if (test_tmpdir_make("train") != 0)
        return 1;
#ifdef _OPENMP
    /* the bit-identity checks compare runs at one fixed thread count; one
     * thread also keeps the suite fast on a busy 2-core machine (the norm
     * test below also runs with 2) */
    omp_set_num_threads(1);
#endif
    test_adamw_hand();
    test_schedule();
    test_clipping();
    load_tiny();
    test_lora_determinism_resume();
    test_full_resume();
    test_nan_stop();
    test_errors();
    test_decode();
    test_decode_cache();
    test_tiny_profile();
    lsc_corpus_free(&tiny);
    lsc_corpus_free(&tiny_train);
    lsc_corpus_free(&tiny_valid);
    test_tmpdir_remove();
    return test_summary();
}
