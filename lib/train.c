/*
 * train.c — the training loop: a GPT (full fine-tuning or pretraining, every
 * weight trainable) or a LoRA adapter on a frozen GPT (only the adapter is
 * trained), batches from an lsc_batch_fn, AdamW, validation on a fixed set
 * of batches, checkpoints that make --resume exact, plus the decoding loops
 * that evaluation and generation share, and the step's FLOP/memory model.
 *
 * It is deliberately not a CLI: nothing is printed; progress goes to a
 * caller-supplied callback, results stay in the lsc_trainer for the caller
 * to write (adapter, model, train_log.h5).
 *
 * Determinism: every random draw comes from two caller-seeded words kept in
 * the trainer, rng (LoRA dropout) and data_rng (the batch source's). Both,
 * the trainable buffer, the AdamW moments, the step and the log go into the
 * checkpoint, so a resumed run takes exactly the path an uninterrupted one
 * would, and the same seed and thread count give the same bits.
 *
 * Shapes: B batch rows, T tokens per row, n trainable parameters.
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "lsc_internal.h"

/* The checkpoint file: safetensors metadata lsc_format / lsc_format_version,
 * written by lsc_trainer_save and checked by lsc_trainer_resume. */
#define LSC_CKPT_FORMAT         "lorascope-train-state"
#define LSC_CKPT_FORMAT_VERSION "1"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// ---- init and free ----

void lsc_train_config_default(lsc_train_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->B = 8;
    cfg->T = 64;
    cfg->steps = 100;
    lsc_adamw_config_default(&cfg->opt);
    cfg->seed = 1;
    cfg->data_seed = 2;
    cfg->eval_every = 0;
    cfg->eval_batches = 8;
    cfg->eval_seed = 12345;
    cfg->ckpt_every = 0;
}

void lsc_trainer_free(lsc_trainer *tr)
{
    if (!tr)
        return;
    LSC_FREE(tr->m);
    LSC_FREE(tr->v);
    LSC_FREE(tr->inputs);
    LSC_FREE(tr->targets);
    LSC_FREE(tr->mask);
    LSC_FREE(tr->val_inputs);
    LSC_FREE(tr->val_targets);
    LSC_FREE(tr->val_mask);
    LSC_FREE(tr->log_loss);
    LSC_FREE(tr->log_lr);
    LSC_FREE(tr->log_grad_norm);
    LSC_FREE(tr->log_step_ms);
    LSC_FREE(tr->eval_step);
    LSC_FREE(tr->eval_loss);
    LSC_FREE(tr->dp_local);
    LSC_FREE(tr->dp_acc);
    memset(tr, 0, sizeof *tr);
}

int lsc_trainer_init(lsc_trainer *tr, lsc_gpt *m, lsc_lora *lo,
                     const lsc_train_config *cfg, lsc_batch_fn train_fn,
                     void *train_ctx, lsc_batch_fn val_fn, void *val_ctx,
                     lsc_error *err)
{
    memset(tr, 0, sizeof *tr);
    if (!m || !cfg || !train_fn)
        LSC_FAIL(err, LSC_EARG, "trainer: model, config and batch source are required");
    if (cfg->B < 1 || cfg->T < 1)
        LSC_FAIL(err, LSC_EARG, "trainer: batch %d x context %d must be positive", cfg->B, cfg->T);
    if (cfg->T > m->config.n_ctx)
        LSC_FAIL(err, LSC_EARG, "trainer: context %d is above the model's n_ctx %d", cfg->T,
                 m->config.n_ctx);
    if (cfg->steps < 1)
        LSC_FAIL(err, LSC_EARG, "trainer: steps must be >= 1 (got %ld)", cfg->steps);
    if (!(cfg->opt.lr > 0.0) || !isfinite(cfg->opt.lr))
        LSC_FAIL(err, LSC_EARG, "trainer: learning rate must be positive and finite (got %g)", cfg->opt.lr);
    if (cfg->opt.warmup < 0 || cfg->eval_every < 0 || cfg->ckpt_every < 0 || cfg->eval_batches < 0)
        LSC_FAIL(err, LSC_EARG, "trainer: warmup, eval/checkpoint intervals and eval batches must be >= 0");
    if (lo && (lo->model.n_layer != m->config.n_layer || lo->model.n_embd != m->config.n_embd ||
               lo->model.n_head != m->config.n_head))
        LSC_FAIL(err, LSC_ESHAPE, "trainer: the adapter was made for another model shape");

    int rc;
    tr->cfg = *cfg;
    tr->cfg.opt.steps = cfg->steps;
    tr->cfg.ckpt_path = NULL;   /* borrowed strings are copied below */
    tr->cfg.config_json = NULL;
    tr->model = m;
    tr->lora = lo;
    tr->batch_fn = train_fn;
    tr->batch_ctx = train_ctx;
    lsc_rng_seed(&tr->rng, cfg->seed);
    lsc_rng_seed(&tr->data_rng, cfg->data_seed);

    if (lo) {
        /* LoRA: the base is frozen (no grads allocated), only the adapter
         * buffer is trainable; moments are sized by the adapter */
        if ((rc = lsc_gpt_set_trainable(m, LSC_GPT_FROZEN, err)) != LSC_OK)
            goto fail;
        if (lo->merged) {
            rc = lsc_error_set(err, LSC_EARG, __FILE__, __LINE__,
                               "trainer: cannot train a merged adapter (unmerge it first)");
            goto fail;
        }
        tr->params = lo->params;
        tr->grads = lo->grads;
        tr->n = lo->num_parameters;
    } else {
        if ((rc = lsc_gpt_set_trainable(m, LSC_GPT_FULL, err)) != LSC_OK)
            goto fail;
        tr->params = m->params_memory;
        tr->grads = m->grads_memory;
        tr->n = m->num_parameters;
        /* the per-tensor AdamW loop must cover the whole buffer */
        size_t covered = 0;
        for (int i = 0; i < m->n_tensors; i++)
            covered += m->tensors[i].numel;
        LSC_ASSERT(covered == m->num_parameters);
    }
    if (m->B_alloc < cfg->B || m->T_alloc < cfg->T)
        if ((rc = lsc_gpt_alloc_acts(m, cfg->B, cfg->T, err)) != LSC_OK)
            goto fail;
    if ((rc = lsc_gpt_set_lora(m, lo, err)) != LSC_OK)
        goto fail;

    size_t BT = (size_t)cfg->B * (size_t)cfg->T;
    size_t steps = (size_t)cfg->steps;
    size_t n_eval_cap = (cfg->eval_every > 0 ? steps / (size_t)cfg->eval_every : 0) + 2;
    tr->m = LSC_CALLOC(tr->n, sizeof(float));
    tr->v = LSC_CALLOC(tr->n, sizeof(float));
    tr->inputs = LSC_CALLOC(BT, sizeof(int));
    tr->targets = LSC_CALLOC(BT, sizeof(int));
    tr->mask = LSC_CALLOC(BT, sizeof(float));
    tr->log_loss = LSC_CALLOC(steps, sizeof(float));
    tr->log_lr = LSC_CALLOC(steps, sizeof(float));
    tr->log_grad_norm = LSC_CALLOC(steps, sizeof(float));
    tr->log_step_ms = LSC_CALLOC(steps, sizeof(float));
    tr->eval_step = LSC_CALLOC(n_eval_cap, sizeof(long));
    tr->eval_loss = LSC_CALLOC(n_eval_cap, sizeof(float));
    tr->eval_cap = (long)n_eval_cap;
    if (!tr->m || !tr->v || !tr->inputs || !tr->targets || !tr->mask || !tr->log_loss ||
        !tr->log_lr || !tr->log_grad_norm || !tr->log_step_ms || !tr->eval_step || !tr->eval_loss) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__,
                           "trainer: out of memory for %zu trainable parameters", tr->n);
        goto fail;
    }

    /* the fixed validation set: drawn once from its own seeded rng, so every
     * evaluation (and every resumed run) sees the same batches */
    if (val_fn && cfg->eval_batches > 0) {
        size_t nv = (size_t)cfg->eval_batches * BT;
        tr->val_inputs = LSC_MALLOC(nv * sizeof(int));
        tr->val_targets = LSC_MALLOC(nv * sizeof(int));
        tr->val_mask = LSC_MALLOC(nv * sizeof(float));
        if (!tr->val_inputs || !tr->val_targets || !tr->val_mask) {
            rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__,
                               "trainer: out of memory for %d validation batches", cfg->eval_batches);
            goto fail;
        }
        uint64_t vrng;
        lsc_rng_seed(&vrng, cfg->eval_seed);
        for (int i = 0; i < cfg->eval_batches; i++) {
            size_t o = (size_t)i * BT;
            if ((rc = val_fn(val_ctx, cfg->B, cfg->T, tr->val_inputs + o, tr->val_targets + o,
                             tr->val_mask + o, &vrng, err)) != LSC_OK)
                goto fail;
        }
        tr->n_val = cfg->eval_batches;
    }
    tr->cfg.ckpt_path = cfg->ckpt_path;
    tr->cfg.config_json = cfg->config_json;
    return LSC_OK;
fail:
    lsc_trainer_free(tr);
    return rc;
}

// ---- one step ----

int lsc_trainer_step(lsc_trainer *tr, lsc_error *err)
{
    const lsc_train_config *c = &tr->cfg;
    LSC_ASSERT(tr->step < c->steps);
    if (tr->micro_batches > 1 || tr->comm)
        return lsc_trainer_step_dp_(tr, err);
    int rc = tr->batch_fn(tr->batch_ctx, c->B, c->T, tr->inputs, tr->targets, tr->mask,
                          &tr->data_rng, err);
    if (rc != LSC_OK)
        return rc;
    lsc_gpt_zero_grad(tr->model);
    uint64_t *drop_rng = (tr->lora && tr->lora->config.dropout > 0.0) ? &tr->rng : NULL;
    if ((rc = lsc_gpt_forward(tr->model, tr->inputs, tr->targets, tr->mask, c->B, c->T,
                              drop_rng, err)) != LSC_OK)
        return rc;
    double loss = tr->model->mean_loss;
    if (!isfinite(loss))
        LSC_FAIL(err, LSC_ENAN, "step %ld: training loss is %s; stopped before updating", tr->step + 1,
                 isnan(loss) ? "NaN" : "Inf");
    if ((rc = lsc_gpt_backward(tr->model, err)) != LSC_OK)
        return rc;
    return lsc_trainer_update_(tr, loss, err);
}

// ---- validation ----

int lsc_trainer_evaluate(lsc_trainer *tr, double *val_loss, lsc_error *err)
{
    *val_loss = NAN;
    if (tr->n_val == 0)
        LSC_FAIL(err, LSC_EARG, "trainer: no validation batches");
    const lsc_train_config *c = &tr->cfg;
    size_t BT = (size_t)c->B * (size_t)c->T;
    double sum = 0.0, wsum = 0.0;
    for (int i = 0; i < tr->n_val; i++) {
        size_t o = (size_t)i * BT;
        int rc = lsc_gpt_forward(tr->model, tr->val_inputs + o, tr->val_targets + o, tr->val_mask + o,
                                 c->B, c->T, NULL, err);
        if (rc != LSC_OK)
            return rc;
        /* weight each batch by its mask so the result is the mean over
         * every scored position of the whole set */
        sum += (double)tr->model->mean_loss * (double)tr->model->mask_sum;
        wsum += (double)tr->model->mask_sum;
    }
    *val_loss = wsum > 0.0 ? sum / wsum : 0.0;
    return LSC_OK;
}

static int record_eval(lsc_trainer *tr, lsc_train_progress_fn fn, void *ctx, int *stop,
                       lsc_error *err)
{
    double vl;
    int rc = lsc_trainer_evaluate(tr, &vl, err);
    if (rc != LSC_OK)
        return rc;
    if (tr->n_eval > 0 && tr->eval_step[tr->n_eval - 1] == tr->step)
        tr->n_eval--;   /* re-evaluation of the same step (after a resume) */
    if (tr->n_eval >= tr->eval_cap)
        LSC_FAIL(err, LSC_EARG, "trainer: more evaluations than planned");
    tr->eval_step[tr->n_eval] = tr->step;
    tr->eval_loss[tr->n_eval] = (float)vl;
    tr->n_eval++;
    if (!isfinite(vl))
        LSC_FAIL(err, LSC_ENAN, "step %ld: validation loss is %s", tr->step, isnan(vl) ? "NaN" : "Inf");
    if (fn) {
        lsc_train_status st = {0};
        st.step = tr->step;
        st.steps = tr->cfg.steps;
        st.loss = tr->step > 0 ? tr->log_loss[tr->step - 1] : NAN;
        st.lr = tr->step > 0 ? tr->log_lr[tr->step - 1] : 0.0;
        st.is_eval = 1;
        st.val_loss = vl;
        if (fn(ctx, &st))
            *stop = 1;
    }
    return LSC_OK;
}

// ---- the loop ----

/* Appends the checkpoint that is still intact to a NaN/Inf message. */
static void note_checkpoint(const lsc_trainer *tr, lsc_error *err)
{
    if (!err || !tr->cfg.ckpt_path)
        return;
    size_t len = strlen(err->msg);
    if (tr->last_ckpt_step > 0)
        snprintf(err->msg + len, sizeof err->msg - len, " (last good checkpoint: step %ld in %s)",
                 tr->last_ckpt_step, tr->cfg.ckpt_path);
    else
        snprintf(err->msg + len, sizeof err->msg - len, " (no checkpoint was written yet)");
}

int lsc_trainer_run(lsc_trainer *tr, long until, lsc_train_progress_fn fn, void *ctx,
                    lsc_error *err)
{
    const lsc_train_config *c = &tr->cfg;
    if (until <= 0 || until > c->steps)
        until = c->steps;
    int rc = LSC_OK, stop = 0;
    long start_step = tr->step;
    double t0 = now_s(), wall0 = tr->wall_s;   /* this session, earlier sessions */
    double tokens_per_step = (double)c->B * (double)c->T;
    tr->stopped = 0;
    while (tr->step < until && !stop) {
        double ts = now_s();
        if ((rc = lsc_trainer_step(tr, err)) != LSC_OK) {
            tr->wall_s = wall0 + (now_s() - t0);
            if (rc == LSC_ENAN)
                note_checkpoint(tr, err);
            return rc;
        }
        double te = now_s();
        tr->log_step_ms[tr->step - 1] = (float)(1e3 * (te - ts));
        if (fn) {
            lsc_train_status st = {0};
            st.step = tr->step;
            st.steps = c->steps;
            st.loss = tr->log_loss[tr->step - 1];
            st.lr = tr->log_lr[tr->step - 1];
            st.grad_norm = tr->log_grad_norm[tr->step - 1];
            st.step_ms = tr->log_step_ms[tr->step - 1];
            st.elapsed_s = te - t0;
            double done = (double)(tr->step - start_step);
            st.tokens_per_s = st.elapsed_s > 0 ? done * tokens_per_step / st.elapsed_s : 0.0;
            st.eta_s = done > 0 ? st.elapsed_s / done * (double)(c->steps - tr->step) : 0.0;
            st.val_loss = NAN;
            if (fn(ctx, &st))
                stop = 1;
        }
        int at_end = tr->step == c->steps;
        if (tr->n_val > 0 && (at_end || (c->eval_every > 0 && tr->step % c->eval_every == 0)))
            if ((rc = record_eval(tr, fn, ctx, &stop, err)) != LSC_OK) {
                tr->wall_s = wall0 + (now_s() - t0);
                if (rc == LSC_ENAN)
                    note_checkpoint(tr, err);
                return rc;
            }
        if (c->ckpt_path && !at_end && c->ckpt_every > 0 && tr->step % c->ckpt_every == 0) {
            tr->wall_s = wall0 + (now_s() - t0);
            if ((rc = lsc_trainer_save(tr, c->ckpt_path, err)) != LSC_OK)
                return rc;
        }
    }
    tr->stopped = stop;
    tr->wall_s = wall0 + (now_s() - t0);
    /* at the end, when stopped early, or when run only up to `until`: the
     * state is saved so that --resume can continue from here */
    if (c->ckpt_path && tr->last_ckpt_step != tr->step)
        if ((rc = lsc_trainer_save(tr, c->ckpt_path, err)) != LSC_OK)
            return rc;
    return LSC_OK;
}

// ---- checkpoints ----

static void u64_hex(uint64_t x, char buf[17])
{
    snprintf(buf, 17, "%016" PRIx64, x);
}

static int hex_u64(const char *s, uint64_t *x)
{
    if (!s || strlen(s) != 16)
        return -1;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char ch = s[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *x = v;
    return 0;
}

int lsc_trainer_save(lsc_trainer *tr, const char *path, lsc_error *err)
{
    const lsc_train_config *c = &tr->cfg;
    if (!lsc_trainer_writes_(tr)) {   /* data-parallel: rank 0 alone writes the checkpoint */
        tr->last_ckpt_step = tr->step;
        return LSC_OK;
    }
    lsc_st_entry e[9];
    int ne = 0;
    int64_t ntr = (int64_t)tr->n, ns = (int64_t)tr->step, nev = (int64_t)tr->n_eval;
    e[ne++] = (lsc_st_entry){"train.params", LSC_DT_F32, 1, {ntr}, tr->params};
    e[ne++] = (lsc_st_entry){"train.adam_m", LSC_DT_F32, 1, {ntr}, tr->m};
    e[ne++] = (lsc_st_entry){"train.adam_v", LSC_DT_F32, 1, {ntr}, tr->v};
    int64_t *ev = NULL;
    if (ns > 0) {
        e[ne++] = (lsc_st_entry){"log.loss", LSC_DT_F32, 1, {ns}, tr->log_loss};
        e[ne++] = (lsc_st_entry){"log.lr", LSC_DT_F32, 1, {ns}, tr->log_lr};
        e[ne++] = (lsc_st_entry){"log.grad_norm", LSC_DT_F32, 1, {ns}, tr->log_grad_norm};
        e[ne++] = (lsc_st_entry){"log.step_ms", LSC_DT_F32, 1, {ns}, tr->log_step_ms};
    }
    if (nev > 0) {
        ev = LSC_MALLOC((size_t)nev * sizeof *ev);
        if (!ev)
            LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", path);
        for (long i = 0; i < tr->n_eval; i++)
            ev[i] = tr->eval_step[i];
        e[ne++] = (lsc_st_entry){"log.eval_step", LSC_DT_I64, 1, {nev}, ev};
        e[ne++] = (lsc_st_entry){"log.eval_loss", LSC_DT_F32, 1, {nev}, tr->eval_loss};
    }
    char step[32], steps[32], n[32], rng[17], drng[17], wall[40], bt[48];
    snprintf(step, sizeof step, "%ld", tr->step);
    snprintf(steps, sizeof steps, "%ld", c->steps);
    snprintf(n, sizeof n, "%zu", tr->n);
    u64_hex(tr->rng, rng);
    u64_hex(tr->data_rng, drng);
    snprintf(wall, sizeof wall, "%.17g", tr->wall_s);
    snprintf(bt, sizeof bt, "%d,%d", c->B, c->T);
    const char *keys[] = {"lsc_format", "lsc_format_version", "mode", "step", "steps",
                          "num_trainable", "rng", "data_rng", "wall_s", "batch_ctx", "config"};
    const char *vals[] = {LSC_CKPT_FORMAT, LSC_CKPT_FORMAT_VERSION, tr->lora ? "lora" : "full", step, steps, n,
                          rng, drng, wall, bt, c->config_json ? c->config_json : ""};
    int rc = lsc_st_write(path, e, ne, keys, vals, (int)(sizeof keys / sizeof keys[0]), err);
    LSC_FREE(ev);
    if (rc == LSC_OK)
        tr->last_ckpt_step = tr->step;
    return rc;
}

static int read_f32_exact(const lsc_st_file *f, const char *name, float *out, size_t n,
                          lsc_error *err)
{
    const lsc_st_tensor *t = lsc_st_find(f, name);
    if (!t)
        LSC_FAIL(err, LSC_EFORMAT, "%s: checkpoint has no tensor '%s'", f->path, name);
    if (t->dtype != LSC_DT_F32 || t->numel != n)
        LSC_FAIL(err, LSC_EFORMAT, "%s: checkpoint tensor '%s' has %zu %s values, expected %zu F32",
                 f->path, name, t->numel, lsc_dtype_name(t->dtype), n);
    memcpy(out, lsc_st_bytes(f, t), n * sizeof(float));
    return LSC_OK;
}

int lsc_trainer_resume(lsc_trainer *tr, const char *path, lsc_error *err)
{
    lsc_st_file f;
    int rc = lsc_st_open(&f, path, err);
    if (rc != LSC_OK)
        return rc;
    const lsc_train_config *c = &tr->cfg;
    const char *fmt = lsc_st_meta(&f, "lsc_format"), *ver = lsc_st_meta(&f, "lsc_format_version");
    const char *mode = lsc_st_meta(&f, "mode"), *cfgj = lsc_st_meta(&f, "config");
    const char *s_step = lsc_st_meta(&f, "step"), *s_steps = lsc_st_meta(&f, "steps");
    const char *s_n = lsc_st_meta(&f, "num_trainable"), *s_bt = lsc_st_meta(&f, "batch_ctx");
    const char *s_wall = lsc_st_meta(&f, "wall_s");
    char bt[48], n[32], steps[32];
    long step;
    uint64_t rng, drng;
    snprintf(bt, sizeof bt, "%d,%d", c->B, c->T);
    snprintf(n, sizeof n, "%zu", tr->n);
    snprintf(steps, sizeof steps, "%ld", c->steps);
    if (!fmt || strcmp(fmt, LSC_CKPT_FORMAT) != 0) {
        rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__, "%s: not a lorascope training checkpoint", path);
        goto fail;
    }
    if (!ver || strcmp(ver, LSC_CKPT_FORMAT_VERSION) != 0) {
        rc = lsc_error_set(err, LSC_EVERSION, __FILE__, __LINE__, "%s: checkpoint format version %s, this build reads %s",
                           path, ver ? ver : "(none)", LSC_CKPT_FORMAT_VERSION);
        goto fail;
    }
    if (!mode || strcmp(mode, tr->lora ? "lora" : "full") != 0 || !s_n || strcmp(s_n, n) != 0 ||
        !s_bt || strcmp(s_bt, bt) != 0 || !s_steps || strcmp(s_steps, steps) != 0 ||
        strcmp(cfgj ? cfgj : "", c->config_json ? c->config_json : "") != 0) {
        rc = lsc_error_set(err, LSC_EARG, __FILE__, __LINE__,
                           "%s: checkpoint was made by a different run configuration (mode %s, %s trainable, "
                           "batch,ctx %s, steps %s); resume with the same options",
                           path, mode ? mode : "?", s_n ? s_n : "?", s_bt ? s_bt : "?", s_steps ? s_steps : "?");
        goto fail;
    }
    char *end;
    step = s_step ? strtol(s_step, &end, 10) : -1;
    if (!s_step || *end || step < 0 || step > c->steps || hex_u64(lsc_st_meta(&f, "rng"), &rng) ||
        hex_u64(lsc_st_meta(&f, "data_rng"), &drng)) {
        rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__, "%s: checkpoint step or rng state is malformed", path);
        goto fail;
    }
    if ((rc = read_f32_exact(&f, "train.params", tr->params, tr->n, err)) != LSC_OK ||
        (rc = read_f32_exact(&f, "train.adam_m", tr->m, tr->n, err)) != LSC_OK ||
        (rc = read_f32_exact(&f, "train.adam_v", tr->v, tr->n, err)) != LSC_OK)
        goto fail;
    if (step > 0) {
        size_t s = (size_t)step;
        if ((rc = read_f32_exact(&f, "log.loss", tr->log_loss, s, err)) != LSC_OK ||
            (rc = read_f32_exact(&f, "log.lr", tr->log_lr, s, err)) != LSC_OK ||
            (rc = read_f32_exact(&f, "log.grad_norm", tr->log_grad_norm, s, err)) != LSC_OK ||
            (rc = read_f32_exact(&f, "log.step_ms", tr->log_step_ms, s, err)) != LSC_OK)
            goto fail;
    }
    tr->n_eval = 0;
    const lsc_st_tensor *es = lsc_st_find(&f, "log.eval_step");
    if (es) {
        if (es->dtype != LSC_DT_I64 || es->ndim != 1 || (long)es->numel > tr->eval_cap) {
            rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__, "%s: checkpoint evaluation log is malformed", path);
            goto fail;
        }
        const uint8_t *p = lsc_st_bytes(&f, es);
        for (size_t i = 0; i < es->numel; i++) {
            int64_t v;
            memcpy(&v, p + 8 * i, 8);
            tr->eval_step[i] = (long)v;
        }
        if ((rc = read_f32_exact(&f, "log.eval_loss", tr->eval_loss, es->numel, err)) != LSC_OK)
            goto fail;
        tr->n_eval = (long)es->numel;
    }
    tr->step = step;
    tr->rng = rng;
    tr->data_rng = drng;
    tr->wall_s = s_wall ? strtod(s_wall, NULL) : 0.0;
    tr->last_ckpt_step = step;
    lsc_st_close(&f);
    return LSC_OK;
fail:
    lsc_st_close(&f);
    return rc;
}

// ---- evaluation without training ----

int lsc_eval_loss(lsc_gpt *m, lsc_batch_fn fn, void *ctx, int n_batches, int B, int T,
                  uint64_t seed, double *loss, lsc_error *err)
{
    *loss = NAN;
    if (n_batches < 1 || B < 1 || T < 1)
        LSC_FAIL(err, LSC_EARG, "eval: batches, batch size and context must be >= 1");
    if (T > m->config.n_ctx)
        LSC_FAIL(err, LSC_EARG, "eval: context %d is above the model's n_ctx %d", T, m->config.n_ctx);
    int rc;
    if (m->B_alloc < B || m->T_alloc < T)
        if ((rc = lsc_gpt_alloc_acts(m, B, T, err)) != LSC_OK)
            return rc;
    size_t BT = (size_t)B * (size_t)T;
    int *in = LSC_MALLOC(BT * sizeof(int)), *tg = LSC_MALLOC(BT * sizeof(int));
    float *mk = LSC_MALLOC(BT * sizeof(float));
    if (!in || !tg || !mk) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "eval: out of memory");
        goto done;
    }
    uint64_t rng;
    lsc_rng_seed(&rng, seed);
    double sum = 0.0, wsum = 0.0;
    for (int i = 0; i < n_batches; i++) {
        if ((rc = fn(ctx, B, T, in, tg, mk, &rng, err)) != LSC_OK)
            goto done;
        if ((rc = lsc_gpt_forward(m, in, tg, mk, B, T, NULL, err)) != LSC_OK)
            goto done;
        sum += (double)m->mean_loss * (double)m->mask_sum;
        wsum += (double)m->mask_sum;
    }
    *loss = wsum > 0.0 ? sum / wsum : 0.0;
    rc = LSC_OK;
done:
    LSC_FREE(in);
    LSC_FREE(tg);
    LSC_FREE(mk);
    return rc;
}

// ---- decoding ----

static int sample_row(const float *logits, int V, double temperature, uint64_t *rng)
{
    int best = 0;
    for (int j = 1; j < V; j++)
        if (logits[j] > logits[best])
            best = j;
    if (temperature <= 0.0 || !rng)
        return best;
    /* softmax(logits/temperature) in double, then inverse-CDF sampling */
    double mx = logits[best], z = 0.0;
    for (int j = 0; j < V; j++)
        z += exp(((double)logits[j] - mx) / temperature);
    double u = lsc_rng_uniform_d(rng) * z, acc = 0.0;
    for (int j = 0; j < V; j++) {
        acc += exp(((double)logits[j] - mx) / temperature);
        if (u < acc)
            return j;
    }
    return best;
}

/* Decoding by recomputing each row's window of its last <= Tw tokens at
 * every step: the path for rows that outgrow the context (or the
 * activations). */
static int decode_window(lsc_gpt *m, int n_rows, int *tokens, int width, const int *prompt_len,
                         int max_new, int stop_token, double temperature, uint64_t *rng, int *out_len,
                         lsc_error *err)
{
    const int V = m->config.vocab, n_ctx = m->config.n_ctx;
    const int Bc = m->B_alloc, Tw = m->T_alloc < n_ctx ? m->T_alloc : n_ctx;
    int *in = LSC_MALLOC((size_t)Bc * (size_t)Tw * sizeof(int));
    int *start = LSC_MALLOC((size_t)Bc * sizeof(int));
    char *active = LSC_MALLOC((size_t)Bc);
    if (!in || !start || !active) {
        LSC_FREE(in);
        LSC_FREE(start);
        LSC_FREE(active);
        LSC_FAIL(err, LSC_ENOMEM, "decode: out of memory");
    }
    int rc = LSC_OK;
    for (int r0 = 0; r0 < n_rows; r0 += Bc) {
        int nb = n_rows - r0 < Bc ? n_rows - r0 : Bc;
        for (int b = 0; b < nb; b++)
            active[b] = max_new > 0 && out_len[r0 + b] < width;
        for (int k = 0; k < max_new; k++) {
            int any = 0, T = 1;
            for (int b = 0; b < nb; b++)
                if (active[b]) {
                    any = 1;
                    int len = out_len[r0 + b], w = len < Tw ? len : Tw;
                    if (w > T)
                        T = w;
                }
            if (!any)
                break;
            /* each row left-aligned in its own window of its last <= Tw
             * tokens, right-padded: causal attention never sees the pad */
            for (int b = 0; b < nb; b++) {
                const int *row = tokens + (size_t)(r0 + b) * (size_t)width;
                int len = out_len[r0 + b], w = len < T ? len : T;
                start[b] = len - w;
                for (int t = 0; t < T; t++)
                    in[(size_t)b * T + t] = t < w ? row[start[b] + t] : 0;
            }
            if ((rc = lsc_gpt_forward(m, in, NULL, NULL, nb, T, NULL, err)) != LSC_OK)
                goto done;
            const float *logits = lsc_gpt_logits(m);
            for (int b = 0; b < nb; b++) {
                if (!active[b])
                    continue;
                int *row = tokens + (size_t)(r0 + b) * (size_t)width;
                int len = out_len[r0 + b], pos = len - start[b] - 1;
                int tok = sample_row(logits + ((size_t)b * T + (size_t)pos) * (size_t)V, V, temperature, rng);
                row[len] = tok;
                out_len[r0 + b] = len + 1;
                if (tok == stop_token || len + 1 >= width || len + 1 - prompt_len[r0 + b] >= max_new)
                    active[b] = 0;
            }
        }
    }
done:
    LSC_FREE(in);
    LSC_FREE(start);
    LSC_FREE(active);
    return rc;
}

/* Decoding with a key/value cache when every row fits in the context: each
 * chunk of rows advances in lock step, one position per step, feeding the
 * prompt (prefill) and then its own samples; a row leaves the step when it
 * stops. */
static int decode_cached(lsc_gpt *m, int n_rows, int *tokens, int width, const int *prompt_len,
                         int max_new, int stop_token, double temperature, uint64_t *rng, int *out_len,
                         lsc_error *err)
{
    const int V = m->config.vocab, Bc = m->B_alloc * m->T_alloc < 128 ? m->B_alloc * m->T_alloc : 128;
    const int Tk = width - 1 > 1 ? width - 1 : 1;
    lsc_kv_cache kv;
    int rc = lsc_kv_cache_alloc(&kv, m, Bc, Tk, err);
    if (rc != LSC_OK)
        return rc;
    int *tok = LSC_MALLOC((size_t)Bc * sizeof(int)), *slot = LSC_MALLOC((size_t)Bc * sizeof(int));
    int *pos = LSC_MALLOC((size_t)Bc * sizeof(int));
    char *active = LSC_MALLOC((size_t)Bc);
    if (!tok || !slot || !pos || !active) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "decode: out of memory");
        goto done;
    }
    for (int r0 = 0; r0 < n_rows; r0 += Bc) {
        int nb = n_rows - r0 < Bc ? n_rows - r0 : Bc;
        for (int b = 0; b < nb; b++)
            active[b] = max_new > 0 && out_len[r0 + b] < width;
        for (int t = 0;; t++) {
            int n = 0;
            for (int b = 0; b < nb; b++)
                if (active[b] && t < out_len[r0 + b]) {
                    tok[n] = tokens[(size_t)(r0 + b) * (size_t)width + (size_t)t];
                    slot[n] = b;
                    pos[n] = t;
                    n++;
                }
            if (n == 0)
                break;
            if ((rc = lsc_gpt_forward_step(m, &kv, tok, slot, pos, n, err)) != LSC_OK)
                goto done;
            const float *logits = lsc_gpt_logits(m);
            for (int j = 0; j < n; j++) {
                int b = slot[j], len = out_len[r0 + b];
                if (t != len - 1)
                    continue;   /* still reading the prompt */
                int *row = tokens + (size_t)(r0 + b) * (size_t)width;
                int next = sample_row(logits + (size_t)j * (size_t)V, V, temperature, rng);
                row[len] = next;
                out_len[r0 + b] = len + 1;
                if (next == stop_token || len + 1 >= width || len + 1 - prompt_len[r0 + b] >= max_new)
                    active[b] = 0;
            }
        }
    }
done:
    lsc_kv_cache_free(&kv);
    LSC_FREE(tok);
    LSC_FREE(slot);
    LSC_FREE(pos);
    LSC_FREE(active);
    return rc;
}

int lsc_decode(lsc_gpt *m, int n_rows, int *tokens, int width, const int *prompt_len,
               int max_new, int stop_token, double temperature, uint64_t *rng, int *out_len,
               lsc_error *err)
{
    const int n_ctx = m->config.n_ctx;
    if (n_rows < 1 || width < 1 || max_new < 0)
        LSC_FAIL(err, LSC_EARG, "decode: rows, width must be >= 1 and max_new >= 0");
    if (!m->acts || m->B_alloc < 1 || m->T_alloc < 1)
        LSC_FAIL(err, LSC_EARG, "decode: allocate the model's activations first (lsc_gpt_alloc_acts)");
    const int Tw = m->T_alloc < n_ctx ? m->T_alloc : n_ctx;
    for (int i = 0; i < n_rows; i++) {
        if (prompt_len[i] < 1 || prompt_len[i] > width)
            LSC_FAIL(err, LSC_EARG, "decode: row %d has prompt length %d (width %d)", i, prompt_len[i], width);
        out_len[i] = prompt_len[i];
    }
    /* the last token of a row is never fed back, so width - 1 positions */
    if (width - 1 <= Tw)
        return decode_cached(m, n_rows, tokens, width, prompt_len, max_new, stop_token, temperature,
                             rng, out_len, err);
    return decode_window(m, n_rows, tokens, width, prompt_len, max_new, stop_token, temperature, rng,
                         out_len, err);
}

// ---- FLOP and memory model ----

/* FLOPs of one training step on (B, T), counted as 2 per multiply-add of the
 * matrix products (element-wise work — LayerNorm, GELU, softmax, AdamW — is
 * O(BTC) and left out):
 *   forward, per token: 2·P_mm, P_mm = L·12C² (q,k,v,o: 4C²; fc_in, fc_out:
 *     8C²) + V·C (tied LM head); attention per layer 4·T·C (S = QKᵀ and P·V,
 *     both computed over the full T×T, as layers.c does); LoRA modules
 *     2·r·(in + out) each.
 *   backward: every product has an input-gradient GEMM (= its forward cost)
 *     and, when its weight is trainable, a weight-gradient GEMM (= forward
 *     cost again). Full: 2× forward. LoRA: frozen weights and the LM head
 *     only 1×, attention 2× (no weights), LoRA modules 2×.
 * So full = 3·fwd, and LoRA ≈ 2·P_mm-part + 3·(attention + adapter): about
 * 2/3 of full when the adapter is small. */
double lsc_train_step_flops(const lsc_gpt_config *c, const lsc_lora *lo, int B, int T, int full)
{
    double C = c->n_embd, L = c->n_layer, V = c->vocab, tok = (double)B * (double)T;
    double mm = 2.0 * (L * 12.0 * C * C + V * C) * tok;
    double att = L * 4.0 * (double)T * C * tok;
    double ad = 0.0;
    if (lo)
        for (int i = 0; i < lo->n_modules; i++)
            ad += 2.0 * (double)lo->modules[i].r * (double)(lo->modules[i].in + lo->modules[i].out) * tok;
    if (full)
        return 3.0 * (mm + att);
    return 2.0 * mm + 3.0 * att + 3.0 * ad;
}

size_t lsc_train_predicted_bytes(const lsc_trainer *tr, lsc_train_memory *parts)
{
    const lsc_gpt *m = tr->model;
    lsc_train_memory p = {0};
    size_t BT = (size_t)tr->cfg.B * (size_t)tr->cfg.T;
    p.weights = lsc_gpt_weight_bytes(m, NULL);   /* fp32 buffer, or NF4 data + tile */
    p.grads = (m->grads_memory ? m->num_parameters : 0) * sizeof(float);
    p.moments = 2 * tr->n * sizeof(float);
    p.activations = (m->acts ? m->acts->num : 0) * sizeof(float);
    if (tr->lora) {
        p.weights += tr->lora->num_parameters * sizeof(float);
        p.grads += tr->lora->num_parameters * sizeof(float);
        p.activations += tr->lora->num_acts * sizeof(float);
    }
    p.batches = (3 * BT + 3 * BT * (size_t)tr->n_val) * sizeof(float);
    p.total = p.weights + p.grads + p.moments + p.activations + p.batches;
    if (parts)
        *parts = p;
    return p.total;
}

// ---- pretraining profiles ----

/* The sizes behind `lorascope pretrain --profile`. Measured wall times on
 * the 2-core reference machine are stated in the CLI help and README.
 *   tiny:  L2 NH2 C48 ctx64,   B8  × 400 steps, lr 3e-3 (seconds; tests)
 *   quick: L4 NH4 C128 ctx128, B16 × 1200 steps, lr 2e-3 (a few minutes)
 *   paper: L2 NH8 C512 ctx128, B16 × 17000 steps, lr 1e-3 (d = 512: r = 64
 *          is d/8; a full step takes ~0.53 s on 2 threads, so ~2.5 h)
 * All: warm-up 5 % of the steps, cosine to 10 % of lr, weight decay 0.1 on
 * 2-D weights, clip 1.0, validation every 10 % of the steps. */
int lsc_pretrain_profile(const char *name, lsc_gpt_config *mc, lsc_train_config *tc)
{
    lsc_train_config_default(tc);
    memset(mc, 0, sizeof *mc);
    mc->vocab = 256;
    if (name && strcmp(name, "tiny") == 0) {
        *mc = (lsc_gpt_config){.n_layer = 2, .n_head = 2, .n_embd = 48, .n_ctx = 64, .vocab = 256};
        tc->B = 8;
        tc->T = 64;
        tc->steps = 400;
        tc->opt.lr = 3e-3;
    } else if (name && strcmp(name, "quick") == 0) {
        *mc = (lsc_gpt_config){.n_layer = 4, .n_head = 4, .n_embd = 128, .n_ctx = 128, .vocab = 256};
        tc->B = 16;
        tc->T = 128;
        tc->steps = 1200;
        tc->opt.lr = 2e-3;
    } else if (name && strcmp(name, "paper") == 0) {
        *mc = (lsc_gpt_config){.n_layer = 2, .n_head = 8, .n_embd = 512, .n_ctx = 128, .vocab = 256};
        tc->B = 16;
        tc->T = 128;
        tc->steps = 17000;
        tc->opt.lr = 1e-3;
    } else {
        return LSC_EARG;
    }
    tc->opt.warmup = tc->steps / 20;
    tc->opt.min_lr_frac = 0.1;
    tc->opt.weight_decay = 0.1;
    tc->opt.grad_clip = 1.0;
    tc->opt.steps = tc->steps;
    tc->eval_every = tc->steps / 10;
    tc->eval_batches = 16;
    return LSC_OK;
}
