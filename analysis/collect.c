/*
 * collect.c — `lorascope collect MANIFEST.tsv -o STUDY.h5`: turns the runs and analysis outputs of
 * one study (experiments/study_*.sh) into the study's single HDF5 file: per-run results, per-cell
 * mean and spread over seeds, the analysis outputs of every layer merged in, and a flat /summary
 * group of headline metrics that `lorascope report` and `lorascope regress` read. Optionally it
 * also writes the plain-text tables the gnuplot scripts in plots/ draw.
 *
 * This file is the subcommand, the manifest and the driver; collect_runs.c reads the runs and
 * writes /runs and /cells, collect_merge.c handles the merge/phi/amp/spec/qerr/curve lines.
 *
 * What it is not: an analysis. Every number comes from a run's train_log.h5 / run.json or from an
 * HDF5 file another subcommand wrote; collect only averages, copies and selects.
 *
 * The manifest is a text file of lines "kind<TAB>name<TAB>value" ('#' starts a comment):
 *   attr   NAME  VALUE     root attribute (string; a number when NAME ends in _seconds)
 *   run    CELL  RUN_DIR   a finished run (RUN_DIR/run.json + the final validation metrics of
 *                          RUN_DIR/train_log.h5, or RUN_DIR/eval.json) belonging to CELL
 *   merge  GROUP FILE.h5   every group, dataset and known attribute of FILE.h5 copied to /GROUP
 *   phi    KEY   PATH      summary of the phi grid at PATH (datasets phi, phi_random)
 *   amp    KEY   PATH      summary of the Table 7 attributes of the module group PATH
 *   spec   KEY   PATH      summary of the spectrum of the module group PATH
 *   qerr   KEY   PATH      summary of a merged `lorascope quanterr` output (its mean_* attributes)
 *   curve  LABEL RUN_DIR   training curve of that run (RUN_DIR/train_log.h5) for --curves
 *   cellstat CELL METRIC   /summary "<cell>.<metric>" over the cell's seeds (collect_verdict.c)
 *   evalj  CELL  BASE.json<TAB>SEED:FILE.json...  forgetting per seed (collect_eval.c, issue 17)
 *   vphi, vamp, vregime, vsat, vbetter, vintr, vstall, vforget, vlearn NAME VALUE
 *                          a verdict of the study (collect_verdict.c): /verdicts/NAME, its
 *                          numbers in /summary, a row of --verdict-dat
 *
 * Layout written (format_version 1, see README.md, "Results layout"):
 *   /                    provenance (lorascope_version, format_version, command, git_commit,
 *                        wall_time_s, manifest + base checksums) and every attr line; seeds
 *   /runs/<id>           attrs kind targets rank seed accuracy val_loss ... adapter_sha256
 *   /cells/<cell>        attrs targets rank n_seeds trainable_params accuracy_mean accuracy_std
 *                        val_loss_mean val_loss_std; datasets seeds, accuracy, val_loss
 *   /<GROUP>/...         merged analysis outputs
 *   /verdicts/<name>     attrs verdict state effect lo hi p null_value alpha n test null evidence
 *   /summary             one float64 attribute per headline metric ("qv_r4.accuracy", "A.q.phi_11")
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "collect.h"
#include "commands.h"
#include "tidy.h"

static const char *USAGE =
    "usage: lorascope collect MANIFEST.tsv -o STUDY.h5 [--dat FILE] [--phi-dat DIR]\n"
    "                         [--amp-dat FILE] [--spec-dat DIR] [--curves FILE] [--verdict-dat FILE]\n"
    "\n"
    "Builds the HDF5 file of one study from a manifest written by experiments/lib.sh: per-run\n"
    "eval results, per-cell mean and spread over seeds (/cells), the analysis outputs of every\n"
    "layer (/<group>), and the headline metrics in /summary (read by report and regress).\n"
    "\n"
    "manifest lines (TAB-separated): attr NAME VALUE | run CELL RUN_DIR | merge GROUP FILE.h5 |\n"
    "  phi KEY PATH | amp KEY PATH | spec KEY PATH | qerr KEY PATH | curve LABEL RUN_DIR |\n"
    "  vphi NAME F:MODULE | vamp NAME MODULE LOW HIGH | vregime NAME MODULE RANK |\n"
    "  vsat NAME CELL_SMALL CELL_LARGE MARGIN | vbetter NAME CELL_A CELL_B  (the verdicts: /verdicts) |\n"
    "  vintr NAME FULL_CELL LORA_CELL...  (intruder dimensions, LoRA vs full fine-tuning) |\n"
    "  vstall NAME METRIC A_LOW A_HIGH B_LOW B_HIGH  (the gain A_LOW->A_HIGH above B's, paired) |\n"
    "  cellstat CELL METRIC  (/summary CELL.METRIC with its interval over seeds) |\n"
    "  evalj CELL BASE.json<TAB>SEED:RUN.json... (forgetting: eval --task lm losses) |\n"
    "  vforget NAME FULL LORA... | vlearn NAME FULL LORA...  (full fine-tuning vs LoRA, paired by seed)\n"
    "\n"
    "  -o, --output STUDY.h5  the study file (temporary name, renamed when complete)\n"
    "  --dat FILE             per-cell table for gnuplot (key targets rank n acc sd loss sd)\n"
    "  --phi-dat DIR          DIR/phi_KEY.dat and DIR/phi_KEY.random.dat (j i phi) per phi line\n"
    "  --amp-dat FILE         Table 7 rows for gnuplot, one per amp line\n"
    "  --spec-dat DIR         DIR/spec_KEY.dat (i sigma sigma/sigma1 cumulative-energy) per spec line\n"
    "  --curves FILE          training loss curves of the curve lines (gnuplot index blocks)\n"
    "  --verdict-dat FILE     one row per verdict (name layer proj a b c effect lo p state\n"
    "                         amin amax)\n"
    "\n"
    "example:\n"
    "  lorascope collect data/results/tiny/work/table6_rank/manifest.tsv \\\n"
    "      -o data/results/tiny/table6_rank.h5 --dat table6.dat\n";

// ---- manifest ----

typedef struct mline {
    char *kind, *name, *value;
} mline;

typedef struct manifest {
    int    n;
    mline *lines;
    char  *text;   /* owns the strings */
} manifest;

static void manifest_free(manifest *m)
{
    free(m->lines);
    free(m->text);
    memset(m, 0, sizeof *m);
}

static int manifest_read(const char *path, manifest *m)
{
    memset(m, 0, sizeof *m);
    lsc_error oe = {0};
    FILE *fp = lsc_file_open_read(path, &oe);
    if (!fp)
        return cli_error("collect", CLI_FAIL, "%s", oe.msg);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len - 1, fp)) > 0) {
        len += got;
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(fp);
    if (!buf)
        return cli_error("collect", CLI_FAIL, "%s: out of memory", path);
    buf[len] = '\0';
    m->text = buf;
    int nl = 1;
    for (size_t i = 0; i < len; i++)
        nl += buf[i] == '\n';
    m->lines = calloc((size_t)nl, sizeof *m->lines);
    if (!m->lines)
        return cli_error("collect", CLI_FAIL, "%s: out of memory", path);
    int lineno = 0;
    for (char *s = buf; s && *s;) {
        char *e = strchr(s, '\n');
        if (e)
            *e = '\0';
        lineno++;
        size_t l = strlen(s);
        if (l && s[l - 1] == '\r')
            s[l - 1] = '\0';
        if (s[0] != '#' && s[0] != '\0') {
            char *t1 = strchr(s, '\t');
            char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
            if (!t2) {
                manifest_free(m);
                return cli_error("collect", CLI_FAIL,
                                 "%s:%d: expected kind<TAB>name<TAB>value", path, lineno);
            }
            *t1 = *t2 = '\0';
            mline *ml = &m->lines[m->n++];
            ml->kind = s;
            ml->name = t1 + 1;
            ml->value = t2 + 1;
            static const char *kinds[] = {"attr", "run", "merge", "phi", "amp", "spec", "qerr",
                                          "curve", "vphi", "vamp", "vregime", "vsat", "vbetter",
                                          "vintr", "vstall", "cellstat", "evalj", "vforget", "vlearn"};
            int ok = 0;
            for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
                ok |= strcmp(s, kinds[k]) == 0;
            if (!ok || !ml->name[0]) {
                int rc = ok ? cli_error("collect", CLI_FAIL, "%s:%d: empty name", path, lineno)
                            : cli_error("collect", CLI_FAIL, "%s:%d: unknown line kind '%.40s'",
                                        path, lineno, s);
                manifest_free(m);
                return rc;
            }
        }
        s = e ? e + 1 : NULL;
    }
    return CLI_OK;
}

// ---- /summary ----

void collect_summary_(wctx *w, const char *key, const char *what, double v)
{
    char name[256];
    snprintf(name, sizeof name, "%s%s%s", key, key[0] && what[0] ? "." : "", what);
    w_attr_d(w, "/summary", name, v);
    /* remember the name: /summary@metrics lists them (HDF5 readers without attribute
     * iteration, and regress --write-baseline, enumerate the metrics from it) */
    size_t l = strlen(name);
    if (w->rc != LSC_OK)
        return;
    if (w->mlen + l + 2 > w->mcap) {
        size_t cap = 2 * (w->mcap + l + 2);
        char *nb = realloc(w->metrics, cap);
        if (!nb) {
            w->rc = lsc_error_set(&w->err, LSC_ENOMEM, __FILE__, __LINE__, "out of memory");
            return;
        }
        w->metrics = nb;
        w->mcap = cap;
    }
    memcpy(w->metrics + w->mlen, name, l);
    w->mlen += l;
    w->metrics[w->mlen++] = '\n';
    w->metrics[w->mlen] = '\0';
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

// ---- plain-text outputs ----

int collect_dat_open_(lsc_atomic *a, const char *path)
{
    lsc_error err = {0};
    if (lsc_atomic_open(a, path, &err) != LSC_OK)
        return cli_lib_error("collect", &err);
    return CLI_OK;
}

int collect_dat_commit_(lsc_atomic *a)
{
    lsc_error err = {0};
    if (a->fp && lsc_atomic_commit(a, &err) != LSC_OK)
        return cli_lib_error("collect", &err);
    return CLI_OK;
}

// ---- the driver ----

typedef struct collect_opts {
    const char *manifest, *out;                 /* MANIFEST.tsv, -o STUDY.h5 */
    const char *dat, *amp, *curves, *vdat;      /* --dat, --amp-dat, --curves, --verdict-dat (or NULL) */
    const char *phi_dir, *spec_dir;             /* --phi-dat, --spec-dat directories (or NULL) */
} collect_opts;

enum { OUT_DAT, OUT_AMP, OUT_CURVES, OUT_VERDICT, OUT_N };

/* Every "run" line of m into *runs (calloc'd, *nr of them; the caller frees it). */
static int read_runs(const manifest *m, run **runs, int *nr)
{
    int n = 0;
    for (int i = 0; i < m->n; i++)
        n += strcmp(m->lines[i].kind, "run") == 0;
    *runs = calloc((size_t)(n ? n : 1), sizeof **runs);
    *nr = 0;
    if (!*runs)
        return cli_error("collect", CLI_FAIL, "out of memory");
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->lines[i].kind, "run") == 0) {
            int rc = collect_run_read_(&(*runs)[(*nr)++], m->lines[i].name, m->lines[i].value);
            if (rc != CLI_OK)
                return rc;
        }
    return CLI_OK;
}

/* The plain-text outputs asked for, opened (out[k].fp stays NULL for the others). */
static int open_outputs(const collect_opts *o, lsc_atomic out[OUT_N])
{
    int rc = CLI_OK;
    if ((o->dat && (rc = collect_dat_open_(&out[OUT_DAT], o->dat)) != CLI_OK) ||
        (o->amp && (rc = collect_dat_open_(&out[OUT_AMP], o->amp)) != CLI_OK) ||
        (o->curves && (rc = collect_dat_open_(&out[OUT_CURVES], o->curves)) != CLI_OK) ||
        (o->vdat && (rc = collect_dat_open_(&out[OUT_VERDICT], o->vdat)) != CLI_OK))
        return rc;
    if (out[OUT_VERDICT].fp)
        fprintf(out[OUT_VERDICT].fp, "# name layer proj a b c effect lo p state amin amax  (a, b, c: see the verdict "
                                     "kind in analysis/collect_verdict.c; state 1 shown, 0 not shown, -1 not "
                                     "measured; amin, amax: the range of a over the seed pairs, NaN if none)\n");
    if (out[OUT_AMP].fp)
        fprintf(out[OUT_AMP].fp,
                "# key target r delta_fro base_fro proj_delta proj_base proj_random amplification\n");
    return CLI_OK;
}

/* Provenance (the manifest and the base model are the inputs; runs carry their own sums), the
 * attr lines as root attributes, and the /summary group. */
static int write_root(wctx *w, const manifest *m, const char *manifest_path, double t0)
{
    const char *base = NULL, *commit = NULL;
    double analysis_s = 0;
    for (int i = 0; i < m->n; i++) {
        const mline *l = &m->lines[i];
        if (strcmp(l->kind, "attr") != 0)
            continue;
        if (strcmp(l->name, "base_model") == 0)
            base = l->value;
        if (strcmp(l->name, "git_commit") == 0)
            commit = l->value;
        if (strcmp(l->name, "analysis_seconds") == 0)
            analysis_s = atof(l->value);
    }
    lsc_h5_input inputs[2] = {{"manifest", manifest_path}, {"base_model", base}};
    struct stat st;
    int n_in = base && stat(base, &st) == 0 ? 2 : 1;
    lsc_provenance prov = {cli_command_line(), commit ? commit : ana_git_commit(),
                           analysis_s + (cli_now() - t0), n_in, inputs, 0, NULL};
    if (lsc_h5_write_provenance(w->h, &prov, &w->err) != LSC_OK)
        return cli_lib_error("collect", &w->err);
    for (int i = 0; i < m->n; i++) {
        const mline *l = &m->lines[i];
        if (strcmp(l->kind, "attr") != 0 || strcmp(l->name, "base_model") == 0 ||
            strcmp(l->name, "git_commit") == 0)
            continue;
        if (ends_with(l->name, "_seconds"))
            w_attr_d(w, "/", l->name, atof(l->value));
        else
            w_attr_s(w, "/", l->name, l->value);
    }
    w_group(w, "/summary");
    return w->rc == LSC_OK ? CLI_OK : cli_lib_error("collect", &w->err);
}

/* The merge, phi, amp, spec, qerr and curve lines, in the manifest's order. */
static int apply_lines(wctx *w, const manifest *m, const collect_opts *o, FILE *amp, FILE *cur, FILE *vd)
{
    int rc = CLI_OK, n_curves = 0;
    for (int i = 0; i < m->n && rc == CLI_OK; i++) {
        const mline *l = &m->lines[i];
        if (strcmp(l->kind, "merge") == 0)
            rc = collect_merge_(w, l->name, l->value);
        else if (strcmp(l->kind, "phi") == 0)
            rc = collect_phi_(w, l->name, l->value, o->phi_dir);
        else if (strcmp(l->kind, "amp") == 0)
            rc = collect_amp_(w, l->name, l->value, amp);
        else if (strcmp(l->kind, "spec") == 0)
            rc = collect_spec_(w, l->name, l->value, o->spec_dir);
        else if (strcmp(l->kind, "qerr") == 0)
            rc = collect_qerr_(w, l->name, l->value);
        else if (strcmp(l->kind, "curve") == 0 && cur)
            rc = collect_curve_(cur, n_curves++, l->name, l->value);
        else if (strcmp(l->kind, "vphi") == 0)
            rc = collect_vphi_(w, l->name, l->value, vd);
        else if (strcmp(l->kind, "vamp") == 0)
            rc = collect_vamp_(w, l->name, l->value, vd);
        else if (strcmp(l->kind, "vregime") == 0)
            rc = collect_vregime_(w, l->name, l->value, vd);
        else if (strcmp(l->kind, "vsat") == 0 || strcmp(l->kind, "vbetter") == 0)
            rc = collect_vpaired_(w, l->kind, l->name, l->value, vd);
        else if (strcmp(l->kind, "vintr") == 0)
            rc = collect_vintr_(w, l->name, l->value, vd);
        else if (strcmp(l->kind, "vstall") == 0)
            rc = collect_vstall_(w, l->name, l->value, vd);
        else if (strcmp(l->kind, "cellstat") == 0)
            rc = collect_cellstat_(w, l->name, l->value);
        else if (strcmp(l->kind, "evalj") == 0)   /* issue 17: collect_eval.c */
            rc = collect_evalj_(w, l->name, l->value);
        else if (strcmp(l->kind, "vforget") == 0 || strcmp(l->kind, "vlearn") == 0)
            rc = collect_vpool_(w, l->kind, l->name, l->value, vd);
    }
    return rc;
}

/* /summary's list of metrics, and the study file renamed into place (w->h is consumed). */
static int finish_study(wctx *w)
{
    w_attr_s(w, "/summary", "metrics", w->metrics ? w->metrics : "");
    w_attr_s(w, "/summary", "about",
             "headline metrics of this study, one float64 attribute each; 'metrics' lists "
             "their names; read by lorascope report and lorascope regress");
    if (w->rc == LSC_OK)   /* units, definitions, scales (h5describe.c) */
        w->rc = ana_describe("collect", w->h, &w->err);
    if (w->rc != LSC_OK)
        return cli_lib_error("collect", &w->err);
    lsc_h5 *h = w->h;
    w->h = NULL;
    if (lsc_h5_commit(h, &w->err) != LSC_OK)
        return cli_lib_error("collect", &w->err);
    return CLI_OK;
}

/* The study file of o->manifest, then the plain-text outputs; nothing is left on failure. */
static int collect_study(const collect_opts *o)
{
    double t0 = cli_now();
    manifest m;
    int rc = manifest_read(o->manifest, &m);
    if (rc != CLI_OK)
        return rc;
    run *runs = NULL;
    int nr = 0;
    wctx w = {NULL, {0}, LSC_OK, NULL, 0, 0, NULL, 0};
    lsc_atomic out[OUT_N];
    memset(out, 0, sizeof out);
    if ((rc = read_runs(&m, &runs, &nr)) != CLI_OK || (rc = open_outputs(o, out)) != CLI_OK)
        goto done;
    if (lsc_h5_create(&w.h, o->out, &w.err) != LSC_OK) {
        rc = cli_lib_error("collect", &w.err);
        goto done;
    }
    if ((rc = write_root(&w, &m, o->manifest, t0)) != CLI_OK ||
        (rc = collect_runs_write_(&w, runs, nr, out[OUT_DAT].fp)) != CLI_OK)
        goto done;
    w.runs = runs;
    w.nr = nr;
    if ((rc = apply_lines(&w, &m, o, out[OUT_AMP].fp, out[OUT_CURVES].fp, out[OUT_VERDICT].fp)) != CLI_OK ||
        (rc = finish_study(&w)) != CLI_OK)
        goto done;
    for (int k = 0; k < OUT_N && rc == CLI_OK; k++)
        rc = collect_dat_commit_(&out[k]);
    if (rc == CLI_OK)
        printf("collect: %s: %d runs, %d manifest lines\n", o->out, nr, m.n);
done:
    lsc_h5_abort(w.h);
    for (int k = 0; k < OUT_N; k++)
        lsc_atomic_abort(&out[k]);
    free(w.metrics);
    free(runs);
    manifest_free(&m);
    return rc;
}

// ---- the subcommand ----

int cmd_collect(int argc, char **argv)
{
    cli_opt opts[] = {{"output", 1, NULL}, {"dat", 1, NULL},    {"phi-dat", 1, NULL},
                      {"amp-dat", 1, NULL}, {"spec-dat", 1, NULL}, {"curves", 1, NULL},
                      {"verdict-dat", 1, NULL}, {"help", 0, NULL},   {NULL, 0, NULL}};
    const char *pos[1];
    int npos;
    int rc = cli_parse("collect", argc, argv, opts, pos, 1, &npos);
    if (rc != CLI_OK)
        return rc;
    if (cli_flag(opts, "help")) {
        fputs(USAGE, stdout);
        return CLI_OK;
    }
    const char *out = cli_get(opts, "output");
    if (npos != 1 || !out)
        return cli_error("collect", CLI_USAGE, "need MANIFEST.tsv and -o STUDY.h5 (see --help)");
    collect_opts o = {pos[0], out, cli_get(opts, "dat"), cli_get(opts, "amp-dat"), cli_get(opts, "curves"),
                      cli_get(opts, "verdict-dat"), cli_get(opts, "phi-dat"), cli_get(opts, "spec-dat")};
    return collect_study(&o);
}
