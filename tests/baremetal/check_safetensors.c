/* SPDX-License-Identifier: MIT */
/* Safetensors area: a layer's parameters written into a static buffer, the
 * exact header bytes, read back and loaded bit for bit, and a few refused
 * files - on every target, bare metal included (where the library has no
 * memcpy or strlen to lean on). */
#include <string.h>

#include "check.h"

static unsigned char g_file[1024];
static unsigned char g_work[2048];
static qkv_tensor_view g_views[4];
static qkv_tensor_view g_back[4];

void qkv_check_safetensors(void) {
  static const char header[] =
      "{\"__metadata__\":{\"format\":\"pt\"},\"attn.w_q\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
      "\"attn.w_k\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[24,48]},"
      "\"attn.w_v\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[48,72]}}";
  const size_t header_len = sizeof header - 1, padded = (header_len + 7) / 8 * 8;
  qkv_mha_desc d;
  qkv_safetensors_meta meta;
  qkv_safetensors_diag diag;
  float* params = qkv_check_alloc(18);
  float* loaded = qkv_check_alloc(18);
  size_t n = 0, size = 0, count = 0, ws = 0, len = 0, i;
  char value[8];
  if (!params || !loaded) return;
  memset(&d, 0, sizeof d);
  d.d_in = 2, d.d_out = 3, d.num_heads = 1, d.causal = 1;
  QKV_CHECK_STATUS(qkv_mha_init(&d, params, 3), QKV_OK);
  QKV_CHECK_STATUS(qkv_mha_param_views(&d, params, "attn.", g_views, 4, &n), QKV_OK);
  QKV_CHECK(n == 3);
  meta.key = "format", meta.value = "pt";
  QKV_CHECK_STATUS(qkv_safetensors_write(g_views, n, &meta, 1, g_file, sizeof g_file, &size), QKV_OK);
  /* The reference implementation's layout: u64 length, compact JSON, spaces, data. */
  QKV_CHECK(size == 8 + padded + 72);
  QKV_CHECK(g_file[0] == (unsigned char)padded && g_file[1] == 0 && g_file[7] == 0);
  QKV_CHECK(memcmp(g_file + 8, header, header_len) == 0);
  for (i = header_len; i < padded; ++i) QKV_CHECK(g_file[8 + i] == ' ');
  QKV_CHECK(memcmp(g_file + 8 + padded, params, 72) == 0); /* every target qkv builds for is little-endian */

  QKV_CHECK_STATUS(qkv_safetensors_read_size(g_file, size, &count, &ws, &diag), QKV_OK);
  QKV_CHECK(count == 3 && ws <= sizeof g_work);
  QKV_CHECK_STATUS(qkv_safetensors_read(g_file, size, g_back, 4, &count, g_work, sizeof g_work, &diag), QKV_OK);
  QKV_CHECK(strcmp(g_back[2].name, "attn.w_v") == 0 && g_back[2].rank == 2 && g_back[2].shape[1] == 3);
  QKV_CHECK_STATUS(qkv_mha_param_load(&d, "attn.", g_back, count, loaded, &diag), QKV_OK);
  QKV_CHECK(memcmp(loaded, params, 18 * sizeof(float)) == 0);
  QKV_CHECK_STATUS(qkv_safetensors_metadata(g_file, size, "format", value, sizeof value, &len, &diag), QKV_OK);
  QKV_CHECK(len == 2 && strcmp(value, "pt") == 0);

  /* Refused: cut short, a byte more, another layer. */
  QKV_CHECK_STATUS(qkv_safetensors_read_size(g_file, size - 1, &count, &ws, &diag), QKV_ERR_BAD_FORMAT);
  QKV_CHECK(diag.what != NULL);
  QKV_CHECK_STATUS(qkv_safetensors_read_size(g_file, 40, &count, &ws, &diag), QKV_ERR_BAD_FORMAT);
  QKV_CHECK_STATUS(qkv_safetensors_read(g_file, size + 1, g_back, 4, &count, g_work, sizeof g_work, &diag),
                   QKV_ERR_BAD_FORMAT);
  d.d_out = 6;
  QKV_CHECK_STATUS(qkv_mha_param_load(&d, "attn.", g_back, 3, loaded, &diag), QKV_ERR_BAD_SHAPE);
  QKV_CHECK(strcmp(diag.name, "attn.w_q") == 0);
}
