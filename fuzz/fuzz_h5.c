/*
 * fuzz_h5.c — libFuzzer harness for the HDF5 readers of our own result files
 * (lib/h5io.c): the input is written to a file (HDF5 needs a path), opened,
 * its format_version checked, and its objects walked (groups listed to depth
 * 3, at most 64 members each; every dataset's shape, and its values when at
 * most 64 K of them; the attributes our files carry read as numbers and
 * strings). libhdf5 itself is not instrumented: a crash inside it is still a
 * crash of our reader. Not a correctness test: the sanitizers are the oracle.
 */
#include "fuzz_common.h"

static const char *const ATTRS[] = {"format_version", "lorascope_version", "command", "metrics",
                                    "final_val_loss", "rank", "scaling", NULL};

static void read_attrs(const lsc_h5 *h, const char *obj)
{
    lsc_error err = {0};
    for (int i = 0; ATTRS[i]; i++) {
        double d;
        long long v;
        char buf[256];
        (void)lsc_h5_read_attr_double(h, obj, ATTRS[i], &d, &err);
        (void)lsc_h5_read_attr_int(h, obj, ATTRS[i], &v, &err);
        (void)lsc_h5_read_attr_str(h, obj, ATTRS[i], buf, sizeof buf, &err);
    }
}

static void walk(const lsc_h5 *h, const char *group, int depth)
{
    lsc_error err = {0};
    read_attrs(h, group);
    char **names = NULL;
    int n = 0;
    if (depth > 3 || lsc_h5_list(h, group, &names, &n, &err) != LSC_OK)
        return;
    for (int i = 0; i < n && i < 64; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", strcmp(group, "/") == 0 ? "" : group, names[i]);
        if (!lsc_h5_exists(h, path))
            continue;
        int ndim = 0;
        size_t dims[8];
        if (lsc_h5_dataset_shape(h, path, &ndim, dims, 8, &err) == LSC_OK) {
            size_t total = 1;
            for (int d = 0; d < ndim; d++)
                total = dims[d] && total > (1u << 16) / dims[d] ? (1u << 17) : total * dims[d];
            if (total <= (1u << 16)) {
                double *out = malloc((total ? total : 1) * sizeof *out);
                if (out)
                    (void)lsc_h5_read_f64(h, path, total, out, &err);
                free(out);
            }
            read_attrs(h, path);
        } else {
            walk(h, path, depth + 1);
        }
    }
    lsc_h5_free_names(names, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[600];
    fz_write(path, sizeof path, "in.h5", data, size);
    lsc_h5 *h = NULL;
    lsc_error err = {0};
    if (lsc_h5_open(&h, path, &err) == LSC_OK) {
        (void)lsc_h5_check_format(h, &err);
        walk(h, "/", 0);
    }
    lsc_h5_close(h);
    return 0;
}
