#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""examples/gpt.h's GPT, whole model, against PyTorch autograd and torch.optim.AdamW.

  gpt_check.py --tool GPT_TOOL --dir DIR

gpt_tool (tests/torch/gpt_tool.c) builds a tiny GPT with gpt.h on qkv's C API
(vocab 64, T 32, d 48, 4 heads, 2 pre-LN blocks with LayerNorm, GELU tanh,
biases, tied head, dropout 0), runs the training forward and backward over a
batch of 2 and two AdamW steps, and writes the weights, logits, loss,
gradients and the weights after each step; and sequence 0's logits again
from gpt.h's generation path (the blocks' KV caches, a 5-token prefill then
one token at a time).

This script builds the same model by hand in float64 (nn.Embedding,
nn.Linear, nn.LayerNorm, explicit causal softmax attention, GELU
approximate='tanh', logits = h @ wte.T, F.cross_entropy), loads qkv's
weights (x*W [in][out] transposed to nn.Linear's [out][in]) and compares:
logits (both paths), loss and every parameter's gradient within 1e-4 of the tensor's
max |torch| (qkv's fp32 error is ~1e-6 relative). b_k's gradient is 0 in
exact arithmetic (softmax ignores a shift shared by all keys), so it is
compared against the largest gradient of its block instead of its own
(round-off) size. Then torch.optim.AdamW (lr 1e-3, betas (0.9, 0.95),
eps 1e-8; weight decay 0.1 on the 2-D tensors: embeddings and Linear
weights, nanoGPT's rule; 0 on biases and norms), given qkv's gradients, takes
the same two steps: each step's update must match qkv's within 1e-4 of its
max |update| per tensor, which also proves gpt.h decays exactly that set.

Without torch it prints SKIP and exits 77 (ctest's skip), or fails when
QKV_REQUIRE_TORCH=1.
"""
import argparse
import os
import subprocess
import sys

SKIP = 77
V, T, D, HEADS, LAYERS, B = 64, 32, 48, 4, 2, 2
H = 4 * D
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


def build(torch):
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(D, eps=1e-5), nn.LayerNorm(D, eps=1e-5)
            self.q, self.k, self.v, self.o = (nn.Linear(D, D) for _ in range(4))
            self.up, self.down = nn.Linear(D, H), nn.Linear(H, D)

        def forward(self, x):
            bsz, t, _ = x.shape
            z = self.norm1(x)
            q, k, v = (lin(z).view(bsz, t, HEADS, D // HEADS).transpose(1, 2) for lin in (self.q, self.k, self.v))
            s = q @ k.transpose(2, 3) / (D // HEADS) ** 0.5
            causal = torch.ones(t, t, dtype=torch.bool).tril()
            s = s.masked_fill(~causal, float("-inf"))
            a = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(bsz, t, D)
            x = x + self.o(a)
            return x + self.down(F.gelu(self.up(self.norm2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(V, D), nn.Embedding(T, D)
            self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
            self.lnf = nn.LayerNorm(D, eps=1e-5)

        def forward(self, ids, targets):
            x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))[None]
            for blk in self.blocks:
                x = blk(x)
            logits = self.lnf(x) @ self.wte.weight.T  # tied head
            return logits, F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))

    return GPT().double()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", required=True)
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    torch = import_torch()
    os.makedirs(args.dir, exist_ok=True)
    subprocess.run([args.tool, args.dir], check=True)

    def load(name, dtype=None):
        with open(os.path.join(args.dir, name), "rb") as f:
            t = torch.frombuffer(bytearray(f.read()), dtype=dtype or torch.float32)
        return t.to(torch.float64) if dtype is None else t.to(torch.int64)

    params, grads = load("params.bin"), load("grads.bin")
    after = [load("adam1.bin"), load("adam2.bin")]
    ids, targets = load("ids.bin", torch.int32).view(B, T), load("targets.bin", torch.int32).view(B, T)
    logits_qkv = load("logits.bin").view(B, T, V)
    with open(os.path.join(args.dir, "loss.txt")) as f:
        loss_qkv = float(f.read())
    layout = []
    with open(os.path.join(args.dir, "layout.txt")) as f:
        for line in f:
            name, off, n = line.split()
            layout.append((name, int(off), int(n)))
    covered = sum(n for _, _, n in layout)
    assert covered == params.numel(), f"layout covers {covered} of {params.numel()} floats"

    model = build(torch)
    # Each qkv tensor's torch parameter and how qkv stores it: Linear weights
    # transposed (x*W [in][out] against nn.Linear's [out][in]).
    names = {"norm1_g": "norm1.weight", "norm1_b": "norm1.bias", "norm2_g": "norm2.weight",
             "norm2_b": "norm2.bias", "w_q": "q.weight", "b_q": "q.bias", "w_k": "k.weight", "b_k": "k.bias",
             "w_v": "v.weight", "b_v": "v.bias", "w_o": "o.weight", "b_o": "o.bias", "w_up": "up.weight",
             "b_up": "up.bias", "w_down": "down.weight", "b_down": "down.bias"}
    tp = dict(model.named_parameters())
    pairs = []  # (qkv name, offset, count, torch parameter, transposed)
    for name, off, n in layout:
        if name.startswith("h"):
            layer, short = name.split(".", 1)
            p = tp[f"blocks.{layer[1:]}.{names[short]}"]
        else:
            p = tp[{"wte": "wte.weight", "wpe": "wpe.weight", "lnf_g": "lnf.weight", "lnf_b": "lnf.bias"}[name]]
        assert p.numel() == n, name
        pairs.append((name, off, n, p, name.startswith("h") and ".w_" in name))
    assert len(pairs) == len(tp), "every torch parameter has its qkv tensor"

    def from_qkv(buf, off, n, p, transposed):
        t = buf[off:off + n]
        return t.view(p.shape[1], p.shape[0]).T if transposed else t.view(p.shape)

    with torch.no_grad():
        for _, off, n, p, tr in pairs:
            p.copy_(from_qkv(params, off, n, p, tr))
    logits, loss = model(ids, targets)
    loss.backward()

    failed, worst = 0, {}

    def compare(kind, what, mine, ref, scale=None, allow=None):
        nonlocal failed
        scale = ref.abs().max().item() if scale is None else scale
        diff = (mine - ref).abs()
        err = (diff if allow is None else (diff - allow).clamp(min=0)).max().item()
        ratio = err / scale if scale else float("inf")
        ok = scale > 0 and err <= TOL * scale
        worst[kind] = max(worst.get(kind, 0.0), ratio)
        if not ok or os.environ.get("VERBOSE"):
            print(f"{what:14s} max |qkv - torch| {err:.3g}  scale {scale:.3g}  ratio {ratio:.3g}"
                  f"  {'ok' if ok else 'FAIL'}")
        failed += 0 if ok else 1

    compare("logits", "logits", logits_qkv, logits.detach())
    compare("logits", "decode logits", load("decode_logits.bin").view(T - 4, V), logits.detach()[0, 4:])
    compare("loss", "loss", torch.tensor(loss_qkv, dtype=torch.float64), loss.detach())
    block_max = {}
    for name, off, n, p, tr in pairs:
        layer = name.split(".")[0]
        block_max[layer] = max(block_max.get(layer, 0.0), p.grad.abs().max().item())
    for name, off, n, p, tr in pairs:
        scale = block_max[name.split(".")[0]] if name.endswith("b_k") else None
        compare("grad", "d" + name, from_qkv(grads, off, n, p, tr), p.grad, scale)

    # AdamW from qkv's gradients, nanoGPT's param groups.
    decay = [p for _, _, _, p, _ in pairs if p.dim() >= 2]
    no_decay = [p for _, _, _, p, _ in pairs if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    with torch.no_grad():
        for _, off, n, p, tr in pairs:
            p.grad.copy_(from_qkv(grads, off, n, p, tr))
    # Each step starts from qkv's weights, and qkv's result is allowed its
    # float32 roundings beyond the tolerance (the decay factor 1 - lr * wd,
    # the decayed weight and the new weight: (|w| + |w'|) * 2^-23 bounds
    # them): updates are ~lr = 1e-3, next to weights up to ~1.
    prev = params
    for step, mine in enumerate(after, 1):
        with torch.no_grad():
            for _, off, n, p, tr in pairs:
                p.copy_(from_qkv(prev, off, n, p, tr))
        opt.step()
        for name, off, n, p, tr in pairs:
            start, new = from_qkv(prev, off, n, p, tr), from_qkv(mine, off, n, p, tr)
            compare("adamw", f"adamw{step} {name}", new - start, p.detach() - start,
                    allow=(start.abs() + new.abs()) * 2.0 ** -23)
        prev = mine

    print("max relative error: " + ", ".join(f"{k} {v:.3g}" for k, v in worst.items()) +
          f" (tolerance {TOL:g}; loss {loss.item():.6f})")
    print("gpt_check: " + ("FAIL" if failed else "ok"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
