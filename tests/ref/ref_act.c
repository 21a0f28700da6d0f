/* SPDX-License-Identifier: MIT */
#include "ref/ref_act.h"

#include <math.h>

static const double kSqrt2OverPi = 0.79788456080286535588;
static const double kInvSqrt2 = 0.70710678118654752440;
static const double kInvSqrt2Pi = 0.39894228040143267794;

static double sigmoid(double v) { return 1.0 / (1.0 + exp(-v)); }

/* t of gelu_tanh and its derivative. */
static double tanh_arg(double x) { return 2.0 * kSqrt2OverPi * (x + 0.044715 * x * x * x); }
static double tanh_arg_d(double x) { return 2.0 * kSqrt2OverPi * (1.0 + 3.0 * 0.044715 * x * x); }

double qkv_ref_act(qkv_activation kind, double x) {
  switch (kind) {
    case QKV_ACT_GELU_TANH: return x * sigmoid(tanh_arg(x));
    case QKV_ACT_GELU_ERF: return 0.5 * x * erfc(-x * kInvSqrt2);
    case QKV_ACT_SILU: return x * sigmoid(x);
    case QKV_ACT_RELU: return x > 0.0 ? x : 0.0;
  }
  return 0.0;
}

double qkv_ref_act_derivative(qkv_activation kind, double x, double* mag) {
  double a = 0.0, b = 0.0; /* the derivative is a + b */
  switch (kind) {
    case QKV_ACT_GELU_TANH: {
      const double t = tanh_arg(x), s = sigmoid(t), c = sigmoid(-t);
      a = s;
      b = x * s * c * tanh_arg_d(x);
      if (s * c == 0.0) b = 0.0; /* x^3 may be inf where s c is 0 */
      break;
    }
    case QKV_ACT_GELU_ERF:
      a = 0.5 * erfc(-x * kInvSqrt2);
      b = x * kInvSqrt2Pi * exp(-0.5 * x * x);
      break;
    case QKV_ACT_SILU: {
      const double s = sigmoid(x), c = sigmoid(-x);
      a = s;
      b = x * s * c;
      if (s * c == 0.0) b = 0.0;
      break;
    }
    case QKV_ACT_RELU: a = x > 0.0 ? 1.0 : 0.0; break;
  }
  if (mag) *mag = fabs(a) + fabs(b);
  return a + b;
}

double qkv_ref_act_condition(qkv_activation kind, double x) {
  if (x >= 0.0) return 0.0;
  if (kind == QKV_ACT_GELU_TANH) return fabs(tanh_arg(x));
  if (kind == QKV_ACT_GELU_ERF) return x * x;
  return 0.0;
}

void qkv_ref_act_forward(qkv_activation kind, size_t rows, size_t n, const float* x, size_t ldx, double* y,
                         size_t ldy) {
  size_t r, j;
  for (r = 0; r < rows; ++r)
    for (j = 0; j < n; ++j) y[r * ldy + j] = qkv_ref_act(kind, x[r * ldx + j]);
}

void qkv_ref_act_backward(qkv_activation kind, size_t rows, size_t n, const float* x, size_t ldx, const float* dy,
                          size_t ldy, double* dx, size_t lddx) {
  size_t r, j;
  for (r = 0; r < rows; ++r)
    for (j = 0; j < n; ++j)
      dx[r * lddx + j] = (double)dy[r * ldy + j] * qkv_ref_act_derivative(kind, x[r * ldx + j], NULL);
}

void qkv_ref_swiglu_forward(size_t rows, size_t n, const float* g, size_t ldg, const float* u, size_t ldu, double* y,
                            size_t ldy) {
  size_t r, j;
  for (r = 0; r < rows; ++r)
    for (j = 0; j < n; ++j) y[r * ldy + j] = qkv_ref_act(QKV_ACT_SILU, g[r * ldg + j]) * (double)u[r * ldu + j];
}

void qkv_ref_swiglu_backward(size_t rows, size_t n, const float* g, size_t ldg, const float* u, size_t ldu,
                             const float* dy, size_t ldy, double* dg, size_t lddg, double* du, size_t lddu) {
  size_t r, j;
  for (r = 0; r < rows; ++r)
    for (j = 0; j < n; ++j) {
      const float gv = g[r * ldg + j];
      const double d = dy[r * ldy + j];
      dg[r * lddg + j] = d * (double)u[r * ldu + j] * qkv_ref_act_derivative(QKV_ACT_SILU, gv, NULL);
      du[r * lddu + j] = d * qkv_ref_act(QKV_ACT_SILU, gv);
    }
}
