/*
 * cli.c — the option parser and error conventions shared by every
 * subcommand (see cli.h). Not a general getopt: only long options, the -o
 * and -h aliases, and positionals.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <cblas.h>

#include "cli.h"

extern char **environ;

static char cmdline_[8192];
static const char *cmdname_ = "lorascope";

void cli_set_command_line(int argc, char **argv)
{
    size_t n = 0;
    cmdline_[0] = '\0';
    if (argc > 1 && argv[1][0] != '-')
        cmdname_ = argv[1];
    for (int i = 0; i < argc && n + 2 < sizeof cmdline_; i++) {
        int w = snprintf(cmdline_ + n, sizeof cmdline_ - n, "%s%s", i ? " " : "", argv[i]);
        if (w < 0)
            break;
        n += (size_t)w;
        if (n >= sizeof cmdline_)
            n = sizeof cmdline_ - 1;
    }
}

const char *cli_command_line(void) { return cmdline_; }

const char *cli_command_name(void) { return cmdname_; }

// ---- messages: every one printed through here, control characters escaped ----

/* Prints "lorascope CMD: PREFIX<message>" as one line: the message's control characters (from
 * file-derived names inside it) escaped by lsc_str_escape. */
static void print_line(const char *cmd, const char *prefix, const char *fmt, va_list ap)
{
    char raw[4096], safe[4096];
    vsnprintf(raw, sizeof raw, fmt, ap);
    fprintf(stderr, "lorascope %s: %s%s\n", cmd, prefix, lsc_str_escape(safe, sizeof safe, raw));
}

const char *cli_safe(const char *s)
{
    static char ring[8][1024];
    static unsigned next;
    char *b = ring[next++ % 8];
    return s ? lsc_str_escape(b, sizeof ring[0], s) : "(null)";
}

int cli_error(const char *cmd, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_line(cmd, "", fmt, ap);
    va_end(ap);
    if (code == CLI_USAGE)
        fprintf(stderr, "Try 'lorascope %s --help'.\n", cmd);
    return code;
}

int cli_lib_error(const char *cmd, const lsc_error *err)
{
    char safe[sizeof err->msg];
    fprintf(stderr, "lorascope %s: %s\n", cmd,
            err->msg[0] ? lsc_str_escape(safe, sizeof safe, err->msg) : lsc_strerror(err->code));
    return CLI_FAIL;
}

void cli_warn(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_line(cmd, "warning: ", fmt, ap);
    va_end(ap);
}

// ---- "did you mean" ----

size_t cli_edit_distance(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na > 255 || nb > 255)
        return na > nb ? na : nb;
    size_t row[256];
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

const char *cli_closest(const char *word, int n, const char *(*name_of)(const void *items, int i),
                        const void *items)
{
    size_t len = strlen(word), near = len <= 4 ? 1 : len <= 8 ? 2 : 3, best_d = (size_t)-1;
    const char *best = NULL;
    for (int i = 0; i < n; i++) {
        size_t d = cli_edit_distance(word, name_of(items, i));
        if (d < best_d) {
            best_d = d;
            best = name_of(items, i);
        }
    }
    return best_d <= near ? best : NULL;
}

static const char *opt_name(const void *items, int i) { return ((const cli_opt *)items)[i].name; }

/* The unknown option a (as typed): one usage error naming it, with the closest valid option. */
static int unknown_option(const char *cmd, const cli_opt *opts, const char *a)
{
    char typed[256];
    const char *name = a[0] == '-' && a[1] == '-' ? a + 2 : a + 1;
    snprintf(typed, sizeof typed, "%.*s", (int)strcspn(name, "="), name);
    int n = 0;
    while (opts[n].name)
        n++;
    const char *best = cli_closest(typed, n, opt_name, opts);
    if (best)
        return cli_error(cmd, CLI_USAGE, "unknown option '%s' (did you mean '--%s'?)", a, best);
    return cli_error(cmd, CLI_USAGE, "unknown option '%s'", a);
}

static cli_opt *find_opt(cli_opt *opts, const char *name, size_t len)
{
    for (cli_opt *o = opts; o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    return NULL;
}

int cli_parse(const char *cmd, int argc, char **argv, cli_opt *opts,
              const char **pos, int max_pos, int *n_pos)
{
    *n_pos = 0;
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (!only_pos && a[0] == '-' && a[1] != '\0' && !(a[1] >= '0' && a[1] <= '9')) {
            const char *name;
            size_t len;
            const char *eq = NULL;
            if (a[1] == '-') {
                name = a + 2;
                eq = strchr(name, '=');
                len = eq ? (size_t)(eq - name) : strlen(name);
            } else if (strcmp(a, "-o") == 0) {
                name = "output"; len = 6;
            } else if (strcmp(a, "-h") == 0) {
                name = "help"; len = 4;
            } else {
                return unknown_option(cmd, opts, a);
            }
            cli_opt *o = find_opt(opts, name, len);
            if (!o)
                return unknown_option(cmd, opts, a);
            if (o->has_arg) {
                if (eq) {
                    o->value = eq + 1;
                } else {
                    if (i + 1 >= argc)
                        return cli_error(cmd, CLI_USAGE, "option '--%s' needs a value", o->name);
                    o->value = argv[++i];
                }
            } else {
                if (eq)
                    return cli_error(cmd, CLI_USAGE, "option '--%s' takes no value", o->name);
                o->value = "1";
            }
            continue;
        }
        if (*n_pos >= max_pos)
            return cli_error(cmd, CLI_USAGE, "unexpected argument '%s'", a);
        pos[(*n_pos)++] = a;
    }
    return CLI_OK;
}

const char *cli_get(const cli_opt *opts, const char *name)
{
    for (const cli_opt *o = opts; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o->value;
    return NULL;
}

int cli_flag(const cli_opt *opts, const char *name)
{
    return cli_get(opts, name) != NULL;
}

long cli_long(const cli_opt *opts, const char *name, long def, int *bad)
{
    const char *v = cli_get(opts, name);
    if (!v)
        return def;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end) {
        fprintf(stderr, "lorascope: option '--%s' needs an integer, got '%s'\n", name, v);
        *bad = 1;
        return def;
    }
    return x;
}

double cli_double(const cli_opt *opts, const char *name, double def, int *bad)
{
    const char *v = cli_get(opts, name);
    if (!v)
        return def;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end) {
        fprintf(stderr, "lorascope: option '--%s' needs a number, got '%s'\n", name, v);
        *bad = 1;
        return def;
    }
    return x;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double cli_peak_rss_mb(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    if (!fp)
        return 0.0;
    char line[256];
    double mb = 0.0;
    while (fgets(line, sizeof line, fp)) {
        long kb;
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) {
            mb = (double)kb / 1024.0;
            break;
        }
    }
    fclose(fp);
    return mb;
}

static int dir_has(const char *dir, const char *file)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return access(p, R_OK) == 0;
}

int cli_exe_dir(char *buf, size_t n)
{
    ssize_t k = readlink("/proc/self/exe", buf, n - 1);
    if (k <= 0)
        return 0;
    buf[k] = '\0';
    char *slash = strrchr(buf, '/');
    if (slash)
        *slash = '\0';
    return 1;
}

const char *cli_plots_dir(void)
{
    static char dir[PATH_MAX];
    const char *env = getenv("LSC_PLOTS");
    if (env && *env)
        return env;
    char exe[PATH_MAX];
    if (cli_exe_dir(exe, sizeof exe)) {
        const char *rel[] = {"/../plots", "/../../plots", "/../../../plots", "/../share/lorascope/plots"};
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            snprintf(dir, sizeof dir, "%s%s", exe, rel[i]);
            if (dir_has(dir, "spectrum.gp"))
                return dir;
        }
    }
    return "plots";
}

// ---- a limited address space (ulimit -v) ----

/* OpenBLAS (0.3.21) retries a failed allocation of its work buffer forever: its worker threads,
 * started when the library loads, and the first BLAS call of each thread spin instead of failing.
 * So under a finite RLIMIT_AS the program runs itself again with OPENBLAS_NUM_THREADS=1 (no
 * workers), checks that the calling thread's buffer fits, and takes it at once with one small
 * sgemm; our own parallel loops then run on one thread (cli_limited_memory). */
#define BLAS_BUFFER_BYTES ((size_t)129 << 20)  /* OpenBLAS's 128 MiB buffer and its pages */
#define LIMITED_ENV "LSC_LIMITED_MEMORY"

int cli_limited_memory(void)
{
    const char *v = getenv(LIMITED_ENV);
    return v && strcmp(v, "1") == 0;
}

void cli_memory_guard(char **argv)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return;
    if (!cli_limited_memory()) {
        if (setenv(LIMITED_ENV, "1", 1) == 0 && setenv("OPENBLAS_NUM_THREADS", "1", 1) == 0)
            execv("/proc/self/exe", argv);
        return;  /* cannot run again: carry on as before */
    }
    void *probe = malloc(BLAS_BUFFER_BYTES);
    if (!probe) {
        fprintf(stderr, "lorascope: out of memory: OpenBLAS's %zu MiB work buffer does not fit "
                        "in the address space limit (ulimit -v %llu KiB)\n",
                BLAS_BUFFER_BYTES >> 20, (unsigned long long)rl.rlim_cur / 1024);
        exit(CLI_FAIL);
    }
    free(probe);
    static float a[128 * 128], c[128 * 128];   /* large enough to need the buffer */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 128, 128, 128, 1.0f, a, 128, a, 128,
                0.0f, c, 128);
}

// ---- running programs (no shell) ----

int cli_run(const char *const *argv, char *out, size_t n_out)
{
    int fd[2];
    if (n_out)
        out[0] = '\0';
    if (pipe(fd) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 2);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    posix_spawn_file_actions_addclose(&fa, fd[1]);
    pid_t pid;
    int e = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    if (e != 0) {
        close(fd[0]);
        errno = e;
        return -1;
    }
    size_t len = 0;
    char buf[4096];
    ssize_t k;
    while ((k = read(fd[0], buf, sizeof buf)) != 0) {
        if (k < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        size_t take = n_out > len + 1 ? n_out - len - 1 : 0;
        take = take < (size_t)k ? take : (size_t)k;
        memcpy(out + len, buf, take);
        len += take;
    }
    if (n_out)
        out[len] = '\0';
    close(fd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

int cli_gnuplot(const char *cmd, const char *script, const char *vars)
{
    char path[PATH_MAX + 64], out[2048];
    snprintf(path, sizeof path, "%s/%s", cli_plots_dir(), script);
    const char *argv[] = {"gnuplot", "-e", vars, path, NULL};
    int rc = cli_run(argv, out, sizeof out);
    if (rc < 0) {
        cli_error(cmd, CLI_FAIL, "cannot run gnuplot for %s: %s", path, strerror(errno));
        return 1;
    }
    if (rc != 0) {
        char *nl = strchr(out, '\n');
        if (nl)
            *nl = '\0';
        cli_error(cmd, CLI_FAIL, "gnuplot failed on %s (exit status %d)%s%s", path, rc,
                  out[0] ? ": " : "", out);
        return 1;
    }
    return 0;
}
