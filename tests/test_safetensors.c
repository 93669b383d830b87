/*
 * test_safetensors.c — the safetensors reader and writer: round trips,
 * half-precision conversion, and every malformed-file case giving its
 * error code and a message that names the file and the problem.
 */
#include <stdint.h>
#include <unistd.h>

#include "lsc_internal.h"
#include "test.h"

/* Writes a file with a given header string and n_data bytes of data. */
static void write_raw(const char *path, const char *header, uint64_t declared_len, size_t n_data)
{
    FILE *fp = fopen(path, "wb");
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)(declared_len >> (8 * i));
    fwrite(len8, 1, 8, fp);
    fwrite(header, 1, strlen(header), fp);
    for (size_t i = 0; i < n_data; i++)
        fputc((int)(i & 0xff), fp);
    fclose(fp);
}

static void expect_error(const char *name, const char *header, uint64_t declared, size_t n_data, int code,
                         const char *needle)
{
    const char *p = test_tmp("bad.safetensors");
    write_raw(p, header, declared, n_data);
    lsc_st_file f;
    lsc_error err = {0};
    int rc = lsc_st_open(&f, p, &err);
    CHECK(rc == code, "%s: code %d (got %d: %s)", name, code, rc, err.msg);
    CHECK(strstr(err.msg, needle) != NULL && strstr(err.msg, "bad.safetensors") != NULL,
          "%s: message names file and problem ('%s' in '%s')", name, needle, err.msg);
    lsc_st_close(&f); /* no-op after failure, must not crash */
}

static void test_roundtrip(void)
{
    float a[6] = {1, 2, 3, 4, 5, -6.5f};
    double b[2] = {0.25, -1e300};
    uint8_t c[3] = {7, 8, 9};
    lsc_st_entry e[3] = {
        {"zeta", LSC_DT_F32, 2, {2, 3}, a},
        {"alpha", LSC_DT_F64, 1, {2}, b},
        {"bytes", LSC_DT_U8, 1, {3}, c},
    };
    const char *mk[] = {"format", "n_layer"};
    const char *mv[] = {"pt", "4"};
    lsc_error err = {0};
    const char *p = test_tmp("rt.safetensors");
    CHECK(lsc_st_write(p, e, 3, mk, mv, 2, &err) == LSC_OK, "write (%s)", err.msg);
    lsc_st_file f;
    CHECK(lsc_st_open(&f, p, &err) == LSC_OK, "reopen (%s)", err.msg);
    CHECK(f.n_tensors == 3, "3 tensors");
    CHECK((8 + (size_t)(f.data - f.map - 8)) % 8 == 0, "data area 8-byte aligned");
    /* reference order: descending alignment, then name */
    CHECK(strcmp(f.tensors[0].name, "alpha") == 0 && strcmp(f.tensors[1].name, "zeta") == 0 &&
              strcmp(f.tensors[2].name, "bytes") == 0,
          "sorted by alignment then name");
    CHECK(lsc_st_meta(&f, "n_layer") && strcmp(lsc_st_meta(&f, "n_layer"), "4") == 0, "metadata");
    float ra[6];
    double rb[2];
    const lsc_st_tensor *t = lsc_st_find(&f, "zeta");
    CHECK(t && t->ndim == 2 && t->shape[1] == 3 && lsc_st_read_f32(&f, t, ra, &err) == LSC_OK &&
              memcmp(ra, a, sizeof a) == 0,
          "F32 values");
    t = lsc_st_find(&f, "alpha");
    CHECK(t && lsc_st_read_f64(&f, t, rb, &err) == LSC_OK && rb[0] == 0.25 && rb[1] == -1e300, "F64 values");
    t = lsc_st_find(&f, "bytes");
    CHECK(t && memcmp(lsc_st_bytes(&f, t), c, 3) == 0, "U8 bytes");
    CHECK(t && lsc_st_read_f32(&f, t, ra, &err) == LSC_EFORMAT, "U8 refused as float");
    lsc_st_close(&f);
    /* byte-stable: writing again gives the same bytes */
    const char *p2 = test_tmp("rt2.safetensors");
    CHECK(lsc_st_write(p2, e, 3, mk, mv, 2, &err) == LSC_OK, "write again");
    char *x, *y;
    size_t nx, ny;
    lsc_read_file_(p, &x, &nx, &err);
    lsc_read_file_(p2, &y, &ny, &err);
    CHECK(nx == ny && memcmp(x, y, nx) == 0, "identical bytes for identical input");
    free(x);
    free(y);
    CHECK(access(test_tmp("rt.safetensors.tmp"), F_OK) != 0, "no temporary left behind");
    lsc_st_entry dup[2] = {{"same", LSC_DT_F32, 1, {1}, a}, {"same", LSC_DT_U8, 1, {1}, c}};
    CHECK(lsc_st_write(test_tmp("dup.safetensors"), dup, 2, NULL, NULL, 0, &err) == LSC_EARG &&
              strstr(err.msg, "duplicate tensor 'same'") && access(test_tmp("dup.safetensors"), F_OK) != 0,
          "writer refuses duplicate names and writes nothing (%s)", err.msg);
}

static void test_half(void)
{
    CHECK(lsc_f16_to_f32(0x3c00) == 1.0f, "f16 1.0");
    CHECK(lsc_f16_to_f32(0xc000) == -2.0f, "f16 -2.0");
    CHECK(lsc_f16_to_f32(0x0001) == 5.9604644775390625e-08f, "f16 smallest subnormal");
    CHECK(lsc_f16_to_f32(0x7bff) == 65504.0f, "f16 max");
    CHECK(isinf(lsc_f16_to_f32(0x7c00)) && isnan(lsc_f16_to_f32(0x7e00)), "f16 inf/nan");
    CHECK(lsc_bf16_to_f32(0x3f80) == 1.0f && lsc_bf16_to_f32(0xc2f7) == -123.5f, "bf16");
    int ok = 1;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
            continue; /* NaN payloads */
        if (lsc_f32_to_f16(lsc_f16_to_f32((uint16_t)h)) != h)
            ok = 0;
    }
    CHECK(ok, "f16 -> f32 -> f16 exact for all 65536 codes");
    CHECK(lsc_f32_to_f16(1.0f + 1.0f / 4096.0f) == 0x3c00, "round to nearest even (tie down)");
}

static void test_bad_files(void)
{
    const char *good_hdr = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    expect_error("empty header", "", 0, 0, LSC_EFORMAT, "not a JSON object");
    {
        FILE *fp = fopen(test_tmp("bad.safetensors"), "wb");
        fwrite("\x05\0\0", 1, 3, fp);
        fclose(fp);
        lsc_st_file f;
        lsc_error err = {0};
        CHECK(lsc_st_open(&f, test_tmp("bad.safetensors"), &err) == LSC_EFORMAT && strstr(err.msg, "truncated"),
              "3-byte file: truncated (%s)", err.msg);
    }
    expect_error("header length larger than file", good_hdr, 1000000, 8, LSC_EFORMAT, "exceeds the file");
    expect_error("huge header length", good_hdr, 0xffffffffffffull, 8, LSC_EFORMAT, "exceeds");
    expect_error("invalid JSON", "{\"a\": [1, 2", 11, 0, LSC_EFORMAT, "not valid JSON");
    expect_error("not an object", "[1,2,3] ", 8, 0, LSC_EFORMAT, "not a JSON object");
    expect_error("offsets outside data",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 54, 4, LSC_EFORMAT,
                 "outside the data area");
    expect_error("overlapping tensors",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                 108, 12, LSC_EFORMAT, "overlaps");
    expect_error("unknown dtype", "{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", 53, 8,
                 LSC_EFORMAT, "unknown dtype 'Q7'");
    expect_error("shape/bytes mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 54, 8,
                 LSC_EFORMAT, "bytes for shape");
    expect_error("end before begin", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 54, 8,
                 LSC_EFORMAT, "before begin");
    expect_error("size_t overflow",
                 "{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 78, 8,
                 LSC_EFORMAT, "overflow");
    expect_error("negative shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 55, 8,
                 LSC_EFORMAT, "non-negative");
    expect_error("trailing bytes", good_hdr, 54, 12, LSC_EFORMAT, "after the last tensor");
    expect_error("metadata not strings",
                 "{\"__metadata__\":{\"x\":1},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 78, 8,
                 LSC_EFORMAT, "not a string");
    lsc_st_file f;
    lsc_error err = {0};
    CHECK(lsc_st_open(&f, test_tmp("does-not-exist"), &err) == LSC_EIO && strstr(err.msg, "does-not-exist"),
          "missing file: LSC_EIO naming it (%s)", err.msg);
    CHECK(lsc_st_open(&f, test_tmpdir(), &err) == LSC_EIO && strstr(err.msg, "not a regular file"),
          "directory refused (%s)", err.msg);
}

static void test_fixtures(void)
{
    const char *fx = test_fixtures_dir("PEFT fixture parsing (GPT-2 adapter_model.safetensors)");
    if (!fx)
        return;
    char p[4200];
    snprintf(p, sizeof p, "%s/peft/gpt2-tigrinya-r8-cattn-cproj/adapter_model.safetensors", fx);
    lsc_st_file f;
    lsc_error err = {0};
    CHECK(lsc_st_open(&f, p, &err) == LSC_OK, "GPT-2 fixture opens (%s)", err.msg);
    CHECK(f.n_tensors == 72, "GPT-2 fixture: 72 tensors (got %d)", f.n_tensors);
    CHECK(lsc_st_meta(&f, "format") && strcmp(lsc_st_meta(&f, "format"), "pt") == 0, "format=pt metadata");
    lsc_st_close(&f);
}

int main(void)
{
    if (test_tmpdir_make("safetensors") != 0)
        return 1;
    test_roundtrip();
    test_half();
    test_bad_files();
    test_fixtures();
    test_tmpdir_remove();
    return test_summary();
}
