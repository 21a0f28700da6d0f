# SPDX-License-Identifier: MIT
"""What the PyTorch comparisons (compare_torch.py, compare_torch_gpt.py) share:
quartiles of per-round ratios, the OpenBLAS that torch loaded, the CPU's name."""

import ctypes
import platform
import statistics


def quartiles(xs):
    """First and third quartiles (inclusive method); both xs[0] for one value."""
    if len(xs) < 2:
        return xs[0], xs[0]
    qs = statistics.quantiles(xs, n=4, method="inclusive")
    return qs[0], qs[2]


def find_openblas():
    """The libopenblas torch already loaded (Debian's torch calls it), or None:
    torch.set_num_threads does not reach its thread count."""
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_config.restype = ctypes.c_char_p
        lib.openblas_set_num_threads.argtypes = [ctypes.c_int]
        return lib
    except (OSError, AttributeError):
        return None


def cpu_model():
    """The CPU's model name, with family and model where /proc/cpuinfo has them."""
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = info.get("model name") or platform.processor() or "unknown"
    if "cpu family" in info and "model" in info:
        name += f", family {info['cpu family']} model {info['model']}"
    return name
