/*
 * h5heap.c — checks a variable-length string attribute's global heap object
 * before libhdf5 reads it.
 *
 * Why: libhdf5 1.10 (Debian 12) trusts a file's global heap. H5HG_read
 * copies an object's recorded size without checking that the object lies
 * inside its collection or that its index exists, and H5T__conv_vlen copies
 * that many bytes into a buffer sized by the string's own length field.
 * A corrupt file therefore reads and writes out of bounds inside libhdf5
 * (fuzz/fuzz_h5 found it). Newer HDF5 releases check the index; none
 * checks the rest, so we do it first.
 *
 * How: a variable-length string is stored in the attribute as
 *   [length: 4 bytes][collection address: sizeof_addr bytes][index: 4 bytes]
 * (HDF5 file format spec, "Variable-length data" and "Global Heap").
 * We get those raw bytes through libhdf5 itself, with a registered no-op
 * conversion from a variable-length string to an opaque type of the same
 * size, then read the collection from the file and walk its objects
 * exactly as libhdf5's loader does, refusing anything it would misread:
 * a collection that leaves the file, an object that leaves its
 * collection, an object header that does not advance, an index that is
 * not there, and an object whose size is not the string's length.
 */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "h5heap.h"
#include "lsc_internal.h"

#define RAW_TAG     "lorascope raw variable-length element"
#define HEAP_MAX    ((uint64_t)64 << 20)   /* larger collections are refused */

static uint64_t le(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i > 0; i--)   /* no wrap below 0: -fsanitize=integer */
        v = v << 8 | p[i - 1];
    return v;
}

/* The no-op conversion: the disk bytes libhdf5 put in buf stay as they are. */
static herr_t raw_conv(hid_t src, hid_t dst, H5T_cdata_t *cdata, size_t nelmts,
                       size_t buf_stride, size_t bkg_stride, void *buf, void *bkg, hid_t dxpl)
{
    (void)nelmts; (void)buf_stride; (void)bkg_stride; (void)buf; (void)bkg; (void)dxpl;
    if (cdata->command != H5T_CONV_INIT)
        return 0;
    char *tag = H5Tget_class(dst) == H5T_OPAQUE ? H5Tget_tag(dst) : NULL;
    int ok = tag && strcmp(tag, RAW_TAG) == 0 && H5Tis_variable_str(src) > 0 &&
             H5Tget_size(src) == H5Tget_size(dst);
    if (tag)
        H5free_memory(tag);
    cdata->need_bkg = H5T_BKG_NO;
    return ok ? 0 : -1;
}

static int registered;

static int register_raw(void)
{
    if (registered)
        return 0;
    hid_t s = H5Tcopy(H5T_C_S1), d = H5Tcreate(H5T_OPAQUE, 16);
    int rc = -1;
    if (s >= 0 && d >= 0 && H5Tset_size(s, H5T_VARIABLE) >= 0 && H5Tset_tag(d, RAW_TAG) >= 0 &&
        H5Tregister(H5T_PERS_SOFT, "lorascope_raw_vlen", s, d, raw_conv) >= 0)
        rc = 0;
    if (s >= 0) H5Tclose(s);
    if (d >= 0) H5Tclose(d);
    registered = rc == 0;
    return rc;
}

static int pread_all(int fd, void *buf, size_t n, uint64_t off)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t k = pread(fd, p, n, (off_t)off);
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

typedef struct {
    int      fd;
    uint64_t base, file_size;
    size_t   sa, ss;           /* sizeof_addr, sizeof_size */
} heap_file;

static const char NOMEM[] = "out of memory";

/* Walks the collection at addr as libhdf5's loader does; NULL if sound and
 * object idx is there with exactly len bytes, else what is wrong (NOMEM when
 * the collection does not fit in memory). */
static const char *check_object(const heap_file *f, uint64_t addr, uint64_t idx, uint64_t len)
{
    size_t hdr = 8 + f->ss, objhdr = 8 + f->ss;
    unsigned char head[16];
    if (idx == 0 || idx > 0xffff)
        return "its global heap index does not exist";
    if (addr > f->file_size - f->base || f->file_size - f->base - addr < hdr)
        return "its global heap collection lies outside the file";
    uint64_t at = f->base + addr;
    if (pread_all(f->fd, head, hdr, at) < 0)
        return "its global heap collection cannot be read";
    if (memcmp(head, "GCOL", 4) != 0 || head[4] != 1)
        return "its global heap collection has no GCOL signature";
    uint64_t size = le(head + 8, f->ss);
    if (size < hdr || size > f->file_size - at)
        return "its global heap collection runs past the end of the file";
    if (size > HEAP_MAX)
        return "its global heap collection is larger than 64 MiB";
    unsigned char *c = LSC_MALLOC((size_t)size);
    if (!c)
        return NOMEM;
    const char *why = NULL;
    int found = 0;
    if (pread_all(f->fd, c, (size_t)size, at) < 0)
        why = "its global heap collection cannot be read";
    for (uint64_t p = hdr; !why && p < size;) {
        if (size - p < objhdr)
            break;                                  /* tail free space */
        uint64_t id = le(c + p, 2), osz = le(c + p + 8, f->ss);
        uint64_t need = id > 0 ? objhdr + ((osz + 7) & ~(uint64_t)7) : osz;
        if (osz > size || need > size - p) {
            why = "an object of its global heap collection runs past the collection";
        } else if (need < objhdr) {
            why = "an object of its global heap collection has a size that does not advance";
        } else {
            if (id == idx)
                found = osz == len ? 1 : -1;
            p += need;
        }
    }
    LSC_FREE(c);
    if (!why && found == 0)
        why = "its global heap object does not exist";
    if (!why && found < 0)
        why = "its global heap object's size is not the string's length";
    return why;
}

static int open_heap_file(hid_t file, heap_file *f)
{
    hid_t fcpl = H5Fget_create_plist(file);
    hsize_t ub = 0;
    int *fdp = NULL;
    struct stat st;
    int ok = fcpl >= 0 && H5Pget_userblock(fcpl, &ub) >= 0 &&
             H5Pget_sizes(fcpl, &f->sa, &f->ss) >= 0 &&
             H5Fget_vfd_handle(file, H5P_DEFAULT, (void **)&fdp) >= 0 && fdp &&
             fstat(*fdp, &st) == 0;
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (!ok || f->sa < 2 || f->sa > 8 || f->ss < 2 || f->ss > 8 || (uint64_t)st.st_size < ub)
        return -1;
    f->fd = *fdp;
    f->base = ub;
    f->file_size = (uint64_t)st.st_size;
    return 0;
}

static const char *vlen_str_check(hid_t file, hid_t attr)
{
    heap_file f;
    if (register_raw() < 0 || open_heap_file(file, &f) < 0)
        return "cannot check its global heap object";
    size_t esz = 4 + f.sa + 4;
    unsigned char raw[24];
    hid_t d = H5Tcreate(H5T_OPAQUE, esz);
    int rd = d >= 0 && H5Tset_tag(d, RAW_TAG) >= 0 && H5Aread(attr, d, raw) >= 0;
    if (d >= 0)
        H5Tclose(d);
    if (!rd) {
        H5Eclear2(H5E_DEFAULT);
        return "cannot read its variable-length element";
    }
    uint64_t len = le(raw, 4), addr = le(raw + 4, f.sa), idx = le(raw + 4 + f.sa, 4);
    if (addr == 0)
        return NULL;                                /* the null string */
    return check_object(&f, addr, idx, len);
}

_Static_assert(sizeof(hid_t) == sizeof(int64_t), "hid_t is int64_t (HDF5 >= 1.10)");

int lsc_h5_vlen_str_check(int64_t file, int64_t attr, const char **why)
{
    *why = vlen_str_check(file, attr);
    return !*why ? 0 : *why == NOMEM ? -2 : -1;
}
