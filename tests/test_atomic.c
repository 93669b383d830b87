/*
 * test_atomic.c — the one atomic file writer (lib/atomic.c): a commit
 * replaces the destination whole, an abort or any failure (the temporary
 * cannot be created, a write or flush fails, the rename fails) leaves the
 * old file as it was and no "<path>.tmp.*" behind; the new file gets the
 * mode fopen() would give it (0666 less the umask); lsc_atomic_tmpname +
 * lsc_atomic_publish do the same for files written by name and for
 * directories; lsc_atomic_mkdtemp + lsc_atomic_publish_dir replace a
 * directory's files in one step, keeping its other entries;
 * lsc_atomic_clean removes exactly the "<path>.tmp.XXXXXX" orphans.
 *
 * Not here: the writers built on it (test_safetensors, test_h5io, ...).
 */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lsc_internal.h"
#include "test.h"

// ---- helpers ----

/* Contents of path into buf (NUL-terminated), or "" when unreadable. */
static const char *slurp(const char *path)
{
    static char buf[256];
    buf[0] = '\0';
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return buf;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static void put(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");
    if (fp) {
        fputs(text, fp);
        fclose(fp);
    }
}

/* Number of entries of dir whose name contains ".tmp." */
static int count_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

static int mode_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int)(st.st_mode & 0777) : -1;
}

// ---- commit, abort, write ----

static void test_commit_abort(void)
{
    lsc_error err = {0};
    const char *p = test_tmp("a.txt");
    int rc = lsc_atomic_write(p, "first\n", 6, &err);
    CHECK(rc == LSC_OK && strcmp(slurp(p), "first\n") == 0, "lsc_atomic_write creates a new file with its bytes%s%s",
          rc ? ": " : "", rc ? err.msg : "");
    CHECK(lsc_atomic_write(p, "", 0, &err) == LSC_OK && strcmp(slurp(p), "") == 0,
          "lsc_atomic_write of 0 bytes gives an empty file");

    put(p, "old\n");
    lsc_atomic a;
    rc = lsc_atomic_open(&a, p, &err);
    CHECK(rc == LSC_OK && a.fp && a.tmp && strncmp(a.tmp, p, strlen(p)) == 0,
          "lsc_atomic_open: a temporary beside the destination (%s)", rc == LSC_OK ? a.tmp : err.msg);
    if (rc != LSC_OK)
        return;
    fputs("new contents\n", a.fp);
    CHECK(strcmp(slurp(p), "old\n") == 0, "before the commit the destination is the old file");
    rc = lsc_atomic_commit(&a, &err);
    CHECK(rc == LSC_OK, "commit%s%s", rc ? ": " : "", rc ? err.msg : "");
    CHECK(strcmp(slurp(p), "new contents\n") == 0, "commit replaces the destination whole");
    CHECK(count_tmp(test_tmpdir()) == 0, "commit leaves no *.tmp.* behind");
    CHECK(a.tmp == NULL && a.path == NULL, "commit frees the names");

    rc = lsc_atomic_open(&a, p, &err);
    if (rc == LSC_OK) {
        fputs("discarded\n", a.fp);
        lsc_atomic_abort(&a);
    }
    CHECK(rc == LSC_OK && strcmp(slurp(p), "new contents\n") == 0, "abort leaves the old file");
    CHECK(count_tmp(test_tmpdir()) == 0, "abort removes the temporary");
    lsc_atomic_abort(&a);
    lsc_atomic z;
    memset(&z, 0, sizeof z);
    lsc_atomic_abort(&z);
    lsc_atomic_abort(NULL);
    CHECK(1, "abort is safe twice, on a zeroed lsc_atomic and on NULL");
}

// ---- modes ----

static void test_modes(void)
{
    lsc_error err = {0};
    static const mode_t masks[] = {022, 077, 002};
    for (int i = 0; i < 3; i++) {
        mode_t old = umask(masks[i]);
        char name[32];
        snprintf(name, sizeof name, "mode%d", i);
        const char *p = test_tmp(name);
        int rc = lsc_atomic_write(p, "x", 1, &err);
        umask(old);
        int want = 0666 & ~(int)masks[i];
        CHECK(rc == LSC_OK && mode_of(p) == want, "umask %03o: the file's mode is %04o (got %04o)",
              (unsigned)masks[i], (unsigned)want, (unsigned)mode_of(p));
    }
}

// ---- failures ----

/* Root ignores directory permissions: write p (in a read-only directory)
 * from a child running as user nobody. 0 when that failed as it should,
 * 77 when the child could not drop its privileges. */
static int readonly_as_nobody(const char *p)
{
    chmod(test_tmpdir(), 0755);   /* let nobody reach the directory */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(77);
        lsc_error err = {0};
        int rc = lsc_atomic_write(p, "new\n", 4, &err);
        _exit(rc == LSC_EIO && strstr(err.msg, p) && strstr(err.msg, "Permission denied") ? 0 : 1);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        status = 1 << 8;
    chmod(test_tmpdir(), 0700);
    return WEXITSTATUS(status);
}

static void test_open_failures(void)
{
    lsc_error err = {0};
    const char *missing = test_tmp("no/such/dir/x.txt");
    int rc = lsc_atomic_write(missing, "x", 1, &err);
    CHECK(rc == LSC_EIO && strstr(err.msg, missing) && strstr(err.msg, "cannot create"),
          "a missing directory: LSC_EIO naming the path (%s)", err.msg);

    const char *file = test_tmp("plain");
    put(file, "a file\n");
    char under[600];
    snprintf(under, sizeof under, "%s/x.txt", file);
    lsc_atomic a;
    rc = lsc_atomic_open(&a, under, &err);
    CHECK(rc == LSC_EIO && a.fp == NULL && a.tmp == NULL, "a file as the directory: LSC_EIO, *a zeroed (%s)",
          err.msg);

    rc = lsc_atomic_tmpname(under, sizeof under, "", &err);
    CHECK(rc == LSC_EARG, "an empty path: LSC_EARG (%s)", err.msg);
    char small[8];
    rc = lsc_atomic_tmpname(small, sizeof small, test_tmp("long-name"), &err);
    CHECK(rc == LSC_EARG && strstr(err.msg, "too long"), "a name that does not fit: LSC_EARG (%s)", err.msg);

    /* a directory without write permission (root writes anyway: skipped) */
    const char *ro = test_tmp("readonly");
    mkdir(ro, 0755);
    char p[600];
    snprintf(p, sizeof p, "%s/x.txt", ro);
    put(p, "old\n");
    chmod(ro, 0555);
    if (geteuid() != 0) {
        rc = lsc_atomic_write(p, "new\n", 4, &err);
        CHECK(rc == LSC_EIO && strstr(err.msg, p) && strcmp(slurp(p), "old\n") == 0 && count_tmp(ro) == 0,
              "a read-only directory: LSC_EIO, old file intact, no temporary (%s)", err.msg);
    } else {
        rc = readonly_as_nobody(p);
        if (rc == 77)
            test_skip("open in a read-only directory", "running as root and cannot drop to user nobody: a read-only directory does not stop root");
        else
            CHECK(rc == 0 && strcmp(slurp(p), "old\n") == 0 && count_tmp(ro) == 0,
                  "a read-only directory (as user nobody): LSC_EIO, old file intact, no temporary");
    }
    chmod(ro, 0755);
}

static void test_write_failures(void)
{
    lsc_error err = {0};
    const char *p = test_tmp("w.txt");
    put(p, "old\n");

    /* the descriptor closed underneath: the flush at commit fails */
    lsc_atomic a;
    int rc = lsc_atomic_open(&a, p, &err);
    if (rc == LSC_OK) {
        fputs("buffered, never written\n", a.fp);
        close(fileno(a.fp));
        rc = lsc_atomic_commit(&a, &err);
    }
    CHECK(rc == LSC_EIO && strstr(err.msg, "write failed"), "a failing flush: commit gives LSC_EIO (%s)",
          err.msg);
    CHECK(strcmp(slurp(p), "old\n") == 0 && count_tmp(test_tmpdir()) == 0,
          "a failing flush leaves the old file and no temporary");

    /* a full disk: a.fp swapped for /dev/full */
    rc = lsc_atomic_open(&a, p, &err);
    FILE *full = fopen("/dev/full", "wb");
    if (rc == LSC_OK && full) {
        fclose(a.fp);
        a.fp = full;
        fputs("does not fit\n", a.fp);
        rc = lsc_atomic_commit(&a, &err);
        CHECK(rc == LSC_EIO && strstr(err.msg, p), "a full disk: commit gives LSC_EIO naming the path (%s)",
              err.msg);
        CHECK(strcmp(slurp(p), "old\n") == 0 && count_tmp(test_tmpdir()) == 0,
              "a full disk leaves the old file and no temporary");
    } else {
        if (full)
            fclose(full);
        lsc_atomic_abort(&a);
        test_skip("commit on a full disk", "/dev/full is not available");
    }

    /* a stream error seen by ferror (a read on a write-only stream) */
    rc = lsc_atomic_open(&a, p, &err);
    if (rc == LSC_OK) {
        fputs("half\n", a.fp);
        (void)fgetc(a.fp);
        rc = ferror(a.fp) ? lsc_atomic_commit(&a, &err) : (lsc_atomic_abort(&a), -100);
    }
    if (rc == -100)
        test_skip("commit after a stream error", "this libc sets no error flag for a read on a write-only stream");
    else
        CHECK(rc == LSC_EIO && strcmp(slurp(p), "old\n") == 0 && count_tmp(test_tmpdir()) == 0,
              "a stream error: LSC_EIO, old file intact, no temporary (%s)", err.msg);
}

// ---- writers by name, directories ----

static void test_publish(void)
{
    lsc_error err = {0};
    const char *p = test_tmp("byname.bin");
    put(p, "old\n");
    char tmp[600];
    mode_t mask = umask(0);
    umask(mask);
    int rc = lsc_atomic_tmpname(tmp, sizeof tmp, p, &err);
    CHECK(rc == LSC_OK && strncmp(tmp, p, strlen(p)) == 0 && strstr(tmp, ".tmp.") &&
          mode_of(tmp) == (0666 & ~(int)mask),
          "lsc_atomic_tmpname: an empty file beside the destination, mode 0666 less the umask (%s)",
          rc == LSC_OK ? tmp : err.msg);
    put(tmp, "written by name\n");
    CHECK(strcmp(slurp(p), "old\n") == 0, "before publishing the destination is the old file");
    rc = lsc_atomic_publish(tmp, p, &err);
    CHECK(rc == LSC_OK && strcmp(slurp(p), "written by name\n") == 0 && access(tmp, F_OK) != 0,
          "lsc_atomic_publish renames the file into place%s%s", rc ? ": " : "", rc ? err.msg : "");

    rc = lsc_atomic_publish(tmp, p, &err);
    CHECK(rc == LSC_EIO && strcmp(slurp(p), "written by name\n") == 0,
          "publishing a vanished temporary: LSC_EIO, destination intact (%s)", err.msg);

    /* a directory written in place, then published */
    const char *dir = test_tmp("outdir");
    char tdir[600], inner[700];
    snprintf(tdir, sizeof tdir, "%s.tmp.dir", dir);
    mkdir(tdir, 0755);
    snprintf(inner, sizeof inner, "%s/file.txt", tdir);
    put(inner, "inside\n");
    rc = lsc_atomic_publish(tdir, dir, &err);
    snprintf(inner, sizeof inner, "%s/file.txt", dir);
    struct stat st;
    CHECK(rc == LSC_OK && stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && strcmp(slurp(inner), "inside\n") == 0 &&
          access(tdir, F_OK) != 0,
          "lsc_atomic_publish of a directory moves it into place%s%s", rc ? ": " : "", rc ? err.msg : "");

    /* a directory over a non-empty one: the rename fails, both stay */
    mkdir(tdir, 0755);
    rc = lsc_atomic_publish(tdir, dir, &err);
    CHECK(rc == LSC_EIO && strcmp(slurp(inner), "inside\n") == 0,
          "publishing a directory over a non-empty one: LSC_EIO, the old one intact (%s)", err.msg);
    rmdir(tdir);
    CHECK(count_tmp(test_tmpdir()) == 0, "no *.tmp.* left after the publish tests");
}

// ---- directories in one step, orphans ----

static void test_publish_dir(void)
{
    lsc_error err = {0};
    char tmp[600], p[800];
    const char *dir = test_tmp("adapter");
    int rc = lsc_atomic_mkdtemp(tmp, sizeof tmp, dir, &err);
    struct stat st;
    CHECK(rc == LSC_OK && strncmp(tmp, dir, strlen(dir)) == 0 && strstr(tmp, ".tmp.") && stat(tmp, &st) == 0 &&
          S_ISDIR(st.st_mode), "lsc_atomic_mkdtemp: a fresh sibling directory (%s)", rc == LSC_OK ? tmp : err.msg);
    snprintf(p, sizeof p, "%s/w", tmp);
    put(p, "new w\n");
    rc = lsc_atomic_publish_dir(tmp, dir, &err);
    snprintf(p, sizeof p, "%s/w", dir);
    CHECK(rc == LSC_OK && strcmp(slurp(p), "new w\n") == 0 && access(tmp, F_OK) != 0,
          "publish_dir where nothing was: renamed into place%s%s", rc ? ": " : "", rc ? err.msg : "");

    /* over an existing directory: w and c replaced together, the rest kept */
    snprintf(p, sizeof p, "%s/c", dir);
    put(p, "old c\n");
    snprintf(p, sizeof p, "%s/log", dir);
    put(p, "log\n");
    snprintf(p, sizeof p, "%s/sub", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/sub/f", dir);
    put(p, "in sub\n");
    rc = lsc_atomic_mkdtemp(tmp, sizeof tmp, test_tmp("adapter/"), &err);   /* a trailing slash is ignored */
    CHECK(rc == LSC_OK && strstr(tmp, "adapter/") == NULL, "mkdtemp of DIR/ makes DIR.tmp.XXXXXX (%s)", tmp);
    snprintf(p, sizeof p, "%s/w", tmp);
    put(p, "w2\n");
    snprintf(p, sizeof p, "%s/c", tmp);
    put(p, "c2\n");
    rc = lsc_atomic_publish_dir(tmp, dir, &err);
    char w[800], c[800], l[800], f[800];
    snprintf(w, sizeof w, "%s/w", dir);
    snprintf(c, sizeof c, "%s/c", dir);
    snprintf(l, sizeof l, "%s/log", dir);
    snprintf(f, sizeof f, "%s/sub/f", dir);
    CHECK(rc == LSC_OK && strcmp(slurp(w), "w2\n") == 0 && strcmp(slurp(c), "c2\n") == 0 &&
          strcmp(slurp(l), "log\n") == 0 && strcmp(slurp(f), "in sub\n") == 0 && access(tmp, F_OK) != 0,
          "publish_dir over a directory: both files new, its other file and subdirectory kept%s%s", rc ? ": " : "",
          rc ? err.msg : "");

    /* over a file: refused, the file and nothing else left */
    const char *file = test_tmp("plainfile");
    put(file, "plain\n");
    rc = lsc_atomic_mkdtemp(tmp, sizeof tmp, file, &err);
    rc = rc ? rc : lsc_atomic_publish_dir(tmp, file, &err);
    CHECK(rc == LSC_EIO && strstr(err.msg, "not a directory") && strcmp(slurp(file), "plain\n") == 0 &&
          access(tmp, F_OK) != 0, "publish_dir over a file: LSC_EIO, file intact, temporary removed (%s)", err.msg);

    /* errpath: a message about the temporary names the destination */
    lsc_error e2 = {0};
    snprintf(e2.msg, sizeof e2.msg, "%.300s/w: write failed: No space left on device", tmp);
    lsc_atomic_errpath(&e2, tmp, dir);
    snprintf(p, sizeof p, "%s/w: write failed: No space left on device", dir);
    CHECK(strcmp(e2.msg, p) == 0, "lsc_atomic_errpath: %s", e2.msg);
}

static void test_clean(void)
{
    const char *dest = test_tmp("state.bin");
    char p[800];
    const char *ours[] = {".tmp.Ab12Cd", ".tmp.000000"}, *theirs[] = {".tmp.Ab12C", ".tmp.Ab12Cde", ".tmp.Ab-2Cd", ".tmpXAb12Cd"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s%s", dest, ours[i]);
        put(p, "orphan\n");
    }
    snprintf(p, sizeof p, "%s.tmp.DirDir", dest);   /* an orphaned temporary directory, with a file */
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s.tmp.DirDir/x", dest);
    put(p, "x\n");
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", dest, theirs[i]);
        put(p, "keep\n");
    }
    put(test_tmp("other.bin.tmp.Ab12Cd"), "keep\n");
    int n = lsc_atomic_clean(dest);
    int kept = 1;
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", dest, theirs[i]);
        kept &= access(p, F_OK) == 0;
        unlink(p);
    }
    kept &= access(test_tmp("other.bin.tmp.Ab12Cd"), F_OK) == 0;
    unlink(test_tmp("other.bin.tmp.Ab12Cd"));
    snprintf(p, sizeof p, "%s.tmp.DirDir", dest);
    CHECK(n == 3 && kept && access(p, F_OK) != 0,
          "lsc_atomic_clean: removes exactly <path>.tmp.XXXXXX (2 files, 1 directory: %d), keeps others' names", n);
    CHECK(count_tmp(test_tmpdir()) == 0, "no *.tmp.* left after the directory tests");
}

int main(void)
{
    if (test_tmpdir_make("atomic") != 0)
        return 1;
    test_commit_abort();
    test_modes();
    test_open_failures();
    test_write_failures();
    test_publish();
    test_publish_dir();
    test_clean();
    test_tmpdir_remove();
    return test_summary();
}
