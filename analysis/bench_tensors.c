/*
 * bench_tensors.c — `lorascope bench tensors`: loading and listing an
 * adapter of many tensors (issue 15: one of 1,000,000 tensors must be
 * listed in under 2 s). Writes a PEFT adapter of --count tensors (500,000
 * modules m.I with 1x1 lora_A and lora_B, F32) into a fresh temporary
 * directory, times the adapter load (lsc_adapter_load: header, classification,
 * module values), the header parse alone (lsc_st_open; `inspect` no longer
 * does it twice: it lists the loader's file, lsc_adapter.st, so it is not
 * counted) and the listing (one row per module and per tensor of ad.st, by
 * inspect's own formatting, into a buffer), prints seconds and
 * tensors/s, and the CPU seconds (user + sys) of load + list, which a
 * loaded machine inflates less than the wall time; JSON: load_s, list_s,
 * load_list_s, load_cpu_s, list_cpu_s, load_list_cpu_s, st_open_s. It
 * removes the directory. A measuring tool, not a test: nothing asserts a speed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "analysis_common.h"
#include "bench.h"
#include "inspect.h"

/* The adapter of n tensors (n even) into dir. 0, or -1 with errno set. */
static int write_adapter(const char *dir, int n)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f || fputs("{\"peft_type\": \"LORA\", \"r\": 1, \"lora_alpha\": 2}\n", f) < 0 || fclose(f) != 0)
        return -1;
    size_t cap = (size_t)n * 96 + 64, len = 1;
    char *h = malloc(cap + 8);
    if (!h)
        return -1;
    h[8] = '{';
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(h + 8 + len, cap - len,
                                "%s\"m.%d.lora_%c.weight\":{\"dtype\":\"F32\",\"shape\":[1,1],"
                                "\"data_offsets\":[%lld,%lld]}", i ? "," : "", i / 2, i % 2 ? 'B' : 'A',
                                4LL * i, 4LL * i + 4);
    h[8 + len++] = '}';
    while (len % 8)
        h[8 + len++] = ' ';
    for (int b = 0; b < 8; b++)
        h[b] = (char)((unsigned long long)len >> (8 * b) & 0xff);
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    float *v = malloc((size_t)n * sizeof *v);
    f = fopen(path, "wb");
    int ok = v && f && fwrite(h, 1, len + 8, f) == len + 8;
    for (int i = 0; ok && i < n; i++)
        v[i] = 0.5f;
    ok = ok && fwrite(v, sizeof *v, (size_t)n, f) == (size_t)n;
    ok = (f && fclose(f) == 0) && ok;
    free(h);
    free(v);
    return ok ? 0 : -1;
}

/* CPU seconds of the process (user + sys), beside the wall clock: under a
 * loaded machine the wall time says little. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Every module and tensor row formatted as inspect formats them (its own
 * functions, into a buffer); the number of bytes, so the work is not
 * optimised away. */
static size_t list_rows(const lsc_adapter *ad, const lsc_st_file *st)
{
    char row[INSPECT_ROW_MAX];
    size_t bytes = 0;
    for (int i = 0; i < ad->n_modules; i++) {
        const lsc_adapter_module *m = &ad->modules[i];
        bytes += inspect_module_row_(row, m, (size_t)m->r * (size_t)(m->in_features + m->out_features), "");
    }
    for (int i = 0; i < st->n_tensors; i++)
        bytes += inspect_tensor_row_(row, &st->tensors[i]);
    return bytes;
}

/* Load + list of the adapter in dir; the seconds of each phase in t[3]
 * (open the header, load the adapter, list), the CPU seconds of load and
 * of list in cpu[2]. CLI_OK or CLI_FAIL. */
static int load_and_list(const char *dir, double t[3], double cpu[2], int *n_modules)
{
    char path[4200];
    lsc_error err = {0};
    lsc_adapter ad;
    lsc_st_file st;
    double c0 = cpu_now(), t0 = cli_now();
    if (lsc_adapter_load(&ad, dir, &err) != LSC_OK)
        return cli_lib_error("bench", &err);
    double t1 = cli_now(), c1 = cpu_now();
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    if (lsc_st_open(&st, path, &err) != LSC_OK) {
        lsc_adapter_free(&ad);
        return cli_lib_error("bench", &err);
    }
    double c2 = cpu_now(), t2 = cli_now();
    size_t bytes = list_rows(&ad, &ad.st);
    double t3 = cli_now();
    cpu[0] = c1 - c0;
    cpu[1] = cpu_now() - c2;
    *n_modules = bytes > 0 ? ad.n_modules : 0;
    lsc_st_close(&st);
    lsc_adapter_free(&ad);
    t[0] = t2 - t1;
    t[1] = t1 - t0;
    t[2] = t3 - t2;
    return CLI_OK;
}

int bench_tensors_(const bench_opts *bo, long count)
{
    if (count < 2 || count > 2000000 || count % 2)
        return cli_error("bench", CLI_USAGE, "--count must be even, in 2..2000000, got %ld", count);
    int n = (int)count;
    char dir[4000];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/lsc_bench_tensors.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return cli_error("bench", CLI_FAIL, "%s: cannot create a temporary directory", cli_safe(dir));
    bench_run run;
    bench_begin_(&run, bo);
    double tw = cli_now();
    int rc = write_adapter(dir, n) == 0 ? CLI_OK
                                        : cli_error("bench", CLI_FAIL, "%s: cannot write the adapter", cli_safe(dir));
    tw = cli_now() - tw;
    double t[3] = {0, 0, 0}, cpu[2] = {0, 0};
    int n_mod = 0;
    if (rc == CLI_OK)
        rc = load_and_list(dir, t, cpu, &n_mod);
    char path[4200];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    unlink(path);
    rmdir(dir);
    if (rc == CLI_OK) {
        double total = t[1] + t[2];   /* what inspect does: load, list */
        printf("Loading and listing an adapter of %d tensors (%d modules, 1x1 factors)\n\n", n, n_mod);
        printf("  %-34s %10.3f s\n", "write (not counted)", tw);
        printf("  %-34s %10.3f s\n", "load (lsc_adapter_load)", t[1]);
        printf("  %-34s %10.3f s\n", "header parse alone (not counted)", t[0]);
        printf("  %-34s %10.3f s\n", "list (module + tensor rows)", t[2]);
        printf("  %-34s %10.3f s   %.0f tensors/s\n", "load + list", total, total > 0 ? n / total : 0.0);
        printf("  %-34s %10.3f s   (load %.3f, list %.3f)\n", "load + list, CPU (user + sys)", cpu[0] + cpu[1],
               cpu[0], cpu[1]);
        cJSON_AddNumberToObject(run.o, "tensors", n);
        cJSON_AddNumberToObject(run.o, "modules", n_mod);
        cJSON_AddNumberToObject(run.o, "load_s", t[1]);
        cJSON_AddNumberToObject(run.o, "st_open_s", t[0]);
        cJSON_AddNumberToObject(run.o, "list_s", t[2]);
        cJSON_AddNumberToObject(run.o, "load_list_s", total);
        cJSON_AddNumberToObject(run.o, "load_cpu_s", cpu[0]);
        cJSON_AddNumberToObject(run.o, "list_cpu_s", cpu[1]);
        cJSON_AddNumberToObject(run.o, "load_list_cpu_s", cpu[0] + cpu[1]);
        cJSON_AddNumberToObject(run.o, "tensors_per_s", total > 0 ? n / total : 0.0);
    }
    return bench_end_(&run, "tensors", NULL, bo, rc);
}
