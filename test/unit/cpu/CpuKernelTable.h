//===- CpuKernelTable.h - Per-target CPU runtime entry points ---*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// The CPU runtime (runtime/cpu/qopt_cpu_runtime.h) is compiled once per
// target (KernelsGeneric.cpp, KernelsAvx2.cpp, KernelsAvx512.cpp), each
// exposing its kernels through one CpuKernelTable, so that CpuKernelsTest.cpp
// runs the same test bodies on every target. Thread pools are owned by the
// tables (one with 1 thread and one with 2); `threads` picks one.
//
// A Kernels*.cpp defines QOPT_CPU_TABLE_FN (the accessor name),
// QOPT_CPU_TABLE_NAME and QOPT_CPU_TABLE_SUPPORTED (an expression), includes
// the runtime header with its target macro, then this header, which then
// also emits the table.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TEST_CPU_KERNEL_TABLE_H
#define QOPT_TEST_CPU_KERNEL_TABLE_H

#include "qopt_cpu_pack.h"

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace qopt_cpu_test {

struct CpuKernelTable {
  const char *name;
  qopt_cpu::Target target;
  bool (*supported)();
  void (*gemmS8Requant)(int threads, int64_t M, int64_t N, int64_t K,
                        const void *A, bool aIsU8, int64_t lda, const void *Wp,
                        const int32_t *colbias, const qopt_cpu::Requant &rq,
                        void *C, int64_t ldc, qopt_cpu::S8Layout layout);
  void (*gemmS8Dequant)(int threads, int64_t M, int64_t N, int64_t K,
                        const void *A, bool aIsU8, int64_t lda, const void *Wp,
                        const int32_t *colbias, const qopt_cpu::Dequant &dq,
                        float *C, int64_t ldc, qopt_cpu::S8Layout layout);
  void (*gemmS8I32)(int threads, int64_t M, int64_t N, int64_t K, const void *A,
                    bool aIsU8, int64_t lda, const void *Wp,
                    const int32_t *colbias, int32_t *C, int64_t ldc,
                    qopt_cpu::S8Layout layout);
  void (*gemmF32)(int threads, int64_t M, int64_t N, int64_t K, const float *A,
                  int64_t lda, const void *Wp, const float *bias, bool relu,
                  float *C, int64_t ldc);
  void (*batchMatmulF32)(int threads, int64_t batch, int64_t M, int64_t N,
                         int64_t K, const float *A, int64_t strideA,
                         int64_t lda, const float *B, int64_t strideB,
                         int64_t ldbK, int64_t ldbN, float alpha, float *C,
                         int64_t strideC, int64_t ldc);
  void (*batchMatmulS8)(int threads, int64_t batch, int64_t M, int64_t N,
                        int64_t K, const void *A, bool aIsU8, int32_t za,
                        const void *B, bool bIsU8, int32_t zb,
                        int64_t bBatchStride, int32_t *C);
  void (*gemmW4F32)(int threads, int64_t M, int64_t N, int64_t K, int64_t G,
                    const float *A, int64_t lda, const void *Wp,
                    const float *bias, float *C, int64_t ldc);
  void (*quantizeF32)(int threads, int64_t n, const float *x, float scale,
                      int32_t zp, int32_t qmin, int32_t qmax, bool outU8,
                      void *q);
  void (*dequantizeToF32)(int threads, int64_t n, const void *q, int dtype,
                          float scale, int32_t zp, float *y);
  void (*dynamicQuantizePerToken)(int threads, int64_t rows, int64_t cols,
                                  const float *x, int8_t *q, float *scale);
  void (*requantizeI32)(int threads, int64_t rows, int64_t N,
                        const int32_t *acc, const float *mult, bool perColumn,
                        int32_t outZp, int32_t qmin, int32_t qmax, bool outU8,
                        void *q);
  /// op: the qopt_cpu::Unary / qopt_cpu::Binary enumerator as int.
  void (*unaryF32)(int threads, int op, int64_t n, const float *x, float *y);
  void (*binaryF32)(int threads, int op, int rank, const int64_t *outDims,
                    const float *a, const int64_t *aStrides, const float *b,
                    const int64_t *bStrides, float *y);
  void (*softmaxF32)(int threads, int64_t rows, int64_t cols, const float *x,
                     float *y);
  void (*layerNormF32)(int threads, int64_t rows, int64_t cols, const float *x,
                       const float *gamma, const float *beta, float eps,
                       float *y);
  void (*rmsNormF32)(int threads, int64_t rows, int64_t cols, const float *x,
                     const float *gamma, float eps, float *y);
  void (*transpose)(int threads, int rank, const int64_t *inDims,
                    const int64_t *perm, size_t elemSize, const void *x,
                    void *y);
  /// Sum over i in [0, n) of (i + 1), computed with pool.parallel_for
  /// `rounds` times back to back.
  int64_t (*parallelForSum)(int threads, int64_t n, int rounds);
};

const CpuKernelTable &cpuKernelsGeneric();
const CpuKernelTable &cpuKernelsAvx2();
/// Only defined when KernelsAvx512.cpp is built (QOPT_CPU_TEST_HAVE_AVX512).
const CpuKernelTable &cpuKernelsAvx512();

} // namespace qopt_cpu_test

#endif // QOPT_TEST_CPU_KERNEL_TABLE_H

//===----------------------------------------------------------------------===//
// Table definition, emitted by the Kernels*.cpp that asks for it.
//===----------------------------------------------------------------------===//

#if defined(QOPT_CPU_TABLE_FN) && !defined(QOPT_CPU_TABLE_EMITTED)
#define QOPT_CPU_TABLE_EMITTED
namespace {
namespace rt = qopt_cpu;

rt::ThreadPool &pool(int threads) {
  static rt::ThreadPool p1(1), p2(2);
  return threads <= 1 ? p1 : p2;
}

const qopt_cpu_test::CpuKernelTable kTable = {
    QOPT_CPU_TABLE_NAME,
    rt::kTarget,
    [] { return static_cast<bool>(QOPT_CPU_TABLE_SUPPORTED); },
    [](int t, int64_t M, int64_t N, int64_t K, const void *A, bool u8,
       int64_t lda, const void *Wp, const int32_t *cb, const rt::Requant &rq,
       void *C, int64_t ldc, rt::S8Layout l) {
      rt::gemm_s8_requant(pool(t), M, N, K, A, u8, lda, Wp, cb, rq, C, ldc, l);
    },
    [](int t, int64_t M, int64_t N, int64_t K, const void *A, bool u8,
       int64_t lda, const void *Wp, const int32_t *cb, const rt::Dequant &dq,
       float *C, int64_t ldc, rt::S8Layout l) {
      rt::gemm_s8_dequant(pool(t), M, N, K, A, u8, lda, Wp, cb, dq, C, ldc, l);
    },
    [](int t, int64_t M, int64_t N, int64_t K, const void *A, bool u8,
       int64_t lda, const void *Wp, const int32_t *cb, int32_t *C,
       int64_t ldc, rt::S8Layout l) {
      rt::gemm_s8_i32(pool(t), M, N, K, A, u8, lda, Wp, cb, C, ldc, l);
    },
    [](int t, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
       const void *Wp, const float *bias, bool relu, float *C, int64_t ldc) {
      rt::gemm_f32(pool(t), M, N, K, A, lda, Wp, bias, relu, C, ldc);
    },
    [](int t, int64_t batch, int64_t M, int64_t N, int64_t K, const float *A,
       int64_t sA, int64_t lda, const float *B, int64_t sB, int64_t ldbK,
       int64_t ldbN, float alpha, float *C, int64_t sC, int64_t ldc) {
      rt::batch_matmul_f32(pool(t), batch, M, N, K, A, sA, lda, B, sB, ldbK,
                           ldbN, alpha, C, sC, ldc);
    },
    [](int t, int64_t batch, int64_t M, int64_t N, int64_t K, const void *A,
       bool aU8, int32_t za, const void *B, bool bU8, int32_t zb, int64_t sB,
       int32_t *C) {
      rt::batch_matmul_s8(pool(t), batch, M, N, K, A, aU8, za, B, bU8, zb, sB,
                          C);
    },
    [](int t, int64_t M, int64_t N, int64_t K, int64_t G, const float *A,
       int64_t lda, const void *Wp, const float *bias, float *C, int64_t ldc) {
      rt::gemm_w4_f32(pool(t), M, N, K, G, A, lda, Wp, bias, C, ldc);
    },
    [](int t, int64_t n, const float *x, float s, int32_t zp, int32_t lo,
       int32_t hi, bool u8,
       void *q) { rt::quantize_f32(pool(t), n, x, s, zp, lo, hi, u8, q); },
    [](int t, int64_t n, const void *q, int dtype, float s, int32_t zp,
       float *y) { rt::dequantize_to_f32(pool(t), n, q, dtype, s, zp, y); },
    [](int t, int64_t rows, int64_t cols, const float *x, int8_t *q, float *s) {
      rt::dynamic_quantize_per_token(pool(t), rows, cols, x, q, s);
    },
    [](int t, int64_t rows, int64_t N, const int32_t *acc, const float *mult,
       bool perCol, int32_t zp, int32_t lo, int32_t hi, bool u8, void *q) {
      rt::requantize_i32(pool(t), rows, N, acc, mult, perCol, zp, lo, hi, u8,
                         q);
    },
    [](int t, int op, int64_t n, const float *x, float *y) {
      rt::unary_f32(pool(t), static_cast<rt::Unary>(op), n, x, y);
    },
    [](int t, int op, int rank, const int64_t *dims, const float *a,
       const int64_t *as, const float *b, const int64_t *bs, float *y) {
      rt::binary_f32(pool(t), static_cast<rt::Binary>(op), rank, dims, a, as, b,
                     bs, y);
    },
    [](int t, int64_t rows, int64_t cols, const float *x, float *y) {
      rt::softmax_f32(pool(t), rows, cols, x, y);
    },
    [](int t, int64_t rows, int64_t cols, const float *x, const float *g,
       const float *b, float eps,
       float *y) { rt::layer_norm_f32(pool(t), rows, cols, x, g, b, eps, y); },
    [](int t, int64_t rows, int64_t cols, const float *x, const float *g,
       float eps,
       float *y) { rt::rms_norm_f32(pool(t), rows, cols, x, g, eps, y); },
    [](int t, int rank, const int64_t *dims, const int64_t *perm, size_t es,
       const void *x,
       void *y) { rt::transpose(pool(t), rank, dims, perm, es, x, y); },
    [](int t, int64_t n, int rounds) {
      std::atomic<int64_t> sum{0};
      for (int r = 0; r < rounds; ++r)
        pool(t).parallel_for(n, [&](int64_t i) {
          sum.fetch_add(i + 1, std::memory_order_relaxed);
        });
      return sum.load();
    },
};
} // namespace

const qopt_cpu_test::CpuKernelTable &qopt_cpu_test::QOPT_CPU_TABLE_FN() {
  return kTable;
}
#endif
