/*
 * sweep.c — `[mpirun -np N] lorascope sweep PROFILE [STUDY...]` (issue 18): the training runs of
 * `make reproduce` spread over MPI ranks.
 *
 * Rank 0 runs the same experiments/reproduce.sh as `make reproduce` (PROFILE, LSC_STUDIES for the
 * studies named, LSC_SWEEP=DIR). Its plan step, instead of training the planned runs $JOBS at a
 * time, writes one request per run into the FIFO DIR/req ("ID<TAB>LOG<TAB>COMMAND", then "end"):
 * the `reproduce.sh --one` command line of the run, with the environment the serial run would
 * have (its thread count too, so that every run is bit-identical to the serial one). The sweep
 * keeps them in a queue and gives each to the next idle rank (a dynamic work queue: a long run
 * never holds up the short ones behind it); rank 0 trains too, in a child. Each run's output goes
 * to LOG; the finished run's line "ID RANK STATUS" goes back through DIR/res, and "end" when the
 * batch is done. A failed run is reported with its rank and log, the others go on; reproduce.sh
 * then stops before the analyses and the sweep exits 1. The cache of reproduce.sh makes a re-run
 * train only what is missing. Ctrl-C (or mpirun's SIGTERM): every rank sends SIGTERM to its
 * child's process group (reproduce.sh removes the half-built run), and a child whose rank dies
 * gets SIGTERM too (PR_SET_PDEATHSIG); reproduce.sh unlinks the FIFOs once it has opened them.
 *
 * On one process (no launcher, or a build without MPI) the same happens with rank 0 alone:
 * the runs are trained one at a time.
 */
#define _GNU_SOURCE   /* sched_setaffinity, CPU_SET */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analysis_common.h"
#include "commands.h"
#include "dist.h"

extern char **environ;

static const char *SWEEP_USAGE =
    "usage: [mpirun -np N] lorascope sweep PROFILE [STUDY...]\n"
    "\n"
    "Runs the studies of `make reproduce` (experiments/reproduce.sh) for PROFILE (tiny,\n"
    "quick or paper) with their training runs spread over the MPI ranks: rank 0 keeps a\n"
    "queue of the planned runs and hands each to the next idle rank (rank 0 trains too).\n"
    "Every run writes its own directory exactly as the serial `make reproduce` would, with\n"
    "its thread count, so the adapters and study files are bit-identical to it whatever N.\n"
    "STUDY... (e.g. study_rank) restricts the studies (LSC_STUDIES; the lr sweep always\n"
    "runs, the regression check is skipped); default all.\n"
    "\n"
    "A failed run is reported with its rank and log; the others finish, the analyses are\n"
    "skipped and the exit status is 1. A second sweep trains only the runs not finished.\n"
    "Without a launcher the runs are trained one at a time. The environment of reproduce.sh\n"
    "applies (BUILD, LSC_BIN: the program that trains, default build/lorascope;\n"
    "LSC_RESULTS_ROOT, LSC_CACHE, ARCH, FORMAT). Run it in the project's directory (or set\n"
    "LSC_ROOT). The ranks must share that directory (a shared file system).\n"
    "\n"
    "example:\n"
    "  mpirun -np 4 build/mpi/lorascope sweep quick\n"
    "  srun lorascope sweep paper study_rank study_targets    (in a Slurm job; see the README)\n";

enum { TAG_WORK = 1, TAG_DONE = 2, TAG_STOP = 3 };
enum { MSG_MAX = 1 << 16 };

static volatile sig_atomic_t g_signal = 0;

static void on_signal(int sig) { g_signal = sig; }

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;   /* no SA_RESTART: waitpid returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* After the cleanup: die of the signal received, as an uncaught one would. */
static void die_of_signal(void)
{
    int sig = g_signal ? (int)g_signal : SIGTERM;
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The nap of a polling loop that has been idle for `idle` rounds: 1 ms at first (a finished run
 * is answered at once), 10 ms after 50 idle rounds (an idle rank then costs ~0.1% of a core). */
static void idle_nap(int idle)
{
    if (idle < 50) {
        dist_nap();
        return;
    }
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

// ---- children ----

/* The launcher's variables (OMPI_*, PMIX_*, PMI_*) removed, so that a program the child starts
 * does not take itself for a rank of this job. */
static void drop_launcher_env(void)
{
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, "OMPI_", 5) == 0 || strncmp(*e, "PMIX_", 5) == 0 || strncmp(*e, "PMI_", 4) == 0) {
                char name[256];
                size_t n = strcspn(*e, "=");
                if (n >= sizeof name)
                    continue;
                memcpy(name, *e, n);
                name[n] = '\0';
                unsetenv(name);
                again = 1;
                break;
            }
        }
    }
}

/* Every CPU of the machine allowed again (the kernel keeps the job's cpuset, e.g. Slurm's): mpirun
 * binds each rank to one core by default, and a run or an analysis that inherited that binding
 * could not move off a core another process keeps busy (the tiny study_rank sweep took 151 s
 * bound, 73 s unbound, on a shared 2-core machine), nor use the other cores when threaded. */
static void unbind(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    long n = sysconf(_SC_NPROCESSORS_CONF);
    for (long i = 0; i < n && i < CPU_SETSIZE; i++)
        CPU_SET((int)i, &set);
    sched_setaffinity(0, sizeof set, &set);
}

/* Starts `/bin/sh -c cmd` (or /bin/sh script when script) in its own process group, SIGTERM when
 * this process dies, output into log (when not NULL). Returns its pid, or -1. */
static pid_t spawn(const char *cmd, const char *script, const char *log)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1)
        _exit(143);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    drop_launcher_env();
    unbind();
    int in = open("/dev/null", O_RDONLY);
    if (in >= 0 && in != 0) {
        dup2(in, 0);
        close(in);
    }
    if (log) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) {
            fprintf(stderr, "lorascope sweep: %s: cannot create: %s\n", log, strerror(errno));
            _exit(127);
        }
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    if (script)
        execl("/bin/sh", "sh", script, (char *)NULL);
    else
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    fprintf(stderr, "lorascope sweep: /bin/sh: cannot run: %s\n", strerror(errno));
    _exit(127);
}

/* The exit status of a finished child: its code, or 128 + the signal that killed it. */
static int exit_code(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
}

/* SIGTERM to the process group of child pid, then waits up to ~limit_ms for it (SIGKILL after). */
static void stop_child(pid_t pid, int limit_ms)
{
    if (pid <= 0)
        return;
    kill(-pid, SIGTERM);
    for (int t = 0; t < limit_ms; t++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        dist_nap();
    }
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

// ---- workers (rank > 0) ----

/* Splits a request "ID<TAB>LOG<TAB>COMMAND" in place; 0, or -1 when malformed. */
static int split_request(char *line, char **id, char **log, char **cmd)
{
    char *t1 = strchr(line, '\t');
    char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
    if (!t2)
        return -1;
    *t1 = *t2 = '\0';
    *id = line;
    *log = t1 + 1;
    *cmd = t2 + 1;
    return 0;
}

/* Runs one request to the end (or the signal); its status. */
static int run_request(char *req)
{
    char *id, *log, *cmd;
    if (split_request(req, &id, &log, &cmd) != 0) {
        fprintf(stderr, "lorascope sweep: rank %d: malformed request '%.60s'\n", dist_rank(), req);
        return 2;
    }
    pid_t pid = spawn(cmd, NULL, log);
    if (pid < 0) {
        fprintf(stderr, "lorascope sweep: rank %d: fork: %s\n", dist_rank(), strerror(errno));
        return 127;
    }
    int st;
    for (;;) {
        pid_t w = waitpid(pid, &st, 0);
        if (w == pid)
            return exit_code(st);
        if (g_signal) {
            stop_child(pid, 900);
            die_of_signal();
        }
        if (w < 0 && errno != EINTR)
            return 127;
    }
}

/* A rank > 0: runs what rank 0 sends until told to stop; returns the sweep's exit status. */
static int worker(void)
{
    char *buf = malloc(MSG_MAX);
    if (!buf)
        return CLI_FAIL;
    for (;;) {
        dist_req *r = dist_irecv(buf, MSG_MAX - 1, 0, DIST_ANY_TAG);
        int tag = 0, done = 0, idle = 0;
        size_t n = 0;
        while (r && (done = dist_test(r, NULL, &tag, &n)) == 0) {
            if (g_signal)
                die_of_signal();
            idle_nap(idle++);
        }
        if (!r || done < 0) {
            fprintf(stderr, "lorascope sweep: rank %d: lost rank 0\n", dist_rank());
            free(buf);
            return CLI_FAIL;
        }
        buf[n] = '\0';
        if (tag == TAG_STOP) {
            int code = atoi(buf);
            free(buf);
            return code;
        }
        int status = run_request(buf);
        if (dist_send(&status, sizeof status, 0, TAG_DONE) != 0) {
            free(buf);
            return CLI_FAIL;
        }
    }
}

// ---- rank 0: the queue ----

typedef struct sweep {
    int    req_fd, res_fd;      /* the FIFOs (this side holds both open read-write) */
    char   dir[512];            /* their directory */
    pid_t  driver;              /* reproduce.sh */
    char  *in;                  /* bytes read from req, not yet a whole line */
    size_t in_len;
    char **queue;               /* requests not yet given to a rank */
    int    q_head, q_len, q_cap;
    int    batch_end;           /* "end" read: answer "end" once the batch is done */
    int    size;
    char **running;             /* per rank: the request it runs (NULL: idle) */
    pid_t  local;               /* rank 0's run */
    dist_req *done;             /* the pending receive of a finished run's status */
    int    done_status;
    int    n_failed, n_runs;
    int   *per_rank;            /* runs finished by each rank */
    long   events;              /* requests read, runs started and finished: activity */
} sweep;

static int n_running(const sweep *s)
{
    int n = 0;
    for (int r = 0; r < s->size; r++)
        n += s->running[r] != NULL;
    return n;
}

static int queue_push(sweep *s, const char *line)
{
    if (s->q_len == s->q_cap) {
        int cap = s->q_cap ? 2 * s->q_cap : 64;
        char **q = realloc(s->queue, (size_t)cap * sizeof *q);
        if (!q)
            return -1;
        s->queue = q;
        s->q_cap = cap;
    }
    if (!(s->queue[s->q_len] = strdup(line)))
        return -1;
    s->q_len++;
    return 0;
}

/* Reads what reproduce.sh wrote into req: requests into the queue, "end" marks the batch's end.
 * -1 on a malformed or too long request (printed). */
static int read_requests(sweep *s)
{
    for (;;) {
        if (s->in_len >= MSG_MAX - 1) {
            fprintf(stderr, "lorascope sweep: a request of more than %d bytes\n", MSG_MAX - 1);
            return -1;
        }
        ssize_t k = read(s->req_fd, s->in + s->in_len, MSG_MAX - 1 - s->in_len);
        if (k <= 0)
            break;
        s->in_len += (size_t)k;
        char *p = s->in, *nl;
        while ((nl = memchr(p, '\n', s->in_len - (size_t)(p - s->in)))) {
            *nl = '\0';
            s->events++;
            if (strcmp(p, "end") == 0)
                s->batch_end = 1;
            else if (strchr(p, '\t') == NULL || queue_push(s, p) != 0) {
                fprintf(stderr, "lorascope sweep: bad request '%.60s' (or out of memory)\n", p);
                return -1;
            }
            p = nl + 1;
        }
        s->in_len -= (size_t)(p - s->in);
        memmove(s->in, p, s->in_len);
    }
    return 0;
}

/* The next request for rank r: sent (r > 0) or started in a child (r = 0). */
static int dispatch(sweep *s, int r)
{
    char *line = s->queue[s->q_head];
    if (r > 0) {
        if (dist_send(line, strlen(line), r, TAG_WORK) != 0) {
            fprintf(stderr, "lorascope sweep: cannot send a run to rank %d\n", r);
            return -1;
        }
    } else {
        char *copy = strdup(line), *id, *log, *cmd;
        if (!copy || split_request(copy, &id, &log, &cmd) != 0 || (s->local = spawn(cmd, NULL, log)) < 0) {
            free(copy);
            fprintf(stderr, "lorascope sweep: cannot start a run on rank 0\n");
            return -1;
        }
        free(copy);
    }
    s->running[r] = line;
    s->events++;
    s->q_head++;
    if (s->q_head == s->q_len)
        s->q_head = s->q_len = 0;
    return 0;
}

/* The log of a finished run on stderr: all of it (a progress line or two) after a success, its
 * last lines under the failure's report. */
static void show_log(const char *log, int failed)
{
    FILE *fp = fopen(log, "r");
    if (!fp)
        return;
    char lines[8][512];
    int n = 0;
    while (fgets(lines[n % 8], sizeof lines[0], fp)) {
        if (!failed)
            fputs(lines[n % 8], stderr);
        n++;
    }
    fclose(fp);
    for (int i = n > 8 ? n - 8 : 0; failed && i < n; i++)
        fprintf(stderr, "    %s", lines[i % 8]);
    fflush(stderr);
}

/* Rank r finished its run with status: the report, and "ID RANK STATUS" to reproduce.sh. */
static void finished(sweep *s, int r, int status)
{
    char *id = s->running[r], *log = "/dev/null", *cmd;
    if (split_request(s->running[r], &id, &log, &cmd) != 0)
        log = "/dev/null";
    s->n_runs++;
    s->events++;
    s->per_rank[r]++;
    if (status != 0) {
        s->n_failed++;
        fprintf(stderr, "lorascope sweep: run %s failed on rank %d (exit %d); log: %s\n", id, r, status, log);
    }
    show_log(log, status != 0);
    char msg[600];
    int n = snprintf(msg, sizeof msg, "%s %d %d\n", id, r, status);
    if (n > 0 && (size_t)n < sizeof msg && write(s->res_fd, msg, (size_t)n) != n)
        fprintf(stderr, "lorascope sweep: cannot answer reproduce.sh: %s\n", strerror(errno));
    free(s->running[r]);
    s->running[r] = NULL;
}

/* Collects the finished runs: rank 0's child and the statuses the other ranks sent. */
static int poll_finished(sweep *s)
{
    int st;
    if (s->running[0] && waitpid(s->local, &st, WNOHANG) == s->local) {
        s->local = 0;
        finished(s, 0, exit_code(st));
    }
    for (;;) {
        int remote = n_running(s) - (s->running[0] != NULL);
        if (!s->done && remote == 0)
            break;   /* no receive left pending when nothing runs elsewhere */
        if (!s->done && !(s->done = dist_irecv(&s->done_status, sizeof s->done_status, DIST_ANY_SOURCE, TAG_DONE)))
            return -1;
        int src = -1, t = dist_test(s->done, &src, NULL, NULL);
        if (t == 0)
            break;
        s->done = NULL;
        if (t < 0 || src <= 0 || src >= s->size || !s->running[src])
            return -1;
        finished(s, src, s->done_status);
    }
    return 0;
}

/* The FIFOs req and res in a new directory, both held open read-write here (so that neither
 * side's open blocks, and reads see no end of file before reproduce.sh opens them). */
static int open_fifos(sweep *s)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(s->dir, sizeof s->dir, "%s/lsc_sweep.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(s->dir)) {
        fprintf(stderr, "lorascope sweep: %s: cannot create: %s\n", s->dir, strerror(errno));
        s->dir[0] = '\0';
        return -1;
    }
    char p[600];
    snprintf(p, sizeof p, "%s/req", s->dir);
    if (mkfifo(p, 0600) != 0 || (s->req_fd = open(p, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0)
        goto fail;
    snprintf(p, sizeof p, "%s/res", s->dir);
    /* non-blocking too: answers are a few bytes a run, and a full FIFO (reproduce.sh gone) must
     * not stop the queue */
    if (mkfifo(p, 0600) != 0 || (s->res_fd = open(p, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0)
        goto fail;
    return 0;
fail:
    fprintf(stderr, "lorascope sweep: %s: cannot make a FIFO: %s\n", p, strerror(errno));
    return -1;
}

/* Removes the FIFOs (if reproduce.sh did not) and their directory. */
static void remove_fifos(sweep *s)
{
    if (!s->dir[0])
        return;
    char p[600];
    snprintf(p, sizeof p, "%s/req", s->dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/res", s->dir);
    unlink(p);
    rmdir(s->dir);
    s->dir[0] = '\0';
}

/* Ctrl-C or SIGTERM on rank 0: reproduce.sh and the local run get SIGTERM (they remove their
 * half-built run), the FIFOs go; then this process dies of the signal. */
static void interrupted(sweep *s)
{
    remove_fifos(s);   /* first: mpirun may follow its SIGTERM with a SIGKILL soon */
    if (s->driver > 0)
        kill(-s->driver, SIGTERM);
    stop_child(s->local, 2000);
    stop_child(s->driver, 2000);
    die_of_signal();
}

/* Rank 0's loop: requests in, runs out to idle ranks, statuses back, until reproduce.sh exits.
 * Returns its exit status. */
static int serve(sweep *s)
{
    int rc = -1, broken = 0, idle = 0;
    long seen = -1;
    while (rc < 0 || n_running(s) > 0) {
        if (g_signal)
            interrupted(s);
        if (!broken && (read_requests(s) != 0 || poll_finished(s) != 0))
            broken = 1;
        for (int r = 0; !broken && rc < 0 && r < s->size && s->q_head < s->q_len; r++)
            if (!s->running[r] && dispatch(s, r) != 0)
                broken = 1;
        if (broken && rc < 0 && s->driver > 0)
            kill(-s->driver, SIGTERM);   /* the queue cannot go on: reproduce.sh stops */
        if (broken && n_running(s) > 0 && poll_finished(s) != 0)
            break;                       /* lost track of the other ranks */
        if (!broken && s->batch_end && s->q_head == s->q_len && n_running(s) == 0) {
            s->batch_end = 0;
            if (write(s->res_fd, "end\n", 4) != 4)
                broken = 1;
        }
        int st;
        if (rc < 0 && waitpid(s->driver, &st, WNOHANG) == s->driver) {
            rc = exit_code(st);
            s->driver = 0;
        }
        idle = s->events == seen ? idle + 1 : 0;
        seen = s->events;
        idle_nap(idle);
    }
    return broken && rc == 0 ? CLI_FAIL : rc;
}

// ---- entry ----

static int is_root(const char *dir)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/experiments/reproduce.sh", dir);
    return access(p, R_OK) == 0;
}

/* The project's directory: $LSC_ROOT, else the current directory, else the program's directory
 * or one of its three parents (build/lorascope, build/mpi/lorascope). */
static int find_root(char *buf, size_t n)
{
    const char *env = getenv("LSC_ROOT");
    if (env && *env) {
        snprintf(buf, n, "%s", env);
        return is_root(buf) ? 0 : -1;
    }
    if (getcwd(buf, n) && is_root(buf))
        return 0;
    char exe[1024];
    if (!cli_exe_dir(exe, sizeof exe))
        return -1;
    for (int up = 0; up < 4; up++) {
        if (is_root(exe)) {
            snprintf(buf, n, "%s", exe);
            return 0;
        }
        char *slash = strrchr(exe, '/');
        if (!slash || slash == exe)
            break;
        *slash = '\0';
    }
    return -1;
}

/* Checks PROFILE and the studies against the project's files; sets PROFILE and LSC_STUDIES. */
static int set_plan(const char *root, const char **pos, int npos)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/experiments/profiles/%s.sh", root, pos[0]);
    if (strchr(pos[0], '/') || access(p, R_OK) != 0)
        return cli_error("sweep", CLI_USAGE, "unknown profile '%s' (tiny, quick or paper)", cli_safe(pos[0]));
    setenv("PROFILE", pos[0], 1);
    if (npos < 2)
        return CLI_OK;
    char studies[4096] = "";
    for (int i = 1; i < npos; i++) {
        snprintf(p, sizeof p, "%s/experiments/%s.sh", root, pos[i]);
        if (strncmp(pos[i], "study_", 6) != 0 || strcmp(pos[i], "study_lr") == 0 || strchr(pos[i], '/') ||
            access(p, R_OK) != 0)
            return cli_error("sweep", CLI_USAGE, "unknown study '%s' (e.g. study_rank; see experiments/)",
                             cli_safe(pos[i]));
        size_t len = strlen(studies);
        snprintf(studies + len, sizeof studies - len, "%s%s", len ? " " : "", pos[i]);
    }
    setenv("LSC_STUDIES", studies, 1);
    return CLI_OK;
}

/* "N runs on K ranks (rank 0: a, rank 1: b, ...), F failed" on stderr. */
static void report_counts(const sweep *s)
{
    fprintf(stderr, "lorascope sweep: %d runs on %d rank%s (", s->n_runs, s->size, s->size > 1 ? "s" : "");
    for (int r = 0; r < s->size && r < 64; r++)
        fprintf(stderr, "%srank %d: %d", r ? ", " : "", r, s->per_rank[r]);
    fprintf(stderr, "%s), %d failed\n", s->size > 64 ? ", ..." : "", s->n_failed);
}

/* Rank 0: the FIFOs, reproduce.sh, the queue; then every other rank is told to stop. */
static int leader(const char *root)
{
    sweep s;
    memset(&s, 0, sizeof s);
    s.req_fd = s.res_fd = -1;
    s.size = dist_size();
    s.in = malloc(MSG_MAX);
    s.running = calloc((size_t)s.size, sizeof *s.running);
    s.per_rank = calloc((size_t)s.size, sizeof *s.per_rank);
    int rc = CLI_FAIL;
    if (s.in && s.running && s.per_rank && open_fifos(&s) == 0) {
        char script[1200];
        snprintf(script, sizeof script, "%s/experiments/reproduce.sh", root);
        setenv("LSC_SWEEP", s.dir, 1);
        s.driver = spawn(NULL, script, NULL);
        unsetenv("LSC_SWEEP");
        if (s.driver < 0)
            fprintf(stderr, "lorascope sweep: cannot start %s: %s\n", script, strerror(errno));
        else
            rc = serve(&s) == 0 ? CLI_OK : CLI_FAIL;
    }
    char code[8];
    snprintf(code, sizeof code, "%d", rc);
    for (int r = 1; r < s.size; r++)
        dist_send(code, strlen(code), r, TAG_STOP);
    if (s.n_runs > 0)
        report_counts(&s);
    remove_fifos(&s);
    if (s.req_fd >= 0)
        close(s.req_fd);
    if (s.res_fd >= 0)
        close(s.res_fd);
    for (int i = s.q_head; i < s.q_len; i++)
        free(s.queue[i]);
    free(s.queue);
    free(s.running);
    free(s.per_rank);
    free(s.in);
    return rc;
}

/* quiet(1): stdout and stderr to /dev/null (their copies kept); quiet(0) puts them back. */
static void quiet(int on)
{
    static int saved[3] = {-1, -1, -1};
    fflush(stdout);
    fflush(stderr);
    for (int fd = 1; fd <= 2; fd++) {
        if (!on && saved[fd] >= 0) {
            dup2(saved[fd], fd);
            close(saved[fd]);
            saved[fd] = -1;
        } else if (on && saved[fd] < 0) {
            int null = open("/dev/null", O_WRONLY);
            if (null >= 0 && (saved[fd] = dup(fd)) >= 0)
                dup2(null, fd);
            if (null >= 0)
                close(null);
        }
    }
}

int cmd_sweep(int argc, char **argv)
{
    cli_opt opts[] = {{"help", 0, NULL}, {NULL, 0, NULL}};
    const char *pos[64];
    int npos, help;
    /* every rank checks the command line, rank 0 alone says what is wrong with it */
    quiet(dist_rank() > 0);
    char root[1024];
    int rc = ana_parse_args("sweep", SWEEP_USAGE, argc, argv, opts, pos, 64, &npos, &help);
    if (rc == CLI_OK && !help && npos < 1)
        rc = cli_error("sweep", CLI_USAGE, "need PROFILE (tiny, quick or paper)");
    if (rc == CLI_OK && !help && find_root(root, sizeof root) != 0)
        rc = cli_error("sweep", CLI_USAGE, "experiments/reproduce.sh not found: run it in the project's "
                                           "directory or set LSC_ROOT");
    if (rc == CLI_OK && !help)
        rc = set_plan(root, pos, npos);
    quiet(0);
    if (rc != CLI_OK || help)
        return rc;
    catch_signals();
    rc = dist_rank() == 0 ? leader(root) : worker();
    /* every rank got here (the workers were told to stop): end MPI now, so that a failed sweep's
     * exit status 1 is not taken for a rank's failure that must abort the others */
    dist_end();
    return rc;
}
