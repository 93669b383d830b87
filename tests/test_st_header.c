/*
 * test_st_header.c — the safetensors header parser (lib/st_header.c): JSON
 * string escapes (incl. surrogate pairs), spacing, key order, repeated and
 * unknown keys, numbers, nesting, and what stays refused. With
 * "--dump FILE..." it prints what lsc_st_open read of each file (names and
 * metadata in hex) for tests/test_st_header.py, which compares it with
 * Python's json on generated headers. Not the layout checks (test_safetensors).
 */
#include <stdint.h>
#include <string.h>

#include "lsc_internal.h"
#include "test.h"

static void hex(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        printf("%02x", *p);
    printf("%s", *s ? "" : "-");
}

/* "ok N M" and one line per tensor and metadata entry, or "err CODE". */
static void dump(const char *path)
{
    lsc_st_file f;
    lsc_error err = {0};
    int rc = lsc_st_open(&f, path, &err);
    if (rc != LSC_OK) {
        printf("err %d\n", rc);
        return;
    }
    printf("ok %d %d\n", f.n_tensors, f.n_meta);
    for (int i = 0; i < f.n_tensors; i++) {
        const lsc_st_tensor *t = &f.tensors[i];
        printf("T ");
        hex(t->name);
        printf(" %s %d", lsc_dtype_name(t->dtype), t->ndim);
        for (int d = 0; d < t->ndim; d++)
            printf("%s%lld", d ? "," : " ", (long long)t->shape[d]);
        printf(" %zu %zu %d\n", t->begin, t->end, lsc_st_find(&f, t->name) == t);
    }
    for (int i = 0; i < f.n_meta; i++) {
        printf("M ");
        hex(f.meta_keys[i]);
        printf(" ");
        hex(f.meta_vals[i]);
        printf("\n");
    }
    lsc_st_close(&f);
}

/* Opens a file of header h (and nd data bytes): LSC_OK or the code; the
 * first tensor's name into name (cap bytes) and the error message into msg. */
static int try_header(const char *h, size_t nd, char *name, size_t cap, char *msg, size_t mcap)
{
    const char *p = test_tmp("h.safetensors");
    FILE *fp = fopen(p, "wb");
    uint64_t n = strlen(h);
    for (int i = 0; i < 8; i++)
        fputc((int)(n >> (8 * i) & 0xff), fp);
    fwrite(h, 1, n, fp);
    for (size_t i = 0; i < nd; i++)
        fputc(0, fp);
    fclose(fp);
    lsc_st_file f;
    lsc_error err = {0};
    int rc = lsc_st_open(&f, p, &err);
    snprintf(msg, mcap, "%s", err.msg);
    snprintf(name, cap, "%s", rc == LSC_OK && f.n_tensors ? f.tensors[0].name : "");
    lsc_st_close(&f);
    return rc;
}

#define T1(NAME) "{\"" NAME "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"

static void expect_name(const char *h, const char *want, const char *what)
{
    char name[256], msg[512];
    int rc = try_header(h, 4, name, sizeof name, msg, sizeof msg);
    CHECK(rc == LSC_OK && strcmp(name, want) == 0, "%s (rc %d, '%s' %s)", what, rc, name, msg);
}

static void expect_fail(const char *h, size_t nd, const char *needle, const char *what)
{
    char name[256], msg[512];
    int rc = try_header(h, nd, name, sizeof name, msg, sizeof msg);
    CHECK(rc == LSC_EFORMAT && strstr(msg, needle), "%s refused: '%s' (%s)", what, needle, msg);
}

static void test_strings(void)
{
    expect_name(T1("a\\\"b\\\\c\\/d"), "a\"b\\c/d", "escapes \\\" \\\\ \\/");
    expect_name(T1("\\b\\f\\n\\r\\t"), "\b\f\n\r\t", "escapes \\b \\f \\n \\r \\t");
    expect_name(T1("\\u0041\\u00e9\\u20AC"), "A\xc3\xa9\xe2\x82\xac", "\\u escapes to UTF-8 (1, 2, 3 bytes)");
    expect_name(T1("\\ud83d\\ude00x"), "\xf0\x9f\x98\x80x", "a surrogate pair is one 4-byte character");
    expect_name(T1("caf\xc3\xa9"), "caf\xc3\xa9", "raw UTF-8 kept");
    expect_name(T1("a\\u0000b"), "a", "\\u0000 ends the C string (as cJSON)");
    expect_fail(T1("\\ud83dx"), 4, "not valid JSON", "a lone high surrogate");
    expect_fail(T1("\\ude00"), 4, "not valid JSON", "a lone low surrogate");
    expect_fail(T1("\\ud83d\\u0041"), 4, "not valid JSON", "a high surrogate before a non-surrogate");
    expect_fail(T1("\\x41"), 4, "not valid JSON", "an unknown escape");
    expect_fail(T1("\\u00g1"), 4, "not valid JSON", "a bad hex digit");
    expect_fail("{\"a", 0, "not valid JSON", "an unterminated string");
}

static void test_structure(void)
{
    expect_name("{ \"k\" :\t{ \"data_offsets\" : [ 0 , 4 ] ,\r\n \"shape\" : [ 1 ] , \"dtype\" : \"F32\" } }  ",
                "k", "spacing and key order");
    expect_name("{\"k\":{\"x\":{\"y\":[1,true,null,\"s\",-2.5e3]},\"dtype\":\"F32\",\"shape\":[1],"
                "\"data_offsets\":[0,4],\"z\":false}}", "k", "unknown keys of any type ignored");
    expect_name("{\"k\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"dtype\":\"Q9\"}}", "k",
                "of a repeated key the first counts (as cJSON)");
    expect_name("{\"k\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4e0]}}", "k",
                "integral numbers written 1.0 / 4e0 accepted (as before)");
    expect_name(T1("k") "\x01\x02 trailing", "k", "bytes after the object ignored (as cJSON)");
    expect_name("{\"__metadata__\":{},\"k\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "k",
                "empty metadata");
    expect_fail("{\"k\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", 4, "not valid JSON",
                "a leading zero");
    expect_fail("{\"k\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "shape[0]",
                "a fraction");
    expect_fail("{\"k\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,4]}}", 4, "shape[0]",
                "a huge number");
    expect_fail("{\"k\":{\"dtype\":\"F32\",\"shape\":[9007199254740994],\"data_offsets\":[0,4]}}", 4, "shape[0]",
                "a number above 2^53");
    expect_fail("{\"k\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, "shape[0]",
                "a string in shape");
    expect_fail("{\"k\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
                "9 dimensions", "nine dimensions");
    expect_fail("{\"k\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,4]}}", 4, "two non-negative",
                "three offsets");
    expect_fail("{\"k\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "needs dtype, shape and data_offsets",
                "a missing key");
    expect_fail("{\"k\":{\"dtype\":3,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "needs dtype", "a dtype number");
    expect_fail("{\"k\":[1]}", 4, "not an object", "an entry that is an array");
    expect_fail("{\"k\":{\"dtype\":\"Q\\u0037\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype 'Q7'",
                "an unknown dtype (decoded in the message)");
    expect_fail("{\"k\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,4]},\"z\":tru}", 4, "not valid JSON",
                "invalid JSON after a semantic error: invalid JSON wins (as before)");
    expect_fail("{\"__metadata__\":{\"a\":\"b\"},\"__metadata__\":{}}", 0, "duplicate __metadata__",
                "a repeated __metadata__");
    expect_fail("{\"__metadata__\":[]}", 0, "__metadata__ is not an object", "metadata that is an array");
    expect_fail("{\"k\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                "\"k\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "duplicate tensor 'k'",
                "a repeated name");
    expect_fail("{\"k\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}", 4, "not valid JSON",
                "a trailing comma");
    char deep[2300];   /* {"k": then 1095 [ and 1095 ] } */
    memset(deep, '[', 1100);
    memcpy(deep, "{\"k\":", 5);
    memset(deep + 1100, ']', 1095);
    memcpy(deep + 2195, "}", 2);
    expect_fail(deep, 0, "not valid JSON", "nesting deeper than 1000");
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--dump") == 0) {
        for (int i = 2; i < argc; i++)
            dump(argv[i]);
        return 0;
    }
    if (test_tmpdir_make("st_header") != 0)
        return 1;
    test_strings();
    test_structure();
    test_tmpdir_remove();
    return test_summary();
}
