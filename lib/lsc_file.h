/*
 * lsc_file.h — opening input files safely (file.c): every file the library or
 * the program reads goes through here, so a FIFO, a directory or a device
 * given where a file is expected is refused at once instead of blocking.
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 */
#ifndef LSC_FILE_H
#define LSC_FILE_H

#include <stdio.h>

#include "lsc_error.h"

// ---- opening for reading (file.c) ----

/* Opens path for reading without blocking (O_RDONLY|O_NONBLOCK|O_CLOEXEC),
 * refuses anything but a regular file ("PATH: not a regular file"), then
 * clears O_NONBLOCK. Returns the descriptor (the caller closes it) or a
 * negative LSC_E* code with *err filled. */
int lsc_file_open_fd(const char *path, lsc_error *err);

/* Like lsc_file_open_fd, wrapped in a FILE* opened "rb" (the caller
 * fcloses it). Returns NULL with *err filled on failure. */
FILE *lsc_file_open_read(const char *path, lsc_error *err);

/* Checks that path names a regular file that can be opened for reading,
 * without keeping it open (for readers that open by name, e.g. HDF5).
 * Returns LSC_OK or a negative LSC_E* code with *err filled. */
int lsc_file_check(const char *path, lsc_error *err);

#endif /* LSC_FILE_H */
