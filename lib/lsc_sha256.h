/*
 * lsc_sha256.h — sha256 (sha256.c).
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 */
#ifndef LSC_SHA256_H
#define LSC_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "lsc_error.h"

// ---- sha256 (sha256.c) ----

typedef struct lsc_sha256 {
    uint32_t h[8];
    uint64_t nbytes;
    uint8_t  buf[64];
    size_t   nbuf;
} lsc_sha256;

void lsc_sha256_init(lsc_sha256 *s);
void lsc_sha256_update(lsc_sha256 *s, const void *data, size_t n);
void lsc_sha256_final(lsc_sha256 *s, char hex[65]);
/* sha256 of a whole file as 64 hex digits + NUL. */
int  lsc_sha256_file(const char *path, char hex[65], lsc_error *err);
/* sha256 of every regular file in a directory, sorted by name, hashed as
 * "name\0" + file bytes: one digest for an adapter directory. A directory
 * holding adapter_config.json is hashed over its two PEFT files only
 * (adapter_config.json, adapter_model.safetensors), so training logs and
 * checkpoints beside them do not change the digest. */
int  lsc_sha256_path(const char *path, char hex[65], lsc_error *err);

#endif /* LSC_SHA256_H */
