/*
 * report.c — `lorascope report DIR -o DIR/report.html`: one self-contained HTML page (every figure
 * embedded as a base64 PNG, no external file or network access) and the same content as
 * Markdown (report.md beside it), from the study files of a results directory:
 *
 *   table5_targets.h5  table6_rank.h5  fig3_subspace_ranks.h5  fig4_subspace_seeds.h5
 *   table7_amplify.h5  lora_vs_full.h5  (+ regress.json, timing.tsv, runs/<id>/run.json)
 *
 * Each table stands beside the LoRA paper's numbers (Hu et al. 2021, arXiv:2106.09685v2;
 * ../shared/reference/lora-facts.md §1.2-1.5), each figure has a caption that says what to look
 * at, and the four findings the paper draws are checked against OUR numbers by explicit,
 * printed criteria — never by fixed text. Also: configuration, wall times, git commit,
 * provenance of every study file and the outcome of the regression check.
 *
 * This file is the subcommand and its driver: the paths, the study files, the page's frame (head,
 * findings, then the sections of report_paper.c, report_beyond.c and report_meta.c, written
 * with report_doc.c) and the atomic publication of both files.
 *
 * What it is not: an analysis. Every number is read from the files; the only constants here are
 * the paper's published values and the criteria of the findings.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "report.h"

static const char *USAGE =
    "usage: lorascope report DIR [-o DIR/report.html] [--figures FIGDIR] [--title TEXT]\n"
    "\n"
    "Writes one self-contained HTML page (figures embedded as base64 PNG) and report.md beside\n"
    "it from the study files of a results directory (data/results/PROFILE): each table beside\n"
    "the LoRA paper's numbers, the figures with captions, whether our miniature shows each of\n"
    "the paper's findings (computed from the numbers, criteria printed), the configuration,\n"
    "wall times, git commit and the regression-check outcome (DIR/regress.json).\n"
    "\n"
    "  -o, --output FILE   the HTML page (default DIR/report.html); report.md goes beside it\n"
    "  --figures FIGDIR    where the study figures are (default plots/out/<basename of DIR>)\n"
    "  --title TEXT        page title\n"
    "\n"
    "example:\n"
    "  lorascope report data/results/quick -o data/results/quick/report.html\n";


static const char *STUDY_FILES[S_N] = {"table5_targets", "table6_rank", "fig3_subspace_ranks",
                                       "fig4_subspace_seeds", "table7_amplify", "lora_vs_full",
                                       "qlora", "lr_sweep", "intruders", "rslora", "forget"};

/* The claims; finding 0 takes the profile's two ranks of the paper's Figure 3 (low, high) and
 * finding 5 its seed-pair rank (from the study files, never the paper's r=8/r=64). */
static const char *FINDING_CLAIM[NFIND] = {
    "The top singular directions learned at r=%d and at r=%d overlap beyond two random "
    "subspaces and beyond their own step-0 overlap (paper §7.2, Figure 3: φ > 0.5 for the top direction).",
    "ΔW is more aligned with W than a random ΔW of the same rank and norm (alignment excess "
    "proj_ΔW / E[proj_random] > 1 beyond the null), while far below W's own top directions (paper §7.3, "
    "Table 7: 0.32 against 0.02 random and 21.67 for W at r=4).",
    "The amplification factor ‖ΔW‖_F / ‖UᵀWV‖_F (K fixed) is larger at r=4 than at the high rank, "
    "beyond what random ΔWs of the same ranks and norms give (paper: 21.5 at r=4, 1.9 at r=64).",
    "Accuracy saturates at a small rank: r=4 is equivalent to the high rank within the stated margin "
    "(TOST, paired by seed; paper §7.2, Table 6, for {Wq,Wv} and {Wq,Wk,Wv,Wo}).",
    "Under a fixed parameter budget, adapting several weight types at a small rank beats Wq alone at "
    "r=8 (paired t-test by seed; paper §7.1, Table 5).",
    "Two seeds at r=%d share top directions beyond the random null, more for ΔWq than for ΔWv "
    "(paper §7.2, Figure 4).",
    "The adaptation is in the paper's regime: ‖ΔWq‖_F / ‖Wq‖_F at r=4 in the half-depth layer within "
    "3× of GPT-3's 6.91/61.95 = 0.11 (otherwise the amplification numbers are not comparable).",
};

static const char *CSS =
    "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;"
    "padding:0 1em;color:#222;line-height:1.45}"
    "h1{font-size:1.6em;border-bottom:2px solid #444}h2{margin-top:2em;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse;margin:1em 0;font-size:.92em}"
    "th,td{border:1px solid #bbb;padding:.25em .6em;text-align:right}"
    "th:first-child,td:first-child{text-align:left}th{background:#eee}"
    ".paper{background:#fff6dc}caption{caption-side:top;text-align:left;font-style:italic;"
    "padding-bottom:.3em}"
    "figure{margin:1.5em 0;text-align:center}figure img{max-width:100%;border:1px solid #ddd}"
    "figcaption{text-align:left;font-size:.92em;color:#333;margin-top:.4em}"
    "figure.missing div{padding:2em;background:#fdd;border:1px dashed #c00}"
    ".badge{display:inline-block;padding:0 .5em;border-radius:.3em;color:#fff;font-weight:bold;"
    "font-size:.85em}.badge.yes{background:#2a7d2a}.badge.no{background:#b22}"
    ".badge.partly{background:#c80}.badge.noise{background:#777}.ev{color:#555;font-size:.9em}"
    "ul.findings li{margin-bottom:.8em}p.pass{color:#2a7d2a}p.fail{color:#b22}"
    ".caveat{border:2px solid #c80;background:#fff4e0;padding:0 1em;margin:1em 0}"
    "table{display:block;max-width:100%;overflow-x:auto}";


// ---- paths ----

static void relpath(const char *from_dir, const char *to, char *out, size_t n)
{
    char a[PATH_MAX], b[PATH_MAX];
    if (!realpath(from_dir, a) || !realpath(to, b)) {
        snprintf(out, n, "%s", to);
        return;
    }
    size_t i = 0, last = 0;
    while (a[i] && a[i] == b[i]) {
        if (a[i] == '/')
            last = i;
        i++;
    }
    if (!a[i] && (b[i] == '/' || !b[i]))
        last = i;
    out[0] = '\0';
    size_t l = 0;
    for (const char *p = a + last; *p; p++)
        if (*p == '/' && l + 4 < n) {
            memcpy(out + l, "../", 3);
            l += 3;
        }
    out[l] = '\0';
    const char *rest = b + last + (b[last] == '/');
    snprintf(out + l, n - l, "%s", rest[0] ? rest : ".");
    l = strlen(out);
    if (l > 1 && out[l - 1] == '/')
        out[l - 1] = '\0';
}

typedef struct report_paths {
    char html[PATH_MAX + 32], md[PATH_MAX + 40];
    char figdir[PATH_MAX], figrel[PATH_MAX];   /* figrel: figdir seen from report.md's directory */
} report_paths;

/* c->dir (without trailing slashes) and c->profile (its last component) from arg. */
static int report_dir(ctx *c, const char *arg)
{
    snprintf(c->dir, sizeof c->dir, "%s", arg);
    size_t dl = strlen(c->dir);
    while (dl > 1 && c->dir[dl - 1] == '/')
        c->dir[--dl] = '\0';
    struct stat st;
    if (stat(c->dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return cli_error("report", CLI_FAIL, "%s: not a directory", arg);
    const char *slash = strrchr(c->dir, '/');
    snprintf(c->profile, sizeof c->profile, "%.63s", slash ? slash + 1 : c->dir);
    return CLI_OK;
}

/* The page (out, else DIR/report.html), report.md beside it, and the figure directory
 * (figures, else plots/out/<profile>). */
static void report_paths_make(const ctx *c, const char *out, const char *figures, report_paths *p)
{
    if (out)
        snprintf(p->html, sizeof p->html, "%s", out);
    else
        snprintf(p->html, sizeof p->html, "%s/report.html", c->dir);
    snprintf(p->md, sizeof p->md, "%s", p->html);
    char *dot = strrchr(p->md, '.');
    char *sl = strrchr(p->md, '/');
    if (dot && (!sl || dot > sl))
        strcpy(dot, ".md");
    else
        strcat(p->md, ".md");
    if (figures)
        snprintf(p->figdir, sizeof p->figdir, "%s", figures);
    else
        snprintf(p->figdir, sizeof p->figdir, "plots/out/%s", c->profile);
    char md_dir[PATH_MAX + 40];
    snprintf(md_dir, sizeof md_dir, "%s", p->md);
    sl = strrchr(md_dir, '/');
    if (sl)
        *sl = '\0';
    else
        snprintf(md_dir, sizeof md_dir, ".");
    relpath(md_dir, p->figdir, p->figrel, sizeof p->figrel);
}

// ---- the study files ----

/* Opens every study file that exists and has a known format; returns how many did. */
static int open_studies(ctx *c)
{
    int n_found = 0;
    for (int i = 0; i < S_N; i++) {
        study *s = &c->st[i];
        s->name = STUDY_FILES[i];
        char p[PATH_MAX + 200];
        snprintf(p, sizeof p, "%s/%s.h5", c->dir, s->name);
        lsc_error e = {0};
        struct stat st;
        if (stat(p, &st) != 0) {
            snprintf(s->why, sizeof s->why, "%s does not exist (the study has not run)", p);
        } else if (lsc_h5_open(&s->h, p, &e) != LSC_OK) {
            snprintf(s->why, sizeof s->why, "%s", e.msg);
            s->h = NULL;
        } else if (lsc_h5_check_format(s->h, &e) != LSC_OK) {
            snprintf(s->why, sizeof s->why, "%s", e.msg);
            lsc_h5_close(s->h);
            s->h = NULL;
        } else {
            n_found++;
        }
    }
    return n_found;
}

/* The profile's high rank, from Figure 3's r2 (else Table 7's, else 64). */
static int high_rank(const ctx *c)
{
    double rh = sm_(&c->st[S_F3], "A.q.r2");
    if (isnan(rh))
        rh = sm_(&c->st[S_T7], "r64.q.r") == 64 ? 64 : NAN;
    if (isnan(rh)) {
        for (int r = 128; r >= 8 && isnan(rh); r /= 2)
            if (!isnan(smf_(&c->st[S_T7], "r%d.q.amplification", r)))
                rh = r;
    }
    return isnan(rh) ? 64 : (int)rh;
}

/* Finding i's claim with the ranks the profile used (from the study files). */
static void finding_claim(const ctx *c, int i, char *out, size_t n)
{
    double lo = sm_(&c->st[S_F3], "A.q.r1"), r4 = sm_(&c->st[S_F4], "A.q.r1");
    int r_low = isnan(lo) ? 8 : (int)lo, r_seed = isnan(r4) ? c->r_high : (int)r4;
    if (i == 0)
        snprintf(out, n, FINDING_CLAIM[i], r_low, c->r_high);
    else if (i == 5)
        snprintf(out, n, FINDING_CLAIM[i], r_seed);
    else
        snprintf(out, n, "%s", FINDING_CLAIM[i]);
}

// ---- the page ----

/* Every section, into c->d (the findings are filled on the way). */
static void write_sections(ctx *c)
{
    for (int i = 0; i < NFIND; i++)
        snprintf(c->f_verdict[i], sizeof c->f_verdict[i], "n/a");
    sec_base_(c);
    sec_lr_(c);
    sec_fig3_(c);
    sec_fig4_(c);
    sec_table7_(c);
    sec_table6_(c);
    sec_table5_(c);
    sec_full_(c);
    sec_qlora_(c);
    sec_intruders_(c);
    sec_rslora_(c);
    sec_forget_(c);
    sec_layers_(c);
    char rp[PATH_MAX + 16];
    snprintf(rp, sizeof rp, "%s/regress.json", c->dir);
    sec_regress_(c, rp);
    sec_setup_(c);
    sec_timing_(c);
    sec_provenance_(c);
}

/* The head of the page and the findings, into c->d. */
static void write_head(ctx *c, const char *title_opt)
{
    char title[512], gc[128] = "?", created[64];
    if (title_opt)
        snprintf(title, sizeof title, "%s", title_opt);
    else
        snprintf(title, sizeof title, "lorascope: the LoRA paper's Section 7 in miniature — profile %s",
                 c->profile);
    for (int i = 0; i < S_N; i++)
        if (c->st[i].h) {
            root_str_(&c->st[i], "git_commit", gc, sizeof gc);
            break;
        }
    /* SOURCE_DATE_EPOCH (reproducible-builds.org) pins the date: the same
     * results then give byte-identical pages */
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    char *end = NULL;
    long long pinned = sde && *sde ? strtoll(sde, &end, 10) : -1;
    time_t now = end && *end == '\0' && pinned >= 0 ? (time_t)pinned : time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(created, sizeof created, "%Y-%m-%d %H:%M UTC", &tmv);
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>", c->d.html);
    html_text_(c->d.html, title);
    fprintf(c->d.html, "</title>\n<style>%s</style></head><body>\n<h1>", CSS);
    html_text_(c->d.html, title);
    fputs("</h1>\n", c->d.html);
    fprintf(c->d.md, "# %s\n\n", title);
    char arch[32] = "gpt", format[32] = "tsv";
    for (int i = 0; i < S_N; i++)
        if (c->st[i].h) {
            char note[512];
            root_str_(&c->st[i], "profile_note", note, sizeof note);
            if (note[0] && strcmp(note, "?") != 0) {
                fputs("<div class=\"caveat\">", c->d.html);
                doc_p_(&c->d, "**Too small for verdicts — these numbers come from a smoke profile, "
                              "not the paper's setting (profile %s):** %s.", c->profile, note);
                fputs("</div>\n", c->d.html);
            }
            root_str_(&c->st[i], "arch", arch, sizeof arch);
            root_str_(&c->st[i], "format", format, sizeof format);
            break;
        }
    /* the architecture of the base (results before LoRA issue 13 have no attribute: GPT) */
    const char *model = strcmp(arch, "llama") == 0 ? "Llama-family model (RMSNorm, RoPE, SwiGLU)" : "GPT";
    doc_p_(&c->d, "Generated %s by lorascope %s from %s (git commit %s). Hu et al. 2021, "
                  "\"LoRA: Low-Rank Adaptation of Large Language Models\" (arXiv:2106.09685), "
                  "§7, reproduced on a small byte-level %s trained here on English text and "
                  "adapted to the WordNet noun-supersense task%s. The paper's numbers (GPT-3 175B on "
                  "WikiSQL/MultiNLI) stand beside ours for their pattern, not their values.",
           created, LSC_VERSION, c->dir, gc, model,
           strcmp(format, "alpaca") == 0 ? ", instruction-tuned (Alpaca template; no suffix baseline)" : "");
    doc_h_(&c->d, 2, "findings", "Does our miniature show what the paper shows?");
    doc_p_(&c->d, "Each verdict is computed from the numbers below by the criterion printed with it.");
    fputs("<ul class=\"findings\">\n", c->d.html);
    for (int i = 0; i < NFIND; i++) {
        char claim[1024];
        finding_claim(c, i, claim, sizeof claim);
        doc_finding_(&c->d, c->f_verdict[i], claim, c->f_evidence[i]);
    }
    fputs("</ul>\n", c->d.html);
    fputc('\n', c->d.md);
}

/* The whole page into html and md: the sections go to temporary files first so that the
 * findings they fill can come before them. */
static int write_page(ctx *c, FILE *html, FILE *md, const char *title_opt)
{
    FILE *bh = tmpfile(), *bm = tmpfile();
    if (!bh || !bm) {
        if (bh) fclose(bh);
        if (bm) fclose(bm);
        return cli_error("report", CLI_FAIL, "cannot create temporary files");
    }
    c->d.html = bh;
    c->d.md = bm;
    write_sections(c);
    c->d.html = html;
    c->d.md = md;
    write_head(c, title_opt);
    FILE *src[2] = {bh, bm}, *dst[2] = {html, md};
    for (int k = 0; k < 2; k++) {
        rewind(src[k]);
        char buf[65536];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, src[k])) > 0)
            fwrite(buf, 1, n, dst[k]);
        fclose(src[k]);
    }
    fputs("</body></html>\n", html);
    return CLI_OK;
}

/* Replaces both files, or (when either was not written whole) neither. */
static int publish(lsc_atomic *html, lsc_atomic *md)
{
    lsc_error err = {0};
    lsc_atomic *a[2] = {html, md};
    for (int k = 0; k < 2; k++) {   /* both whole on disk before either is renamed */
        errno = 0;
        if (fflush(a[k]->fp) != 0 || ferror(a[k]->fp) || fsync(fileno(a[k]->fp)) != 0)
            return cli_error("report", CLI_FAIL, "%s: %s", a[k]->path, strerror(errno ? errno : EIO));
    }
    if (lsc_atomic_commit(html, &err) != LSC_OK || lsc_atomic_commit(md, &err) != LSC_OK)
        return cli_lib_error("report", &err);
    return CLI_OK;
}

/* The report of results directory dir (see USAGE for the options). */
static int report_write(const char *dir, const char *out, const char *figures, const char *title)
{
    ctx *c = calloc(1, sizeof *c);
    if (!c)
        return cli_error("report", CLI_FAIL, "out of memory");
    report_paths p;
    lsc_atomic ah = {0}, am = {0};
    lsc_error err = {0};
    int rc = report_dir(c, dir);
    if (rc != CLI_OK) {
        free(c);
        return rc;
    }
    report_paths_make(c, out, figures, &p);
    if (lsc_atomic_open(&ah, p.html, &err) != LSC_OK || lsc_atomic_open(&am, p.md, &err) != LSC_OK) {
        rc = cli_lib_error("report", &err);
        goto done;
    }
    c->d.figdir = p.figdir;
    c->d.md_fig_prefix = p.figrel;
    int n_found = open_studies(c);
    if (n_found == 0) {
        rc = cli_error("report", CLI_FAIL, "%s: no study files (run experiments/reproduce.sh first)",
                       c->dir);
        goto done;
    }
    c->r_high = high_rank(c);
    if ((rc = write_page(c, ah.fp, am.fp, title)) != CLI_OK ||
        (rc = publish(&ah, &am)) != CLI_OK)
        goto done;
    printf("report: %s and %s (%d of %d studies, %d figures embedded, %d missing)\n", p.html,
           p.md, n_found, S_N, c->d.n_fig - c->d.n_fig_missing, c->d.n_fig_missing);
done:
    lsc_atomic_abort(&ah);
    lsc_atomic_abort(&am);
    for (int i = 0; i < S_N; i++)
        lsc_h5_close(c->st[i].h);
    free(c);
    return rc;
}

// ---- the subcommand ----

int cmd_report(int argc, char **argv)
{
    cli_opt opts[] = {{"output", 1, NULL}, {"figures", 1, NULL}, {"title", 1, NULL},
                      {"help", 0, NULL},   {NULL, 0, NULL}};
    const char *pos[1];
    int npos;
    int rc = cli_parse("report", argc, argv, opts, pos, 1, &npos);
    if (rc != CLI_OK)
        return rc;
    if (cli_flag(opts, "help")) {
        fputs(USAGE, stdout);
        return CLI_OK;
    }
    if (npos != 1)
        return cli_error("report", CLI_USAGE, "need the results directory (see --help)");
    return report_write(pos[0], cli_get(opts, "output"), cli_get(opts, "figures"),
                        cli_get(opts, "title"));
}
