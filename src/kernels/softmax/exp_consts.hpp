// SPDX-License-Identifier: MIT
// exp_consts.hpp - the constants of the library's one exp, shared by the
// vector form (exp-inl.hpp) and its scalar twin (exp_scalar.hpp), so the two
// cannot drift apart: Cody-Waite reduction with Cephes' split of ln 2, a
// degree-6 minimax polynomial on [-ln2/2, ln2/2], and the flush and overflow
// points.
#pragma once

namespace qkv::kern::expc {

constexpr float kLog2e = 1.44269504088896341f;
// 1.5 * 2^23 + 127: adding it rounds x*log2(e) to the nearest integer n and
// leaves n + 127 (the biased exponent of 2^n) in the low mantissa bits.
constexpr float kRound = 12582912.0f + 127.0f;
constexpr float kLn2Hi = 0.693359375f;  // ln 2 = kLn2Hi + kLn2Lo, kLn2Hi exact in 9 bits
constexpr float kLn2Lo = -2.12194440e-4f;
// e^r ~ 1 + r + c2 r^2 + ... + c6 r^6 (minimax, relative, on [-ln2/2, ln2/2]).
constexpr float kC2 = 0.49999991059303284f, kC3 = 0.16666419804096222f, kC4 = 0.04166822507977486f,
                kC5 = 0.008374815806746483f, kC6 = 0.001383684342727065f;
constexpr float kMinArg = -87.33654f;         // below: the result is subnormal, flushed to 0
constexpr float kMaxArg = 88.3762626647949f;  // above: +inf

}  // namespace qkv::kern::expc
