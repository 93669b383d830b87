/*
 * driver.h — the mode dispatch of the tests' C drivers (test_hf_folder.c,
 * test_model_hf.c): `test_x --MODE ARGS...` runs one mode for the Python
 * half of the test (a table of flags, argument counts and functions);
 * `test_x` alone runs the binary's own checks. Header-only, like
 * kernel_check.h. Not a framework: no options, no help beyond one line.
 */
#ifndef LSC_TEST_DRIVER_H
#define LSC_TEST_DRIVER_H

#include <stdio.h>
#include <string.h>

typedef struct test_mode {
    const char *flag;                 /* "--dump" */
    int         min_args, max_args;   /* the arguments after the flag; max_args -1: no limit */
    int       (*run)(char **args, int n_args);
} test_mode;

/* argc 1: returns -1 (the caller runs its checks). argv[1] the flag of a
 * mode of modes (ended by a NULL flag) with an allowed argument count:
 * that mode's return value (the exit status). Anything else: "usage: "
 * usage on stderr, 2. */
static inline int test_dispatch(int argc, char **argv, const test_mode *modes, const char *usage)
{
    if (argc == 1)
        return -1;
    for (const test_mode *m = modes; m->flag; m++) {
        int n = argc - 2;
        if (strcmp(argv[1], m->flag) == 0 && n >= m->min_args && (m->max_args < 0 || n <= m->max_args))
            return m->run(argv + 2, n);
    }
    fprintf(stderr, "usage: %s\n", usage);
    return 2;
}

#endif /* LSC_TEST_DRIVER_H */
