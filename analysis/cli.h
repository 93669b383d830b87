/*
 * cli.h — what the lorascope subcommands share: a small long-option parser,
 * the one-line error/usage conventions and the command table entries.
 * Exit codes: 0 ok, 1 failure, 2 usage error. Errors are one line on stderr
 * that names the file and the problem.
 */
#ifndef LSC_CLI_H
#define LSC_CLI_H

#include "lsc.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* An option spec: name without dashes; has_arg 0 (flag) or 1. */
typedef struct cli_opt {
    const char *name;
    int         has_arg;
    const char *value;   /* set by cli_parse: the argument, or "1" for a flag */
} cli_opt;

/* Parses argv[1..] (argv[0] is the subcommand) against opts (terminated by a
 * NULL name). Positional arguments are collected into pos (at most max_pos).
 * "--name=value" and "--name value" both work; "-o" is an alias of
 * "--output" and "-h" of "--help". Prints a usage error and returns
 * CLI_USAGE on unknown options or too many positionals. */
int cli_parse(const char *cmd, int argc, char **argv, cli_opt *opts,
              const char **pos, int max_pos, int *n_pos);
const char *cli_get(const cli_opt *opts, const char *name);
int    cli_flag(const cli_opt *opts, const char *name);
/* Numeric option with a default; on a malformed number prints a usage error
 * and sets *bad. */
long   cli_long(const cli_opt *opts, const char *name, long def, int *bad);
double cli_double(const cli_opt *opts, const char *name, double def, int *bad);

/* Levenshtein distance between a and b (bytes), for "did you mean". */
size_t cli_edit_distance(const char *a, const char *b);
/* Of the n names name_of(items, i), the one closest to word (the first of equals), when it is a
 * likely typo of it: at most 1 edit for words of up to 4 bytes, 2 up to 8, else 3. NULL otherwise. */
const char *cli_closest(const char *word, int n, const char *(*name_of)(const void *items, int i),
                        const void *items);

/* "lorascope CMD: message" on stderr; returns code. */
int cli_error(const char *cmd, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Reports a library error (err->msg already names the file). */
int cli_lib_error(const char *cmd, const lsc_error *err);
/* s with its control characters escaped (lsc_str_escape), for printing a
 * file-derived name on stdout; at most 1023 bytes. The result lives in one
 * of 8 static buffers used in turn: valid until 8 more calls. */
const char *cli_safe(const char *s);
/* Prints a warning line "lorascope CMD: warning: ..." on stderr. */
void cli_warn(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The whole command line, space-joined, for provenance attributes. */
const char *cli_command_line(void);
void cli_set_command_line(int argc, char **argv);
/* The subcommand (argv[1] given to cli_set_command_line), or "lorascope". */
const char *cli_command_name(void);

/* Monotonic seconds, for wall times. */
double cli_now(void);
/* Peak resident set size of this process in MiB (from /proc/self/status). */
double cli_peak_rss_mb(void);

/* The directory of the running program (from /proc/self/exe) into buf (n
 * bytes); 0 when it cannot be read. */
int cli_exe_dir(char *buf, size_t n);
/* Directory holding the gnuplot scripts (plots/): $LSC_PLOTS, else
 * <exe>/../../plots, else <exe>/../share/lorascope/plots. */
const char *cli_plots_dir(void);
/* Under a finite address space limit (ulimit -v) OpenBLAS would spin forever on a failed
 * allocation: called first in main, this runs the program again with one BLAS thread, then
 * exits 1 with "out of memory" when OpenBLAS's work buffer does not fit, else takes it at
 * once. Does nothing without a limit. */
void cli_memory_guard(char **argv);
/* 1 under cli_memory_guard's limited-memory mode: run parallel loops on one thread. */
int  cli_limited_memory(void);
/* Runs argv (argv[0] looked up in PATH) without a shell, stdin from
 * /dev/null, its stdout and stderr captured into out (n_out bytes, NUL
 * terminated, the rest discarded). Returns its exit status (128 + signal
 * when killed), or -1 with errno set when it cannot be started. */
int cli_run(const char *const *argv, char *out, size_t n_out);
/* Runs gnuplot on plots/<script> with the given -e variable assignments
 * (through cli_run: an argument vector, never a shell); returns 0 on
 * success. Prints one error line and returns 1 when gnuplot cannot start
 * or exits non-zero. */
int cli_gnuplot(const char *cmd, const char *script, const char *vars);

/* Subcommands: int cmd_X(int argc, char **argv), argv[0] = "X". */
typedef int (*cli_cmd_fn)(int argc, char **argv);

#endif
