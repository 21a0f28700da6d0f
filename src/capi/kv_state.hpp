// SPDX-License-Identifier: MIT
// kv_state - the checks of a KV-cache state (qkv_mha_kv_state) shared by the
// decoding entry points of the attention layer (layer.cpp) and the block
// (block.cpp), and the advance of its lengths after a successful call.
#pragma once

#include <cstddef>

#include "ops/mha_layer.hpp"
#include "qkv/layer.h"

namespace qkv::capi {

// A C caller may pass any int as a format: compared as the enum's bits
// (capi/enum_value.hpp), never loaded as the enum before this check.
bool kv_format_ok(const qkv_kv_format& f);

// q8_0 blocks must not straddle heads.
bool kv_format_fits(qkv_kv_format f, const ops::mha_dims& n);

// The longest sequence of a cache state, or false when n_new more tokens
// do not fit (QKV_ERR_CAPACITY): without a window every position needs its
// row; a windowed layer's cache is a ring (position t in row t % capacity)
// that must keep the window of each new token: capacity >= window + n_new - 1.
bool kv_longest_fits(const qkv_mha_desc& d, const qkv_mha_kv_state& st, std::size_t n_new, std::size_t* longest);

// Every sequence's length (or the shared length) grows by n_new.
void kv_advance(qkv_mha_kv_state& st, std::size_t n_new);

}  // namespace qkv::capi
