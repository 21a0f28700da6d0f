#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A GPT training step in PyTorch and in qkv, alternated round by round.

PyTorch: GPT-2 written as nanoGPT writes it (pre-LN blocks of nn.LayerNorm,
nn.Linear c_attn (d -> 3d) and c_proj, causal attention by hand, masked
softmax, as nanoGPT's path without flash attention, nn.GELU(approximate='tanh')
MLP of 4 d, dropout 0, tied LM head), F.cross_entropy, clip_grad_norm_(1.0),
AdamW (betas 0.9, 0.95, weight decay 0.1 on the 2-D tensors only; fused=False
where the constructor takes it). qkv: the same model and step in
examples/gpt.h, run by the C driver bench/gpt_step (--serve): one process per
thread count, set up once, asked for N steps per round on its standard input.

Each round runs --steps-per-round steps of one side, then of the other (the
side that goes first alternates), and records per step the wall time and the
CPU time of that side's process (all its threads). Output per thread count:
the median ms of each side, and the median [quartiles] of the per-round ratios
torch / qkv (> 1: qkv is faster), of wall times and of CPU times. On a shared,
loaded host the CPU-time ratio at 1 thread is the robust one (the time other
processes held the core is in neither side's CPU time).

The two sides start from different random weights (both GPT-2's N(0, 0.02)
scheme); tests/torch/gpt_check.py checks that gpt.h computes what PyTorch
computes from the same weights. The loss of both is printed as a sanity check
(about ln V at initialisation). Run it through bench/compare_torch_gpt.sh.
"""
import argparse
import ctypes
import math
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn

from torch_common import cpu_model, find_openblas, quartiles
import torch.nn.functional as F


# ---- PyTorch: nanoGPT's model -------------------------------------------------

class CausalSelfAttention(nn.Module):
    def __init__(self, d, heads, seq_len):
        super().__init__()
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.heads = heads
        self.register_buffer("mask", torch.tril(torch.ones(seq_len, seq_len, dtype=torch.bool))
                             .view(1, 1, seq_len, seq_len))

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        k = k.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        q = q.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        v = v.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(~self.mask[:, :, :T, :T], float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, d, d_ff):
        super().__init__()
        self.c_fc = nn.Linear(d, d_ff)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(d_ff, d)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, d, heads, d_ff, seq_len):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, heads, seq_len)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = MLP(d, d_ff)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab, seq_len, d, layers, heads, d_ff):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(seq_len, d)
        self.h = nn.ModuleList([Block(d, heads, d_ff, seq_len) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied
        for name, p in self.named_parameters():  # GPT-2 / nanoGPT initialisation
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * layers))
            elif p.dim() == 2:
                nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)

    def forward(self, idx):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T, dtype=torch.long))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def make_adamw(model):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}]
    kw = dict(lr=6e-4, betas=(0.9, 0.95), eps=1e-8)
    try:
        return torch.optim.AdamW(groups, fused=False, **kw), "AdamW(fused=False)"
    except TypeError:  # torch 1.13's AdamW has no 'fused': its default, a loop over the tensors on CPU
        return torch.optim.AdamW(groups, **kw), "AdamW (no 'fused' argument in this torch: its default CPU path)"


class TorchTrainer:
    def __init__(self, cfg, batch):
        torch.manual_seed(1)
        self.model = GPT(cfg["vocab"], cfg["ctx"], cfg["d"], cfg["layers"], cfg["heads"], cfg["dff"])
        self.opt, self.opt_name = make_adamw(self.model)
        g = torch.Generator().manual_seed(2)
        self.idx = torch.randint(0, cfg["vocab"], (batch, cfg["ctx"]), generator=g)
        self.targets = torch.randint(0, cfg["vocab"], (batch, cfg["ctx"]), generator=g)
        self.vocab = cfg["vocab"]
        self.params = list(self.model.parameters())

    def step(self):
        logits = self.model(self.idx)
        loss = F.cross_entropy(logits.view(-1, self.vocab), self.targets.view(-1))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        return loss.item()

    def timed_steps(self, n):
        """[(wall ms, CPU ms)] per step, and the last loss."""
        out, loss = [], 0.0
        for _ in range(n):
            t0, c0 = time.perf_counter(), time.process_time()
            loss = self.step()
            out.append((1e3 * (time.perf_counter() - t0), 1e3 * (time.process_time() - c0)))
        return out, loss


# ---- qkv: the C driver --------------------------------------------------------

class QkvDriver:
    def __init__(self, path, cfg, batch, threads):
        args = [path, "--serve", "--threads", str(threads), "--batch", str(batch)]
        for k in ("layers", "d", "heads", "dff", "ctx", "vocab"):
            args += ["--" + k, str(cfg[k])]
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline().split()  # after its set-up and warm-up step
        if not line or line[0] != "ready":
            sys.exit(f"compare_torch_gpt: {path} did not start ({' '.join(args)})")
        self.params = int(line[1])

    def timed_steps(self, n):
        self.p.stdin.write(f"{n}\n")
        self.p.stdin.flush()
        words = self.p.stdout.readline().split()
        if len(words) != n + 2 or words[-2] != "loss":
            sys.exit(f"compare_torch_gpt: unexpected answer from gpt_step: {' '.join(words)}")
        return [tuple(float(x) for x in w.split(",")) for w in words[:n]], float(words[-1])

    def close(self):
        self.p.stdin.close()
        self.p.wait()


# ---- the run ------------------------------------------------------------------


PRESETS = {  # train_gpt_demo: examples/train_gpt.c's defaults
    "gpt2_small": dict(vocab=50257, ctx=1024, d=768, layers=12, heads=12, dff=3072),
    "train_gpt_demo": dict(vocab=256, ctx=128, d=128, layers=2, heads=4, dff=512),
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--driver", default=os.path.join(here, "..", "build", "shared", "bench", "gpt_step"),
                    help="the gpt_step program (default: build/shared/bench/gpt_step)")
    ap.add_argument("--model", default="gpt2_small", choices=sorted(PRESETS), help="model (default gpt2_small)")
    ap.add_argument("--batch", type=int, default=1, help="sequences per step (default 1)")
    ap.add_argument("--threads", default="1", help="comma-separated thread counts (default 1)")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds per thread count (default 5)")
    ap.add_argument("--steps-per-round", type=int, default=1, help="steps of each side per round (default 1)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed torch steps first (default 2: its second step "
                    "still ran ~1.6x slower here; gpt_step takes its own)")
    args = ap.parse_args()
    cfg = PRESETS[args.model]
    threads = [int(t) for t in args.threads.split(",")]
    if any(t < 1 for t in threads) or args.rounds < 1 or args.steps_per_round < 1 or args.batch < 1:
        ap.error("--threads, --rounds, --steps-per-round and --batch must be >= 1")
    if not os.access(args.driver, os.X_OK):
        ap.error(f"{args.driver} is not there: build it (bench/compare_torch_gpt.sh does)")

    openblas = find_openblas()
    pre = os.environ.get("LD_PRELOAD", "")
    tr = TorchTrainer(cfg, args.batch)
    n_params = sum(p.numel() for p in tr.model.parameters())
    print(f"cpu:    {cpu_model()} ({os.cpu_count()} logical CPUs), load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} at the start")
    print(f"torch:  {torch.__version__}, BLAS: "
          f"{openblas.openblas_get_config().decode() if openblas else 'not OpenBLAS (threads set by torch only)'}")
    print(f"        nanoGPT's model, attention by hand (masked softmax), {tr.opt_name}")
    print(f"model:  {args.model}: {cfg['layers']} layers, d {cfg['d']}, {cfg['heads']} heads, d_ff {cfg['dff']}, "
          f"T {cfg['ctx']}, vocab {cfg['vocab']}, tied head; batch {args.batch}; {n_params} parameters in torch")
    print(f"qkv:    {os.path.realpath(args.driver)} (examples/gpt.h)")
    print(f"env:    LD_PRELOAD={'jemalloc' if 'jemalloc' in pre else (pre or '(none: torch on glibc malloc)')} "
          f"MALLOC_CONF={os.environ.get('MALLOC_CONF', '(unset)')} "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')} "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    print(f"rounds: {args.rounds} x {args.steps_per_round} step(s) per side; ratio = torch / qkv (> 1: qkv faster), "
          "median [quartiles] over rounds; cpu = the process's CPU time (all threads)")

    for n in threads:
        torch.set_num_threads(n)
        if openblas is not None:
            openblas.openblas_set_num_threads(n)
        q = QkvDriver(args.driver, cfg, args.batch, n)
        if q.params != n_params:
            sys.exit(f"compare_torch_gpt: qkv has {q.params} parameters, torch {n_params}: not the same model")
        for _ in range(args.warmup):
            tr.step()
        tw, tc, qw, qc, rw, rc = [], [], [], [], [], []
        t_loss = q_loss = 0.0
        for r in range(args.rounds):
            if r % 2 == 0:
                ts, t_loss = tr.timed_steps(args.steps_per_round)
                qs, q_loss = q.timed_steps(args.steps_per_round)
            else:
                qs, q_loss = q.timed_steps(args.steps_per_round)
                ts, t_loss = tr.timed_steps(args.steps_per_round)
            a_w, a_c = statistics.mean(w for w, _ in ts), statistics.mean(c for _, c in ts)
            b_w, b_c = statistics.mean(w for w, _ in qs), statistics.mean(c for _, c in qs)
            tw.append(a_w), tc.append(a_c), qw.append(b_w), qc.append(b_c)
            rw.append(a_w / b_w), rc.append(a_c / b_c)
            print(f"  round {r + 1}: torch {a_w:9.1f} ms (cpu {a_c:9.1f}), qkv {b_w:9.1f} ms (cpu {b_c:9.1f}), "
                  f"ratio {a_w / b_w:5.2f} (cpu {a_c / b_c:5.2f})", flush=True)
        q.close()
        tok = args.batch * cfg["ctx"]
        (w1, w3), (c1, c3) = quartiles(rw), quartiles(rc)
        print(f"{n} thread{'s' if n > 1 else ''}: torch {statistics.median(tw):.1f} ms/step "
              f"({tok / statistics.median(tw) * 1e3:.0f} tok/s), qkv {statistics.median(qw):.1f} ms/step "
              f"({tok / statistics.median(qw) * 1e3:.0f} tok/s); wall ratio {statistics.median(rw):.2f} "
              f"[{w1:.2f}-{w3:.2f}]; cpu: torch {statistics.median(tc):.1f} ms, qkv {statistics.median(qc):.1f} ms, "
              f"ratio {statistics.median(rc):.2f} [{c1:.2f}-{c3:.2f}]; last loss torch {t_loss:.3f} qkv {q_loss:.3f} "
              f"(ln V = {math.log(cfg['vocab']):.3f})", flush=True)


if __name__ == "__main__":
    main()
