# SPDX-License-Identifier: MIT
"""ctypes mirrors of the C structs the Python benchmarks pass to libqkv.

Each class lists every field of its C struct, in order, with the C type's
ctypes twin: the library reads the whole struct, so a mirror that lacks the
fields of a later version hands it whatever bytes follow. tests/ctypes_layout
checks every offset and size against the compiler's (offsetof, sizeof).
"""
import ctypes

size_t, c_int, c_float, c_uint64 = ctypes.c_size_t, ctypes.c_int, ctypes.c_float, ctypes.c_uint64
PTR = ctypes.c_void_p


class MhaDesc(ctypes.Structure):
    """qkv_mha_desc (include/qkv/layer.h); enums (qkv_dtype, qkv_rope_layout) are ints."""
    _fields_ = [("d_in", size_t), ("d_out", size_t), ("num_heads", size_t), ("causal", c_int),
                ("qkv_bias", c_int), ("out_proj", c_int), ("dropout_p", c_float), ("dropout_seed", c_uint64),
                ("compute_type", c_int), ("num_kv_heads", size_t), ("window", size_t), ("rope", c_int),
                ("rope_layout", c_int), ("rope_dim", size_t), ("rope_theta", c_float), ("softcap", c_float)]


class MhaLayout(ctypes.Structure):
    """qkv_mha_layout (include/qkv/layer.h)."""
    _fields_ = [(n, size_t) for n in ("w_q", "w_k", "w_v", "b_q", "b_k", "b_v", "w_o", "b_o", "count")]


class SdpaStrides(ctypes.Structure):
    """qkv_sdpa_strides (include/qkv/attention.h)."""
    _fields_ = [("batch", size_t), ("head", size_t), ("token", size_t)]


class SdpaDesc(ctypes.Structure):
    """qkv_sdpa_desc (include/qkv/attention.h); algo (qkv_sdpa_algo) is an int."""
    _fields_ = [("batch", size_t), ("heads", size_t), ("q_len", size_t), ("kv_len", size_t), ("head_dim", size_t),
                ("v_dim", size_t), ("q", SdpaStrides), ("k", SdpaStrides), ("v", SdpaStrides), ("o", SdpaStrides),
                ("scale", c_float), ("causal", c_int), ("dropout_p", c_float), ("dropout_seed", c_uint64),
                ("algo", c_int), ("kv_heads", size_t), ("window", size_t), ("kv_lens", PTR), ("q_lens", PTR),
                ("mask", PTR), ("mask_strides", SdpaStrides), ("softcap", c_float)]


# The C name of each mirror (tests/ctypes_layout).
MIRRORS = {"qkv_mha_desc": MhaDesc, "qkv_mha_layout": MhaLayout, "qkv_sdpa_strides": SdpaStrides,
           "qkv_sdpa_desc": SdpaDesc}
