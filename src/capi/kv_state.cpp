// SPDX-License-Identifier: MIT
#include "capi/kv_state.hpp"

#include "capi/enum_value.hpp"

namespace qkv::capi {

bool kv_format_ok(const qkv_kv_format& f) {
  const long long v = enum_value(f);
  return v >= 0 && v < QKV_KV_FORMAT_COUNT;
}

bool kv_format_fits(qkv_kv_format f, const ops::mha_dims& n) {
  return f != QKV_KV_Q8_0 || n.d_head % QKV_Q8_0_BLOCK == 0;
}

bool kv_longest_fits(const qkv_mha_desc& d, const qkv_mha_kv_state& st, std::size_t n_new, std::size_t* longest) {
  std::size_t m = st.lengths ? 0 : st.length;
  for (std::size_t b = 0; st.lengths && b < st.batch; ++b) m = st.lengths[b] > m ? st.lengths[b] : m;
  *longest = m;
  if (m <= st.capacity && n_new <= st.capacity - m) return true;  // no wrap
  return d.window != 0 && n_new <= SIZE_MAX - m && d.window <= st.capacity && n_new - 1 <= st.capacity - d.window;
}

void kv_advance(qkv_mha_kv_state& st, std::size_t n_new) {
  if (st.lengths)
    for (std::size_t b = 0; b < st.batch; ++b) st.lengths[b] += n_new;
  else
    st.length += n_new;
}

}  // namespace qkv::capi
