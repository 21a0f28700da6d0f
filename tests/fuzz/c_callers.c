/* c_callers.c - see c_callers.h. */
#include "c_callers.h"

const char* fuzz_c_status_string(int status) { return qkv_status_string((qkv_status)status); }
const char* fuzz_c_isa_name(int isa) { return qkv_isa_name((qkv_isa)isa); }
qkv_status fuzz_c_isa_query(int isa, int* compiled, int* supported) {
  return qkv_isa_query((qkv_isa)isa, compiled, supported);
}
qkv_status fuzz_c_set_isa(int isa) { return qkv_set_isa((qkv_isa)isa); }
void fuzz_c_set_algo(qkv_sdpa_desc* desc, int v) { desc->algo = (qkv_sdpa_algo)v; }
