/*
 * lsc.h — the public interface of liblorascope.
 *
 * liblorascope trains LoRA adapters on a small GPT-style model and analyses
 * the low-rank updates dW = s·B·A they learn (spectra, subspace similarity,
 * amplification of the frozen W). It is a library: no main(), no exit(), no
 * mutable global state. Errors are negative LSC_E* codes with the details in
 * a caller-owned lsc_error; bugs abort through LSC_ASSERT.
 *
 * Shape vocabulary (used in every trailing comment): B batch, T time,
 * C channels (n_embd), V vocabulary, L layers, NH heads, r LoRA rank,
 * OC output channels; d = out features, k = in features of a weight W (d, k).
 * Matrices are flat and row-major.
 *
 * Worked example — the singular values of every module of a PEFT adapter:
 *
 *     lsc_error err;
 *     lsc_adapter ad;
 *     if (lsc_adapter_load(&ad, "my-adapter", &err) != LSC_OK) {
 *         fprintf(stderr, "%s\n", err.msg);
 *         return 1;
 *     }
 *     for (int i = 0; i < ad.n_modules; i++) { ... ad.modules[i].A ... }
 *     lsc_adapter_free(&ad);
 *
 * This umbrella header includes one header per library module, each beside
 * its source (lsc_model.h for model.c, ...); declare a function there.
 */
#ifndef LSC_H
#define LSC_H

#include "lsc_error.h"
#include "lsc_file.h"
#include "lsc_rng.h"
#include "lsc_sha256.h"
#include "lsc_safetensors.h"
#include "lsc_hf.h"
#include "lsc_hmap.h"
#include "lsc_jsonnum.h"
#include "lsc_pattern.h"
#include "lsc_peft.h"
#include "lsc_linalg.h"
#include "lsc_esd.h"
#include "lsc_lowrank.h"
#include "lsc_h5io.h"
#include "lsc_model.h"
#include "lsc_lora.h"
#include "lsc_train.h"
#include "lsc_delta.h"
#include "lsc_dora.h"
#include "lsc_merge.h"
#include "lsc_data.h"
#include "lsc_nf4.h"
#include "lsc_atomic.h"
#include "lsc_stats.h"
#include "lsc_verdict.h"
#include "lsc_tokenizer.h"
#include "lsc_instruct_eval.h"

#endif /* LSC_H */
