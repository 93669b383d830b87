/*
 * h5heap.h — the global heap check h5io.c runs before libhdf5 reads a
 * variable-length string attribute (see h5heap.c). Internal to lib/.
 */
#ifndef LSC_H5HEAP_H
#define LSC_H5HEAP_H

#include <stdint.h>

/* 0 if the scalar variable-length string attribute attr of the file (opened
 * read-only with the default driver) points at a sound global heap object of
 * its own length; -1 if not, with *why a phrase saying what is wrong; -2 when
 * out of memory (*why "out of memory"). */
int lsc_h5_vlen_str_check(int64_t file, int64_t attr, const char **why);   /* hid_t */

#endif
