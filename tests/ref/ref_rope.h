/* SPDX-License-Identifier: MIT */
/* ref_rope - the oracle of rotary position embedding (qkv/rope.h), forward
 * and backward. Plain C99 (host, bare metal, C++ via extern "C"); no
 * allocation.
 *
 * Same description as the library (rotary_dim 0 and theta 0 resolved the
 * same way, the same layouts and positions); the output is a dense
 * [batch][heads][tokens][head_dim] array of doubles, whatever desc->x says.
 * Math, in double throughout: inv_freq_k = theta^(-2k / r), angle = p *
 * inv_freq_k, and the pair rotated by the exact (double) cos and sin of the
 * angle: y1 = x1 c - x2 s, y2 = x1 s + x2 c; the backward uses -s. Also
 * written, when mag is not NULL: |x1| + |x2| of each element's pair (|x| for
 * a passed-through one), the scale of the fp32 rotation's rounding error.
 * The description must be valid. */
#ifndef QKV_TESTS_REF_ROPE_H
#define QKV_TESTS_REF_ROPE_H

#include <stddef.h>

#include <qkv/rope.h>

#ifdef __cplusplus
extern "C" {
#endif

void qkv_ref_rope(const qkv_rope_desc* d, const float* x, int inverse, double* y, double* mag);

#ifdef __cplusplus
}
#endif

#endif /* QKV_TESTS_REF_ROPE_H */
