/* SPDX-License-Identifier: MIT */
/** @file qkv/qkv.h
 * @brief The whole public C API of qkv: trainable self-attention on CPUs.
 *
 * Conventions shared by every function:
 *  - every function returns qkv_status (qkv/status.h), except the constant
 *    lookups qkv_status_string, qkv_isa_name, qkv_version_number/_string;
 *  - matrices are row-major fp32 with an explicit leading dimension in elements;
 *  - the caller owns all memory; routines that need scratch space take it as a
 *    (void* workspace, size_t bytes) pair sized by a *_workspace_size() query,
 *    and nothing allocates on a compute path;
 *  - one workspace rule for all of them: when the call needs scratch, a NULL
 *    workspace is QKV_ERR_NULL_POINTER (whatever the byte count), then fewer
 *    bytes than the query returns for one thread is QKV_ERR_WORKSPACE_TOO_SMALL,
 *    whatever the pointer's alignment (the query includes the slack to align
 *    it); a call that needs none accepts NULL. More bytes may buy threads,
 *    never other results. Sizes depend on the active ISA: query after
 *    qkv_set_isa();
 *  - on error nothing is written to any output. */
#ifndef QKV_QKV_H
#define QKV_QKV_H

#include "qkv/export.h"
#include "qkv/version.h"
#include "qkv/status.h"
#include "qkv/runtime.h"
#include "qkv/vector.h"
#include "qkv/gemm.h"
#include "qkv/dtype.h"
#include "qkv/gemm_ex.h"
#include "qkv/softmax.h"
#include "qkv/attention.h"
#include "qkv/rope.h"
#include "qkv/layer.h"
#include "qkv/layer_int8.h"
#include "qkv/block.h"
#include "qkv/optim.h"
#include "qkv/init.h"
#include "qkv/loss.h"
#include "qkv/norm.h"
#include "qkv/embedding.h"
#include "qkv/activation.h"
#include "qkv/safetensors.h"

#endif /* QKV_QKV_H */
