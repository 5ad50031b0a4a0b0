//===- qopt_adapter.cpp - qopt's CPU kernels for qopt-bench-gemm ----------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Built by benchmarks/CMakeLists.txt with the compiler qopt-translate uses
// for libraries (clang++-22 when installed) and the cpu:avx2 flags, so that
// row b/c numbers are those of generated code, not of the project compiler.
//
//===----------------------------------------------------------------------===//

#include "qopt_adapter.h"

#ifndef QOPT_CPU_TARGET_AVX2
#define QOPT_CPU_TARGET_AVX2 1
#endif
#include "qopt_cpu_runtime.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "qopt_adapter_build.h" // QOPT_BENCH_KERNEL_BUILD (CMake writes it)

namespace qopt_bench {
namespace {
constexpr qopt_cpu::Target kTarget = qopt_cpu::Target::AVX2;

/// 64-byte aligned (the packed blobs must be).
template <class T> T *alignedArray(size_t count) {
  size_t bytes = (count * sizeof(T) + 63) / 64 * 64;
  void *p = std::aligned_alloc(64, bytes ? bytes : 64);
  if (!p)
    throw std::bad_alloc();
  return static_cast<T *>(p);
}

qopt_cpu::S8Layout layout(bool quads) {
  return quads ? qopt_cpu::S8Layout::Quads : qopt_cpu::S8Layout::Pairs;
}

qopt_cpu::ThreadPool &pool(Pool &p) {
  return *static_cast<qopt_cpu::ThreadPool *>(p.impl);
}
} // namespace

std::string kernelBuild() { return QOPT_BENCH_KERNEL_BUILD; }

Pool::Pool(int threads) : impl(new qopt_cpu::ThreadPool(threads)) {}
Pool::~Pool() { delete static_cast<qopt_cpu::ThreadPool *>(impl); }

S8Gemm::S8Gemm(const int8_t *w, int64_t K, int64_t N, bool quads)
    : K(K), N(N), quads(quads),
      packed(alignedArray<uint8_t>(qopt_cpu::packed_s8_size(layout(quads), K,
                                                            N))),
      colbias(alignedArray<int32_t>(N)) {
  if (quads && !qopt_cpu::s8_pairs_fit_int16(w, K, N)) {
    std::fprintf(stderr, "qopt-bench-gemm: weights do not fit the "
                         "vpmaddubsw kernel\n");
    std::exit(1);
  }
  qopt_cpu::pack_s8(layout(quads), w, K, N, packed);
  if (!qopt_cpu::fold_colbias_s8(layout(quads), w, K, N, /*bias=*/nullptr,
                                 /*a_zp=*/0, /*a_is_u8=*/true, colbias)) {
    std::fprintf(stderr, "qopt-bench-gemm: fold_colbias_s8: int32 "
                         "accumulator range exceeded\n");
    std::exit(1);
  }
}
S8Gemm::~S8Gemm() {
  std::free(packed);
  std::free(colbias);
}
void S8Gemm::run(Pool &p, int64_t M, const uint8_t *a, int32_t *c) const {
  qopt_cpu::gemm_s8_i32(pool(p), M, N, K, a, true, K, packed, colbias, c, N,
                        layout(quads));
}

F32Gemm::F32Gemm(const float *w, int64_t K, int64_t N)
    : K(K), N(N),
      packed(alignedArray<uint8_t>(qopt_cpu::packed_f32_size(kTarget, K, N))) {
  qopt_cpu::pack_f32(kTarget, w, K, N, packed);
}
F32Gemm::~F32Gemm() { std::free(packed); }
void F32Gemm::run(Pool &p, int64_t M, const float *a, float *c) const {
  qopt_cpu::gemm_f32(pool(p), M, N, K, a, K, packed, nullptr, false, c, N);
}

W4Gemm::W4Gemm(const int8_t *q, const float *scales, int64_t K, int64_t N,
               int64_t G)
    : K(K), N(N), G(G), size(qopt_cpu::packed_w4_size(kTarget, K, N, G)),
      packed(alignedArray<uint8_t>(size)) {
  qopt_cpu::pack_w4(kTarget, q, scales, /*zps=*/nullptr, K, N, G, packed);
}
W4Gemm::W4Gemm(const W4Gemm &o)
    : K(o.K), N(o.N), G(o.G), size(o.size),
      packed(alignedArray<uint8_t>(o.size)) {
  std::memcpy(packed, o.packed, size);
}
W4Gemm::~W4Gemm() { std::free(packed); }
void W4Gemm::run(Pool &p, int64_t M, const float *a, float *c) const {
  qopt_cpu::gemm_w4_f32(pool(p), M, N, K, G, a, K, packed, nullptr, c, N);
}

} // namespace qopt_bench
