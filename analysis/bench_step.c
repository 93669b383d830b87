/*
 * bench_step.c — `lorascope bench sgemm` and `lorascope bench model`: the
 * training step's GEMMs through OpenBLAS at its shapes (the machine's
 * limit) and the FLOP and memory model of one step. Not the command or the
 * timing (bench.c), and not a trainer: nothing here runs a model.
 *
 * Shape vocabulary: N token rows (B·T), d model width (C), OC out
 * features; FLOPs count a multiply-add as 2.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <cblas.h>

#include "bench.h"

// ---- sgemm: the machine's limit at the training step's shapes ----

/* The three GEMMs of a linear layer with weight W (OC, C) on N rows, as the
 * training step calls them (row-major, lib/layers.c):
 *   fwd     out (N, OC)  = inp (N, C) · Wᵀ           sgemm(N, T,  N, OC, C)
 *   dinp    dinp (N, C) += dout (N, OC) · W          sgemm(N, N,  N, C, OC)
 *   dW      dW (OC, C)  += dout (N, OC)ᵀ · inp (N, C) sgemm(T, N, OC, C, N)
 * Per transformer block: four d×d (q, k, v, o), one 4d×d (fc_in), one d×4d
 * (fc_out). The limit of a step is Σ flops / Σ time over this mix: all three
 * kinds for full fine-tuning, fwd + dinp for a frozen base (LoRA). */
enum { G_FWD = 0, G_DINP = 1, G_DW = 2 };
static const char *const gemm_kind_name[3] = {"fwd", "dinp", "dW"};

typedef struct gemm_ctx {
    int kind, N, C, OC;
    const float *inp, *w, *dout;
    float *out;
} gemm_ctx;

static int gemm_run(void *p)
{
    gemm_ctx *g = p;
    switch (g->kind) {
    case G_FWD:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g->N, g->OC, g->C, 1.0f, g->inp,
                    g->C, g->w, g->C, 0.0f, g->out, g->OC);
        break;
    case G_DINP:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->N, g->C, g->OC, 1.0f, g->dout,
                    g->OC, g->w, g->C, 1.0f, g->out, g->C);
        break;
    default:
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g->OC, g->C, g->N, 1.0f, g->dout,
                    g->OC, g->inp, g->C, 1.0f, g->out, g->C);
        break;
    }
    return 0;
}

typedef struct bench_shape {
    const char *name;
    int layers, heads, embd, ctx, batch;
} bench_shape;

/* The training shapes (and a tiny one for --quick). */
static const bench_shape SHAPES[] = {
    {"S", 4, 4, 256, 128, 8},
    {"M", 6, 6, 384, 256, 8},
    {"L", 12, 12, 768, 128, 4},
};
static const bench_shape QUICK_SHAPE = {"quick", 2, 2, 128, 64, 4};

static int sgemm_shape(const bench_shape *sh, const bench_opts *bo, cJSON *arr, uint64_t *rng)
{
    int N = sh->batch * sh->ctx, d = sh->embd;
    /* inp, dout (N, 4d) at most; out is (N, OC) or a weight gradient (OC, C), up to 4d·d */
    size_t big = (size_t)N * 4 * (size_t)d, wsz = 4 * (size_t)d * (size_t)d;
    size_t osz = big > wsz ? big : wsz;
    float *inp = malloc(big * sizeof *inp), *dout = malloc(big * sizeof *dout);
    float *out = malloc(osz * sizeof *out), *w = malloc(wsz * sizeof *w);
    if (!inp || !dout || !out || !w) {
        free(inp); free(dout); free(out); free(w);
        return cli_error("bench", CLI_FAIL, "sgemm: out of memory for shape %s", sh->name);
    }
    bench_fill_gauss_f_(inp, big, 1.0f, rng);
    bench_fill_gauss_f_(dout, big, 1.0f, rng);
    bench_fill_gauss_f_(w, wsz, 0.02f, rng);
    memset(out, 0, osz * sizeof *out);

    /* weights (OC, C) and how often each appears per block */
    const struct { const char *name; int oc_mul, c_mul, count; } W[3] = {
        {"dxd", 1, 1, 4}, {"4dxd", 4, 1, 1}, {"dx4d", 1, 4, 1}};
    double fl_all = 0, t_all_med = 0, t_all_min = 0, t_all_max = 0;
    double fl_frz = 0, t_frz_med = 0, t_frz_min = 0, t_frz_max = 0;
    cJSON *js = cJSON_CreateObject(), *jg = cJSON_CreateArray();
    cJSON_AddStringToObject(js, "shape", sh->name);
    cJSON_AddNumberToObject(js, "rows", N);
    cJSON_AddNumberToObject(js, "d", d);
    printf("shape %s: N = B*T = %d rows, d = %d, %d thread%s\n", sh->name, N, d, bo->threads,
           bo->threads == 1 ? "" : "s");
    printf("  %-5s %-5s %6s %6s %6s %5s %10s %10s %10s %10s\n", "W", "kind", "M", "N", "K",
           "count", "ms_med", "GFLOP/s", "GF/s_min", "GF/s_max");
    for (int wi = 0; wi < 3; wi++) {
        int OC = W[wi].oc_mul * d, C = W[wi].c_mul * d;
        for (int kind = 0; kind < 3; kind++) {
            gemm_ctx g = {kind, N, C, OC, inp, w, dout, out};
            int gm = kind == G_FWD ? N : (kind == G_DINP ? N : OC);
            int gn = kind == G_FWD ? OC : C;
            int gk = kind == G_FWD ? C : (kind == G_DINP ? OC : N);
            double flops = 2.0 * gm * gn * gk;
            int inner = bench_calibrate_(gemm_run, &g, bo->quick ? 0.005 : 0.05);
            stat3 s;
            bench_time_(gemm_run, &g, NULL, 1, bo->reps, inner, &s);
            double cnt = W[wi].count;
            fl_all += cnt * flops;
            t_all_med += cnt * s.med; t_all_min += cnt * s.min; t_all_max += cnt * s.max;
            if (kind != G_DW) {
                fl_frz += cnt * flops;
                t_frz_med += cnt * s.med; t_frz_min += cnt * s.min; t_frz_max += cnt * s.max;
            }
            printf("  %-5s %-5s %6d %6d %6d %5d %10.3f %10.1f %10.1f %10.1f\n", W[wi].name,
                   gemm_kind_name[kind], gm, gn, gk, W[wi].count, 1e3 * s.med, flops / s.med / 1e9,
                   flops / s.max / 1e9, flops / s.min / 1e9);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "weight", W[wi].name);
            cJSON_AddStringToObject(e, "kind", gemm_kind_name[kind]);
            cJSON_AddNumberToObject(e, "M", gm);
            cJSON_AddNumberToObject(e, "N", gn);
            cJSON_AddNumberToObject(e, "K", gk);
            cJSON_AddNumberToObject(e, "count", W[wi].count);
            bench_json_stat_ms_(e, "time", s);
            cJSON_AddNumberToObject(e, "gflops_median", flops / s.med / 1e9);
            cJSON_AddNumberToObject(e, "gflops_min", flops / s.max / 1e9);
            cJSON_AddNumberToObject(e, "gflops_max", flops / s.min / 1e9);
            cJSON_AddItemToArray(jg, e);
        }
    }
    double lim = fl_all / t_all_med / 1e9, lim_lo = fl_all / t_all_max / 1e9,
           lim_hi = fl_all / t_all_min / 1e9;
    double lf = fl_frz / t_frz_med / 1e9, lf_lo = fl_frz / t_frz_max / 1e9,
           lf_hi = fl_frz / t_frz_min / 1e9;
    printf("  limit, full step mix (fwd+dinp+dW): %.1f GFLOP/s (min %.1f, max %.1f)\n", lim, lim_lo,
           lim_hi);
    printf("  limit, frozen-base mix (fwd+dinp):  %.1f GFLOP/s (min %.1f, max %.1f)\n\n", lf, lf_lo,
           lf_hi);
    cJSON_AddItemToObject(js, "gemms", jg);
    cJSON_AddNumberToObject(js, "limit_full_gflops", lim);
    cJSON_AddNumberToObject(js, "limit_full_gflops_min", lim_lo);
    cJSON_AddNumberToObject(js, "limit_full_gflops_max", lim_hi);
    cJSON_AddNumberToObject(js, "limit_frozen_gflops", lf);
    cJSON_AddNumberToObject(js, "limit_frozen_gflops_min", lf_lo);
    cJSON_AddNumberToObject(js, "limit_frozen_gflops_max", lf_hi);
    cJSON_AddNumberToObject(js, "block_gemm_flops_full", fl_all);
    cJSON_AddItemToArray(arr, js);
    free(inp); free(dout); free(out); free(w);
    return CLI_OK;
}

int bench_sgemm_(const bench_opts *bo, const char *shape)
{
    bench_run run;
    bench_begin_(&run, bo);
    int rc = CLI_OK;
    printf("SGEMM through OpenBLAS (%s kernels), %d thread%s, median of %d after a warm-up\n\n",
           openblas_get_corename(), bo->threads, bo->threads == 1 ? "" : "s", bo->reps);
    if (bo->quick) {
        rc = sgemm_shape(&QUICK_SHAPE, bo, run.arr, &run.rng);
    } else {
        for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0] && rc == CLI_OK; i++)
            if (!shape || strcmp(shape, "all") == 0 || strcmp(shape, SHAPES[i].name) == 0)
                rc = sgemm_shape(&SHAPES[i], bo, run.arr, &run.rng);
    }
    return bench_end_(&run, "sgemm", "shapes", bo, rc);
}

// ---- model: FLOP and memory model of one training step ----

/* FLOP model of one step (a multiply-add = 2 FLOPs; N = B·T rows):
 *   per block, forward:  linear layers 2·N·(4C² + 4C² + 4C²) = 24·N·C²
 *                        (q, k, v, o: C×C; fc_in 4C×C; fc_out C×4C)
 *                        attention 4·B·T²·C (QKᵀ and att·V over the full
 *                        T×T, as lib/layers.c computes them; the causal
 *                        half is not skipped)
 *   LM head forward:     2·N·C·V
 *   backward, full FT:   2× forward for every GEMM (input grad + weight grad)
 *   backward, frozen:    1× forward for the linear layers and the LM head
 *                        (input grad only), 2× for attention (no weights)
 *   LoRA, per module with rank r on W (OC, C): forward 2·N·r·(C + OC),
 *                        backward 4·N·r·(C + OC) (dB, du, dA, dinp)
 * Element-wise kernels (LayerNorm, GELU, softmax, residual, AdamW) are not
 * counted: they are memory-bound, and counting them would not change the
 * figures by more than ~1 %.
 *
 * Memory model (float32 bytes): base parameters P; full FT adds grads P and
 * AdamW m, v (2P); LoRA adds its own params, grads, m, v (4·P_lora) and no
 * base gradients; activations as lib/lsc_internal.h's lsc_gpt_acts lays them
 * out for (B, T): per layer 18·N·C (ln1, q, k, v, atty, attproj, residual2,
 * ln2, fcproj, residual3; fch and fch_gelu at 4C) + B·NH·T² (att) + 4·N;
 * once: encoded, lnf (2·N·C), logits, probs, dlogits (3·N·V), backward
 * scratch 14·N·C + B·NH·T² (dres, dln, dq, dk, dv, datty, dfch, dfch_gelu,
 * datt); LoRA caches N·r per module plus one (N, r) and one (N, 4C) scratch. */
typedef struct step_model {
    double flops, flops_fwd, flops_linear, flops_attn, flops_head, flops_lora;
    double n_params, n_trainable, n_lora;
    double mb_params, mb_grads, mb_adam, mb_lora, mb_acts, mb_total;
} step_model;

static int parse_targets(const char *s, int *mask)
{
    static const char *const names[6] = {"q", "k", "v", "o", "fc_in", "fc_out"};
    *mask = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int found = -1;
        for (int t = 0; t < 6; t++) {
            size_t n = strlen(names[t]);
            if (strcmp(tok, names[t]) == 0 ||
                (t < 4 && strncmp(tok, names[t], n) == 0 && strcmp(tok + n, "_proj") == 0))
                found = t;
        }
        if (found < 0)
            return -1;
        *mask |= 1 << found;
    }
    return *mask ? 0 : -1;
}

static void step_model_compute(int L, int NH, int C, int T, int B, int V, int full, int rank,
                               int tmask, step_model *m)
{
    double N = (double)B * T, c = C, l = L, t = T;
    memset(m, 0, sizeof *m);
    double lin = 24.0 * N * c * c * l, att = 4.0 * B * t * t * c * l, head = 2.0 * N * c * V;
    double lora_params = 0.0, lora_f = 0.0, max_in = 0.0, lora_cache = 0.0;
    if (!full) {
        for (int tg = 0; tg < 6; tg++) {
            if (!(tmask & (1 << tg)))
                continue;
            double in = tg == 5 ? 4 * c : c, out = tg == 4 ? 4 * c : c;
            lora_params += l * rank * (in + out);
            lora_f += l * 6.0 * N * rank * (in + out);
            lora_cache += l * N * rank;
            max_in = fmax(max_in, in);
        }
    }
    m->flops_fwd = lin + att + head + lora_f / 3.0;
    m->flops_linear = full ? 3 * lin : 2 * lin;
    m->flops_attn = 3 * att;
    m->flops_head = full ? 3 * head : 2 * head;
    m->flops_lora = lora_f;
    m->flops = m->flops_linear + m->flops_attn + m->flops_head + m->flops_lora;
    double P = (double)V * C + (double)T * C + l * (12.0 * c * c + 13.0 * c) + 2.0 * c;
    /* n_ctx = T here: the synthetic model is built with ctx = T */
    m->n_params = P;
    m->n_lora = lora_params;
    m->n_trainable = full ? P : lora_params;
    const double MB = 1024.0 * 1024.0;
    m->mb_params = 4.0 * P / MB;
    m->mb_grads = full ? 4.0 * P / MB : 0.0;
    m->mb_adam = full ? 8.0 * P / MB : 0.0;
    m->mb_lora = 16.0 * lora_params / MB;
    double att_sz = (double)B * NH * t * t;
    double acts = l * (18.0 * N * c + att_sz + 4.0 * N) + 2.0 * N * c + 3.0 * N * V + 6.0 * N +
                  14.0 * N * c + att_sz;
    if (!full && lora_params > 0)
        acts += lora_cache + N * rank + N * max_in;
    m->mb_acts = 4.0 * acts / MB;
    m->mb_total = m->mb_params + m->mb_grads + m->mb_adam + m->mb_lora + m->mb_acts;
}

int bench_model_(const bench_opts *bo, const cli_opt *opts)
{
    int bad = 0;
    long L = cli_long(opts, "layers", 4, &bad), NH = cli_long(opts, "heads", 4, &bad);
    long C = cli_long(opts, "embd", 256, &bad), T = cli_long(opts, "ctx", 128, &bad);
    long B = cli_long(opts, "batch", 8, &bad), V = cli_long(opts, "vocab", 256, &bad);
    long R = cli_long(opts, "rank", 8, &bad);
    int full = cli_flag(opts, "full");
    const char *targets = cli_get(opts, "targets");
    if (bad)
        return CLI_USAGE;
    if (L < 1 || NH < 1 || C < 1 || C % NH || T < 1 || B < 1 || V < 1 || R < 1 || L > 1024 ||
        C > 65536 || T > 65536 || B > 65536 || V > 1 << 24)
        return cli_error("bench", CLI_USAGE,
                         "model: need layers, heads, embd, ctx, batch, vocab, rank >= 1 and "
                         "heads dividing embd");
    int tmask = 0;
    if (!full && parse_targets(targets ? targets : "q,v", &tmask))
        return cli_error("bench", CLI_USAGE, "model: bad --targets '%s' (q,k,v,o,fc_in,fc_out)",
                         targets);
    bench_run run;
    bench_begin_(&run, bo);
    step_model m;
    step_model_compute((int)L, (int)NH, (int)C, (int)T, (int)B, (int)V, full, (int)R, tmask, &m);
    printf("step model: L=%ld NH=%ld C=%ld T=%ld B=%ld V=%ld, %s\n", L, NH, C, T, B, V,
           full ? "full fine-tuning" : "LoRA");
    printf("  FLOPs per step     %.4g (linear %.4g, attention %.4g, LM head %.4g, LoRA %.4g)\n",
           m.flops, m.flops_linear, m.flops_attn, m.flops_head, m.flops_lora);
    printf("  parameters         %.0f base, %.0f trainable\n", m.n_params, m.n_trainable);
    printf("  memory (MiB)       %.1f = params %.1f + grads %.1f + AdamW %.1f + LoRA %.1f + "
           "activations %.1f\n", m.mb_total, m.mb_params, m.mb_grads, m.mb_adam, m.mb_lora,
           m.mb_acts);
    cJSON *o = run.o;
    cJSON_AddNumberToObject(o, "flops_per_step", m.flops);
    cJSON_AddNumberToObject(o, "flops_forward", m.flops_fwd);
    cJSON_AddNumberToObject(o, "flops_linear", m.flops_linear);
    cJSON_AddNumberToObject(o, "flops_attention", m.flops_attn);
    cJSON_AddNumberToObject(o, "flops_head", m.flops_head);
    cJSON_AddNumberToObject(o, "flops_lora", m.flops_lora);
    cJSON_AddNumberToObject(o, "n_params", m.n_params);
    cJSON_AddNumberToObject(o, "n_trainable", m.n_trainable);
    cJSON_AddNumberToObject(o, "mem_predicted_mb", m.mb_total);
    cJSON_AddNumberToObject(o, "mem_params_mb", m.mb_params);
    cJSON_AddNumberToObject(o, "mem_grads_mb", m.mb_grads);
    cJSON_AddNumberToObject(o, "mem_adamw_mb", m.mb_adam);
    cJSON_AddNumberToObject(o, "mem_lora_mb", m.mb_lora);
    cJSON_AddNumberToObject(o, "mem_acts_mb", m.mb_acts);
    return bench_end_(&run, "model", NULL, bo, CLI_OK);
}
