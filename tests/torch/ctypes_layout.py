#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/qkv_ctypes.py's struct mirrors against the compiler's layout.

Runs ctypes_layout_tool (sizeof and offsetof of each C struct) and checks that
every mirror has the same size and the same fields at the same offsets, in
order. A field the tool prints and the mirror lacks (a later version's) fails:
the library reads the whole struct. Also checks that each C struct's last
field is the tool's last (a field added to a header but not to the tool shows
up as a size the fields do not reach).
  ctypes_layout.py --tool PATH --mirrors bench/qkv_ctypes.py
"""
import argparse
import ctypes
import importlib.util
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--mirrors", required=True)
    a = ap.parse_args()
    spec = importlib.util.spec_from_file_location("qkv_ctypes", a.mirrors)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    layouts, cur = {}, None
    for line in subprocess.run([a.tool], check=True, capture_output=True, text=True).stdout.splitlines():
        kind, name, value = line.split()
        if kind == "struct":
            cur = layouts[name] = {"size": int(value), "fields": []}
        else:
            cur["fields"].append((name, int(value)))

    bad = 0
    for cname, c in layouts.items():
        before = bad
        py = mod.MIRRORS.get(cname)
        if py is None:
            print(f"{cname}: no mirror")
            bad += 1
            continue
        mirror = [(f[0], getattr(py, f[0]).offset) for f in py._fields_]
        if mirror != c["fields"] or ctypes.sizeof(py) != c["size"]:
            print(f"{cname}: C size {c['size']} fields {c['fields']}\n  mirror size {ctypes.sizeof(py)} fields {mirror}")
            bad += 1
        # The last field the tool names must reach the struct's end (within its alignment padding).
        last_name, last_off = c["fields"][-1]
        last_size = ctypes.sizeof(dict(py._fields_)[last_name]) if last_name in dict(py._fields_) else 0
        if c["size"] - (last_off + last_size) >= 8:
            print(f"{cname}: {c['size'] - last_off - last_size} bytes after {last_name}: a field the tool does not name")
            bad += 1
        print(f"{cname}: {len(c['fields'])} fields, {c['size']} bytes: {'ok' if bad == before else 'MISMATCH'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
