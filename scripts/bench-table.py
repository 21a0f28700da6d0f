#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Markdown summary table from one ./scripts/bench.sh run (its JSON).

usage: scripts/bench-table.py [build/bench/results/bench.json]

Medians of the repetitions. sgemm rows come from BM_sgemm_pair (qkv, oneDNN
and OpenBLAS timed alternately in every iteration; each ratio is the median of
the per-iteration ratios, > 1 where qkv is faster), attention and layer rows from their own families, with the
comparisons the benchmark ran in the same process.
"""
import json
import re
import sys


def load(path):
    with open(path) as f:
        runs = json.load(f)["benchmarks"]
    return {b["run_name"]: b for b in runs if b.get("aggregate_name") == "median"}


def fmt_time(seconds):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def seconds(b):
    scale = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}[b["time_unit"]]
    return b["real_time"] * scale


def row(*cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


def gemm_rows(m):
    for name, b in m.items():
        g = re.match(r"BM_sgemm_pair/M:(\d+)/N:(\d+)/K:(\d+)/tB:(\d)/thr:(\d)", name)
        if not g:
            continue
        M, N, K, tb, thr = g.groups()
        calls = b.get("calls_per_iter", 1.0)
        shape = f"{M}x{N}x{K}" + (" Aᵀ" if "/tA:1" in name else "") + (" Bᵀ" if tb == "1" else "")
        # % of peak against the probe run inside the same iterations (phase-matched) where the run has it.
        pct = b.get("pct_peak_paired", b["pct_peak"])
        peers = []
        for key, label in (("onednn", "oneDNN"), ("openblas", "OpenBLAS")):
            if f"vs_{key}" not in b:
                continue
            ppct = b.get(f"{key}_pct_peak_paired")
            detail = f"{b[key + '_GFLOPS']:.0f} GFLOP/s" + (f", {ppct:.0f} % of peak" if ppct is not None else "")
            peers.append(f"{b['vs_' + key]:.2f}x {label} ({detail})")
        yield row("sgemm", shape, thr, fmt_time(seconds(b) / calls), f"{b['GFLOPS']:.0f}", f"{pct:.0f}",
                  "paired: " + "; ".join(peers) if peers else "")


def pct_cell(b):
    """% of the probe paired with every call, and of the startup probe, where the row has both."""
    if "pct_peak_paired" in b:
        return f"{b['pct_peak_paired']:.0f} (startup probe: {b['pct_peak']:.0f})"
    return f"{b['pct_peak']:.0f}"


def sdpa_rows(m):
    for name, b in m.items():
        g = re.match(r"BM_sdpa_fused/B:(\d+)/H:(\d+)/T:(\d+)/d:(\d+)/causal:(\d)/thr:(\d)/", name)
        if not g:
            continue
        B, H, T, d, causal, thr = g.groups()
        cmp = []
        for fam, label in (("BM_sdpa_unfused_qkv", "unfused qkv_sgemm"), ("BM_sdpa_unfused_openblas", "unfused OpenBLAS")):
            o = m.get(name.replace("BM_sdpa_fused", fam))
            if o:
                cmp.append(f"{seconds(o) / seconds(b):.2f}x {label}")
        cmp.append(f"workspace {b['ws_bytes'] / 1024:.0f} KiB/thread vs T×T {b['txt_bytes'] / 2**20:.1f} MiB")
        shape = f"B{B} H{H} T{T} d{d}" + (" causal" if causal == "1" else "")
        yield row("attention fwd", shape, thr, fmt_time(seconds(b)), f"{b['GFLOPS']:.0f}", pct_cell(b),
                  ", ".join(cmp))


BWD_SHAPES = ["B1 H12 T1024 d64", "B1 H1 T4096 d64", "B4 H12 T256 d64"]


def sdpa_bwd_rows(m):
    for name, b in m.items():
        g = re.match(r"BM_sdpa_backward/fused/shape:(\d)/causal:(\d)/threads:(\d)/", name)
        if not g:
            continue
        shape, causal, thr = g.groups()
        cmp = []
        ref = m.get(name.replace("/fused/", "/unfused_reference/"))
        if ref:
            cmp.append(f"{seconds(ref) / seconds(b):.0f}x the materializing reference path")
        cmp.append(f"workspace {b['ws_KiB_per_thread']:.0f} KiB/thread")
        label = BWD_SHAPES[int(shape)] + (" causal" if causal == "1" else "")
        yield row("attention bwd", label, thr, fmt_time(seconds(b)), f"{b['GFLOPS']:.0f}", pct_cell(b),
                  "; ".join(cmp))


def layer_rows(m):
    for name, b in m.items():
        g = re.match(r"BM_layer_(forward|train_step)/(\d+)/(\d+)/(\d)/", name)
        if not g:
            continue
        kind, B, T, thr = g.groups()
        family = "layer forward (inference)" if kind == "forward" else "layer fwd+bwd+AdamW"
        yield row(family, f"d768 H12 causal B{B} T{T}", thr, fmt_time(seconds(b)), f"{b['GFLOPS']:.0f}",
                  f"{b['pct_peak']:.0f}", f"{b['tokens_per_s'] / 1000:.1f}k tokens/s")


def peak_rows(m):
    for name, b in m.items():
        g = re.match(r"BM_peak/3/(\d)/", name)
        if g:
            yield row("FMA peak probe", "avx512", g.group(1), fmt_time(seconds(b)), f"{b['GFLOPS']:.0f}", "100", "")


def main():
    m = load(sys.argv[1] if len(sys.argv) > 1 else "build/bench/results/bench.json")
    print(row("family", "shape", "threads", "time", "GFLOP/s", "% of peak", "comparison in the same run"))
    print("|---|---|---:|---:|---:|---:|---|")
    for gen in (peak_rows, gemm_rows, sdpa_rows, sdpa_bwd_rows, layer_rows):
        for r in gen(m):
            print(r)


if __name__ == "__main__":
    main()
