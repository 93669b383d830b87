/*
 * lsc_h5io.h — HDF5 results (h5io.c).
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 */
#ifndef LSC_H5IO_H
#define LSC_H5IO_H

#include <stddef.h>
#include <stdint.h>

#include "lsc_error.h"

// ---- HDF5 results (h5io.c) ----
/* All HDF5 code lives in h5io.c. A result file is built in memory (HDF5's
 * core driver) and appears at <path> only through lsc_h5_commit, which
 * writes its image with lsc_atomic_write (mkstemp temporary beside <path>,
 * fsync, rename, fsync of the directory); lsc_h5_abort discards it. Object paths are absolute HDF5
 * paths ("/", "/modules/h.0.attn.q_proj/phi"); missing parent groups are
 * created. Strings are variable-length UTF-8 (h5py gives str), integers
 * int64, doubles float64. Errors: LSC_EHDF5 with "<file>: <what> (HDF5:
 * <reason>)"; HDF5's own error printing is switched off. */
typedef struct lsc_h5 lsc_h5;   /* opaque; one open file */

/* Writers. lsc_h5_create allocates *out; commit and abort free it (commit
 * frees it even when it fails, and then no temporary file is left). */
int  lsc_h5_create(lsc_h5 **out, const char *path, lsc_error *err);
int  lsc_h5_commit(lsc_h5 *h, lsc_error *err);
void lsc_h5_abort(lsc_h5 *h);                     /* NULL is a no-op */
int  lsc_h5_group(lsc_h5 *h, const char *path, lsc_error *err);  /* ok if it exists */
int  lsc_h5_attr_str(lsc_h5 *h, const char *obj, const char *name, const char *val,
                     lsc_error *err);
int  lsc_h5_attr_int(lsc_h5 *h, const char *obj, const char *name, long long val,
                     lsc_error *err);
int  lsc_h5_attr_double(lsc_h5 *h, const char *obj, const char *name, double val,
                        lsc_error *err);
/* ndim 1 (dims[0]) or 2 (dims[0] rows, dims[1] cols), row-major data;
 * an existing dataset of that name is replaced. */
int  lsc_h5_write_f64(lsc_h5 *h, const char *path, int ndim, const size_t *dims,
                      const double *data, lsc_error *err);
int  lsc_h5_write_f32(lsc_h5 *h, const char *path, int ndim, const size_t *dims,
                      const float *data, lsc_error *err);
/* 1-D int32 and variable-length UTF-8 string datasets of n elements. */
int  lsc_h5_write_i32(lsc_h5 *h, const char *path, size_t n, const int *data, lsc_error *err);
int  lsc_h5_write_str(lsc_h5 *h, const char *path, size_t n, const char *const *data,
                      lsc_error *err);

/* Readers. lsc_h5_open allocates *out (read-only); lsc_h5_close frees it. */
int  lsc_h5_open(lsc_h5 **out, const char *path, lsc_error *err);
void lsc_h5_close(lsc_h5 *h);                     /* NULL is a no-op */
const char *lsc_h5_path(const lsc_h5 *h);         /* the final file name */
int  lsc_h5_exists(const lsc_h5 *h, const char *path);  /* 1 if the object exists */
/* LSC_ENOTFOUND when the object or attribute is missing, LSC_EFORMAT when
 * it has another type; numbers convert between int and float. */
int  lsc_h5_read_attr_double(const lsc_h5 *h, const char *obj, const char *name, double *v,
                             lsc_error *err);
int  lsc_h5_read_attr_int(const lsc_h5 *h, const char *obj, const char *name, long long *v,
                          lsc_error *err);
/* Copies the string into buf (n bytes, truncated, NUL-terminated). */
int  lsc_h5_read_attr_str(const lsc_h5 *h, const char *obj, const char *name, char *buf,
                          size_t n, lsc_error *err);
int  lsc_h5_dataset_shape(const lsc_h5 *h, const char *path, int *ndim, size_t *dims,
                          int max_dims, lsc_error *err);
/* Reads a dataset of exactly n values (any shape) as float64 into out;
 * LSC_ESHAPE when the size differs. */
int  lsc_h5_read_f64(const lsc_h5 *h, const char *path, size_t n, double *out,
                     lsc_error *err);
/* Names of the members of a group, sorted; the caller frees them with
 * lsc_h5_free_names(*names, *n). */
int  lsc_h5_list(const lsc_h5 *h, const char *group, char ***names, int *n, lsc_error *err);
void lsc_h5_free_names(char **names, int n);
/* Self-description, so that h5py users need no knowledge of our code
 * (README "Reading the results"). Every dataset carries the string
 * attributes units ("1" for dimensionless, "degrees", ...) and definition
 * (one sentence); every module group layer (int, -1 if none) and proj
 * (str); vectors indexed by singular value carry a dimension scale (an
 * int32 dataset 1..n, HDF5 high-level H5DS: h5py's dset.dims[0][0]). */
int  lsc_h5_describe(lsc_h5 *h, const char *dset, const char *units, const char *definition,
                     lsc_error *err);
int  lsc_h5_module_attrs(lsc_h5 *h, const char *group, int layer, const char *proj,
                         lsc_error *err);
/* Writes scale (a path, e.g. "/modules/m/sv_index") = 1..n, n the length
 * of dimension dim of dset, described, marked as a dimension scale named by
 * its last path component and attached to that dimension of dset. */
int  lsc_h5_index_scale(lsc_h5 *h, const char *dset, int dim, const char *scale,
                        lsc_error *err);
/* 1 if obj has the attribute name. */
int  lsc_h5_has_attr(const lsc_h5 *h, const char *obj, const char *name);
/* The absolute paths of every dataset (datasets != 0) or every group
 * except the root (datasets == 0) in the file, in HDF5's name order (a
 * group before its members); free with lsc_h5_free_names(*paths, *n). */
int  lsc_h5_objects(const lsc_h5 *h, int datasets, char ***paths, int *n, lsc_error *err);

/* The names of obj's attributes, sorted; free with lsc_h5_free_names. */
int  lsc_h5_attr_names(const lsc_h5 *h, const char *obj, char ***names, int *n, lsc_error *err);
/* The root attribute format_version of every result file: written by the
 * provenance helper, required by lsc_h5_check_format. */
#define LSC_H5_FORMAT_VERSION 1
/* LSC_EVERSION unless the root attribute format_version is the one this
 * build writes, LSC_H5_FORMAT_VERSION (LSC_EFORMAT when it is missing). */
int  lsc_h5_check_format(const lsc_h5 *h, lsc_error *err);

/* Provenance: root attributes lorascope_version, format_version
 * (LSC_H5_FORMAT_VERSION), command, git_commit ("unknown" when NULL),
 * wall_time_s, created_utc, and for every input "<role>" = path and "<role>_sha256" (lsc_sha256_path:
 * files and adapter directories), then every parameter under its own name.
 * All pointers are borrowed. */
typedef enum lsc_h5_type { LSC_H5_STR, LSC_H5_INT, LSC_H5_DOUBLE } lsc_h5_type;
typedef struct lsc_h5_input {
    const char *role;   /* e.g. "adapter", "adapter1", "base" */
    const char *path;
} lsc_h5_input;
typedef struct lsc_h5_param {
    const char *name;   /* e.g. "seed", "factor", "rank" */
    lsc_h5_type type;
    const char *s;
    long long   i;
    double      d;
} lsc_h5_param;
typedef struct lsc_provenance {
    const char         *command;     /* the command line */
    const char         *git_commit;  /* or NULL */
    double              wall_time_s;
    int                 n_inputs;
    const lsc_h5_input *inputs;
    int                 n_params;
    const lsc_h5_param *params;
} lsc_provenance;
int lsc_h5_write_provenance(lsc_h5 *h, const lsc_provenance *p, lsc_error *err);
/* The same with digests[i] (64 hex digits of lsc_sha256_path) computed by
 * the caller for input i, e.g. on another thread while it worked; a NULL
 * array or entry: computed here. */
int lsc_h5_write_provenance_digests(lsc_h5 *h, const lsc_provenance *p,
                                    const char *const *digests, lsc_error *err);

#endif /* LSC_H5IO_H */
