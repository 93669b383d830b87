/*
 * h5io.c — every line of HDF5 in lorascope. Result files are built in
 * memory (HDF5's core driver, no backing store) and only written by
 * lsc_h5_commit, which takes the file's image and hands it to
 * lsc_atomic_write (a mkstemp temporary beside <path>, every write, fsync
 * and close checked, rename, fsync of the directory), so an interrupted run
 * or a full disk never leaves a half-written result or a temporary file,
 * and HDF5 never does I/O that can fail in H5Fclose (HDF5 1.10 crashed at
 * exit after a failed close on a full disk); lsc_h5_abort discards the
 * memory. lsc_h5_create probes the directory with mkstemp (removed at once)
 * so that an unwritable one fails before the work. Writers for groups, string/int/double
 * attributes and float64/float32 datasets; small readers (attributes,
 * dataset shape, float64 datasets, group listing) for report and regression
 * code; the provenance helper that writes the root attributes every result
 * file carries (DESIGN.md §4); the self-description helpers (units and
 * definition attributes, module groups' layer and proj, index dimension
 * scales through the high-level library's H5DS, listings of every dataset
 * or group and of an object's attributes).
 *
 * What it is not: a general HDF5 wrapper (no chunking, compression,
 * hyperslabs or compound types). Strings are variable-length UTF-8, so h5py
 * returns them as str. HDF5's automatic error printing is switched off here
 * and every negative return becomes LSC_EHDF5 with a message naming the
 * file, the object and HDF5's innermost reason.
 *
 * Shape vocabulary: ndim <= 2 for written datasets (1-D (n) or 2-D (rows,
 * cols), row-major, as numpy reads them).
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "h5heap.h"
#include "lsc_internal.h"

struct lsc_h5 {
    hid_t file;
    int   writable;
    char *path;    /* the final name */
    char *tmp;     /* the temporary name while writing (NULL for readers) */
};

// ---- errors ----

static void silence_hdf5(void)
{
    /* once per open is cheap and keeps the library free of init state */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

typedef struct { char desc[160]; int got; } walk_ctx;

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    walk_ctx *c = data;
    (void)n;
    if (!c->got && e->desc && e->desc[0]) {
        snprintf(c->desc, sizeof c->desc, "%s", e->desc);
        c->got = 1;
    }
    return 0;
}

/* Fails with LSC_EHDF5: "<file>: <what> (HDF5: <innermost reason>)". */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int h5fail(lsc_error *err, const char *file, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    walk_ctx c = {{0}, 0};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, &c);
    H5Eclear2(H5E_DEFAULT);
    if (c.got)
        LSC_FAIL(err, LSC_EHDF5, "%s: %s (HDF5: %s)", file, what, c.desc);
    LSC_FAIL(err, LSC_EHDF5, "%s: %s (HDF5 error)", file, what);
}

static const char *objname(const char *obj)
{
    return obj && obj[0] ? obj : "/";
}

// ---- open, commit, abort ----

static void h5_free(lsc_h5 *h)
{
    if (!h)
        return;
    LSC_FREE(h->path);
    LSC_FREE(h->tmp);
    LSC_FREE(h);
}

int lsc_h5_create(lsc_h5 **out, const char *path, lsc_error *err)
{
    *out = NULL;
    silence_hdf5();
    lsc_h5 *h = LSC_CALLOC(1, sizeof *h);
    if (!h)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", path);
    h->file = H5I_INVALID_HID;
    h->writable = 1;
    h->path = lsc_strdup_(path);
    size_t n = strlen(path) + 32;
    h->tmp = LSC_MALLOC(n);
    if (!h->path || !h->tmp) {
        h5_free(h);
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", path);
    }
    /* a probe: mkstemp beside path, removed at once, so that a bad
     * directory fails now with errno's reason, not after the work */
    int rc = lsc_atomic_tmpname(h->tmp, n, path, err);
    if (rc != LSC_OK) {
        h5_free(h);
        return rc;
    }
    unlink(h->tmp);
    /* the core driver without a backing store: the file is built in
     * memory and nothing touches the disk until lsc_h5_commit */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 && H5Pset_fapl_core(fapl, (size_t)1 << 16, 0) >= 0)
        h->file = H5Fcreate(h->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (fapl >= 0)
        H5Pclose(fapl);
    if (h->file < 0) {
        rc = h5fail(err, path, "cannot create");
        h5_free(h);
        return rc;
    }
    *out = h;
    return LSC_OK;
}

/* The in-memory file's bytes: *img (heap), *n of them. */
static int file_image(lsc_h5 *h, void **img, size_t *n, lsc_error *err)
{
    ssize_t len = -1;
    *img = NULL;
    if (H5Fflush(h->file, H5F_SCOPE_GLOBAL) >= 0)
        len = H5Fget_file_image(h->file, NULL, 0);
    if (len <= 0)
        return h5fail(err, h->path, "cannot flush the file being written");
    void *buf = LSC_MALLOC((size_t)len);
    if (!buf)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory for the file's %zd bytes", h->path, len);
    if (H5Fget_file_image(h->file, buf, (size_t)len) != len) {
        LSC_FREE(buf);
        return h5fail(err, h->path, "cannot read back the file being written");
    }
    *img = buf;
    *n = (size_t)len;
    return LSC_OK;
}

int lsc_h5_commit(lsc_h5 *h, lsc_error *err)
{
    LSC_ASSERT(h && h->writable);
    size_t len = 0;
    void *img = NULL;
    int rc = file_image(h, &img, &len, err);
    /* closing an in-memory file does no I/O, so it cannot fail on a full disk */
    if (H5Fclose(h->file) < 0 && rc == LSC_OK)
        rc = h5fail(err, h->path, "cannot close");
    h->file = H5I_INVALID_HID;
    H5Eclear2(H5E_DEFAULT);
    /* mkstemp temporary, every write, fsync and close checked, rename, fsync of the directory */
    if (rc == LSC_OK)
        rc = lsc_atomic_write(h->path, img, len, err);
    LSC_FREE(img);
    h5_free(h);
    return rc;
}

void lsc_h5_abort(lsc_h5 *h)
{
    if (!h)
        return;
    if (h->file >= 0)
        H5Fclose(h->file);
    H5Eclear2(H5E_DEFAULT);
    h5_free(h);
}

int lsc_h5_open(lsc_h5 **out, const char *path, lsc_error *err)
{
    *out = NULL;
    silence_hdf5();
    int rc0 = lsc_file_check(path, err);
    if (rc0 != LSC_OK)
        return rc0;
    if (H5Fis_hdf5(path) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        LSC_FAIL(err, LSC_EFORMAT, "%s: not an HDF5 file", path);
    }
    lsc_h5 *h = LSC_CALLOC(1, sizeof *h);
    if (!h)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", path);
    h->path = lsc_strdup_(path);
    if (!h->path) {
        h5_free(h);
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", path);
    }
    h->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (h->file < 0) {
        int rc = h5fail(err, path, "cannot open");
        h5_free(h);
        return rc;
    }
    *out = h;
    return LSC_OK;
}

void lsc_h5_close(lsc_h5 *h)
{
    if (!h)
        return;
    LSC_ASSERT(!h->writable);
    if (h->file >= 0)
        H5Fclose(h->file);
    H5Eclear2(H5E_DEFAULT);
    h5_free(h);
}

const char *lsc_h5_path(const lsc_h5 *h)
{
    return h->path;
}

// ---- groups ----

static hid_t lcpl_intermediate(void)
{
    hid_t p = H5Pcreate(H5P_LINK_CREATE);
    if (p >= 0)
        H5Pset_create_intermediate_group(p, 1);
    return p;
}

int lsc_h5_group(lsc_h5 *h, const char *path, lsc_error *err)
{
    LSC_ASSERT(h && h->writable && path);
    hid_t g = H5Gopen2(h->file, path, H5P_DEFAULT);
    if (g >= 0) {
        H5Gclose(g);
        return LSC_OK;
    }
    H5Eclear2(H5E_DEFAULT);
    hid_t lcpl = lcpl_intermediate();
    g = lcpl >= 0 ? H5Gcreate2(h->file, path, lcpl, H5P_DEFAULT, H5P_DEFAULT) : -1;
    if (lcpl >= 0)
        H5Pclose(lcpl);
    if (g < 0)
        return h5fail(err, h->path, "cannot create group %s", path);
    H5Gclose(g);
    return LSC_OK;
}

int lsc_h5_exists(const lsc_h5 *h, const char *path)
{
    LSC_ASSERT(h && path);
    if (strcmp(path, "/") == 0)
        return 1;
    /* H5Lexists needs every parent to exist: walk the components */
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return 0;
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            htri_t e = H5Lexists(h->file, buf, H5P_DEFAULT);
            if (e <= 0) {
                H5Eclear2(H5E_DEFAULT);
                return 0;
            }
            if (c == '\0')
                return 1;
            *p = c;
        }
    }
}

// ---- attributes ----

static hid_t str_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0)) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* Creates (replacing) a scalar attribute of file type ftype and writes *val
 * given as memory type mtype. */
static int attr_write(lsc_h5 *h, const char *obj, const char *name, hid_t ftype, hid_t mtype,
                      const void *val, lsc_error *err)
{
    LSC_ASSERT(h && h->writable && name);
    obj = objname(obj);
    int rc = LSC_OK;
    hid_t o = -1, sp = -1, a = -1;
    o = H5Oopen(h->file, obj, H5P_DEFAULT);
    if (o < 0) {
        rc = h5fail(err, h->path, "cannot open %s to write attribute %s", obj, name);
        goto fail;
    }
    htri_t ex = H5Aexists(o, name);
    if (ex > 0 && H5Adelete(o, name) < 0) {
        rc = h5fail(err, h->path, "cannot replace attribute %s of %s", name, obj);
        goto fail;
    }
    sp = H5Screate(H5S_SCALAR);
    a = sp >= 0 ? H5Acreate2(o, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT) : -1;
    if (a < 0 || H5Awrite(a, mtype, val) < 0) {
        rc = h5fail(err, h->path, "cannot write attribute %s of %s", name, obj);
        goto fail;
    }
fail:
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    if (o >= 0) H5Oclose(o);
    return rc;
}

int lsc_h5_attr_str(lsc_h5 *h, const char *obj, const char *name, const char *val,
                    lsc_error *err)
{
    hid_t t = str_type();
    if (t < 0)
        return h5fail(err, h->path, "cannot make a string type for attribute %s", name);
    const char *v = val ? val : "";
    int rc = attr_write(h, obj, name, t, t, &v, err);
    H5Tclose(t);
    return rc;
}

int lsc_h5_attr_int(lsc_h5 *h, const char *obj, const char *name, long long val,
                    lsc_error *err)
{
    return attr_write(h, obj, name, H5T_STD_I64LE, H5T_NATIVE_LLONG, &val, err);
}

int lsc_h5_attr_double(lsc_h5 *h, const char *obj, const char *name, double val,
                       lsc_error *err)
{
    return attr_write(h, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &val, err);
}

// ---- datasets ----

static int dset_write(lsc_h5 *h, const char *path, int ndim, const size_t *dims, hid_t ftype,
                      hid_t mtype, const void *data, lsc_error *err)
{
    LSC_ASSERT(h && h->writable && path && dims);
    if (ndim < 1 || ndim > 2)
        LSC_FAIL(err, LSC_EARG, "%s: dataset %s: ndim %d (only 1 or 2)", h->path, path, ndim);
    hsize_t hd[2];
    for (int i = 0; i < ndim; i++)
        hd[i] = (hsize_t)dims[i];
    int rc = LSC_OK;
    hid_t sp = -1, d = -1, lcpl = -1;
    if (lsc_h5_exists(h, path) && H5Ldelete(h->file, path, H5P_DEFAULT) < 0) {
        rc = h5fail(err, h->path, "cannot replace dataset %s", path);
        goto fail;
    }
    sp = H5Screate_simple(ndim, hd, NULL);
    lcpl = lcpl_intermediate();
    d = (sp >= 0 && lcpl >= 0)
            ? H5Dcreate2(h->file, path, ftype, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT) : -1;
    if (d < 0) {
        rc = h5fail(err, h->path, "cannot create dataset %s", path);
        goto fail;
    }
    size_t numel = 1;
    for (int i = 0; i < ndim; i++)
        numel *= dims[i];
    if (numel > 0 && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        rc = h5fail(err, h->path, "cannot write dataset %s", path);
        goto fail;
    }
fail:
    if (d >= 0) H5Dclose(d);
    if (sp >= 0) H5Sclose(sp);
    if (lcpl >= 0) H5Pclose(lcpl);
    return rc;
}

int lsc_h5_write_f64(lsc_h5 *h, const char *path, int ndim, const size_t *dims,
                     const double *data, lsc_error *err)
{
    return dset_write(h, path, ndim, dims, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, data, err);
}

int lsc_h5_write_f32(lsc_h5 *h, const char *path, int ndim, const size_t *dims,
                     const float *data, lsc_error *err)
{
    return dset_write(h, path, ndim, dims, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, data, err);
}

int lsc_h5_write_i32(lsc_h5 *h, const char *path, size_t n, const int *data, lsc_error *err)
{
    return dset_write(h, path, 1, &n, H5T_STD_I32LE, H5T_NATIVE_INT, data, err);
}

int lsc_h5_write_str(lsc_h5 *h, const char *path, size_t n, const char *const *data, lsc_error *err)
{
    hid_t t = str_type();
    if (t < 0)
        return h5fail(err, h->path, "cannot make a string type for dataset %s", path);
    int rc = dset_write(h, path, 1, &n, t, t, data, err);
    H5Tclose(t);
    return rc;
}

// ---- readers ----

static hid_t attr_open(const lsc_h5 *h, const char *obj, const char *name, hid_t *o,
                       lsc_error *err, int *rc)
{
    obj = objname(obj);
    *o = H5Oopen(h->file, obj, H5P_DEFAULT);
    if (*o < 0) {
        H5Eclear2(H5E_DEFAULT);
        *rc = lsc_error_set(err, LSC_ENOTFOUND, __FILE__, __LINE__, "%s: no object %s",
                            h->path, obj);
        return -1;
    }
    if (H5Aexists(*o, name) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        H5Oclose(*o);
        *o = -1;
        *rc = lsc_error_set(err, LSC_ENOTFOUND, __FILE__, __LINE__, "%s: %s has no attribute %s",
                            h->path, obj, name);
        return -1;
    }
    hid_t a = H5Aopen(*o, name, H5P_DEFAULT);
    if (a < 0) {
        *rc = h5fail(err, h->path, "cannot open attribute %s of %s", name, obj);
        H5Oclose(*o);
        *o = -1;
    }
    return a;
}

/* 1 for an integer or float type of at most 16 bytes: what converts to a native number
 * (a corrupt file's float type of gigabytes made HDF5 allocate and clear gigabytes). */
static int numeric_type(hid_t t)
{
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    return (cls == H5T_INTEGER || cls == H5T_FLOAT) && H5Tget_size(t) <= 16;
}

static int attr_read_num(const lsc_h5 *h, const char *obj, const char *name, hid_t mtype,
                         void *out, lsc_error *err)
{
    int rc = LSC_OK;
    hid_t o, a = attr_open(h, obj, name, &o, err, &rc);
    if (a < 0)
        return rc;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (!numeric_type(t)) {
        rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__,
                           "%s: attribute %s of %s is not a number", h->path, name, objname(obj));
    } else if (np != 1) {
        rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__,
                           "%s: attribute %s of %s is not a scalar", h->path, name, objname(obj));
    } else if (H5Aread(a, mtype, out) < 0) {
        rc = h5fail(err, h->path, "cannot read attribute %s of %s", name, objname(obj));
    }
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    H5Aclose(a);
    H5Oclose(o);
    return rc;
}

int lsc_h5_read_attr_double(const lsc_h5 *h, const char *obj, const char *name, double *v,
                            lsc_error *err)
{
    return attr_read_num(h, obj, name, H5T_NATIVE_DOUBLE, v, err);
}

int lsc_h5_read_attr_int(const lsc_h5 *h, const char *obj, const char *name, long long *v,
                         lsc_error *err)
{
    return attr_read_num(h, obj, name, H5T_NATIVE_LLONG, v, err);
}

#define STR_MAX ((size_t)16 << 20)   /* fixed-length string attributes larger are refused */

int lsc_h5_read_attr_str(const lsc_h5 *h, const char *obj, const char *name, char *buf,
                         size_t n, lsc_error *err)
{
    LSC_ASSERT(buf && n > 0);
    buf[0] = '\0';
    int rc = LSC_OK;
    hid_t o, a = attr_open(h, obj, name, &o, err, &rc);
    if (a < 0)
        return rc;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (sp >= 0)
        H5Sclose(sp);
    const char *bad = NULL;
    if (t < 0 || H5Tget_class(t) != H5T_STRING) {
        rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__,
                           "%s: attribute %s of %s is not a string", h->path, name, objname(obj));
        goto fail;
    }
    if (np != 1) {
        rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__,
                           "%s: attribute %s of %s is not a single string", h->path, name,
                           objname(obj));
        goto fail;
    }
    int heap = H5Tis_variable_str(t) > 0 && !h->writable ?
               lsc_h5_vlen_str_check(h->file, a, &bad) : 0;
    if (heap == -2) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", h->path);
    } else if (heap < 0) {
        rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__,
                           "%s: attribute %s of %s is corrupt: %s", h->path, name, objname(obj),
                           bad);
    } else if (H5Tis_variable_str(t) > 0) {
        hid_t mt = str_type();
        char *s = NULL;
        if (mt < 0 || H5Aread(a, mt, &s) < 0) {
            rc = h5fail(err, h->path, "cannot read attribute %s of %s", name, objname(obj));
        } else {
            snprintf(buf, n, "%s", s ? s : "");
            H5free_memory(s);
        }
        if (mt >= 0)
            H5Tclose(mt);
    } else {
        size_t sz = H5Tget_size(t);
        char *tmp = sz <= STR_MAX ? LSC_CALLOC(sz + 1, 1) : NULL;
        hid_t mt = tmp ? H5Tcopy(t) : -1;
        if (sz > STR_MAX) {
            rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__,
                               "%s: attribute %s of %s is a string of %zu bytes (more than 16 MiB)",
                               h->path, name, objname(obj), sz);
        } else if (!tmp || mt < 0) {
            rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", h->path);
        } else if (H5Aread(a, mt, tmp) < 0) {
            rc = h5fail(err, h->path, "cannot read attribute %s of %s", name, objname(obj));
        } else {
            snprintf(buf, n, "%s", tmp);
        }
        if (mt >= 0)
            H5Tclose(mt);
        LSC_FREE(tmp);
    }
fail:
    if (t >= 0) H5Tclose(t);
    H5Aclose(a);
    H5Oclose(o);
    return rc;
}

int lsc_h5_dataset_shape(const lsc_h5 *h, const char *path, int *ndim, size_t *dims,
                         int max_dims, lsc_error *err)
{
    *ndim = 0;
    if (!lsc_h5_exists(h, path))
        LSC_FAIL(err, LSC_ENOTFOUND, "%s: no dataset %s", h->path, path);
    hid_t d = H5Dopen2(h->file, path, H5P_DEFAULT);
    if (d < 0)
        return h5fail(err, h->path, "%s is not a dataset", path);
    hid_t sp = H5Dget_space(d);
    int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    int rc = LSC_OK;
    if (nd < 0) {
        rc = h5fail(err, h->path, "cannot read the shape of %s", path);
    } else if (nd > max_dims) {
        rc = lsc_error_set(err, LSC_ESHAPE, __FILE__, __LINE__, "%s: dataset %s has %d dimensions",
                           h->path, path, nd);
    } else {
        hsize_t hd[32];
        H5Sget_simple_extent_dims(sp, hd, NULL);
        for (int i = 0; i < nd; i++)
            dims[i] = (size_t)hd[i];
        *ndim = nd;
    }
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    return rc;
}

int lsc_h5_read_f64(const lsc_h5 *h, const char *path, size_t n, double *out, lsc_error *err)
{
    int nd;
    size_t dims[32];
    int rc = lsc_h5_dataset_shape(h, path, &nd, dims, 32, err);
    if (rc != LSC_OK)
        return rc;
    size_t numel = 1;
    for (int i = 0; i < nd; i++)
        numel *= dims[i];
    if (numel != n)
        LSC_FAIL(err, LSC_ESHAPE, "%s: dataset %s has %zu values, expected %zu", h->path, path,
                 numel, n);
    hid_t d = H5Dopen2(h->file, path, H5P_DEFAULT);
    if (d < 0)
        return h5fail(err, h->path, "cannot open dataset %s", path);
    hid_t t = H5Dget_type(d);
    if (!numeric_type(t))
        rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__, "%s: dataset %s is not numeric "
                           "(integers or floats of at most 16 bytes)", h->path, path);
    else if (n > 0 && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
        rc = h5fail(err, h->path, "cannot read dataset %s as float64", path);
    if (t >= 0) H5Tclose(t);
    H5Dclose(d);
    return rc;
}

typedef struct { char **names; int n, cap; int oom; } list_ctx;

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    list_ctx *c = data;
    (void)g;
    (void)info;
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        char **nn = LSC_REALLOC(c->names, (size_t)cap * sizeof *nn);
        if (!nn) {
            c->oom = 1;
            return 1;
        }
        c->names = nn;
        c->cap = cap;
    }
    c->names[c->n] = lsc_strdup_(name);
    if (!c->names[c->n]) {
        c->oom = 1;
        return 1;
    }
    c->n++;
    return 0;
}

void lsc_h5_free_names(char **names, int n)
{
    for (int i = 0; i < n; i++)
        LSC_FREE(names[i]);
    LSC_FREE(names);
}

int lsc_h5_list(const lsc_h5 *h, const char *group, char ***names, int *n, lsc_error *err)
{
    *names = NULL;
    *n = 0;
    if (!lsc_h5_exists(h, group))
        LSC_FAIL(err, LSC_ENOTFOUND, "%s: no group %s", h->path, group);
    hid_t g = H5Gopen2(h->file, group, H5P_DEFAULT);
    if (g < 0)
        return h5fail(err, h->path, "%s is not a group", group);
    list_ctx c = {NULL, 0, 0, 0};
    herr_t st = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, list_cb, &c);
    H5Gclose(g);
    if (c.oom) {
        lsc_h5_free_names(c.names, c.n);
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory listing %s", h->path, group);
    }
    if (st < 0) {
        lsc_h5_free_names(c.names, c.n);
        return h5fail(err, h->path, "cannot list %s", group);
    }
    *names = c.names;
    *n = c.n;
    return LSC_OK;
}

static herr_t anames_cb(hid_t o, const char *name, const H5A_info_t *info, void *data)
{
    (void)o;
    (void)info;
    list_ctx *c = data;
    return list_cb(-1, name, NULL, c);
}

int lsc_h5_attr_names(const lsc_h5 *h, const char *obj, char ***names, int *n, lsc_error *err)
{
    *names = NULL;
    *n = 0;
    hid_t o = H5Oopen(h->file, objname(obj), H5P_DEFAULT);
    if (o < 0)
        return h5fail(err, h->path, "cannot open %s", objname(obj));
    list_ctx c = {NULL, 0, 0, 0};
    herr_t st = H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, NULL, anames_cb, &c);
    H5Oclose(o);
    if (c.oom || st < 0) {
        lsc_h5_free_names(c.names, c.n);
        if (c.oom)
            LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory listing the attributes of %s", h->path, objname(obj));
        return h5fail(err, h->path, "cannot list the attributes of %s", objname(obj));
    }
    *names = c.names;
    *n = c.n;
    return LSC_OK;
}

int lsc_h5_check_format(const lsc_h5 *h, lsc_error *err)
{
    long long v = 0;
    int rc = lsc_h5_read_attr_int(h, "/", "format_version", &v, err);
    if (rc == LSC_ENOTFOUND)
        LSC_FAIL(err, LSC_EFORMAT, "%s: not a lorascope result (no format_version attribute)",
                 h->path);
    if (rc != LSC_OK)
        return rc;
    if (v != LSC_H5_FORMAT_VERSION)
        LSC_FAIL(err, LSC_EVERSION, "%s: format_version %lld, this lorascope reads %d", h->path,
                 v, LSC_H5_FORMAT_VERSION);
    return LSC_OK;
}

// ---- self-description: units, definitions, module groups, dimension scales ----

typedef struct { char **paths; int n, cap; int want; int oom; hid_t file; } visit_ctx;

static herr_t visit_cb(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    visit_ctx *c = data;
    if (info->type != H5L_TYPE_HARD)
        return 0;
    hid_t o = H5Oopen(g, name, H5P_DEFAULT);
    if (o < 0) {
        H5Eclear2(H5E_DEFAULT);
        return 0;
    }
    H5I_type_t t = H5Iget_type(o);
    H5Oclose(o);
    if (t != (c->want ? H5I_DATASET : H5I_GROUP))
        return 0;
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        char **nn = LSC_REALLOC(c->paths, (size_t)cap * sizeof *nn);
        if (!nn) {
            c->oom = 1;
            return 1;
        }
        c->paths = nn;
        c->cap = cap;
    }
    size_t len = strlen(name) + 2;
    char *p = LSC_MALLOC(len);
    if (!p) {
        c->oom = 1;
        return 1;
    }
    snprintf(p, len, "/%s", name);
    c->paths[c->n++] = p;
    return 0;
}

int lsc_h5_objects(const lsc_h5 *h, int datasets, char ***paths, int *n, lsc_error *err)
{
    LSC_ASSERT(h && paths && n);
    *paths = NULL;
    *n = 0;
    visit_ctx c = {NULL, 0, 0, datasets != 0, 0, h->file};
    herr_t st = H5Lvisit(h->file, H5_INDEX_NAME, H5_ITER_INC, visit_cb, &c);
    if (c.oom) {
        lsc_h5_free_names(c.paths, c.n);
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory listing its objects", h->path);
    }
    if (st < 0) {
        lsc_h5_free_names(c.paths, c.n);
        return h5fail(err, h->path, "cannot walk the file");
    }
    *paths = c.paths;
    *n = c.n;
    return LSC_OK;
}

int lsc_h5_has_attr(const lsc_h5 *h, const char *obj, const char *name)
{
    LSC_ASSERT(h && name);
    htri_t e = H5Aexists_by_name(h->file, objname(obj), name, H5P_DEFAULT);
    if (e < 0)
        H5Eclear2(H5E_DEFAULT);
    return e > 0;
}

int lsc_h5_describe(lsc_h5 *h, const char *dset, const char *units, const char *definition,
                    lsc_error *err)
{
    int rc;
    if ((rc = lsc_h5_attr_str(h, dset, "units", units, err)) != LSC_OK ||
        (rc = lsc_h5_attr_str(h, dset, "definition", definition, err)) != LSC_OK)
        return rc;
    return LSC_OK;
}

int lsc_h5_module_attrs(lsc_h5 *h, const char *group, int layer, const char *proj,
                        lsc_error *err)
{
    int rc;
    if ((rc = lsc_h5_attr_int(h, group, "layer", layer, err)) != LSC_OK ||
        (rc = lsc_h5_attr_str(h, group, "proj", proj, err)) != LSC_OK)
        return rc;
    return LSC_OK;
}

int lsc_h5_index_scale(lsc_h5 *h, const char *dset, int dim, const char *scale,
                       lsc_error *err)
{
    LSC_ASSERT(h && h->writable && dset && scale);
    int ndim = 0;
    size_t dims[2] = {0, 0};
    int rc = lsc_h5_dataset_shape(h, dset, &ndim, dims, 2, err);
    if (rc != LSC_OK)
        return rc;
    if (dim < 0 || dim >= ndim)
        LSC_FAIL(err, LSC_EARG, "%s: dataset %s has no dimension %d", h->path, dset, dim);
    int *idx = LSC_MALLOC((dims[dim] ? dims[dim] : 1) * sizeof *idx);
    if (!idx)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory for the scale %s", h->path, scale);
    for (size_t i = 0; i < dims[dim]; i++)
        idx[i] = (int)i + 1;
    rc = lsc_h5_write_i32(h, scale, dims[dim], idx, err);
    LSC_FREE(idx);
    if (rc != LSC_OK || (rc = lsc_h5_describe(h, scale, "1", "1-based index along the dimension "
                                              "it scales (1 = the first, e.g. the largest singular "
                                              "value)", err)) != LSC_OK)
        return rc;
    const char *base = strrchr(scale, '/');
    hid_t s = H5Dopen2(h->file, scale, H5P_DEFAULT);
    hid_t d = s >= 0 ? H5Dopen2(h->file, dset, H5P_DEFAULT) : -1;
    if (d < 0 || H5DSset_scale(s, base ? base + 1 : scale) < 0 ||
        H5DSattach_scale(d, s, (unsigned)dim) < 0)
        rc = h5fail(err, h->path, "cannot attach the dimension scale %s to %s", scale, dset);
    if (d >= 0) H5Dclose(d);
    if (s >= 0) H5Dclose(s);
    return rc;
}

// ---- provenance ----

int lsc_h5_write_provenance(lsc_h5 *h, const lsc_provenance *p, lsc_error *err)
{
    return lsc_h5_write_provenance_digests(h, p, NULL, err);
}

int lsc_h5_write_provenance_digests(lsc_h5 *h, const lsc_provenance *p,
                                    const char *const *digests, lsc_error *err)
{
    LSC_ASSERT(h && p);
    int rc;
    if ((rc = lsc_h5_attr_str(h, "/", "lorascope_version", LSC_VERSION, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, "/", "format_version", LSC_H5_FORMAT_VERSION, err)) != LSC_OK ||
        (rc = lsc_h5_attr_str(h, "/", "command", p->command ? p->command : "", err)) != LSC_OK ||
        (rc = lsc_h5_attr_str(h, "/", "git_commit",
                              p->git_commit && p->git_commit[0] ? p->git_commit : "unknown",
                              err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, "/", "wall_time_s", p->wall_time_s, err)) != LSC_OK)
        return rc;
    char stamp[32];
    time_t now = time(NULL);
    struct tm tmv;
    if (gmtime_r(&now, &tmv) && strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tmv) > 0)
        if ((rc = lsc_h5_attr_str(h, "/", "created_utc", stamp, err)) != LSC_OK)
            return rc;
    for (int i = 0; i < p->n_inputs; i++) {
        const lsc_h5_input *in = &p->inputs[i];
        char hex[65], key[256];
        if (digests && digests[i] && strlen(digests[i]) == 64)
            memcpy(hex, digests[i], 65);
        else if ((rc = lsc_sha256_path(in->path, hex, err)) != LSC_OK)
            return rc;
        snprintf(key, sizeof key, "%s_sha256", in->role);
        if ((rc = lsc_h5_attr_str(h, "/", in->role, in->path, err)) != LSC_OK ||
            (rc = lsc_h5_attr_str(h, "/", key, hex, err)) != LSC_OK)
            return rc;
    }
    for (int i = 0; i < p->n_params; i++) {
        const lsc_h5_param *q = &p->params[i];
        switch (q->type) {
        case LSC_H5_STR:    rc = lsc_h5_attr_str(h, "/", q->name, q->s, err); break;
        case LSC_H5_INT:    rc = lsc_h5_attr_int(h, "/", q->name, q->i, err); break;
        case LSC_H5_DOUBLE: rc = lsc_h5_attr_double(h, "/", q->name, q->d, err); break;
        default:            LSC_ABORT("provenance parameter %s: bad type %d", q->name, (int)q->type);
        }
        if (rc != LSC_OK)
            return rc;
    }
    return LSC_OK;
}
