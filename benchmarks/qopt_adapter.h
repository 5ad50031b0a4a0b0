//===- qopt_adapter.h - qopt's CPU kernels as qopt-bench-gemm sees them ---===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// The only interface between the peer benchmark (peers_onednn.cpp, built by
// the project's compiler with oneDNN and OpenMP) and runtime/cpu's kernels
// (qopt_adapter.cpp, built by the compiler and flags qopt-translate uses for
// libraries, so the benchmark measures the code a compiled model runs).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_BENCHMARKS_QOPT_ADAPTER_H
#define QOPT_BENCHMARKS_QOPT_ADAPTER_H

#include <cstddef>
#include <cstdint>
#include <string>

namespace qopt_bench {

/// How the kernels were built: compiler and flags (printed with the table).
std::string kernelBuild();

class Pool {
public:
  explicit Pool(int threads);
  ~Pool();
  Pool(const Pool &) = delete;
  Pool &operator=(const Pool &) = delete;
  void *impl;
};

/// int8 GEMM: u8 activations [M, K] x s8 weights [K, N] -> exact s32 [M, N].
/// quads: the vpmaddubsw kernel (u8 quads), which the code generator picks
/// only when every k-pair of the weights fits int16 (qopt_cpu_pack.h's
/// s8_pairs_fit_int16; true for weights in [-64, 63]); otherwise int16
/// pairs (vpmaddwd), exact for any weights.
class S8Gemm {
public:
  S8Gemm(const int8_t *w, int64_t K, int64_t N, bool quads);
  ~S8Gemm();
  S8Gemm(const S8Gemm &) = delete;
  S8Gemm &operator=(const S8Gemm &) = delete;
  void run(Pool &pool, int64_t M, const uint8_t *a, int32_t *c) const;

private:
  int64_t K, N;
  bool quads;
  uint8_t *packed;
  int32_t *colbias;
};

/// f32 GEMM: [M, K] x [K, N].
class F32Gemm {
public:
  F32Gemm(const float *w, int64_t K, int64_t N);
  ~F32Gemm();
  F32Gemm(const F32Gemm &) = delete;
  F32Gemm &operator=(const F32Gemm &) = delete;
  void run(Pool &pool, int64_t M, const float *a, float *c) const;

private:
  int64_t K, N;
  uint8_t *packed;
};

/// int4 symmetric group-wise weight-only GEMV/GEMM: q in [-8, 7] as int8
/// [K, N], scales f32 [K / G, N].
class W4Gemm {
public:
  W4Gemm(const int8_t *q, const float *scales, int64_t K, int64_t N,
         int64_t G);
  W4Gemm(const W4Gemm &o);
  ~W4Gemm();
  W4Gemm &operator=(const W4Gemm &) = delete;
  size_t bytes() const { return size; }
  void run(Pool &pool, int64_t M, const float *a, float *c) const;

private:
  int64_t K, N, G;
  size_t size;
  uint8_t *packed;
};

} // namespace qopt_bench

#endif // QOPT_BENCHMARKS_QOPT_ADAPTER_H
