/*
 * dist.h — the program's one window on MPI (issue 18): start-up and shutdown, rank and size,
 * the few collectives the commands need (barrier, logical OR, float sums, broadcast) and
 * point-to-point messages, every blocking wait done politely (see dist_wait).
 *
 * What it is not: a library interface. lib/ never calls MPI; the training library exchanges
 * gradients through callbacks (lsc_grad_comm) that the program fills with these functions.
 *
 * Built both ways. With -DLSC_MPI (make MPI=1, or build/mpi/lorascope) the functions call MPI
 * when the process was started by a launcher (mpirun, srun: OMPI_COMM_WORLD_SIZE, PMIX_RANK or
 * PMI_RANK in the environment); otherwise, and in the default build, there is one rank: rank 0
 * of size 1, the collectives are identities and point-to-point messages fail (no peer).
 *
 * Why polite waits: Open MPI's blocking calls busy-wait, so a rank waiting for its neighbour in
 * a gradient chain (or a sweep worker waiting for work) would burn a core that, on a small
 * machine, the computing rank needs. Every wait here tests the pending operation and sleeps
 * between tests (from ~20 us up to 1 ms), so an idle rank costs almost no CPU.
 *
 * Messages are byte buffers; sizes are size_t (sent in pieces of at most 1 GiB when larger).
 * Every function returns 0 or -1 (an MPI error, a message to a peer that does not exist);
 * the failing call has printed nothing: the caller names the problem.
 */
#ifndef LSC_ANA_DIST_H
#define LSC_ANA_DIST_H

#include <stddef.h>

enum { DIST_ANY_SOURCE = -1, DIST_ANY_TAG = -1 };

/* Starts MPI (MPI_Init_thread, MPI_THREAD_FUNNELED) when started by a launcher; called once at
 * the top of main. Returns 0, or -1 after printing one line: MPI failed to start, or a build
 * without MPI was started by a launcher on more than one rank (each process would believe it
 * is alone and write the same files). */
int  dist_begin(int *argc, char ***argv);
/* MPI_Finalize when dist_begin started MPI (after a polite barrier, so that ranks done early
 * sleep instead of spinning in MPI_Finalize while rank 0 writes its outputs); nothing
 * otherwise. */
void dist_end(void);
int  dist_rank(void);              /* 0 without MPI */
int  dist_size(void);              /* 1 without MPI */
/* Ranks on this node (MPI_COMM_TYPE_SHARED), 1 without MPI: a rank's default share of the
 * cores is online cores / dist_local_size(). */
int  dist_local_size(void);
/* 1 when this build has MPI compiled in (whether or not it was started by a launcher). */
int  dist_built(void);

/* Every rank waits for the others (politely). */
void dist_barrier(void);
/* The logical OR of flag over all ranks (every rank gets the same answer): how ranks agree
 * to stop after the same step (Ctrl-C, --stop-at) or that one of them failed. */
int  dist_any(int flag);
/* Ends every rank at once (MPI_Abort) when size > 1: for a failure one rank sees and the others
 * would wait for forever. Does nothing on one rank (the caller then returns its code). */
void dist_abort(int code);

/* ---- collectives on data ---- */
/* buf (n floats) becomes the elementwise sum over ranks on every rank (MPI_Allreduce; the order
 * of the additions is MPI's: float rounding may differ from a serial sum). */
int  dist_allreduce_sum(float *buf, size_t n);
/* The n bytes of root's buf are copied to buf on every rank. */
int  dist_bcast(void *buf, size_t n, int root);

/* ---- point-to-point messages ---- */
typedef struct dist_req dist_req;  /* a pending send or receive (opaque) */
/* Start sending n bytes of buf to rank dest with tag (>= 0); buf must stay valid and unchanged
 * until the request completes. NULL on failure. */
dist_req *dist_isend(const void *buf, size_t n, int dest, int tag);
/* Start receiving up to n bytes into buf from rank src (or DIST_ANY_SOURCE) with tag (or
 * DIST_ANY_TAG). Messages larger than 1 GiB need an exact src and tag. NULL on failure. */
dist_req *dist_irecv(void *buf, size_t n, int src, int tag);
/* Has r completed? 1: done (r is freed; *src, *tag, *n_recv receive the sender, tag and byte
 * count of a receive when not NULL), 0: still pending, -1: failed (r is freed). */
int  dist_test(dist_req *r, int *src, int *tag, size_t *n_recv);
/* Waits for r to complete, testing it with short naps in between (never a busy wait); then as
 * dist_test's 1 (returns 0) or -1. NULL r is an error (-1), so dist_wait(dist_isend(...), ...)
 * is a safe blocking send. */
int  dist_wait(dist_req *r, int *src, int *tag, size_t *n_recv);
/* Blocking (polite) send and receive: dist_wait(dist_isend/irecv(...)). */
int  dist_send(const void *buf, size_t n, int dest, int tag);
int  dist_recv(void *buf, size_t n, int src, int tag, int *from, int *tag_out, size_t *n_recv);
/* Sleeps between polls: the nap of a polite wait of an MPI-free loop (~1 ms). */
void dist_nap(void);

#endif /* LSC_ANA_DIST_H */
