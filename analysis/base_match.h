/*
 * base_match.h — the base matrix W0 that an adapter module of any kind
 * (lib/lsc_peft.h's LSC_ADAPTER_*) is analysed against, in one place for
 * amplify, spectrum, quanterr and the DoRA update: which base tensor (found
 * by ana_base_find in a .safetensors file, a Hugging Face folder or a
 * llama2.c checkpoint), the shape it must have, its orientation relative to
 * the module's [out_features, in_features] matrix and a sentence saying how
 * W0 was formed. Also the update of a full tensor (modules_to_save):
 * dW = weight − W0 on the base's rows, added-token rows apart.
 * Not the reader (lib/peft_load.c) and not any analysis's numerics.
 *
 *   LORA, DORA  W0 = the weight [d, k]; stored [k, d] (transposed) with the
 *               adapter's fan_in_fan_out (GPT-2 Conv1D)
 *   EMBEDDING   s·B·A is [dim, vocab]; the table is stored [vocab, dim]:
 *               W0ᵀ is analysed (transposed = 1)
 *   CONV        the kernel [C_out, C_in, k...] read row-major as
 *               [C_out, C_in·prod(k)] (the reader's reshape of the factors)
 *   FULL        the base tensor [rows, rest...] with rows <= the saved
 *               tensor's; rows beyond the base's are added tokens
 */
#ifndef LSC_BASE_MATCH_H
#define LSC_BASE_MATCH_H

#include "analysis_common.h"

/* The text of the attribute "update" of a full tensor. */
#define ANA_FULL_UPDATE "full tensor (modules_to_save): dW = weight[:base_rows] − W0; " \
                        "added-token rows (beyond the base's) excluded"

typedef struct ana_base_mat {
    const lsc_st_file   *f;      /* the file holding t (a folder's shard; borrowed) */
    const lsc_st_tensor *t;      /* the base tensor (borrowed) */
    int   transposed;            /* 1: t is stored [k, d], W0 is its transpose */
    int   rows;                  /* rows of W0 as analysed: out_features, or a FULL
                                    module's base rows (<= out_features) */
    char  how[256];              /* how W0 is formed from t; "" for a plain weight */
} ana_base_mat;

/* The base matrix of module m (of adapter ad) in b. Returns 1 when found
 * with the shape m needs; 0 when not found (why: "tried a, b, c"); -1 when
 * found misshapen (why: "base tensor T has shape [..], module M (KIND)
 * needs [..]..."). */
int   ana_base_match(const ana_base *b, const lsc_adapter *ad, const lsc_adapter_module *m,
                     ana_base_mat *bm, char *why, size_t nwhy);
/* One line for a module whose base is missing or misshapen (rc of
 * ana_base_match 0 or -1) into out: "no base weight for module M (tried
 * ...)" or the shape line. */
void  ana_base_why(int rc, const lsc_adapter_module *m, const char *why, char *out, size_t n);
/* t as float32 in its stored layout (caller frees); NULL with err set. */
float *ana_base_mat_read(const ana_base_mat *bm, lsc_error *err);
/* FULL module m: dW = weight[:rows] − W0 (rows × in_features, row-major,
 * double) with W0 = W0f as ana_base_mat_read gives it; *added_fro = the
 * Frobenius norm of the added rows weight[rows:] (0 when none). */
void  ana_full_delta(const ana_base_mat *bm, const lsc_adapter_module *m, const float *W0f, double *dW,
                     double *added_fro);
/* For modules of kind EMBEDDING, CONV and FULL (else nothing): attributes
 * kind (lsc_adapter_kind_name) and base_matrix (how: ana_base_mat.how) in
 * group g. */
int   ana_base_mat_attrs(lsc_h5 *h, const char *g, const lsc_adapter_module *m, const char *how,
                         lsc_error *err);
/* For a FULL module m (orig: as read, all its rows) analysed on bm's rows:
 * attributes kind, base_matrix, update (ANA_FULL_UPDATE), base_rows,
 * n_added_rows (orig rows beyond the base's) and added_rows_fro. */
int   ana_full_attrs(lsc_h5 *h, const char *g, const lsc_adapter_module *orig, const ana_base_mat *bm,
                     double added_fro, lsc_error *err);
/* The text a table row of module m ends with: "" for LoRA/DoRA, else
 * "  [KIND: HOW]" into out. */
const char *ana_base_mat_note(const lsc_adapter_module *m, const char *how, char *out, size_t n);

#endif
