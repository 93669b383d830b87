/*
 * test_h5io.c — HDF5 results: write then read back every kind of object
 * (groups, string/int/double attributes, 1-D/2-D float64 and float32
 * datasets), the temporary file gone after commit, nothing left after
 * abort, provenance attributes, format-version check, and the error paths
 * (bad directory, missing objects, a file that is not HDF5) with code and
 * message asserted. h5py's view of the same files is checked by
 * tests/test_analysis_oracle.py.
 */
#include <dirent.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "lsc_internal.h"
#include "test.h"

static char dir[256];

static int count_files(const char *d)
{
    DIR *dp = opendir(d);
    int n = 0;
    struct dirent *e;
    if (!dp)
        return -1;
    while ((e = readdir(dp)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(dp);
    return n;
}

/* Reads back what test_roundtrip wrote to path (v1: its 1-D dataset,
 * small: the input file it hashed). */
static void roundtrip_read(const char *path, const double v1[5], const char *small)
{
    lsc_error err = {0};
    int rc;
    lsc_h5 *r = NULL;
    rc = lsc_h5_open(&r, path, &err);
    CHECK(rc == LSC_OK, "open for reading");
    if (rc != LSC_OK)
        return;
    CHECK(lsc_h5_check_format(r, &err) == LSC_OK, "format_version accepted");
    double got[6];
    rc = lsc_h5_read_f64(r, "/modules/transformer.h.0.attn.c_attn/singular_values", 5, got, &err);
    CHECK(rc == LSC_OK && memcmp(got, v1, 5 * sizeof *v1) == 0, "1-D float64 read back bit-exact");
    rc = lsc_h5_read_f64(r, "/modules/x/phi", 6, got, &err);
    CHECK(rc == LSC_OK && got[4] == 5 && isnan(got[5]), "2-D float64 read back, NaN kept");
    int nd;
    size_t dims[4];
    rc = lsc_h5_dataset_shape(r, "/modules/x/phi", &nd, dims, 4, &err);
    CHECK(rc == LSC_OK && nd == 2 && dims[0] == 2 && dims[1] == 3, "shape [2, 3]");
    rc = lsc_h5_read_f64(r, "/modules/x/f32", 6, got, &err);
    CHECK(rc == LSC_OK && got[0] == 1.5 && got[1] == -2.0, "float32 dataset read as float64");
    rc = lsc_h5_read_f64(r, "/modules/x/phi", 5, got, &err);
    CHECK(rc == LSC_ESHAPE && strstr(err.msg, "6 values, expected 5") && strstr(err.msg, "a.h5"),
          "wrong size: LSC_ESHAPE (%s)", err.msg);
    long long iv = 0;
    double dv = 0;
    char sv[128];
    rc = lsc_h5_read_attr_int(r, "/modules/x", "r", &iv, &err);
    CHECK(rc == LSC_OK && iv == 16, "int attribute replaced and read (%lld)", iv);
    rc = lsc_h5_read_attr_double(r, "/modules/x", "alpha", &dv, &err);
    CHECK(rc == LSC_OK && dv == 32.5, "double attribute");
    rc = lsc_h5_read_attr_double(r, "/modules/x/phi", "nanattr", &dv, &err);
    CHECK(rc == LSC_OK && isnan(dv), "NaN attribute on a dataset");
    rc = lsc_h5_read_attr_str(r, "/modules/x", "unicode", sv, sizeof sv, &err);
    CHECK(rc == LSC_OK && strcmp(sv, "ΔW σ₁") == 0, "UTF-8 string attribute (%s)", sv);
    rc = lsc_h5_read_attr_str(r, "/", "lorascope_version", sv, sizeof sv, &err);
    CHECK(rc == LSC_OK && strcmp(sv, LSC_VERSION) == 0, "lorascope_version = %s", sv);
    rc = lsc_h5_read_attr_int(r, "/", "format_version", &iv, &err);
    CHECK(rc == LSC_OK && iv == 1, "format_version = 1 (integer)");
    rc = lsc_h5_read_attr_str(r, "/", "git_commit", sv, sizeof sv, &err);
    CHECK(rc == LSC_OK && strcmp(sv, "unknown") == 0, "git_commit defaults to unknown");
    rc = lsc_h5_read_attr_str(r, "/", "input_sha256", sv, sizeof sv, &err);
    CHECK(rc == LSC_OK && strcmp(sv, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0,
          "input sha256 recorded (sha256 of 'abc')");
    rc = lsc_h5_read_attr_str(r, "/", "input", sv, sizeof sv, &err);
    CHECK(rc == LSC_OK && strcmp(sv, small) == 0, "input path recorded");
    rc = lsc_h5_read_attr_int(r, "/", "seed", &iv, &err);
    rc |= lsc_h5_read_attr_str(r, "/", "factor", sv, sizeof sv, &err);
    CHECK(rc == LSC_OK && iv == 1234 && strcmp(sv, "A") == 0, "parameters recorded by name");
    rc = lsc_h5_read_attr_double(r, "/", "wall_time_s", &dv, &err);
    CHECK(rc == LSC_OK && dv == 0.25, "wall_time_s recorded");
    rc = lsc_h5_read_attr_double(r, "/", "zero_tol", &dv, &err);
    CHECK(rc == LSC_OK && dv == 1e-12, "tolerance recorded");
    char **names;
    int n;
    rc = lsc_h5_list(r, "/modules", &names, &n, &err);
    CHECK(rc == LSC_OK && n == 2 && strcmp(names[0], "transformer.h.0.attn.c_attn") == 0 &&
              strcmp(names[1], "x") == 0, "list /modules");
    if (rc == LSC_OK)
        lsc_h5_free_names(names, n);
    CHECK(lsc_h5_exists(r, "/modules/x/phi") == 1 && lsc_h5_exists(r, "/nope/x") == 0,
          "exists");
    /* missing things */
    rc = lsc_h5_read_attr_int(r, "/modules/x", "nope", &iv, &err);
    CHECK(rc == LSC_ENOTFOUND && strstr(err.msg, "no attribute nope"), "missing attribute (%s)", err.msg);
    rc = lsc_h5_read_attr_int(r, "/nope", "r", &iv, &err);
    CHECK(rc == LSC_ENOTFOUND && strstr(err.msg, "no object /nope"), "missing object (%s)", err.msg);
    rc = lsc_h5_read_f64(r, "/modules/x/none", 1, got, &err);
    CHECK(rc == LSC_ENOTFOUND && strstr(err.msg, "no dataset"), "missing dataset (%s)", err.msg);
    rc = lsc_h5_read_attr_int(r, "/", "command", &iv, &err);
    CHECK(rc == LSC_EFORMAT && strstr(err.msg, "not a number"), "string read as number (%s)", err.msg);
    lsc_h5_close(r);
}

static void test_roundtrip(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/a.h5", dir);
    lsc_error err = {0};
    lsc_h5 *h = NULL;
    int rc = lsc_h5_create(&h, path, &err);
    CHECK(rc == LSC_OK && h, "create %s", path);
    CHECK(access(path, F_OK) != 0, "final name absent while writing");
    CHECK(count_files(dir) == 0, "no file at all while writing (built in memory)");

    double v1[5] = {5, 4, 3, 2.5, -1e-300};
    double m2[2 * 3] = {1, 2, 3, 4, 5, NAN};
    float f2[3 * 2] = {1.5f, -2, 3, 4, 5, 6};
    size_t d1[1] = {5}, d2[2] = {2, 3}, d3[2] = {3, 2}, d0[1] = {0};
    rc = lsc_h5_group(h, "/modules/transformer.h.0.attn.c_attn", &err);
    rc |= lsc_h5_group(h, "/modules/transformer.h.0.attn.c_attn", &err);   /* again: ok */
    CHECK(rc == LSC_OK, "group with dots in its name, created twice");
    rc = lsc_h5_write_f64(h, "/modules/transformer.h.0.attn.c_attn/singular_values", 1, d1, v1, &err);
    rc |= lsc_h5_write_f64(h, "/modules/x/phi", 2, d2, m2, &err);       /* parent created */
    rc |= lsc_h5_write_f32(h, "/modules/x/f32", 2, d3, f2, &err);
    rc |= lsc_h5_write_f64(h, "/empty", 1, d0, v1, &err);
    CHECK(rc == LSC_OK, "datasets f64 1-D, f64 2-D, f32 2-D, empty (%s)", err.msg);
    rc = lsc_h5_attr_str(h, "/", "command", "lorascope spectrum x -o y", &err);
    rc |= lsc_h5_attr_int(h, "/modules/x", "r", 8, &err);
    rc |= lsc_h5_attr_int(h, "/modules/x", "r", 16, &err);               /* replaced */
    rc |= lsc_h5_attr_double(h, "/modules/x", "alpha", 32.5, &err);
    rc |= lsc_h5_attr_double(h, "/modules/x/phi", "nanattr", NAN, &err);
    rc |= lsc_h5_attr_str(h, "/modules/x", "unicode", "ΔW σ₁", &err);
    CHECK(rc == LSC_OK, "attributes str/int/double on root, group, dataset (%s)", err.msg);
    lsc_h5_input in[1] = {{"input", path}};
    /* hash a file that exists: this test binary's own source would not be
     * found from every cwd, so hash a small file we write */
    char small[512];
    snprintf(small, sizeof small, "%s/input.bin", dir);
    FILE *fp = fopen(small, "wb");
    fputs("abc", fp);
    fclose(fp);
    in[0].path = small;
    lsc_h5_param ps[3] = {
        {"seed", LSC_H5_INT, NULL, 1234, 0},
        {"factor", LSC_H5_STR, "A", 0, 0},
        {"zero_tol", LSC_H5_DOUBLE, NULL, 0, 1e-12},
    };
    lsc_provenance pv = {"lorascope test", NULL, 0.25, 1, in, 3, ps};
    rc = lsc_h5_write_provenance(h, &pv, &err);
    CHECK(rc == LSC_OK, "provenance (%s)", err.msg);
    rc = lsc_h5_commit(h, &err);
    CHECK(rc == LSC_OK, "commit");
    CHECK(access(path, F_OK) == 0, "final file present after commit");
    CHECK(count_files(dir) == 2, "temporary file gone after commit (%d files)", count_files(dir));

    roundtrip_read(path, v1, small);
}

static void test_abort_and_errors(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/b.h5", dir);
    int before = count_files(dir);
    lsc_error err = {0};
    lsc_h5 *h = NULL;
    int rc = lsc_h5_create(&h, path, &err);
    size_t d1[1] = {2};
    double v[2] = {1, 2};
    rc |= lsc_h5_write_f64(h, "/x", 1, d1, v, &err);
    CHECK(rc == LSC_OK && count_files(dir) == before, "writing b.h5 (in memory: no file yet)");
    lsc_h5_abort(h);
    CHECK(count_files(dir) == before && access(path, F_OK) != 0, "abort leaves nothing");
    lsc_h5_abort(NULL);

    rc = lsc_h5_create(&h, "/nonexistent-dir-lsc/x.h5", &err);
    CHECK(rc == LSC_EIO && h == NULL && strstr(err.msg, "/nonexistent-dir-lsc/x.h5") &&
              strstr(err.msg, "No such file"), "create in a missing directory (%s)", err.msg);

    /* a file that is not HDF5 */
    char bad[512];
    snprintf(bad, sizeof bad, "%s/input.bin", dir);
    lsc_h5 *r = NULL;
    rc = lsc_h5_open(&r, bad, &err);
    CHECK(rc == LSC_EFORMAT && r == NULL && strstr(err.msg, "not an HDF5 file") &&
              strstr(err.msg, "input.bin"), "open a non-HDF5 file (%s)", err.msg);
    rc = lsc_h5_open(&r, "/nonexistent-dir-lsc/y.h5", &err);
    CHECK(rc == LSC_EIO && strstr(err.msg, "y.h5"), "open a missing file (%s)", err.msg);

    /* format version: missing and unknown */
    snprintf(path, sizeof path, "%s/c.h5", dir);
    rc = lsc_h5_create(&h, path, &err);
    rc |= lsc_h5_commit(h, &err);
    rc |= lsc_h5_open(&r, path, &err);
    CHECK(rc == LSC_OK, "empty file written");
    rc = lsc_h5_check_format(r, &err);
    CHECK(rc == LSC_EFORMAT && strstr(err.msg, "no format_version"), "no format_version (%s)", err.msg);
    lsc_h5_close(r);
    rc = lsc_h5_create(&h, path, &err);
    rc |= lsc_h5_attr_int(h, "/", "format_version", 99, &err);
    rc |= lsc_h5_commit(h, &err);
    rc |= lsc_h5_open(&r, path, &err);
    rc = lsc_h5_check_format(r, &err);
    CHECK(rc == LSC_EVERSION && strstr(err.msg, "format_version 99"), "unknown version rejected (%s)",
          err.msg);
    lsc_h5_close(r);

    /* a 3-D dataset is refused with a clear message */
    rc = lsc_h5_create(&h, path, &err);
    size_t d3[3] = {1, 1, 1};
    rc = lsc_h5_write_f64(h, "/x", 3, d3, v, &err);
    CHECK(rc == LSC_EARG && strstr(err.msg, "ndim 3"), "3-D dataset refused (%s)", err.msg);
    /* an attribute on a missing object names the object and the file */
    rc = lsc_h5_attr_int(h, "/missing", "r", 1, &err);
    CHECK(rc == LSC_EHDF5 && strstr(err.msg, "c.h5") && strstr(err.msg, "/missing"),
          "attribute on a missing object: LSC_EHDF5 (%s)", err.msg);
    lsc_h5_abort(h);
}

/* A float type of 32 bytes (a corrupt file's 4 GB one made HDF5 allocate and clear 32 GB;
 * found by fuzz/fuzz_h5): refused as not numeric, dataset and attribute alike. */
static void test_wide_float(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/wide.h5", dir);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_IEEE_F64LE);
    hsize_t n = 2;
    hid_t sp = H5Screate_simple(1, &n, NULL), s1 = H5Screate(H5S_SCALAR);
    int ok = f >= 0 && t >= 0 && H5Tset_size(t, 32) >= 0;
    hid_t d = ok ? H5Dcreate2(f, "/w", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    hid_t a = ok ? H5Acreate2(f, "a", t, s1, H5P_DEFAULT, H5P_DEFAULT) : -1;
    ok = ok && d >= 0 && a >= 0;
    if (a >= 0) H5Aclose(a);
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    H5Sclose(s1);
    if (t >= 0) H5Tclose(t);
    if (f >= 0) H5Fclose(f);
    CHECK(ok, "a file with a 32-byte float dataset and attribute written (HDF5 API)");
    lsc_h5 *r = NULL;
    lsc_error err = {0};
    double v[2], x;
    int rc = lsc_h5_open(&r, path, &err);
    CHECK(rc == LSC_OK, "opening it");
    if (rc != LSC_OK)
        return;
    rc = lsc_h5_read_f64(r, "/w", 2, v, &err);
    CHECK(rc == LSC_EFORMAT && strstr(err.msg, "not numeric") && strstr(err.msg, "wide.h5"),
          "a 32-byte float dataset: LSC_EFORMAT, not numeric (%s)", err.msg);
    rc = lsc_h5_read_attr_double(r, "/", "a", &x, &err);
    CHECK(rc == LSC_EFORMAT && strstr(err.msg, "not a number"),
          "a 32-byte float attribute: LSC_EFORMAT, not a number (%s)", err.msg);
    lsc_h5_close(r);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/lsc_test_h5io.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_roundtrip();
    test_abort_and_errors();
    test_wide_float();
    /* clean up */
    char p[600];
    const char *files[] = {"a.h5", "c.h5", "input.bin", "wide.h5"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    CHECK(rmdir(dir) == 0, "no stray files left in the test directory");
    return test_summary();
}
