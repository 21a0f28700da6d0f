#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""qkv's safetensors files against PyTorch, and the examples' refusals.

  safetensors_roundtrip.py layer  --tool ST_TOOL --dir DIR
      qkv writes a MultiHeadAttention layer, an input x and its output y
      (tests/torch/st_tool.c); PyTorch loads the file, runs the book's
      MultiHeadAttention with those weights on x and must match y; then
      PyTorch writes a layer of its own (nn.Linear init), an input and its
      output, and qkv loads it and must match.
  safetensors_roundtrip.py model  --model FILE --decode DECODE_COPY --dir DIR
      PyTorch loads the model examples/train_copy.c saved and runs it (token
      and position embeddings, the attention layer, the head): greedy decoding
      must copy held-out sentences; the tensors rewritten by Python (another
      order, another padding) must make decode_copy print the same text.
  safetensors_roundtrip.py refusals --model FILE --decode DECODE_COPY --dir DIR
      decode_copy must refuse, with its message, a file of another model:
      another configuration, a tensor missing, extra, of another shape or
      dtype, no metadata, a truncated file. Needs no torch.

Files are read with the `safetensors` package when it is importable, else
with plain struct/json (as the format describes), and written the same way.
The first two modes need torch: without it they print SKIP and exit 77
(ctest's skip), or fail when QKV_REQUIRE_TORCH=1.
"""
import argparse
import json
import os
import random
import struct
import subprocess
import sys

SKIP = 77
SIZES = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I8": 1, "U8": 1, "BOOL": 1, "I16": 2, "U16": 2,
         "I32": 4, "U32": 4, "I64": 8, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1}


# ---- the format with struct/json only --------------------------------------

def read_raw(path):
    """{name: (dtype, shape, bytes)}, metadata dict; checks what a reader must."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    assert 8 + n <= len(data), "header runs past the file"
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    body = data[8 + n:]
    tensors, end = {}, 0
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        b, e_ = e["data_offsets"]
        count = 1
        for s in e["shape"]:
            count *= s
        assert b == end and e_ - b == count * SIZES[e["dtype"]], f"{name}: bad data_offsets"
        tensors[name] = (e["dtype"], list(e["shape"]), body[b:e_])
        end = e_
    assert end == len(body), "data section not covered exactly"
    return tensors, meta


def write_raw(path, tensors, meta=None, order=None, pad=True):
    """tensors {name: (dtype, shape, bytes)} stored in `order` (default: sorted
    by name, as the reference writer does for one dtype)."""
    names = order if order is not None else sorted(tensors)
    header, off = {}, 0
    if meta:
        header["__metadata__"] = meta
    for name in names:
        dtype, shape, raw = tensors[name]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    if pad:
        text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(tensors[n][2] for n in names))


# ---- torch -----------------------------------------------------------------

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


def have_safetensors():
    try:
        import safetensors.torch  # noqa: F401
        return True
    except ImportError:
        return False


def load(torch, path):
    """{name: float32 tensor}, metadata: with safetensors.torch when present,
    and always with struct/json too, which must agree bit for bit."""
    raw, meta = read_raw(path)
    mine = {}
    for name, (dtype, shape, b) in raw.items():
        assert dtype == "F32", f"{name}: {dtype}"
        mine[name] = torch.frombuffer(bytearray(b), dtype=torch.float32).reshape(shape) if b else \
            torch.zeros(shape, dtype=torch.float32)
    if have_safetensors():
        from safetensors import safe_open
        from safetensors.torch import load_file
        theirs = load_file(path)
        assert sorted(theirs) == sorted(mine)
        for k in mine:
            assert torch.equal(theirs[k], mine[k]), k
        with safe_open(path, framework="pt") as f:
            assert (f.metadata() or {}) == meta
    return mine, meta


def save(torch, path, tensors, meta):
    tensors = {k: v.detach().to(torch.float32).contiguous() for k, v in tensors.items()}
    if have_safetensors():
        from safetensors.torch import save_file
        save_file(tensors, path, metadata=meta)
    else:
        write_raw(path, {k: ("F32", list(v.shape), v.numpy().tobytes()) for k, v in tensors.items()}, meta)


def mha_forward(torch, p, x, heads, prefix="attn."):
    """The book's MultiHeadAttention (causal, no dropout) with qkv's tensors:
    qkv stores x*W weights [in, out]; nn.Linear's weight is their transpose."""
    lin = torch.nn.functional.linear
    b, t, _ = x.shape
    d_out = p[prefix + "w_q"].shape[1]
    hd = d_out // heads

    def proj(w, bias):
        return lin(x, p[prefix + w].T, p.get(prefix + bias))

    q, k, v = (proj(w, bb).view(b, t, heads, hd).transpose(1, 2) for w, bb in (("w_q", "b_q"), ("w_k", "b_k"), ("w_v", "b_v")))
    scores = q @ k.transpose(2, 3)
    mask = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
    scores = scores.masked_fill(mask, float("-inf"))
    w = torch.softmax(scores / hd ** 0.5, dim=-1)
    ctx = (w @ v).transpose(1, 2).contiguous().view(b, t, d_out)
    if prefix + "w_o" in p:
        ctx = lin(ctx, p[prefix + "w_o"].T, p[prefix + "b_o"])
    return ctx


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


# ---- modes -----------------------------------------------------------------

def mode_layer(args):
    torch = import_torch()
    torch.manual_seed(0)
    reader = "safetensors.torch" if have_safetensors() else "struct/json"
    a = os.path.join(args.dir, "qkv_layer.safetensors")
    rc, out, err = run([args.tool, "write", a])
    assert rc == 0, err
    p, meta = load(torch, a)
    assert meta.get("format") == "pt", meta
    names = sorted(p)
    assert names == sorted(["attn.w_q", "attn.w_k", "attn.w_v", "attn.b_q", "attn.b_k", "attn.b_v", "attn.w_o",
                            "attn.b_o", "x", "y"]), names
    y = mha_forward(torch, p, p["x"], heads=2)
    err_a = (y - p["y"]).abs().max().item()
    print(f"qkv -> torch ({reader}): {len(p)} tensors; torch's MultiHeadAttention on x vs qkv's y: "
          f"max |diff| {err_a:.3g}")
    assert err_a <= 1e-5 * max(1.0, p["y"].abs().max().item()), err_a

    # PyTorch's own layer (nn.Linear's init), saved in qkv's names and layout.
    lin = {n: torch.nn.Linear(i, o, bias=True) for n, i, o in (("q", 6, 8), ("k", 6, 8), ("v", 6, 8), ("o", 8, 8))}
    q = {}
    for n, m in lin.items():
        q["attn.w_" + n] = m.weight.detach().T.contiguous()
        q["attn.b_" + n] = m.bias.detach()
    q["x"] = torch.randn(2, 5, 6)
    q["y"] = mha_forward(torch, q, q["x"], heads=2).detach()
    b = os.path.join(args.dir, "torch_layer.safetensors")
    save(torch, b, q, {"format": "pt", "writer": "torch " + torch.__version__})
    rc, out, err = run([args.tool, "check", b])
    print(out.strip() or err.strip())
    assert rc == 0, f"qkv refused or disagreed with PyTorch's file: {err}"
    print(f"torch -> qkv ({'safetensors.torch' if have_safetensors() else 'struct/json'} writer): ok")


COPY_L, COPY_WORDS, SEP = 8, 16, 16


def decode_text(args, path):
    rc, out, err = run([args.decode, path, "20"])
    assert rc == 0, f"decode_copy {path}: {err}"
    # The generated text and the score; not the timing.
    lines = [l for l in out.splitlines() if l.startswith("  ")]
    score = out.strip().splitlines()[-1].split(";")[-1]
    return lines, score


def mode_model(args):
    torch = import_torch()
    p, meta = load(torch, args.model)
    want = {"tok_emb": [17, 64], "pos_emb": [16, 64], "attn.w_q": [64, 64], "attn.w_k": [64, 64],
            "attn.w_v": [64, 64], "attn.b_q": [64], "attn.b_k": [64], "attn.b_v": [64], "attn.w_o": [64, 64],
            "attn.b_o": [64], "head.w": [64, 17], "head.b": [17]}
    assert {k: list(v.shape) for k, v in p.items()} == want, {k: list(v.shape) for k, v in p.items()}
    assert all(torch.isfinite(v).all() for v in p.values())
    heads = int(dict(kv.split("=") for kv in meta["qkv.model"].split()[1:])["heads"])
    print(f"torch loaded {args.model}: {len(p)} tensors, metadata {meta}")

    # PyTorch runs the model qkv trained: greedy decoding of held-out sentences.
    rng = random.Random(5)
    right = total = 0
    for _ in range(20):
        words = [rng.randrange(COPY_WORDS) for _ in range(COPY_L)]
        ids = words + [SEP]
        for i in range(COPY_L):
            t = len(ids)
            x = (p["tok_emb"][torch.tensor(ids)] + p["pos_emb"][:t]).unsqueeze(0)
            h = mha_forward(torch, p, x, heads)
            logits = h[0, -1] @ p["head.w"] + p["head.b"]
            nxt = int(logits.argmax())
            right += nxt == words[i]
            total += 1
            ids.append(nxt)
    print(f"torch decodes with the qkv-trained weights: {right}/{total} words copied")
    assert right * 10 >= total * 9, (right, total)

    # Rewritten by Python, reverse order: decode_copy must print the same.
    raw, meta_raw = read_raw(args.model)
    re = os.path.join(args.dir, "model_rewritten.safetensors")
    write_raw(re, raw, meta_raw, order=sorted(raw, reverse=True), pad=False)
    a, b = decode_text(args, args.model), decode_text(args, re)
    assert a == b, "decode_copy differs on the rewritten file"
    print(f"decode_copy on the file Python rewrote (reverse order, unpadded header): same text,{a[1]}")


def mode_refusals(args):
    raw, meta = read_raw(args.model)
    cases = []
    m = dict(meta)
    m["qkv.model"] = m["qkv.model"].replace("heads=4", "heads=2")
    cases.append(("another configuration", dict(raw), m, "holds another model"))
    t = dict(raw)
    dtype, shape, b = t["head.b"]
    t["head.b"] = (dtype, [shape[0] - 1], b[:-4])
    cases.append(("a shorter head.b", t, meta, "this model needs F32 [17]"))
    t = dict(raw)
    del t["attn.b_o"]
    cases.append(("attn.b_o missing", t, meta, "lacks the tensor attn.b_o"))
    t = dict(raw)
    t["extra"] = ("F32", [1], b"\0\0\0\0")
    cases.append(("an extra tensor", t, meta, "does not have: extra"))
    t = dict(raw)
    dtype, shape, b = t["tok_emb"]
    t["tok_emb"] = ("F16", shape, b[:len(b) // 2])
    cases.append(("tok_emb as F16", t, meta, "tok_emb is F16"))
    cases.append(("no metadata", dict(raw), None, "no \"qkv.model\" metadata"))
    for i, (why, tensors, meta_i, phrase) in enumerate(cases):
        path = os.path.join(args.dir, f"refuse_{i}.safetensors")
        write_raw(path, tensors, meta_i)
        rc, out, err = run([args.decode, path, "1"])
        assert rc == 1 and phrase in err, f"{why}: exit {rc}, stderr {err!r}"
        print(f"refused {why}: {err.strip().splitlines()[0]}")
    with open(args.model, "rb") as f:
        data = f.read()
    for cut, why in ((len(data) - 1, "one byte short"), (100, "cut inside the header"), (4, "4 bytes")):
        path = os.path.join(args.dir, "truncated.safetensors")
        with open(path, "wb") as f:
            f.write(data[:cut])
        rc, out, err = run([args.decode, path, "1"])
        assert rc == 1 and "not a valid safetensors file" in err, f"{why}: exit {rc}, {err!r}"
        print(f"refused a file {why}: {err.strip()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["layer", "model", "refusals"])
    ap.add_argument("--tool")
    ap.add_argument("--model")
    ap.add_argument("--decode")
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    {"layer": mode_layer, "model": mode_model, "refusals": mode_refusals}[args.mode](args)
    print(f"{args.mode}: ok")


if __name__ == "__main__":
    main()
