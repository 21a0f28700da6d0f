// SPDX-License-Identifier: MIT
// io/safetensors - the safetensors format over caller buffers: the header's
// JSON parsed for its one fixed schema (no general JSON, no recursion, no
// allocation), every rule of qkv/safetensors.h checked, and the writer that
// produces the reference implementation's bytes. The C boundary
// (capi/safetensors.cpp) checks the caller's arguments and the workspace and
// calls these; they check the file's bytes and report what they find in a
// status and the optional diagnostic.
#pragma once

#include <cstddef>

#include "qkv/safetensors.h"

namespace qkv::io {

// Size and name of a dtype; the caller has checked the value is in the enum.
std::size_t dtype_size(int dtype) noexcept;
const char* dtype_name(int dtype) noexcept;

// Writes `what` (and the offset, and the name when not null) into diag when
// diag is not null, then returns st: the one place a diagnostic is filled.
qkv_status fail(qkv_safetensors_diag* diag, qkv_status st, const char* what, std::size_t offset = 0,
                const char* name = nullptr) noexcept;

// Pass 1, without memory: every rule of the header except the ones needing
// the workspace. Counts the tensors and the metadata entries.
qkv_status st_scan(const unsigned char* file, std::size_t bytes, std::size_t* tensors, std::size_t* metas,
                   qkv_safetensors_diag* diag) noexcept;

// Workspace bytes st_read needs for a file of that many entries (alignment
// slack included); false on overflow.
bool st_workspace_bytes(std::size_t tensors, std::size_t metas, std::size_t* bytes) noexcept;

// Pass 2: the whole file again into the workspace, then the tiling of the data
// section and the unique names; on success the `tensors` views (sorted by
// offset) are written. The caller ran st_scan (which gave tensors/metas), and
// checked the capacity and the workspace.
qkv_status st_read(const unsigned char* file, std::size_t bytes, std::size_t tensors, std::size_t metas,
                   qkv_tensor_view* out, void* workspace, std::size_t workspace_bytes,
                   qkv_safetensors_diag* diag) noexcept;

// "__metadata__"[key]: its decoded length, and the value copied (NUL-terminated)
// when value is not null (the caller has checked capacity > length then).
qkv_status st_metadata(const unsigned char* file, std::size_t bytes, const char* key, char* value, std::size_t capacity,
                       std::size_t* length, qkv_safetensors_diag* diag) noexcept;

// True when the n bytes at s are valid UTF-8 (no overlong forms, no
// surrogates, nothing above U+10FFFF).
bool valid_utf8(const unsigned char* s, std::size_t n) noexcept;

// The writer after the boundary's checks of pointers and views (every view's
// name NUL-terminated, valid UTF-8 and not "__metadata__"; rank and dtype in
// range; bytes consistent with the shape and size_t-safe; meta strings valid
// UTF-8; no duplicates). With dst null, only *size is computed (false on
// overflow or a header past the limit); else `size` bytes are written.
bool st_write_size(const qkv_tensor_view* tensors, std::size_t count, const qkv_safetensors_meta* meta,
                   std::size_t meta_count, std::size_t* size) noexcept;
void st_write(const qkv_tensor_view* tensors, std::size_t count, const qkv_safetensors_meta* meta,
              std::size_t meta_count, unsigned char* dst) noexcept;

// Little-endian bytes to host-order floats, and bytes copied as they are
// (loops on bare metal: the library needs no memcpy there).
void load_le_f32(float* dst, const unsigned char* src, std::size_t n) noexcept;
void copy_bytes(void* dst, const void* src, std::size_t n) noexcept;

// Length of a NUL-terminated string (no strlen on bare metal); stops at
// `limit` and returns it when no NUL comes first.
std::size_t bounded_strlen(const char* s, std::size_t limit) noexcept;

}  // namespace qkv::io
