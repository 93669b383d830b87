/*
 * dist.c — MPI for the program (dist.h): start-up, rank and size, polite collectives and
 * point-to-point messages. Everything MPI is under #ifdef LSC_MPI; without it (the default
 * build) there is one rank and nothing here needs MPI's headers or library.
 *
 * State: whether MPI was started, and rank and size, kept here once (MPI's own state is
 * process-wide anyway). Only the thread that called dist_begin calls MPI (MPI_THREAD_FUNNELED):
 * the OpenMP threads of a rank never do.
 */
#define _POSIX_C_SOURCE 200809L
#include "dist.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef LSC_MPI
#include <mpi.h>
#endif

#ifdef LSC_MPI
static int g_started = 0;   /* MPI_Init_thread succeeded */
#endif
static int g_rank    = 0;
static int g_size    = 1;
static int g_local   = 1;   /* ranks on this node */

/* The environment variables a launcher sets in each process it starts: Open MPI's mpirun,
 * PMIx (srun --mpi=pmix, prterun), and PMI-1/2 (srun --mpi=pmi2, MPICH's hydra). */
static int launched(int *n)
{
    const char *s = getenv("OMPI_COMM_WORLD_SIZE");
    if (!s)
        s = getenv("PMI_SIZE");
    *n = s ? atoi(s) : 0;
    return s || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

static void nap_ns(long ns)
{
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

void dist_nap(void) { nap_ns(1000000L); }

int dist_built(void)
{
#ifdef LSC_MPI
    return 1;
#else
    return 0;
#endif
}

int dist_rank(void) { return g_rank; }
int dist_local_size(void) { return g_local > 0 ? g_local : 1; }
int dist_size(void) { return g_size; }

// ---- start and end ----

int dist_begin(int *argc, char ***argv)
{
    int n = 0;
    if (!launched(&n))
        return 0;
#ifdef LSC_MPI
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "lorascope: MPI_Init_thread failed (started by a launcher: mpirun, srun)\n");
        return -1;
    }
    g_started = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_size(node, &g_local);
        MPI_Comm_free(&node);
    }
    return 0;
#else
    (void)argc;
    (void)argv;
    const char *r = getenv("OMPI_COMM_WORLD_RANK");
    r = r ? r : getenv("PMIX_RANK") ? getenv("PMIX_RANK") : getenv("PMI_RANK");
    if (n > 1) {
        if (!r || atoi(r) == 0)   /* one line, not one per process */
            fprintf(stderr, "lorascope: started on %d ranks by a launcher, but this lorascope was built "
                        "without MPI (build it with `make MPI=1`, or use build/mpi/lorascope)\n", n);
        return -1;
    }
    return 0;
#endif
}

void dist_end(void)
{
#ifdef LSC_MPI
    if (g_started) {
        dist_barrier();
        MPI_Finalize();
        g_started = 0;
    }
#endif
    g_rank = 0;
    g_size = 1;
    g_local = 1;
}

void dist_abort(int code)
{
#ifdef LSC_MPI
    if (g_started && g_size > 1) {
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, code);
    }
#else
    (void)code;
#endif
}

// ---- requests and polite waiting ----

/* Messages go in pieces of at most CHUNK bytes (MPI counts are int). */
#define CHUNK ((size_t)1 << 30)
#define MAX_PIECES 64   /* 64 GiB */

struct dist_req {
    int    n;                   /* pieces */
    int    recv;                /* a receive (source, tag and count are reported) */
#ifdef LSC_MPI
    MPI_Request r[MAX_PIECES];
    MPI_Status  st[MAX_PIECES];
#endif
};

#ifdef LSC_MPI
/* Waits for one MPI request by testing it with growing naps (20 us .. 1 ms). */
static int polite(MPI_Request *r, MPI_Status *st)
{
    long ns = 20000;
    for (;;) {
        int done = 0;
        if (MPI_Test(r, &done, st) != MPI_SUCCESS)
            return -1;
        if (done)
            return 0;
        nap_ns(ns);
        if (ns < 1000000L)
            ns *= 2;
    }
}

static dist_req *req_start(void *buf, size_t n, int peer, int tag, int recv)
{
    if (!g_started || peer >= g_size || (recv ? peer < DIST_ANY_SOURCE : peer < 0))
        return NULL;
    size_t pieces = n ? (n + CHUNK - 1) / CHUNK : 1;
    if (pieces > MAX_PIECES || (pieces > 1 && recv && (peer < 0 || tag < 0)))
        return NULL;
    dist_req *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->n    = (int)pieces;
    q->recv = recv;
    int src = peer == DIST_ANY_SOURCE ? MPI_ANY_SOURCE : peer;
    int tg  = tag == DIST_ANY_TAG ? MPI_ANY_TAG : tag;
    for (size_t i = 0; i < pieces; i++) {
        char *p   = (char *)buf + i * CHUNK;
        int   cnt = (int)(n - i * CHUNK < CHUNK ? n - i * CHUNK : CHUNK);
        int   rc  = recv ? MPI_Irecv(p, cnt, MPI_BYTE, src, tg, MPI_COMM_WORLD, &q->r[i])
                         : MPI_Isend(p, cnt, MPI_BYTE, peer, tag, MPI_COMM_WORLD, &q->r[i]);
        if (rc != MPI_SUCCESS) {
            for (size_t j = 0; j < i; j++) {
                MPI_Cancel(&q->r[j]);
                MPI_Request_free(&q->r[j]);
            }
            free(q);
            return NULL;
        }
    }
    return q;
}
#endif

dist_req *dist_isend(const void *buf, size_t n, int dest, int tag)
{
#ifdef LSC_MPI
    if (tag < 0)
        return NULL;
    return req_start((void *)(uintptr_t)buf, n, dest, tag, 0);
#else
    (void)buf; (void)n; (void)dest; (void)tag;
    return NULL;
#endif
}

dist_req *dist_irecv(void *buf, size_t n, int src, int tag)
{
#ifdef LSC_MPI
    return req_start(buf, n, src, tag, 1);
#else
    (void)buf; (void)n; (void)src; (void)tag;
    return NULL;
#endif
}

#ifdef LSC_MPI
static void req_report(dist_req *r, int *src, int *tag, size_t *n_recv)
{
    size_t total = 0;
    for (int i = 0; i < r->n && r->recv; i++) {
        int cnt = 0;
        MPI_Get_count(&r->st[i], MPI_BYTE, &cnt);
        total += (size_t)cnt;
    }
    if (src)
        *src = r->recv ? r->st[0].MPI_SOURCE : -1;
    if (tag)
        *tag = r->recv ? r->st[0].MPI_TAG : -1;
    if (n_recv)
        *n_recv = total;
}
#endif

int dist_test(dist_req *r, int *src, int *tag, size_t *n_recv)
{
    if (!r)
        return -1;
#ifdef LSC_MPI
    int done = 0;
    if (MPI_Testall(r->n, r->r, &done, r->st) != MPI_SUCCESS) {
        free(r);
        return -1;
    }
    if (!done)
        return 0;
    req_report(r, src, tag, n_recv);
    free(r);
    return 1;
#else
    (void)src; (void)tag; (void)n_recv;
    free(r);
    return -1;
#endif
}

int dist_wait(dist_req *r, int *src, int *tag, size_t *n_recv)
{
    if (!r)
        return -1;
#ifdef LSC_MPI
    int bad = 0;
    for (int i = 0; i < r->n; i++)
        if (polite(&r->r[i], &r->st[i]) != 0)
            bad = 1;
    if (!bad)
        req_report(r, src, tag, n_recv);
    free(r);
    return bad ? -1 : 0;
#else
    (void)src; (void)tag; (void)n_recv;
    free(r);
    return -1;
#endif
}

int dist_send(const void *buf, size_t n, int dest, int tag)
{
    return dist_wait(dist_isend(buf, n, dest, tag), NULL, NULL, NULL);
}

int dist_recv(void *buf, size_t n, int src, int tag, int *from, int *tag_out, size_t *n_recv)
{
    return dist_wait(dist_irecv(buf, n, src, tag), from, tag_out, n_recv);
}

// ---- collectives ----

void dist_barrier(void)
{
#ifdef LSC_MPI
    if (g_started && g_size > 1) {
        MPI_Request r;
        MPI_Status  st;
        if (MPI_Ibarrier(MPI_COMM_WORLD, &r) == MPI_SUCCESS)
            polite(&r, &st);
    }
#endif
}

int dist_any(int flag)
{
    int out = flag != 0;
#ifdef LSC_MPI
    if (g_started && g_size > 1) {
        int        in = out;
        MPI_Request r;
        MPI_Status  st;
        if (MPI_Iallreduce(&in, &out, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD, &r) != MPI_SUCCESS ||
            polite(&r, &st) != 0)
            return 1;   /* a failed agreement counts as "stop" */
    }
#endif
    return out;
}

int dist_allreduce_sum(float *buf, size_t n)
{
#ifdef LSC_MPI
    if (!g_started || g_size == 1)
        return 0;
    const size_t piece = CHUNK / sizeof(float);
    for (size_t i = 0; i < n; i += piece) {
        int         cnt = (int)(n - i < piece ? n - i : piece);
        MPI_Request r;
        MPI_Status  st;
        if (MPI_Iallreduce(MPI_IN_PLACE, buf + i, cnt, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &r) !=
                MPI_SUCCESS ||
            polite(&r, &st) != 0)
            return -1;
    }
    return 0;
#else
    (void)buf; (void)n;
    return 0;
#endif
}

int dist_bcast(void *buf, size_t n, int root)
{
#ifdef LSC_MPI
    if (!g_started || g_size == 1)
        return root == 0 ? 0 : -1;
    if (root < 0 || root >= g_size)
        return -1;
    for (size_t i = 0; i < n; i += CHUNK) {
        int         cnt = (int)(n - i < CHUNK ? n - i : CHUNK);
        MPI_Request r;
        MPI_Status  st;
        if (MPI_Ibcast((char *)buf + i, cnt, MPI_BYTE, root, MPI_COMM_WORLD, &r) != MPI_SUCCESS ||
            polite(&r, &st) != 0)
            return -1;
    }
    return 0;
#else
    (void)buf; (void)n;
    return root == 0 ? 0 : -1;
#endif
}
