#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""PyTorch and qkv side by side, in one process.

Times the book's MultiHeadAttention (Raschka, "Build a Large Language Model
(From Scratch)", ch. 3: causal, d_in = d_out = 768, 12 heads, qkv_bias,
out_proj, dropout 0) and the attention core (softmax(Q K^T / sqrt(d) + causal
mask) V), forward and forward+backward, in PyTorch and in qkv (its C API
through ctypes), alternating the two call by call. Before timing, it checks
that both compute the same thing with the same weights.

Run it through bench/compare_torch.sh, which builds the shared libqkv, preloads
jemalloc (torch's fresh T x T buffers otherwise spend much of their time in
first-touch page faults) and sets OMP_WAIT_POLICY=PASSIVE. It needs Debian's
python3-torch (./scripts/setup-deps.sh torch), so Debian's /usr/bin/python3.

Output per case and thread count: median ms of torch and of qkv over the
rounds, and the median [quartiles] of the per-round ratios torch / qkv
(> 1: qkv is faster).
"""
import argparse
import ctypes
import gc
import math
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn

from qkv_ctypes import PTR, MhaDesc, MhaLayout, SdpaDesc, SdpaStrides, c_int, size_t
from torch_common import cpu_model, find_openblas, quartiles

D_MODEL, HEADS = 768, 12
HEAD_DIM = D_MODEL // HEADS
SHAPES = {"b4t256": (4, 256), "b1t1024": (1, 1024)}  # (batch, tokens)
CASES = [f"{what}_{shape}_{mode}" for what in ("mha", "sdpa") for shape in SHAPES for mode in ("fwd", "fwdbwd")]


# ---- PyTorch: the book's layer, written plainly -----------------------------

class MultiHeadAttention(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        assert d_out % num_heads == 0, "d_out must be divisible by num_heads"
        self.d_out = d_out
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(dropout)
        # The book registers a float triu and calls .bool() on it in every forward;
        # a bool buffer saves torch that conversion (one context_length^2 copy per call).
        self.register_buffer("mask", torch.triu(torch.ones(context_length, context_length, dtype=torch.bool),
                                                diagonal=1))

    def forward(self, x):
        b, num_tokens, d_in = x.shape
        keys = self.W_key(x)
        queries = self.W_query(x)
        values = self.W_value(x)

        keys = keys.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)
        queries = queries.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)
        values = values.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)

        attn_scores = queries @ keys.transpose(2, 3)
        mask_bool = self.mask[:num_tokens, :num_tokens]
        attn_scores.masked_fill_(mask_bool, -torch.inf)
        attn_weights = torch.softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)
        attn_weights = self.dropout(attn_weights)

        context_vec = (attn_weights @ values).transpose(1, 2)
        context_vec = context_vec.contiguous().view(b, num_tokens, self.d_out)
        return self.out_proj(context_vec)


if hasattr(torch.nn.functional, "scaled_dot_product_attention"):  # torch >= 2.0
    TORCH_SDPA = "F.scaled_dot_product_attention(is_causal=True)"

    def torch_sdpa(q, k, v, mask):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
else:  # torch 1.13 (Debian 12) has no public SDPA: the explicit form
    TORCH_SDPA = "softmax(Q K^T / sqrt(d) masked_fill -inf) V"

    def torch_sdpa(q, k, v, mask):
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
        return torch.softmax(scores.masked_fill(mask, -torch.inf), dim=-1) @ v


# ---- qkv through ctypes: the structs (bench/qkv_ctypes.py) mirror include/qkv/layer.h, attention.h --


def load_qkv(path):
    lib = ctypes.CDLL(path)
    sig = {
        "qkv_status_string": (ctypes.c_char_p, [c_int]),
        "qkv_isa_name": (ctypes.c_char_p, [c_int]),
        "qkv_get_isa": (c_int, [ctypes.POINTER(c_int)]),
        "qkv_version_string": (ctypes.c_char_p, []),
        "qkv_set_num_threads": (c_int, [c_int]),
        "qkv_mha_param_count": (c_int, [ctypes.POINTER(MhaDesc), ctypes.POINTER(size_t)]),
        "qkv_mha_param_layout": (c_int, [ctypes.POINTER(MhaDesc), ctypes.POINTER(MhaLayout)]),
        "qkv_linear_weight_from_torch": (c_int, [size_t, size_t, PTR, PTR]),
        "qkv_mha_cache_size": (c_int, [ctypes.POINTER(MhaDesc), size_t, size_t, ctypes.POINTER(size_t)]),
        "qkv_mha_forward_workspace_size": (c_int, [ctypes.POINTER(MhaDesc), size_t, size_t, c_int,
                                                   ctypes.POINTER(size_t)]),
        "qkv_mha_backward_workspace_size": (c_int, [ctypes.POINTER(MhaDesc), size_t, size_t, c_int,
                                                    ctypes.POINTER(size_t)]),
        # desc, params, batch, seq_len, x, y, training, cache, cache_bytes, workspace, workspace_bytes
        "qkv_mha_forward": (c_int, [ctypes.POINTER(MhaDesc), PTR, size_t, size_t, PTR, PTR, c_int, PTR, size_t,
                                    PTR, size_t]),
        # desc, params, batch, seq_len, x, cache, cache_bytes, dy, dx, grads, workspace, workspace_bytes
        "qkv_mha_backward": (c_int, [ctypes.POINTER(MhaDesc), PTR, size_t, size_t, PTR, PTR, size_t, PTR, PTR, PTR,
                                     PTR, size_t]),
        "qkv_mha_zero_grads": (c_int, [ctypes.POINTER(MhaDesc), PTR]),
        "qkv_sdpa_workspace_size": (c_int, [ctypes.POINTER(SdpaDesc), c_int, ctypes.POINTER(size_t)]),
        "qkv_sdpa_backward_workspace_size": (c_int, [ctypes.POINTER(SdpaDesc), c_int, ctypes.POINTER(size_t)]),
        # desc, q, k, v, out, lse, workspace, workspace_bytes
        "qkv_sdpa_forward": (c_int, [ctypes.POINTER(SdpaDesc), PTR, PTR, PTR, PTR, PTR, PTR, size_t]),
        # desc, q, k, v, out, lse, dout, dq, dk, dv, workspace, workspace_bytes
        "qkv_sdpa_backward": (c_int, [ctypes.POINTER(SdpaDesc), PTR, PTR, PTR, PTR, PTR, PTR, PTR, PTR, PTR, PTR,
                                      size_t]),
    }
    for name, (res, args) in sig.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


class Qkv:
    """The loaded library; call() raises on a status other than QKV_OK."""

    def __init__(self, path):
        self.lib = load_qkv(path)

    def call(self, name, *args):
        st = getattr(self.lib, name)(*args)
        if st != 0:
            raise RuntimeError(f"{name}: {self.lib.qkv_status_string(st).decode()} ({st})")

    def size(self, name, *args):
        out = size_t(0)
        self.call(name, *args, ctypes.byref(out))
        return out.value

    def isa(self):
        isa = c_int(0)
        self.call("qkv_get_isa", ctypes.byref(isa))
        return self.lib.qkv_isa_name(isa.value).decode()


def aligned_bytes(nbytes, align=64):
    """A uint8 tensor view of nbytes (at least 1) at an align-byte boundary; keep it alive."""
    raw = torch.empty(max(nbytes, 1) + align, dtype=torch.uint8)
    off = (-raw.data_ptr()) % align
    return raw[off:off + max(nbytes, 1)]


def ptr(t):
    """The address of t's data, for a C call: it does not keep t alive (see keep_alive)."""
    return ctypes.c_void_p(t.data_ptr())


def keep_alive(fn, *tensors):
    """fn, holding on to tensors it reaches only through addresses taken in advance."""
    fn.keep_alive = tensors
    return fn


# ---- the cases: each builds its buffers once and returns (torch_call, qkv_call) --

def mha_case(q, batch, tokens, backward, threads, check_tol):
    torch.manual_seed(1234)
    m = MultiHeadAttention(D_MODEL, D_MODEL, context_length=tokens, dropout=0.0, num_heads=HEADS, qkv_bias=True)
    x = torch.randn(batch, tokens, D_MODEL)
    dy = torch.randn(batch, tokens, D_MODEL)

    desc = MhaDesc(D_MODEL, D_MODEL, HEADS, 1, 1, 1, 0.0, 0)
    d = ctypes.byref(desc)
    layout = MhaLayout()
    q.call("qkv_mha_param_layout", d, ctypes.byref(layout))
    params = torch.zeros(q.size("qkv_mha_param_count", d))
    grads = torch.zeros_like(params)
    weights = {"w_q": m.W_query.weight, "w_k": m.W_key.weight, "w_v": m.W_value.weight, "w_o": m.out_proj.weight}
    biases = {"b_q": m.W_query.bias, "b_k": m.W_key.bias, "b_v": m.W_value.bias, "b_o": m.out_proj.bias}

    def to_qkv_layout(src, dst):  # torch tensors by name -> flat qkv buffer at the layout's offsets
        for name, t in src.items():
            off = getattr(layout, name)
            if t.dim() == 2:
                out_f, in_f = t.shape
                src_t, dst_view = t.detach().contiguous(), dst[off:off + t.numel()]  # both alive over the call
                q.call("qkv_linear_weight_from_torch", out_f, in_f, ptr(src_t), ptr(dst_view))
            else:
                dst[off:off + t.numel()] = t.detach()

    to_qkv_layout({**weights, **biases}, params)

    y = torch.empty(batch, tokens, D_MODEL)
    dx = torch.empty(batch, tokens, D_MODEL)
    cache_bytes = q.size("qkv_mha_cache_size", d, batch, tokens)
    cache = aligned_bytes(cache_bytes)
    fws = q.size("qkv_mha_forward_workspace_size", d, batch, tokens, threads)
    bws = q.size("qkv_mha_backward_workspace_size", d, batch, tokens, threads)
    ws = aligned_bytes(max(fws, bws))
    args = (d, ptr(params), batch, tokens, ptr(x))

    def qkv_forward(training):
        q.call("qkv_mha_forward", *args, ptr(y), training, ptr(cache), cache_bytes, ptr(ws), fws)

    def qkv_step():
        qkv_forward(1)
        q.call("qkv_mha_backward", *args, ptr(cache), cache_bytes, ptr(dy), ptr(dx), ptr(grads), ptr(ws), bws)

    x_grad = x.clone().requires_grad_(True)

    def torch_step():
        m(x_grad).backward(dy)

    def torch_forward():
        with torch.no_grad():
            return m(x)

    # The check: one training step on each side from zero gradients.
    torch_step()
    q.call("qkv_mha_zero_grads", d, ptr(grads))
    qkv_step()
    ref_grads = torch.zeros_like(params)
    to_qkv_layout({n: t.grad for n, t in {**weights, **biases}.items()}, ref_grads)
    with torch.no_grad():
        y_ref = m(x)
    checks = [("y", y, y_ref), ("dx", dx, x_grad.grad)]
    # Each parameter's gradient against its own magnitude, but for b_k: adding a
    # constant to every key shifts each score row by a constant, which softmax
    # ignores, so dL/db_k is 0 analytically and both sides return rounding noise
    # (~1e-6): that one is judged against the largest parameter gradient.
    for name in (*weights, *biases):
        off, n = getattr(layout, name), (weights.get(name, biases.get(name))).numel()
        got, ref = grads[off:off + n], ref_grads[off:off + n]
        checks.append(("d" + name, got, ref, ref_grads if name == "b_k" else ref))
    report = check(checks, check_tol)
    qkv_forward(0)
    report += ", " + check([("y (inference)", y, y_ref)], check_tol)

    if backward:
        return torch_step, keep_alive(qkv_step, params, x), report
    return torch_forward, keep_alive(lambda: qkv_forward(0), params, x), report


def sdpa_case(q, batch, tokens, backward, threads, check_tol):
    torch.manual_seed(4321)
    shape = (batch, HEADS, tokens, HEAD_DIM)
    qt, kt, vt, dout = (torch.randn(shape) for _ in range(4))
    mask = torch.triu(torch.ones(tokens, tokens, dtype=torch.bool), diagonal=1)

    st = SdpaStrides(HEADS * tokens * HEAD_DIM, tokens * HEAD_DIM, HEAD_DIM)  # [B, H, T, d] contiguous
    desc = SdpaDesc(batch=batch, heads=HEADS, q_len=tokens, kv_len=tokens, head_dim=HEAD_DIM, v_dim=0,
                    q=st, k=st, v=st, o=st, scale=0.0, causal=1, dropout_p=0.0, dropout_seed=0, algo=0)
    d = ctypes.byref(desc)
    out = torch.empty(shape)
    lse = torch.empty(batch, HEADS, tokens)
    dq, dk, dv = (torch.empty(shape) for _ in range(3))
    fws = q.size("qkv_sdpa_workspace_size", d, threads)
    bws = q.size("qkv_sdpa_backward_workspace_size", d, threads)
    ws = aligned_bytes(max(fws, bws))
    qkv_in = (d, ptr(qt), ptr(kt), ptr(vt))

    def qkv_forward(with_lse):
        q.call("qkv_sdpa_forward", *qkv_in, ptr(out), ptr(lse) if with_lse else None, ptr(ws), fws)

    def qkv_step():
        qkv_forward(True)
        q.call("qkv_sdpa_backward", *qkv_in, ptr(out), ptr(lse), ptr(dout), ptr(dq), ptr(dk), ptr(dv), ptr(ws), bws)

    tq, tk, tv = (t.clone().requires_grad_(True) for t in (qt, kt, vt))

    def torch_step():
        torch_sdpa(tq, tk, tv, mask).backward(dout)

    def torch_forward():
        with torch.no_grad():
            return torch_sdpa(qt, kt, vt, mask)

    torch_step()
    qkv_step()
    with torch.no_grad():
        out_ref = torch_sdpa(qt, kt, vt, mask)
    report = check([("out", out, out_ref), ("dq", dq, tq.grad), ("dk", dk, tk.grad), ("dv", dv, tv.grad)], check_tol)
    qkv_forward(False)
    report += ", " + check([("out (no lse)", out, out_ref)], check_tol)

    if backward:
        return torch_step, keep_alive(qkv_step, qt, kt, vt), report
    return torch_forward, keep_alive(lambda: qkv_forward(False), qt, kt, vt), report


def check(entries, tol):
    """Per entry (name, qkv, torch[, scale]): max |qkv - torch| / max |scale| (scale: torch's
    tensor unless given); exits when one exceeds tol. Returns the figures, the parameter
    gradients (names d[wb]_*) folded into their worst."""
    figures, dparams = [], []
    for name, got, ref, *scale_of in entries:
        scale = (scale_of[0] if scale_of else ref).abs().max().item()
        err = (got - ref).abs().max().item() / (scale if scale > 0 else 1.0)
        if not err <= tol:  # also catches NaN
            sys.exit(f"compare_torch: MISMATCH: {name}: max |qkv - torch| = {err:.3e} of {scale:.3e} "
                     f"(tolerance {tol:.0e}); no timing is meaningful until the two agree")
        (dparams if name[:3] in ("dw_", "db_") else figures).append((name, err))
    if dparams:
        figures.append((f"dparams (each of {len(dparams)}, worst)", max(e for _, e in dparams)))
    return ", ".join(f"{name} {err:.1e}" for name, err in figures)


# ---- timing ------------------------------------------------------------------

def timed(fn, calls):
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def run_case(torch_fn, qkv_fn, rounds, min_ms):
    for _ in range(2):  # warm-up: allocator pools, lazily built kernels, pages
        torch_fn()
        qkv_fn()
    t = min(timed(torch_fn, 1), timed(qkv_fn, 1))
    calls = max(1, math.ceil(min_ms / 1e3 / max(t, 1e-9)))
    tt, tq, ratio = [], [], []
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    gc.disable()
    try:
        for r in range(rounds):  # alternate which side goes first
            if r % 2 == 0:
                a, b = timed(torch_fn, calls), timed(qkv_fn, calls)
            else:
                b, a = timed(qkv_fn, calls), timed(torch_fn, calls)
            tt.append(a * 1e3)
            tq.append(b * 1e3)
            ratio.append(a / b)
    finally:
        gc.enable()
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / rounds
    return statistics.median(tt), statistics.median(tq), statistics.median(ratio), quartiles(ratio), calls, faults


def set_threads(q, n, openblas):
    torch.set_num_threads(n)
    q.call("qkv_set_num_threads", n)
    if openblas is not None:  # torch's BLAS on Debian; torch.set_num_threads does not reach it
        openblas.openblas_set_num_threads(n)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", default=os.path.join(here, "..", "build", "shared", "src", "libqkv.so"),
                    help="shared libqkv to load (default: build/shared/src/libqkv.so)")
    ap.add_argument("--rounds", type=int, default=10, help="alternating rounds per case (default 10)")
    ap.add_argument("--threads", default="1", help="comma-separated thread counts (default 1)")
    ap.add_argument("--cases", default=",".join(CASES),
                    help="comma-separated subset of: " + ", ".join(CASES) + " (anything else is a prefix: 'sdpa' "
                         "or 'mha_b4t256' selects every case it starts)")
    ap.add_argument("--min-ms", type=float, default=20.0,
                    help="repeat short calls so that each side runs at least this long per round (default 20)")
    ap.add_argument("--tol", type=float, default=1e-4,
                    help="largest |qkv - torch| / max |torch| accepted by the check (default 1e-4)")
    args = ap.parse_args()

    wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
    def selects(w, c):  # a full name selects itself; anything else is a prefix
        return c == w if w in CASES else c.startswith(w)

    cases = [c for c in CASES if any(selects(w, c) for w in wanted)]
    unknown = [w for w in wanted if not any(selects(w, c) for c in CASES)]
    if unknown or not cases:
        ap.error(f"unknown case(s) {unknown}; choose from {', '.join(CASES)}")
    threads = [int(t) for t in args.threads.split(",")]
    if any(t < 1 for t in threads) or args.rounds < 1:
        ap.error("--threads and --rounds must be >= 1")

    q = Qkv(args.lib)
    openblas = find_openblas()
    pre = os.environ.get("LD_PRELOAD", "")
    print(f"cpu:    {cpu_model()} ({os.cpu_count()} logical CPUs)")
    print(f"torch:  {torch.__version__}, BLAS: "
          f"{openblas.openblas_get_config().decode() if openblas else 'not OpenBLAS (threads set by torch only)'}")
    print(f"        attention core: {TORCH_SDPA}")
    print(f"qkv:    {q.lib.qkv_version_string().decode()}, isa {q.isa()} ({os.path.realpath(args.lib)})")
    print(f"env:    LD_PRELOAD={'jemalloc' if 'jemalloc' in pre else (pre or '(none: torch on glibc malloc)')} "
          f"MALLOC_CONF={os.environ.get('MALLOC_CONF', '(unset)')} "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')} "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    print(f"rounds: {args.rounds}, each side >= {args.min_ms:g} ms per round ('calls' calls); ratio = torch / qkv "
          "(> 1: qkv faster);\n        faults: minor page faults per round (both sides; qkv's buffers are "
          "preallocated, so these are torch's)")

    for n in threads:
        set_threads(q, n, openblas)
        print(f"\n{n} thread{'s' if n > 1 else ''}")
        print(f"{'case':22} {'torch ms':>9} {'qkv ms':>9} {'ratio':>6} {'[quartiles]':>13} {'calls':>5} {'faults':>7}  "
              "check: max |qkv - torch| / max |torch|")
        for name in cases:
            what, shape, mode = name.split("_")
            batch, tokens = SHAPES[shape]
            make = mha_case if what == "mha" else sdpa_case
            torch_fn, qkv_fn, report = make(q, batch, tokens, mode == "fwdbwd", max(threads), args.tol)
            mt, mq, r, (r1, r3), calls, faults = run_case(torch_fn, qkv_fn, args.rounds, args.min_ms)
            print(f"{name:22} {mt:9.2f} {mq:9.2f} {r:6.2f} [{r1:5.2f}-{r3:5.2f}] {calls:5d} {faults:7.0f}  {report}",
                  flush=True)
            del torch_fn, qkv_fn


if __name__ == "__main__":
    main()
