/* SPDX-License-Identifier: MIT */
/** @file qkv/loss.h
 * @brief Cross-entropy loss over logits with integer class targets
 * (torch.nn.functional.cross_entropy with reduction='mean', ignore_index).
 *
 * Logits are rows x classes, row-major with leading dimension ld >= classes;
 * targets are rows int32 values. A row whose target equals ignore_index is
 * ignored: it adds nothing to the loss and gets a zero gradient. With
 * count = the number of rows not ignored,
 *   loss = (1 / count) * sum over counted rows r of (lse_r - logits[r][targets[r]]),
 *   lse_r = m_r + log(sum_j exp(logits[r][j] - m_r)),  m_r = max_j logits[r][j],
 * the stable log-sum-exp: logits of any finite magnitude give a finite loss.
 * When every row is ignored (count == 0) the loss is 0 and the gradient is
 * all zeros (PyTorch returns NaN there). Non-finite logits propagate.
 *
 * A target that is neither ignore_index nor in [0, classes) is an error
 * (QKV_ERR_BAD_TOKEN) and nothing is written. ignore_index may be any int32
 * (PyTorch's default is -100); if it lies in [0, classes) that class's rows
 * are ignored.
 *
 * Results are bitwise identical for any thread count. No workspace is needed.
 * Thread-safety: reentrant. */
#ifndef QKV_LOSS_H
#define QKV_LOSS_H

#include <stddef.h>
#include <stdint.h>

#include "qkv/export.h"
#include "qkv/status.h"

QKV_EXTERN_C_BEGIN

/** Mean cross-entropy of the counted rows.
 *  @param[in]  rows          number of rows N, >= 1.
 *  @param[in]  classes       number of classes V, >= 1.
 *  @param[in]  logits        rows x classes, leading dimension ld.
 *  @param[in]  ld            >= classes.
 *  @param[in]  targets       rows class indices.
 *  @param[in]  ignore_index  target value that marks a row as ignored.
 *  @param[out] loss          the mean loss (0 when every row is ignored).
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; QKV_ERR_BAD_SHAPE (rows or classes 0);
 *          QKV_ERR_BAD_STRIDE (ld < classes); QKV_ERR_SIZE_OVERFLOW;
 *          QKV_ERR_BAD_TOKEN (a target out of range). */
QKV_API qkv_status qkv_cross_entropy_forward(size_t rows, size_t classes, const float* logits, size_t ld,
                                             const int32_t* targets, int32_t ignore_index, float* loss);

/** Gradient of dloss * (mean cross-entropy) with respect to the logits:
 *    dlogits[r][j] = dloss / count * (softmax(logits[r])[j] - (j == targets[r]))
 *  for counted rows, 0 for ignored rows. dlogits is overwritten (not accumulated).
 *  @param[in]  rows, classes, logits, ld, targets, ignore_index  as in the forward.
 *  @param[in]  dloss    upstream gradient of the loss (1 for plain training), finite.
 *  @param[out] dlogits  rows x classes, leading dimension ldd; may be the logits
 *                       themselves (in place) when ldd == ld, otherwise must not overlap them.
 *  @param[in]  ldd      >= classes.
 *  @return as the forward, and QKV_ERR_BAD_ARGUMENT when dloss is not finite. */
QKV_API qkv_status qkv_cross_entropy_backward(size_t rows, size_t classes, const float* logits, size_t ld,
                                              const int32_t* targets, int32_t ignore_index, float dloss,
                                              float* dlogits, size_t ldd);

/** The forward and the backward in one pass over the logits (what a training
 *  step needs): *loss is bitwise what qkv_cross_entropy_forward() gives and
 *  dlogits bitwise what qkv_cross_entropy_backward() gives, at about half the
 *  memory traffic of the two calls. In place (dlogits == logits, ldd == ld) is
 *  allowed: each row's loss is taken before its gradient overwrites it.
 *  @param[in]  rows, classes, logits, ld, targets, ignore_index, dloss  as in the backward.
 *  @param[out] loss     the mean loss.
 *  @param[out] dlogits  as in the backward.
 *  @param[in]  ldd      >= classes.
 *  @return as the backward. */
QKV_API qkv_status qkv_cross_entropy_forward_backward(size_t rows, size_t classes, const float* logits, size_t ld,
                                                      const int32_t* targets, int32_t ignore_index, float dloss,
                                                      float* loss, float* dlogits, size_t ldd);

QKV_EXTERN_C_END

#endif /* QKV_LOSS_H */
