/*
 * quant.c — `lorascope quantize` and `lorascope dequantize`: a base model
 * to QLoRA's NF4 (with double-quantised block scales) in bitsandbytes'
 * safetensors layout, and back to fp32. The work is lsc_nf4_quantize_file /
 * lsc_nf4_dequantize_file (lib/nf4.c); this file parses arguments and
 * reports the storage cost in bits per parameter and the quantisation error.
 * Not an analysis of the error's structure (that is `quanterr`).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "analysis_common.h"
#include "commands.h"
#include "progress.h"

static const char *QUANTIZE_USAGE =
    "usage: lorascope quantize BASE.safetensors -o BASE-nf4.safetensors\n"
    "                          [--blocksize 64] [--double-quant | --no-double-quant]\n"
    "                          [--targets q,k,v,o,fc_in,fc_out]\n"
    "\n"
    "Quantises the linear weights of a model to 4-bit NormalFloat (NF4) as QLoRA and\n"
    "bitsandbytes do: per block of --blocksize consecutive values (a power of two in\n"
    "32..4096, default 64) one absmax, each value to the nearest of the 16 NF4 codes,\n"
    "two codes per byte. With --double-quant (the default) the absmax values are\n"
    "themselves quantised to 8 bits (block 256, one fp32 scale per 256 blocks).\n"
    "The output uses bitsandbytes' layout: for each weight W the packed U8 'W', 'W.absmax',\n"
    "'W.quant_map', 'W.nested_absmax', 'W.nested_quant_map' and the JSON tensor\n"
    "'W.quant_state.bitsandbytes__nf4'.\n"
    "\n"
    "--targets is a comma list of module names: a 2-D tensor '<module>.weight' is quantised\n"
    "when the last part of <module> is a target T or 'T_proj'. The default quantises the\n"
    "attention projections h.*.attn.{q,k,v,o}_proj.weight and the MLP weights\n"
    "h.*.mlp.fc_{in,out}.weight; embeddings (and the LM head tied to them), LayerNorms\n"
    "and biases are copied unchanged, as is the model config in __metadata__.\n"
    "\n"
    "Prints the number of weights, the bits per parameter of the constants (measured and\n"
    "QLoRA's formula: 32/64 = 0.5 without, 8/64 + 32/(64*256) = 0.127 with double quant)\n"
    "and in total, and the relative error ||W - deq(Q(W))||_F / ||W||_F.\n"
    "\n"
    "example:\n"
    "  lorascope quantize runs/base/model.safetensors -o runs/base/model-nf4.safetensors\n";

static const char *DEQUANTIZE_USAGE =
    "usage: lorascope dequantize BASE-nf4.safetensors -o BASE.safetensors\n"
    "\n"
    "Turns every NF4 weight of a file in bitsandbytes' layout (ours, or one written by\n"
    "bitsandbytes with quant_type nf4) back into an F32 tensor of its original name and\n"
    "shape, deq(Q(W)); the quantisation-state tensors are dropped and everything else is\n"
    "copied. W - deq(Q(W)) is then the quantisation error of each weight.\n"
    "\n"
    "example:\n"
    "  lorascope dequantize runs/base/model-nf4.safetensors -o runs/base/model-deq.safetensors\n";

static long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

int cmd_quantize(int argc, char **argv)
{
    cli_opt opts[] = {{"output", 1, NULL},         {"blocksize", 1, NULL}, {"double-quant", 0, NULL},
                      {"no-double-quant", 0, NULL}, {"targets", 1, NULL},   {"help", 0, NULL},
                      {NULL, 0, NULL}};
    const char *pos[1];
    int npos, help = 0, bad = 0;
    int rc = ana_parse_args("quantize", QUANTIZE_USAGE, argc, argv, opts, pos, 1, &npos, &help);
    if (rc != CLI_OK || help)
        return rc;
    if (npos != 1)
        return cli_error("quantize", CLI_USAGE, "expected one input BASE.safetensors");
    if (!cli_get(opts, "output"))
        return cli_error("quantize", CLI_USAGE, "missing -o OUTPUT.safetensors");
    if (cli_flag(opts, "double-quant") && cli_flag(opts, "no-double-quant"))
        return cli_error("quantize", CLI_USAGE, "--double-quant and --no-double-quant exclude each other");
    long bs = cli_long(opts, "blocksize", LSC_NF4_BLOCKSIZE_DEFAULT, &bad);
    if (bad)
        return CLI_USAGE;
    if (bs < LSC_NF4_BLOCKSIZE_MIN || bs > LSC_NF4_BLOCKSIZE_MAX || (bs & (bs - 1)) != 0)
        return cli_error("quantize", CLI_USAGE, "--blocksize %ld: must be a power of two in %d..%d", bs,
                         LSC_NF4_BLOCKSIZE_MIN, LSC_NF4_BLOCKSIZE_MAX);
    const char *targets = cli_get(opts, "targets");
    if (targets && strspn(targets, ", ") == strlen(targets))
        return cli_error("quantize", CLI_USAGE, "--targets: empty list");

    ana_progress pg;   /* a progress line on a terminal (issue 16) */
    ana_progress_start(&pg, "quantize", "tensors", 0, 0);
    lsc_nf4_opts qo = {(int)bs, !cli_flag(opts, "no-double-quant"), targets};
    lsc_nf4_stats st;
    lsc_error err = {0};
    const char *in = pos[0], *out = cli_get(opts, "output");
    rc = lsc_nf4_quantize_file_progress(in, out, &qo, &st, ana_progress_cb, &pg, &err);
    ana_progress_end(&pg);
    if (rc != LSC_OK)
        return cli_lib_error("quantize", &err);
    long in_size = file_size(in), out_size = file_size(out);
    printf("%s: quantised %d weight%s (%zu parameters) to NF4, blocksize %d, double quant %s; "
           "%d other tensor%s copied\n",
           out, st.n_quantized, st.n_quantized == 1 ? "" : "s", st.n_params, qo.blocksize,
           qo.double_quant ? "on" : "off", st.n_kept, st.n_kept == 1 ? "" : "s");
    printf("  constants: %.4f bits/param (QLoRA formula %.4f); weights + constants: %.4f bits/param\n",
           st.bits_constants, st.bits_constants_nominal, st.bits_total);
    printf("  error: ||W - deq(Q(W))||_F / ||W||_F = %.4g, max |W - deq(Q(W))| = %.4g\n", st.rel_err,
           st.max_abs_err);
    if (in_size > 0 && out_size > 0)
        printf("  file size: %ld -> %ld bytes (%.3fx)\n", in_size, out_size, (double)out_size / (double)in_size);
    return CLI_OK;
}

int cmd_dequantize(int argc, char **argv)
{
    cli_opt opts[] = {{"output", 1, NULL}, {"help", 0, NULL}, {NULL, 0, NULL}};
    const char *pos[1];
    int npos, help = 0;
    int rc = ana_parse_args("dequantize", DEQUANTIZE_USAGE, argc, argv, opts, pos, 1, &npos, &help);
    if (rc != CLI_OK || help)
        return rc;
    if (npos != 1)
        return cli_error("dequantize", CLI_USAGE, "expected one input BASE-nf4.safetensors");
    if (!cli_get(opts, "output"))
        return cli_error("dequantize", CLI_USAGE, "missing -o OUTPUT.safetensors");
    lsc_nf4_stats st;
    lsc_error err = {0};
    const char *in = pos[0], *out = cli_get(opts, "output");
    if (lsc_nf4_dequantize_file(in, out, &st, &err) != LSC_OK)
        return cli_lib_error("dequantize", &err);
    printf("%s: dequantised %d NF4 weight%s (%zu parameters, %.4f bits/param stored) to F32; "
           "%d other tensor%s copied\n",
           out, st.n_quantized, st.n_quantized == 1 ? "" : "s", st.n_params, st.bits_total, st.n_kept,
           st.n_kept == 1 ? "" : "s");
    return CLI_OK;
}
