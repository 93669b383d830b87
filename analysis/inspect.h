/*
 * inspect.h — the rows `lorascope inspect` lists (inspect.c), shared with
 * `lorascope bench tensors` (bench_tensors.c), which times them. Not the
 * command itself (commands.h declares cmd_inspect).
 */
#ifndef LSC_INSPECT_H
#define LSC_INSPECT_H

#include <stddef.h>

#include "lsc.h"

/* Room for any row: an escaped name is at most 1023 bytes (cli_safe). */
#define INSPECT_ROW_MAX 2048

/* "  NAME  DTYPE [d0, d1, ...]\n" of a tensor into row (INSPECT_ROW_MAX
 * bytes, NUL-terminated); its length. */
size_t inspect_tensor_row_(char *row, const lsc_st_tensor *t);
/* The row of a factored module (kind, r, alpha, scaling, in, out, dtype,
 * parameters np, the kind's note) into row; its length. */
size_t inspect_module_row_(char *row, const lsc_adapter_module *m, size_t np, const char *note);

#endif /* LSC_INSPECT_H */
