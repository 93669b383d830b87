#!/usr/bin/python3
"""mpi_model.py — a model of one data-parallel LoRA step of a 7B-shaped Llama on a cluster
(issue 18): the per-step compute of a rank at a measured FLOP rate against the time to sum the
trainable gradient over the ranks (ring Allreduce, and lorascope's ordered chain) at 10 and
100 Gbit/s, for LoRA r = 8 and r = 64 on q,v and on every linear weight, with full fine-tuning
for contrast.

What it is not: a measurement. The compute rate comes from `lorascope train --synthetic` on this
machine (experiments/bench_mpi.sh passes its GFLOP/s); the network is the textbook alpha-beta
model. It ignores overlap of communication with the backward pass (lorascope does not overlap),
stragglers, and the optimiser step (O(trainable), negligible next to the forward/backward).

Shapes (Llama-2-7B): L 32 layers, d 4096, FFN 11008, vocabulary 32000, context T 2048.
FLOPs per step follow lib/train.c's lsc_train_step_flops: LoRA = 2 x matmul + 3 x attention +
3 x adapter (frozen weights get no weight-gradient GEMM), full = 3 x (matmul + attention), with
matmul = 2 x weights x tokens and attention = 4 T d per token and layer.
Communication of S bytes over N ranks at bandwidth bw (bytes/s) and latency a per message:
  ring Allreduce: 2 (N-1)/N S/bw + 2 (N-1) a;
  ordered chain (lorascope's default, bit-identical to one process): the sum passes rank to rank in
  pieces of P = 1 MiB, then a broadcast (pipelined): 2 S/bw + (N-2) P/bw + (N-1 + log2 N) a.
S = 4 (n + 1) bytes: the fp32 gradient of the n trainable parameters and the loss.

Usage: mpi_model.py --gflops G [--tokens-per-rank 2048] [--ranks 2,8,64] [--json FILE]
"""
import argparse
import json
import math

L, D, FF, V, T = 32, 4096, 11008, 32000, 2048
LAT = {10: 20e-6, 100: 2e-6}       # per-message latency (s): TCP over 10GbE, RDMA at 100 Gbit/s
PIECE = 1 << 20                    # bytes per piece of the ordered chain (lib/train_dp.c)


def module_shapes(targets):
    """(in, out) of each adapted weight of one layer."""
    shapes = {"q": (D, D), "k": (D, D), "v": (D, D), "o": (D, D),
              "gate": (D, FF), "up": (D, FF), "down": (FF, D)}
    return [shapes[t] for t in targets]


def lora_params(r, targets):
    return L * sum(r * (i + o) for i, o in module_shapes(targets))


def step_flops(tokens, r=None, targets=()):
    mm_w = L * (4 * D * D + 3 * D * FF) + V * D     # matmul weights (untied LM head)
    mm = 2.0 * mm_w * tokens
    att = L * 4.0 * T * D * tokens
    if r is None:
        return 3.0 * (mm + att)
    ad = 2.0 * sum(r * (i + o) for i, o in module_shapes(targets)) * L * tokens
    return 2.0 * mm + 3.0 * att + 3.0 * ad


def ring(S, N, gbit):
    bw = gbit * 1e9 / 8
    return 2.0 * (N - 1) / N * S / bw + 2 * (N - 1) * LAT[gbit]


def chain(S, N, gbit):
    bw = gbit * 1e9 / 8
    return 2.0 * S / bw + max(N - 2, 0) * min(PIECE, S) / bw + (N - 1 + math.log2(N)) * LAT[gbit]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gflops", type=float, required=True, help="measured GFLOP/s of one rank")
    ap.add_argument("--tokens-per-rank", type=int, default=T, help="tokens per rank per step (default %d)" % T)
    ap.add_argument("--ranks", default="2,8,64")
    ap.add_argument("--json")
    a = ap.parse_args()
    ranks = [int(x) for x in a.ranks.split(",")]
    cases = [("LoRA r=8 q,v", 8, ("q", "v")), ("LoRA r=64 q,v", 64, ("q", "v")),
             ("LoRA r=8 all linear", 8, ("q", "k", "v", "o", "gate", "up", "down")),
             ("LoRA r=64 all linear", 64, ("q", "k", "v", "o", "gate", "up", "down")),
             ("full fine-tuning", None, ())]
    full_n = L * (4 * D * D + 3 * D * FF) + 2 * V * D + (2 * L + 1) * D
    rate = a.gflops * 1e9
    rows = []
    print("7B-shaped Llama (L%d d%d FFN%d V%d T%d), %d tokens per rank per step, %.1f GFLOP/s per rank "
          "(measured on this machine, 1 thread)" % (L, D, FF, V, T, a.tokens_per_rank, a.gflops))
    print("| adapter | trainable | bytes/step | compute/step | N | ring 10G | ring 100G | chain 10G | chain 100G "
          "| comm share (ring 10G) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r, tg in cases:
        n = lora_params(r, tg) if r else full_n
        S = 4 * (n + 1)
        comp = step_flops(a.tokens_per_rank, r, tg) / rate
        for N in ranks:
            t = {"ring10": ring(S, N, 10), "ring100": ring(S, N, 100), "chain10": chain(S, N, 10),
                 "chain100": chain(S, N, 100)}
            share = t["ring10"] / (comp + t["ring10"])
            rows.append({"case": name, "rank": r, "targets": list(tg), "trainable": n, "bytes_per_step": S,
                         "compute_s": comp, "ranks": N, **{k + "_s": v for k, v in t.items()},
                         "comm_share_ring10": share})
            print("| %s | %.1f M | %.1f MB | %.0f s | %d | %.3g s | %.3g s | %.3g s | %.3g s | %.2g%% |" % (
                name, n / 1e6, S / 1e6, comp, N, t["ring10"], t["ring100"], t["chain10"], t["chain100"], 100 * share))
    # where communication would start to matter: the rate at which compute = ring Allreduce at 10 Gbit/s
    print()
    for name, r, tg in cases[:4]:
        n = lora_params(r, tg)
        S = 4 * (n + 1)
        fl = step_flops(a.tokens_per_rank, r, tg)
        print("%s: the ring Allreduce at 10 Gbit/s (8 ranks, %.3g s) equals the compute only at %.3g TFLOP/s per "
              "rank (%.0fx this machine)" % (name, ring(S, 8, 10), fl / ring(S, 8, 10) / 1e12,
                                             fl / ring(S, 8, 10) / rate))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"gflops": a.gflops, "tokens_per_rank": a.tokens_per_rank, "latency_s": LAT,
                       "piece_bytes": PIECE, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
