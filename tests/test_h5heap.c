/*
 * test_h5heap.c — a variable-length string attribute whose global heap
 * object is corrupt is refused with one line before libhdf5 reads it
 * (lib/h5heap.c): libhdf5 1.10 copies out of bounds on such files (found by
 * fuzz/fuzz_h5). A file written by lorascope is patched byte by byte —
 * the heap index, the object's size, the string's length, the collection's
 * size, signature and address — and each read must fail with LSC_EFORMAT
 * and the reason, while the untouched file, the empty string and a
 * fixed-length string still read. Also: a string attribute with more than
 * one element is refused (it used to be read into room for one).
 * Under `make asan` the same reads would report any out-of-bounds access.
 */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "lsc_internal.h"
#include "test.h"

#define NOTE "a string in the heap"

static char dir[256], good[320], bad[320];
static unsigned char img[1 << 16];
static size_t img_n;

static size_t slurp(const char *path, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap, f) : 0;
    if (f)
        fclose(f);
    return n;
}

static void spit(const char *path, const unsigned char *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(buf, 1, n, f);
        fclose(f);
    }
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        p[i] = (unsigned char)v;
}

/* Reads attribute name of / from path; returns the code, message in msg. */
static int read_attr(const char *path, const char *name, char *val, size_t n, char *msg,
                     size_t mn)
{
    lsc_error err = {0};
    lsc_h5 *h = NULL;
    int rc = lsc_h5_open(&h, path, &err);
    if (rc == LSC_OK) {
        rc = lsc_h5_read_attr_str(h, "/", name, val, n, &err);
        lsc_h5_close(h);
    }
    snprintf(msg, mn, "%s", err.msg);
    return rc;
}

static void write_good(void)
{
    lsc_error err = {0};
    lsc_h5 *h = NULL;
    int rc = lsc_h5_create(&h, good, &err);
    if (rc == LSC_OK)
        rc = lsc_h5_attr_str(h, "/", "note", NOTE, &err);
    if (rc == LSC_OK)
        rc = lsc_h5_attr_str(h, "/", "empty", "", &err);
    if (rc == LSC_OK)
        rc = lsc_h5_commit(h, &err);
    else
        lsc_h5_abort(h);
    CHECK(rc == LSC_OK, "a file with variable-length string attributes written (%s)", err.msg);
    img_n = slurp(good, img, sizeof img);
}

/* Offsets in img of the heap collection and of NOTE's raw element
 * [length 4][address 8][index 4]; 0 if not found. */
static size_t gcol, elem;

static void locate(void)
{
    for (size_t i = 0; i + 4 <= img_n && !gcol; i++)
        if (memcmp(img + i, "GCOL", 4) == 0)
            gcol = i;
    for (size_t i = 0; gcol && i + 16 <= img_n && !elem; i++)
        if (get_le(img + i, 4) == strlen(NOTE) && get_le(img + i + 4, 8) == gcol)
            elem = i;
    CHECK(gcol && elem, "the global heap collection (at %zu) and the string's element (at %zu) found",
          gcol, elem);
}

/* Offset in img of the object header of heap object idx, 0 if none. */
static size_t object_at(uint64_t idx)
{
    uint64_t size = get_le(img + gcol + 8, 8);
    for (size_t p = gcol + 16; p + 16 <= gcol + size;) {
        uint64_t id = get_le(img + p, 2), osz = get_le(img + p + 8, 8);
        if (id == idx)
            return p;
        if (id == 0)
            break;
        p += 16 + ((osz + 7) & ~(uint64_t)7);
    }
    return 0;
}

/* Writes img with n bytes of v at off patched, reads "note", expects a refusal
 * naming why. */
static void refused(const char *what, size_t off, uint64_t v, int n, const char *why)
{
    unsigned char keep[8];
    memcpy(keep, img + off, (size_t)n);
    put_le(img + off, v, n);
    spit(bad, img, img_n);
    memcpy(img + off, keep, (size_t)n);
    char val[64] = "", msg[512] = "";
    int rc = read_attr(bad, "note", val, sizeof val, msg, sizeof msg);
    CHECK(rc == LSC_EFORMAT && strstr(msg, bad) && strstr(msg, "attribute note") && strstr(msg, why),
          "%s: refused with one line (rc %d: %s)", what, rc, msg);
}

static void test_patched(void)
{
    char val[64], msg[512];
    int rc = read_attr(good, "note", val, sizeof val, msg, sizeof msg);
    CHECK(rc == LSC_OK && strcmp(val, NOTE) == 0, "the untouched file reads \"%s\" (%s)", val, msg);
    rc = read_attr(good, "empty", val, sizeof val, msg, sizeof msg);
    CHECK(rc == LSC_OK && val[0] == '\0', "the empty string reads (%s)", msg);
    if (!gcol || !elem)
        return;
    uint64_t idx = get_le(img + elem + 12, 4);
    size_t obj = object_at(idx);
    CHECK(obj != 0, "heap object %llu found in the collection", (unsigned long long)idx);
    if (!obj)
        return;
    refused("heap index past every object", elem + 12, 999, 4, "object does not exist");
    refused("heap index past 16 bits", elem + 12, 70000, 4, "index does not exist");
    refused("heap index of an unused slot", elem + 12, 200, 4, "object does not exist");
    refused("heap index 0 (the free space)", elem + 12, 0, 4, "index does not exist");
    refused("object larger than its collection", obj + 8, 5000, 8, "runs past the collection");
    refused("object a byte larger than the string (same padding)", obj + 8, strlen(NOTE) + 1, 8,
            "not the string's length");
    refused("string longer than its object", elem, strlen(NOTE) + 100, 4, "not the string's length");
    refused("string of 4 GiB", elem, 0xffffffffu, 4, "not the string's length");
    refused("collection size past the end of the file", gcol + 8, (uint64_t)1 << 40, 8,
            "past the end of the file");
    refused("collection signature broken", gcol, 0x4c4f4358, 4, "no GCOL signature");
    refused("collection address past the end of the file", elem + 4, (uint64_t)img_n + 4096, 8,
            "outside the file");
    refused("collection address at another object", elem + 4, 48, 8, "GCOL");
    size_t free0 = object_at(0);
    CHECK(free0 != 0, "the collection's free space found");
    if (free0)
        refused("free space of size 0 (libhdf5 would loop)", free0 + 8, 0, 8, "does not advance");
}

/* A string attribute of three elements, and a fixed-length one, written with
 * HDF5 directly (lorascope writes neither). */
static void test_shapes(void)
{
    char path[320];
    snprintf(path, sizeof path, "%s/shapes.h5", dir);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t vt = H5Tcopy(H5T_C_S1), ft = H5Tcopy(H5T_C_S1);
    H5Tset_size(vt, H5T_VARIABLE);
    H5Tset_size(ft, 8);
    hsize_t three = 3;
    hid_t sp3 = H5Screate_simple(1, &three, NULL), sp1 = H5Screate(H5S_SCALAR);
    const char *strs[3] = {"one", "two", "three"};
    hid_t a = H5Acreate2(f, "many", vt, sp3, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, vt, strs);
    H5Aclose(a);
    a = H5Acreate2(f, "fixed", ft, sp1, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, ft, "fixedval");
    H5Aclose(a);
    H5Sclose(sp3);
    H5Sclose(sp1);
    H5Tclose(vt);
    H5Tclose(ft);
    H5Fclose(f);
    char val[64], msg[512];
    int rc = read_attr(path, "many", val, sizeof val, msg, sizeof msg);
    CHECK(rc == LSC_EFORMAT && strstr(msg, "not a single string"),
          "a string attribute of 3 elements refused (%s)", msg);
    rc = read_attr(path, "fixed", val, sizeof val, msg, sizeof msg);
    CHECK(rc == LSC_OK && strcmp(val, "fixedval") == 0, "a fixed-length string reads \"%s\" (%s)",
          val, msg);
    unlink(path);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/lsc_h5heap_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(good, sizeof good, "%s/good.h5", dir);
    snprintf(bad, sizeof bad, "%s/bad.h5", dir);
    write_good();
    locate();
    test_patched();
    test_shapes();
    unlink(good);
    unlink(bad);
    rmdir(dir);
    return test_summary();
}
