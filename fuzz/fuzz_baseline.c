/*
 * fuzz_baseline.c — libFuzzer harness for the regress baseline reader
 * (analysis/regress.c, reached through `lorascope regress` itself,
 * cmd_regress): the input is --baseline FILE.json, compared with a fixed
 * results directory holding one study file (study.h5: /summary metrics
 * "loss" 1.0 and "acc" NaN, written once). Not a correctness test: the
 * sanitizers are the oracle. Its output goes to stdout/stderr, which
 * fuzz/run.sh closes (-close_fd_mask=3).
 */
#include <math.h>

#include "../analysis/commands.h"
#include "fuzz_common.h"

/* scratch/cur/study.h5, made once. */
static const char *results_dir(void)
{
    static char dir[600];
    if (dir[0])
        return dir;
    fz_subdir(dir, sizeof dir, "cur");
    char path[700];
    snprintf(path, sizeof path, "%s/study.h5", dir);
    lsc_h5 *h = NULL;
    lsc_error err = {0};
    if (lsc_h5_create(&h, path, &err) != LSC_OK ||
        lsc_h5_group(h, "/summary", &err) != LSC_OK ||
        lsc_h5_attr_str(h, "/summary", "metrics", "loss\nacc", &err) != LSC_OK ||
        lsc_h5_attr_double(h, "/summary", "loss", 1.0, &err) != LSC_OK ||
        lsc_h5_attr_double(h, "/summary", "acc", NAN, &err) != LSC_OK || lsc_h5_commit(h, &err) != LSC_OK) {
        fprintf(stderr, "fuzz: cannot write %s: %s\n", path, err.msg);
        abort();
    }
    return dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = results_dir();
    char path[600];
    fz_write(path, sizeof path, "baseline.json", data, size);
    char *argv[] = {"regress", "--baseline", path, "--current", (char *)dir, NULL};
    (void)cmd_regress(5, argv);
    return 0;
}
