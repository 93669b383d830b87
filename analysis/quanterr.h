/*
 * quanterr.h — what quanterr.c (the command: matching, output file, plots)
 * and quanterr_compute.c (the numerics of one module) share: the per-module
 * result struct and the one call between them. Not a public header: only
 * those two files include it.
 *
 * Shape vocabulary: d out_features, k in_features, r rank, p = min(r, d, k),
 * K the number of E's directions in the φ grids, mn = min(d, k).
 */
#ifndef LSC_QUANTERR_H
#define LSC_QUANTERR_H

#include <stdint.h>

#include "analysis_common.h"

/* One analysed module: its inputs (m, c, t and the sizes, set by the
 * command) and every result. */
typedef struct qe {
    const lsc_adapter_module *m, *c;     /* QLoRA module; compare module or NULL */
    const lsc_st_file        *f;         /* the file holding t (a folder's shard) */
    const lsc_st_tensor      *t;         /* base tensor */
    int    transposed, p, p2, K, mn, degenerate, cdegenerate;
    double bits_total, bits_constants;
    double base_fro, error_fro, error_rel, error_max_abs, delta_fro, cdelta_fro;
    double phi_r, phi_l, phi_r1, phi_l1, phi_r_rand, phi_l_rand, phi_r_exp, phi_l_exp;
    double phi_rc, phi_lc, phi_rc1, phi_lc1, phi_r_ad, phi_l_ad, phi_rd, phi_ld;
    double proj_delta, proj_top, proj_rand, proj_rand_exp, proj_cmp, proj_diff;
    double cos_delta, cos_cmp, cos_diff, cos_sd, coef, coef_cmp, coef_diff, comp_best, diff_fro;
    int    ddegenerate;
    double *sv_err;                      /* (mn) */
    double *sv_delta, *sv_cmp;           /* (p), (p2) */
    double *phi_right, *phi_left;        /* (p, K) */
    double *phi_right_rand, *phi_left_rand;   /* (p, K) */
    double *phi_right_cmp, *phi_left_cmp;     /* (p2, K) */
    double *phi_right_diff, *phi_left_diff;   /* (p, K) */
    double *E;                           /* (d, k) with --store-error, else NULL */
    uint64_t rseed;
} qe;

/* Every result of module a: E = W − deq(Q(W)) of its base tensor in bf
 * (the file holding a->t, a->f; NF4, block bs, double quant dq), E's
 * spectrum, and dW, the compare dW and their difference against E (with store, E itself into a->E). The
 * result arrays are the caller's; the scratch is allocated and freed here.
 * CLI_OK, or CLI_FAIL after printing the message (warnings are printed as
 * they come). */
int quanterr_compute_(const char *cmd, const char *base_path, const lsc_st_file *bf, int bs, int dq,
                      uint64_t seed, int store, qe *a);

#endif /* LSC_QUANTERR_H */
