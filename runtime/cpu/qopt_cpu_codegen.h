//===- qopt_cpu_codegen.h - glue between generated code and kernels -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// What the C++ that `qopt-translate --emit=cpu-library` generates (through
// MLIR's EmitC dialect) calls. Every op of the model becomes one call of a
// template below whose template arguments are the op's static shape and
// quantization parameters, so each op gets its own specialized instance of
// the micro-kernel drivers in qopt_cpu_runtime.h (the drivers are inline and
// see constant trip counts). Sizes that depend on the batch (the dynamic dim
// of the model's inputs) are passed as pairs (perBatch, constant): the value
// is perBatch * batch + constant.
//
// Pointers are plain bytes: arena(ctx, perB, c) is a buffer in the per-run
// scratch arena, weight(ctx, off) a constant in the memory-mapped weights
// file, input(ctx, i) / output(ctx, i) the caller's tensors.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_CPU_CODEGEN_H
#define QOPT_CPU_CODEGEN_H

#include "qopt_cpu_runtime.h"
#include "qopt_model.h"

#include <cstdint>
#include <cstring>

namespace qopt_cg {

struct Ctx {
  qopt_cpu::ThreadPool *pool;
  const uint8_t *weights;
  uint8_t *arena;
  const void *const *inputs;
  void *const *outputs;
  int64_t batch;
};

#define QOPT_CG_INLINE static inline __attribute__((always_inline))

QOPT_CG_INLINE int64_t size(Ctx *c, int64_t perB, int64_t k) {
  return perB * c->batch + k;
}
QOPT_CG_INLINE uint8_t *arena(Ctx *c, int64_t perB, int64_t off) {
  return c->arena + perB * c->batch + off;
}
QOPT_CG_INLINE const uint8_t *weight(Ctx *c, int64_t off) {
  return c->weights + off;
}
QOPT_CG_INLINE const uint8_t *input(Ctx *c, int64_t i) {
  return static_cast<const uint8_t *>(c->inputs[i]);
}
QOPT_CG_INLINE uint8_t *output(Ctx *c, int64_t i) {
  return static_cast<uint8_t *>(c->outputs[i]);
}

template <typename T> QOPT_CG_INLINE const T *as(const uint8_t *p) {
  return reinterpret_cast<const T *>(p);
}
template <typename T> QOPT_CG_INLINE T *as_mut(uint8_t *p) {
  return reinterpret_cast<T *>(p);
}

/// Copies a result into the caller's output buffer.
QOPT_CG_INLINE void copy(Ctx *c, const uint8_t *src, uint8_t *dst,
                         int64_t perB, int64_t k) {
  int64_t n = size(c, perB, k);
  if (n > 0 && src != dst)
    std::memmove(dst, src, static_cast<size_t>(n));
}

//===----------------------------------------------------------------------===//
// Linear layers
//===----------------------------------------------------------------------===//

/// The int8 linear kernels take the weight layout the code generator packed
/// (QUADS: qopt_cpu::S8Layout::Quads, else Pairs).
constexpr qopt_cpu::S8Layout s8Layout(int quads) {
  return quads ? qopt_cpu::S8Layout::Quads : qopt_cpu::S8Layout::Pairs;
}

/// int8 x int8 -> requantized u8/s8: y = clamp(rne(float(acc) * mult[n]) + zp).
template <int64_t N, int64_t K, int AU8, int OU8, int32_t ZP, int32_t QMIN,
          int32_t QMAX, int QUADS>
QOPT_CG_INLINE void linear_s8_requant(Ctx *c, int64_t mPerB, int64_t mK,
                                      const uint8_t *a, const uint8_t *wp,
                                      const uint8_t *colbias,
                                      const uint8_t *mult, uint8_t *y) {
  qopt_cpu::Requant rq{as<float>(mult), ZP, QMIN, QMAX, OU8 != 0};
  qopt_cpu::gemm_s8_requant(*c->pool, size(c, mPerB, mK), N, K, a, AU8 != 0, K,
                            wp, as<int32_t>(colbias), rq, y, N,
                            s8Layout(QUADS));
}

/// int8 x int8 -> f32: y = float(acc) * scale[n] (+ bias[n]) (relu).
template <int64_t N, int64_t K, int AU8, int HAS_BIAS, int RELU, int QUADS>
QOPT_CG_INLINE void linear_s8_dequant(Ctx *c, int64_t mPerB, int64_t mK,
                                      const uint8_t *a, const uint8_t *wp,
                                      const uint8_t *colbias,
                                      const uint8_t *scale,
                                      const uint8_t *bias, uint8_t *y) {
  qopt_cpu::Dequant dq{as<float>(scale), HAS_BIAS ? as<float>(bias) : nullptr,
                       RELU != 0};
  qopt_cpu::gemm_s8_dequant(*c->pool, size(c, mPerB, mK), N, K, a, AU8 != 0, K,
                            wp, as<int32_t>(colbias), dq, as_mut<float>(y), N,
                            s8Layout(QUADS));
}

/// f32 x packed f32 weights (+ bias) (relu).
template <int64_t N, int64_t K, int HAS_BIAS, int RELU>
QOPT_CG_INLINE void linear_f32(Ctx *c, int64_t mPerB, int64_t mK,
                               const uint8_t *a, const uint8_t *wp,
                               const uint8_t *bias, uint8_t *y) {
  qopt_cpu::gemm_f32(*c->pool, size(c, mPerB, mK), N, K, as<float>(a), K, wp,
                     HAS_BIAS ? as<float>(bias) : nullptr, RELU != 0,
                     as_mut<float>(y), N);
}

/// f32 x int4 group-wise weights dequantized in registers (+ bias) (relu).
template <int64_t N, int64_t K, int64_t G, int HAS_BIAS, int RELU>
QOPT_CG_INLINE void linear_w4(Ctx *c, int64_t mPerB, int64_t mK,
                              const uint8_t *a, const uint8_t *wp,
                              const uint8_t *bias, uint8_t *y) {
  int64_t m = size(c, mPerB, mK);
  float *out = as_mut<float>(y);
  qopt_cpu::gemm_w4_f32(*c->pool, m, N, K, G, as<float>(a), K, wp,
                        HAS_BIAS ? as<float>(bias) : nullptr, out, N);
  if (RELU)
    qopt_cpu::unary_f32(*c->pool, qopt_cpu::Unary::Relu, m * N, out, out);
}

/// Batched product of two activations: C_b = alpha * A_b x B_b, B_b element
/// (k, n) at B + b*strideB + k*ldbK + n*ldbN. `batch` is bPerB*batch + bK.
template <int64_t M, int64_t N, int64_t K, int64_t LDB_K, int64_t LDB_N>
QOPT_CG_INLINE void batch_matmul_f32(Ctx *c, int64_t bPerB, int64_t bK,
                                     int64_t aBatchStride,
                                     int64_t bBatchStride, float alpha,
                                     const uint8_t *a, const uint8_t *b,
                                     uint8_t *y) {
  qopt_cpu::batch_matmul_f32(*c->pool, size(c, bPerB, bK), M, N, K,
                             as<float>(a), aBatchStride, K, as<float>(b),
                             bBatchStride, LDB_K, LDB_N, alpha,
                             as_mut<float>(y), M * N, N);
}

/// Batched product of two 8-bit activations with per-tensor zero points:
/// C_b[M,N] = (A_b - ZA) x (B_b - ZB), int32 (exact: |terms| <= 255 * 255 and
/// K is checked by the compiler). B_b is row-major [K, N] at b * bBatchStride.
template <int64_t M, int64_t N, int64_t K, int AU8, int BU8, int32_t ZA,
          int32_t ZB>
QOPT_CG_INLINE void batch_matmul_q8(Ctx *c, int64_t bPerB, int64_t bK,
                                    int64_t bBatchStride, const uint8_t *a,
                                    const uint8_t *b, uint8_t *y) {
  static_assert(K * 255 * 255 < (int64_t(1) << 31), "K overflows int32");
  qopt_cpu::batch_matmul_s8(*c->pool, size(c, bPerB, bK), M, N, K, a,
                            AU8 != 0, ZA, b, BU8 != 0, ZB, bBatchStride,
                            as_mut<int32_t>(y));
}

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

template <int OU8, int32_t ZP, int32_t QMIN, int32_t QMAX>
QOPT_CG_INLINE void quantize(Ctx *c, int64_t nPerB, int64_t nK, float scale,
                             const uint8_t *x, uint8_t *q) {
  qopt_cpu::quantize_f32(*c->pool, size(c, nPerB, nK), as<float>(x), scale, ZP,
                         QMIN, QMAX, OU8 != 0, q);
}

/// dtype: 0 u8, 1 s8, 2 i32.
template <int DTYPE, int32_t ZP>
QOPT_CG_INLINE void dequantize(Ctx *c, int64_t nPerB, int64_t nK, float scale,
                               const uint8_t *q, uint8_t *y) {
  qopt_cpu::dequantize_to_f32(*c->pool, size(c, nPerB, nK), q, DTYPE, scale,
                              ZP, as_mut<float>(y));
}

/// int32 [rows, N] -> u8/s8 with one multiplier per tensor or per column.
template <int64_t N, int PER_COLUMN, int OU8, int32_t ZP, int32_t QMIN,
          int32_t QMAX>
QOPT_CG_INLINE void requantize(Ctx *c, int64_t rPerB, int64_t rK,
                               const uint8_t *acc, const uint8_t *mult,
                               uint8_t *q) {
  qopt_cpu::requantize_i32(*c->pool, size(c, rPerB, rK), N, as<int32_t>(acc),
                           as<float>(mult), PER_COLUMN != 0, ZP, QMIN, QMAX,
                           OU8 != 0, q);
}

template <int64_t COLS>
QOPT_CG_INLINE void dynamic_quantize_per_token(Ctx *c, int64_t rPerB,
                                               int64_t rK, const uint8_t *x,
                                               uint8_t *q, uint8_t *scale) {
  qopt_cpu::dynamic_quantize_per_token(*c->pool, size(c, rPerB, rK), COLS,
                                       as<float>(x), as_mut<int8_t>(q),
                                       as_mut<float>(scale));
}

//===----------------------------------------------------------------------===//
// Float ops
//===----------------------------------------------------------------------===//

template <int OP>
QOPT_CG_INLINE void unary(Ctx *c, int64_t nPerB, int64_t nK, const uint8_t *x,
                          uint8_t *y) {
  qopt_cpu::unary_f32(*c->pool, static_cast<qopt_cpu::Unary>(OP),
                      size(c, nPerB, nK), as<float>(x), as_mut<float>(y));
}

/// Broadcasting binary op on rank <= 6; dims and strides live in the weights
/// file (int64 [3][rank]: out dims, a strides, b strides); a dim of -1 is the
/// batch.
template <int OP, int RANK>
QOPT_CG_INLINE void binary(Ctx *c, const uint8_t *layout, const uint8_t *a,
                           const uint8_t *b, uint8_t *y) {
  const int64_t *l = as<int64_t>(layout);
  int64_t dims[RANK], sa[RANK], sb[RANK];
  for (int i = 0; i < RANK; ++i) {
    dims[i] = l[i] < 0 ? c->batch : l[i];
    sa[i] = l[RANK + i];
    sb[i] = l[2 * RANK + i];
  }
  // Strides of dims left of a batch dim scale with the batch; the compiler
  // only emits layouts whose batch dim is the outermost one.
  qopt_cpu::binary_f32(*c->pool, static_cast<qopt_cpu::Binary>(OP), RANK, dims,
                       as<float>(a), sa, as<float>(b), sb, as_mut<float>(y));
}

template <int64_t COLS>
QOPT_CG_INLINE void softmax(Ctx *c, int64_t rPerB, int64_t rK,
                            const uint8_t *x, uint8_t *y) {
  qopt_cpu::softmax_f32(*c->pool, size(c, rPerB, rK), COLS, as<float>(x),
                        as_mut<float>(y));
}

template <int64_t COLS, int HAS_BETA>
QOPT_CG_INLINE void layer_norm(Ctx *c, int64_t rPerB, int64_t rK, float eps,
                               const uint8_t *x, const uint8_t *gamma,
                               const uint8_t *beta, uint8_t *y) {
  qopt_cpu::layer_norm_f32(*c->pool, size(c, rPerB, rK), COLS, as<float>(x),
                           as<float>(gamma),
                           HAS_BETA ? as<float>(beta) : nullptr, eps,
                           as_mut<float>(y));
}

template <int64_t COLS>
QOPT_CG_INLINE void rms_norm(Ctx *c, int64_t rPerB, int64_t rK, float eps,
                             const uint8_t *x, const uint8_t *gamma,
                             uint8_t *y) {
  qopt_cpu::rms_norm_f32(*c->pool, size(c, rPerB, rK), COLS, as<float>(x),
                         as<float>(gamma), eps, as_mut<float>(y));
}

/// Permutation copy; `layout` holds int64 [2][rank] (input dims, with -1 for
/// the batch, and the permutation).
template <int RANK, int64_t ELEM>
QOPT_CG_INLINE void transpose(Ctx *c, const uint8_t *layout, const uint8_t *x,
                              uint8_t *y) {
  const int64_t *l = as<int64_t>(layout);
  int64_t dims[RANK], perm[RANK];
  for (int i = 0; i < RANK; ++i) {
    dims[i] = l[i] < 0 ? c->batch : l[i];
    perm[i] = l[RANK + i];
  }
  qopt_cpu::transpose(*c->pool, RANK, dims, perm, ELEM, x, y);
}

} // namespace qopt_cg

#endif // QOPT_CPU_CODEGEN_H
