#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""qkv's attention layer as a Llama attention block, against PyTorch autograd.

  llama_attention.py --tool LLAMA_TOOL --dir DIR

llama_tool (tests/torch/llama_tool.c, the public C API only) builds a
Llama-style block as one qkv layer: q/k/v/o projections without bias, RoPE
in the half layout (HF's rotate_half) with base 10000 on the whole head,
grouped-query heads 8 / 2, causal, a sliding window; random weights
(qkv_mha_init) and input; it runs the training forward and the backward of
L = sum(y * dy) and writes params, x, dy, y, dx and the gradients as raw
float32.

This script writes the same block the way Hugging Face's LlamaAttention
does (nn.Linear weights [out][in], q/k/v reshaped to [B, H, T, d], cos/sin
from inv_freq = 1 / theta^(arange(0, d, 2) / d) with emb = cat(freqs,
freqs), repeat_kv for the K/V groups, an additive causal + sliding-window
mask as Mistral's: token t sees s with t - window < s <= t), in float64 so
that it is the exact layer for qkv's float32 one, and compares qkv's y, dx
and every weight gradient with torch's autograd: max |qkv - torch| <= 1e-4
of the tensor's max |torch| (qkv's fp32 error is ~1e-6 relative: a few
reductions of <= 64 terms, RoPE's cos/sin rounded to fp32).

Without torch it prints SKIP and exits 77 (ctest's skip), or fails when
QKV_REQUIRE_TORCH=1.
"""
import argparse
import os
import subprocess
import sys

SKIP = 77
B, T, D_IN, HEADS, KV_HEADS, D_HEAD, WINDOW, THETA = 2, 13, 48, 8, 2, 16, 5, 10000.0
D_OUT = HEADS * D_HEAD
TOL = 1e-4


def import_torch():
    try:
        import torch  # noqa: F401
        return torch
    except ImportError as e:
        msg = f"SKIP: torch is not importable by {sys.executable} ({e}): ./scripts/setup-deps.sh torch"
        if os.environ.get("QKV_REQUIRE_TORCH") == "1":
            print(msg.replace("SKIP", "FAIL") + " (QKV_REQUIRE_TORCH=1)")
            sys.exit(1)
        print(msg)
        sys.exit(SKIP)


def rotate_half(x):
    """HF's rotate_half: (x1, x2) -> (-x2, x1) on the two halves."""
    import torch
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def llama_attention(torch, x, wq, wk, wv, wo, window):
    """HF LlamaAttention (no bias, no KV cache) with a sliding-window causal mask.
    x [B, T, D_IN]; w* are nn.Linear weights [out][in]."""
    bsz, q_len, _ = x.shape
    q = (x @ wq.T).view(bsz, q_len, HEADS, D_HEAD).transpose(1, 2)
    k = (x @ wk.T).view(bsz, q_len, KV_HEADS, D_HEAD).transpose(1, 2)
    v = (x @ wv.T).view(bsz, q_len, KV_HEADS, D_HEAD).transpose(1, 2)
    # LlamaRotaryEmbedding, in float64.
    inv_freq = 1.0 / (THETA ** (torch.arange(0, D_HEAD, 2, dtype=torch.float64) / D_HEAD))
    pos = torch.arange(q_len, dtype=torch.float64)
    freqs = torch.outer(pos, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[None, None], emb.sin()[None, None]
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    # repeat_kv: K/V head g serves query heads g * n_rep .. g * n_rep + n_rep - 1.
    n_rep = HEADS // KV_HEADS
    k = k[:, :, None].expand(bsz, KV_HEADS, n_rep, q_len, D_HEAD).reshape(bsz, HEADS, q_len, D_HEAD)
    v = v[:, :, None].expand(bsz, KV_HEADS, n_rep, q_len, D_HEAD).reshape(bsz, HEADS, q_len, D_HEAD)
    scores = q @ k.transpose(2, 3) / (D_HEAD ** 0.5)
    t = torch.arange(q_len)[:, None]
    s = torch.arange(q_len)[None, :]
    visible = (s <= t) & (s > t - window)
    mask = torch.zeros(q_len, q_len, dtype=torch.float64).masked_fill(~visible, float("-inf"))
    p = torch.softmax(scores + mask, dim=-1)
    a = (p @ v).transpose(1, 2).reshape(bsz, q_len, D_OUT)
    return a @ wo.T


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", required=True)
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    torch = import_torch()
    os.makedirs(args.dir, exist_ok=True)
    subprocess.run([args.tool, args.dir] + [str(v) for v in (B, T, D_IN, HEADS, KV_HEADS, D_HEAD, WINDOW)] +
                   [repr(THETA)], check=True)

    def load(name, shape=None):
        with open(os.path.join(args.dir, name), "rb") as f:
            t = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).to(torch.float64)
        return t.reshape(shape) if shape else t

    params, grads = load("params.bin"), load("grads.bin")
    x = load("x.bin", (B, T, D_IN))
    dy, y_qkv = load("dy.bin", (B, T, D_OUT)), load("y.bin", (B, T, D_OUT))
    dx_qkv = load("dx.bin", (B, T, D_IN))
    layout = {}
    with open(os.path.join(args.dir, "layout.txt")) as f:
        for line in f:
            name, off, n = line.split()
            layout[name] = (int(off), int(n))
    d_kv = KV_HEADS * D_HEAD
    shapes = {"w_q": (D_IN, D_OUT), "w_k": (D_IN, d_kv), "w_v": (D_IN, d_kv), "w_o": (D_OUT, D_OUT)}

    def tensor(buf, name):  # qkv's x*W [in][out] -> nn.Linear's [out][in]
        off, n = layout[name]
        assert n == shapes[name][0] * shapes[name][1], name
        return buf[off:off + n].reshape(shapes[name]).T.contiguous()

    w = {name: tensor(params, name).requires_grad_(True) for name in shapes}
    off, n = layout["b_o"]
    assert torch.count_nonzero(params[off:off + n]) == 0, "llama_tool zeroes b_o"
    xt = x.clone().requires_grad_(True)
    y = llama_attention(torch, xt, w["w_q"], w["w_k"], w["w_v"], w["w_o"], WINDOW)
    (y * dy).sum().backward()

    failed = 0

    def compare(what, mine, ref):
        nonlocal failed
        scale = ref.abs().max().item()
        err = (mine - ref).abs().max().item()
        ok = scale > 0 and err <= TOL * scale
        print(f"{what:6s} max |qkv - torch| {err:.3g}  scale {scale:.3g}  ratio {err / scale if scale else 0:.3g}"
              f"  {'ok' if ok else 'FAIL'}")
        failed += 0 if ok else 1

    compare("y", y_qkv, y.detach())
    compare("dx", dx_qkv, xt.grad)
    for name in shapes:
        compare("d" + name, tensor(grads, name), w[name].grad)
    # dL/db_o = sum over rows of dy (the block has no bias, qkv still computes it).
    off, n = layout["b_o"]
    compare("db_o", grads[off:off + n], dy.reshape(-1, D_OUT).sum(0))
    # The window really hides keys: without it the output differs.
    y_full = llama_attention(torch, x, *(w[k].detach() for k in ("w_q", "w_k", "w_v", "w_o")), T + 1)
    if (y_full - y.detach()).abs().max().item() <= 1e-3 * y.abs().max().item():
        print("the window changes nothing at these shapes: the test would not see it")
        failed += 1
    print("llama_attention: " + ("FAIL" if failed else "ok"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
