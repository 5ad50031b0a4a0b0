//===- qopt_cpu_pack.h - Weight packing for the CPU runtime -----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Portable (C++17, no intrinsics, no target flags) half of the qopt CPU
// runtime: the target enum, the epilogue descriptors, and the compile-time
// weight packers / constant folders the code generator runs on constant
// weights. The kernels that read these blobs are in qopt_cpu_runtime.h.
//
// Packed layouts (all blobs start 64-byte aligned; padding is zero):
//  * s8 GEMM weights, Generic and AVX2: int16 k-pairs in panels of 16
//    columns, [ceil(N/16)][ceil(K/2)][16][2] int16: element (p, g, c, j) is
//    W[2g + j, 16p + c]. One k-pair row of a panel is 64 bytes.
//  * s8 GEMM weights, AVX512VNNI: int8 k-quads, [ceil(N/16)][ceil(K/4)][16][4]
//    int8 (element (p, g, c, j) is W[4g + j, 16p + c]); 64 bytes per row.
//  * f32 GEMM weights (all targets): [ceil(N/16)][K][16] f32.
//  * int4 weight-only (all targets): for each block of 16 columns, for each
//    group g of G rows (the last one may be shorter): 16 f32 scales, 16 f32
//    zero points, then ceil(len_g / 8) steps of 16 uint32, where bit field
//    [4j, 4j + 4) of word (s, c) holds the unsigned nibble u of row
//    g*G + 8s + j, column c. Symmetric weights are stored as u = q + 8 with
//    zero point 8, asymmetric ones as u = q with their zero point, so the
//    dequantized weight is always (u - zp) * scale.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_CPU_PACK_H
#define QOPT_CPU_PACK_H

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace qopt_cpu {

enum class Target { Generic = 0, AVX2 = 1, AVX512VNNI = 2 };

/// Requantizing epilogue: y = clamp(nearbyint(float(acc) * mult[n]) + out_zp,
/// qmin, qmax), as qopt::kernels::requantize (f32 product, round half even).
struct Requant {
  const float *mult; // [N]
  int32_t out_zp;
  int32_t qmin, qmax;
  bool out_u8;
};

/// Dequantizing epilogue: y = float(acc) * scale[n]; y = y + bias[n] (when
/// bias); y = max(y, 0) (when relu, NaN-preserving like the executor). Each
/// step is a separate f32 operation.
struct Dequant {
  const float *scale; // [N]
  const float *bias;  // [N] or null
  bool relu;
};

namespace pack_detail {
constexpr int64_t kPanel = 16; // columns per weight panel
static inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static inline size_t roundUp64(size_t bytes) {
  return (bytes + 63) & ~size_t(63);
}
} // namespace pack_detail

/// How int8 GEMM weights are packed: 16-column panels of k-groups, 64 bytes
/// per group.
///  * Pairs: two k per column as int16 (AVX2 / generic `vpmaddwd`; exact for
///    any int8 weights);
///  * Quads: four k per column as int8 (`vpdpbusd` on AVX-512 VNNI; on AVX2
///    `vpmaddubsw`, which is exact only for weights where
///    s8_pairs_fit_int16 holds). The activations are fed as u8 (s8 ones
///    shifted by 128, which the folded column constant undoes).
enum class S8Layout { Pairs = 2, Quads = 4 };

/// The layout a target's kernels read by default.
static inline S8Layout s8_default_layout(Target t) {
  return t == Target::AVX512VNNI ? S8Layout::Quads : S8Layout::Pairs;
}

/// True when `vpmaddubsw` (u8 x s8, adjacent products summed into a
/// saturating int16) is exact for these weights and every u8 activation:
/// in every column, each k-pair (2i, 2i + 1) has a sum of positive weights
/// <= 128 and of negative ones >= -128 (255 * 128 = 32640 fits int16).
/// Always true for weights in [-64, 63] (qopt-quantize weight-bits=7).
static inline bool s8_pairs_fit_int16(const int8_t *W, int64_t K, int64_t N) {
  for (int64_t k = 0; k < K; k += 2)
    for (int64_t n = 0; n < N; ++n) {
      const int32_t w0 = W[k * N + n];
      const int32_t w1 = k + 1 < K ? W[(k + 1) * N + n] : 0;
      const int32_t pos = std::max(w0, 0) + std::max(w1, 0);
      const int32_t neg = std::min(w0, 0) + std::min(w1, 0);
      if (pos > 128 || neg < -128)
        return false;
    }
  return true;
}

//===----------------------------------------------------------------------===//
// int8 GEMM weights
//===----------------------------------------------------------------------===//

static inline size_t packed_s8_size(S8Layout l, int64_t K, int64_t N) {
  using namespace pack_detail;
  int64_t groups = ceilDiv(K, static_cast<int64_t>(l));
  return roundUp64(static_cast<size_t>(ceilDiv(N, kPanel) * groups * 64));
}
static inline size_t packed_s8_size(Target t, int64_t K, int64_t N) {
  return packed_s8_size(s8_default_layout(t), K, N);
}
static inline void pack_s8(S8Layout l, const int8_t *W, int64_t K, int64_t N,
                           void *out) {
  using namespace pack_detail;
  const int64_t gsz = static_cast<int64_t>(l);
  const int64_t groups = ceilDiv(K, gsz);
  const int64_t panels = ceilDiv(N, kPanel);
  std::memset(out, 0, packed_s8_size(l, K, N));
  for (int64_t p = 0; p < panels; ++p)
    for (int64_t g = 0; g < groups; ++g)
      for (int64_t c = 0; c < kPanel; ++c) {
        int64_t n = p * kPanel + c;
        if (n >= N)
          break;
        for (int64_t j = 0; j < gsz; ++j) {
          int64_t k = g * gsz + j;
          if (k >= K)
            break;
          int64_t idx = ((p * groups + g) * kPanel + c) * gsz + j;
          if (gsz == 2)
            static_cast<int16_t *>(out)[idx] = W[k * N + n];
          else
            static_cast<int8_t *>(out)[idx] = W[k * N + n];
        }
      }
}
static inline void pack_s8(Target t, const int8_t *W, int64_t K, int64_t N,
                           void *out) {
  pack_s8(s8_default_layout(t), W, K, N, out);
}
/// colbias[n] = bias[n] - a_zp * colsum[n] (Quads with s8 activations:
/// - (a_zp + 128) * colsum[n], because those kernels feed a + 128 as u8),
/// wrapped to int32. Returns false when the true accumulator
/// sum_k (a - a_zp) W[k, n] + bias[n] could leave the int32 range for some
/// activations in the dtype's range; the bound is
/// max_n sum_k |W[k, n]| * max|a - a_zp| + |bias[n]|, computed in int64.
/// (Inside the kernels all int32 arithmetic wraps, so any result whose true
/// value fits is exact.)
static inline bool fold_colbias_s8(S8Layout l, const int8_t *W, int64_t K,
                                   int64_t N, const int32_t *bias, int32_t a_zp,
                                   bool a_is_u8, int32_t *colbias_out) {
  const int64_t amin = a_is_u8 ? 0 : -128, amax = a_is_u8 ? 255 : 127;
  const int64_t zp = a_zp;
  const int64_t adev = std::max<int64_t>(amax - zp < 0 ? zp - amax : amax - zp,
                                         amin - zp < 0 ? zp - amin : amin - zp);
  const int64_t shift = (l == S8Layout::Quads && !a_is_u8) ? zp + 128 : zp;
  bool ok = true;
  for (int64_t n = 0; n < N; ++n) {
    int64_t colsum = 0, abssum = 0;
    for (int64_t k = 0; k < K; ++k) {
      int64_t w = W[k * N + n];
      colsum += w;
      abssum += w < 0 ? -w : w;
    }
    int64_t b = bias ? bias[n] : 0;
    int64_t bound = abssum * adev + (b < 0 ? -b : b);
    if (bound > INT32_MAX)
      ok = false;
    uint64_t v =
        static_cast<uint64_t>(b) - static_cast<uint64_t>(shift * colsum);
    colbias_out[n] = static_cast<int32_t>(static_cast<uint32_t>(v));
  }
  return ok;
}
static inline bool fold_colbias_s8(Target t, const int8_t *W, int64_t K,
                                   int64_t N, const int32_t *bias, int32_t a_zp,
                                   bool a_is_u8, int32_t *colbias_out) {
  return fold_colbias_s8(s8_default_layout(t), W, K, N, bias, a_zp, a_is_u8,
                         colbias_out);
}
//===----------------------------------------------------------------------===//
// f32 GEMM weights
//===----------------------------------------------------------------------===//

static inline size_t packed_f32_size(Target, int64_t K, int64_t N) {
  using namespace pack_detail;
  return roundUp64(
      static_cast<size_t>(ceilDiv(N, kPanel) * kPanel * K * sizeof(float)));
}

static inline void pack_f32(Target t, const float *W, int64_t K, int64_t N,
                            void *out) {
  using namespace pack_detail;
  std::memset(out, 0, packed_f32_size(t, K, N));
  float *o = static_cast<float *>(out);
  const int64_t panels = ceilDiv(N, kPanel);
  for (int64_t p = 0; p < panels; ++p)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t c = 0; c < kPanel && p * kPanel + c < N; ++c)
        o[(p * K + k) * kPanel + c] = W[k * N + p * kPanel + c];
}

//===----------------------------------------------------------------------===//
// int4 weight-only
//===----------------------------------------------------------------------===//

namespace pack_detail {
/// Bytes of one 16-column block of the int4 layout.
static inline int64_t w4BlockBytes(int64_t K, int64_t G) {
  int64_t full = K / G, rest = K % G;
  int64_t bytes = full * (128 + ceilDiv(G, 8) * 64);
  if (rest)
    bytes += 128 + ceilDiv(rest, 8) * 64;
  return bytes;
}
/// Byte offset of group g inside a block (all groups before it are full).
static inline int64_t w4GroupOffset(int64_t g, int64_t G) {
  return g * (128 + ceilDiv(G, 8) * 64);
}
} // namespace pack_detail

static inline size_t packed_w4_size(Target, int64_t K, int64_t N, int64_t G) {
  using namespace pack_detail;
  return roundUp64(
      static_cast<size_t>(ceilDiv(N, kPanel) * w4BlockBytes(K, G)));
}

static inline void pack_w4(Target t, const int8_t *q, const float *scales,
                           const float *zps, int64_t K, int64_t N, int64_t G,
                           void *out) {
  using namespace pack_detail;
  std::memset(out, 0, packed_w4_size(t, K, N, G));
  const int64_t blocks = ceilDiv(N, kPanel), groups = ceilDiv(K, G);
  const int64_t blockBytes = w4BlockBytes(K, G);
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t g = 0; g < groups; ++g) {
      char *base =
          static_cast<char *>(out) + b * blockBytes + w4GroupOffset(g, G);
      float *sc = reinterpret_cast<float *>(base);
      float *zp = sc + kPanel;
      uint32_t *words = reinterpret_cast<uint32_t *>(zp + kPanel);
      int64_t k0 = g * G, len = K - k0 < G ? K - k0 : G;
      for (int64_t c = 0; c < kPanel; ++c) {
        int64_t n = b * kPanel + c;
        if (n >= N)
          break;
        sc[c] = scales[g * N + n];
        zp[c] = zps ? zps[g * N + n] : 8.0f;
        for (int64_t i = 0; i < len; ++i) {
          int32_t u = q[(k0 + i) * N + n] + (zps ? 0 : 8);
          words[(i / 8) * kPanel + c] |= static_cast<uint32_t>(u & 15)
                                         << (4 * (i % 8));
        }
      }
    }
}

} // namespace qopt_cpu

#endif // QOPT_CPU_PACK_H
