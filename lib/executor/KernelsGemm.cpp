//===- KernelsGemm.cpp - Blocked f32 and int16 GEMM cores -----------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Cache-blocked GEMM in the usual packed form: B is packed once per distinct
// matrix into NR-column panels, split in K blocks; each task packs an MC x KC
// block of A into MR-row panels and runs an MR x NR register-tiled
// micro-kernel over it. Tasks are tiles of C (MC x NC) of every batch item,
// so the work is split over rows and columns and never over K: every C
// element is computed by the same sequence of operations whatever the
// number of threads.
//
// Micro-kernels: AVX2+FMA (6x16, selected at run time with
// __builtin_cpu_supports) and a baseline SSE version (6x8) for any x86-64;
// plain C++ elsewhere. The integer GEMM multiplies int16 pairs with
// pmaddwd (exact products, sums wrapping modulo 2^32).
//
//===----------------------------------------------------------------------===//

#include "KernelsInternal.h"

#include "llvm/ADT/DenseMap.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#if defined(__x86_64__) || defined(__i386__)
#define QOPT_X86 1
#include <immintrin.h>
#endif

using namespace qopt;
using namespace qopt::kernels;
using namespace qopt::kernels::detail;

namespace {

constexpr int MR = 6;
constexpr int64_t kKcSteps = 256; // micro-kernel steps per K block
constexpr int64_t kMc = 72;       // rows of C per tile (multiple of MR)
constexpr int64_t kNc = 256;      // columns of C per tile (multiple of NR)

bool forceBaseline = false;

bool cpuHasAvx2() {
#if QOPT_X86
  static const bool has = [] {
    if (const char *env = std::getenv("QOPT_KERNELS_NO_AVX2"))
      if (*env && *env != '0')
        return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return has;
#else
  return false;
#endif
}

bool useAvx2() { return !forceBaseline && cpuHasAvx2(); }

/// Per-thread scratch buffer, grown on demand, 64-byte aligned.
template <typename T> T *scratch(size_t count, int slot) {
  struct Buf {
    std::shared_ptr<void> mem;
    size_t bytes = 0;
  };
  thread_local Buf bufs[2];
  Buf &b = bufs[slot];
  size_t bytes = count * sizeof(T);
  if (b.bytes < bytes) {
    b.mem = allocateAlignedBuffer(bytes, /*zeroFill=*/false);
    if (!b.mem)
      llvm::report_bad_alloc_error("qopt kernels: out of memory for GEMM "
                                   "packing buffers");
    b.bytes = bytes;
  }
  return static_cast<T *>(b.mem.get());
}

//===----------------------------------------------------------------------===//
// f32 micro-kernels: C[MR x NR] (+)= sum_k a[k][0..MR) * b[k][0..NR)
//===----------------------------------------------------------------------===//

#if QOPT_X86
__attribute__((target("avx2,fma"))) void
microF32Avx2(int64_t steps, const float *a, const float *b, float *c,
             int64_t ldc, bool accumulate) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int64_t k = 0; k < steps; ++k) {
    __m256 b0 = _mm256_loadu_ps(b);
    __m256 b1 = _mm256_loadu_ps(b + 8);
    __m256 av;
#define QOPT_ROW(I)                                                            \
  av = _mm256_broadcast_ss(a + I);                                             \
  c##I##0 = _mm256_fmadd_ps(av, b0, c##I##0);                                  \
  c##I##1 = _mm256_fmadd_ps(av, b1, c##I##1);
    QOPT_ROW(0)
    QOPT_ROW(1)
    QOPT_ROW(2)
    QOPT_ROW(3)
    QOPT_ROW(4)
    QOPT_ROW(5)
#undef QOPT_ROW
    a += MR;
    b += 16;
  }
#define QOPT_STORE(I)                                                          \
  if (accumulate) {                                                            \
    c##I##0 = _mm256_add_ps(_mm256_loadu_ps(c + I * ldc), c##I##0);            \
    c##I##1 = _mm256_add_ps(_mm256_loadu_ps(c + I * ldc + 8), c##I##1);        \
  }                                                                            \
  _mm256_storeu_ps(c + I * ldc, c##I##0);                                      \
  _mm256_storeu_ps(c + I * ldc + 8, c##I##1);
  QOPT_STORE(0)
  QOPT_STORE(1)
  QOPT_STORE(2)
  QOPT_STORE(3)
  QOPT_STORE(4)
  QOPT_STORE(5)
#undef QOPT_STORE
}

void microF32Sse(int64_t steps, const float *a, const float *b, float *c,
                 int64_t ldc, bool accumulate) {
  __m128 c00 = _mm_setzero_ps(), c01 = _mm_setzero_ps();
  __m128 c10 = _mm_setzero_ps(), c11 = _mm_setzero_ps();
  __m128 c20 = _mm_setzero_ps(), c21 = _mm_setzero_ps();
  __m128 c30 = _mm_setzero_ps(), c31 = _mm_setzero_ps();
  __m128 c40 = _mm_setzero_ps(), c41 = _mm_setzero_ps();
  __m128 c50 = _mm_setzero_ps(), c51 = _mm_setzero_ps();
  for (int64_t k = 0; k < steps; ++k) {
    __m128 b0 = _mm_loadu_ps(b);
    __m128 b1 = _mm_loadu_ps(b + 4);
    __m128 av;
#define QOPT_ROW(I)                                                            \
  av = _mm_set1_ps(a[I]);                                                      \
  c##I##0 = _mm_add_ps(c##I##0, _mm_mul_ps(av, b0));                           \
  c##I##1 = _mm_add_ps(c##I##1, _mm_mul_ps(av, b1));
    QOPT_ROW(0)
    QOPT_ROW(1)
    QOPT_ROW(2)
    QOPT_ROW(3)
    QOPT_ROW(4)
    QOPT_ROW(5)
#undef QOPT_ROW
    a += MR;
    b += 8;
  }
#define QOPT_STORE(I)                                                          \
  if (accumulate) {                                                            \
    c##I##0 = _mm_add_ps(_mm_loadu_ps(c + I * ldc), c##I##0);                  \
    c##I##1 = _mm_add_ps(_mm_loadu_ps(c + I * ldc + 4), c##I##1);              \
  }                                                                            \
  _mm_storeu_ps(c + I * ldc, c##I##0);                                         \
  _mm_storeu_ps(c + I * ldc + 4, c##I##1);
  QOPT_STORE(0)
  QOPT_STORE(1)
  QOPT_STORE(2)
  QOPT_STORE(3)
  QOPT_STORE(4)
  QOPT_STORE(5)
#undef QOPT_STORE
}
#else
void microF32Sse(int64_t steps, const float *a, const float *b, float *c,
                 int64_t ldc, bool accumulate) {
  float acc[MR][8] = {};
  for (int64_t k = 0; k < steps; ++k) {
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < 8; ++j)
        acc[i][j] += a[i] * b[j];
    a += MR;
    b += 8;
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < 8; ++j)
      c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}
#endif

//===----------------------------------------------------------------------===//
// int16 micro-kernels. A panel: per step MR int16 pairs (a[i][2s], a[i][2s+1]);
// B panel: per step NR int16 pairs (b[2s][j], b[2s+1][j]).
//===----------------------------------------------------------------------===//

#if QOPT_X86
inline int32_t loadPair(const int16_t *p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

__attribute__((target("avx2,fma"))) void
microI16Avx2(int64_t steps, const int16_t *a, const int16_t *b, int32_t *c,
             int64_t ldc, bool accumulate) {
  __m256i c00 = _mm256_setzero_si256(), c01 = _mm256_setzero_si256();
  __m256i c10 = _mm256_setzero_si256(), c11 = _mm256_setzero_si256();
  __m256i c20 = _mm256_setzero_si256(), c21 = _mm256_setzero_si256();
  __m256i c30 = _mm256_setzero_si256(), c31 = _mm256_setzero_si256();
  __m256i c40 = _mm256_setzero_si256(), c41 = _mm256_setzero_si256();
  __m256i c50 = _mm256_setzero_si256(), c51 = _mm256_setzero_si256();
  for (int64_t s = 0; s < steps; ++s) {
    __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(b));
    __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(b + 16));
    __m256i av;
#define QOPT_ROW(I)                                                            \
  av = _mm256_set1_epi32(loadPair(a + 2 * I));                                 \
  c##I##0 = _mm256_add_epi32(c##I##0, _mm256_madd_epi16(av, b0));              \
  c##I##1 = _mm256_add_epi32(c##I##1, _mm256_madd_epi16(av, b1));
    QOPT_ROW(0)
    QOPT_ROW(1)
    QOPT_ROW(2)
    QOPT_ROW(3)
    QOPT_ROW(4)
    QOPT_ROW(5)
#undef QOPT_ROW
    a += 2 * MR;
    b += 32;
  }
#define QOPT_STORE(I)                                                          \
  {                                                                            \
    __m256i *p0 = reinterpret_cast<__m256i *>(c + I * ldc);                    \
    __m256i *p1 = reinterpret_cast<__m256i *>(c + I * ldc + 8);                \
    if (accumulate) {                                                          \
      c##I##0 = _mm256_add_epi32(_mm256_loadu_si256(p0), c##I##0);             \
      c##I##1 = _mm256_add_epi32(_mm256_loadu_si256(p1), c##I##1);             \
    }                                                                          \
    _mm256_storeu_si256(p0, c##I##0);                                          \
    _mm256_storeu_si256(p1, c##I##1);                                          \
  }
  QOPT_STORE(0)
  QOPT_STORE(1)
  QOPT_STORE(2)
  QOPT_STORE(3)
  QOPT_STORE(4)
  QOPT_STORE(5)
#undef QOPT_STORE
}

void microI16Sse(int64_t steps, const int16_t *a, const int16_t *b, int32_t *c,
                 int64_t ldc, bool accumulate) {
  __m128i c00 = _mm_setzero_si128(), c01 = _mm_setzero_si128();
  __m128i c10 = _mm_setzero_si128(), c11 = _mm_setzero_si128();
  __m128i c20 = _mm_setzero_si128(), c21 = _mm_setzero_si128();
  __m128i c30 = _mm_setzero_si128(), c31 = _mm_setzero_si128();
  __m128i c40 = _mm_setzero_si128(), c41 = _mm_setzero_si128();
  __m128i c50 = _mm_setzero_si128(), c51 = _mm_setzero_si128();
  for (int64_t s = 0; s < steps; ++s) {
    __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(b));
    __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(b + 8));
    __m128i av;
#define QOPT_ROW(I)                                                            \
  av = _mm_set1_epi32(loadPair(a + 2 * I));                                    \
  c##I##0 = _mm_add_epi32(c##I##0, _mm_madd_epi16(av, b0));                    \
  c##I##1 = _mm_add_epi32(c##I##1, _mm_madd_epi16(av, b1));
    QOPT_ROW(0)
    QOPT_ROW(1)
    QOPT_ROW(2)
    QOPT_ROW(3)
    QOPT_ROW(4)
    QOPT_ROW(5)
#undef QOPT_ROW
    a += 2 * MR;
    b += 16;
  }
#define QOPT_STORE(I)                                                          \
  {                                                                            \
    __m128i *p0 = reinterpret_cast<__m128i *>(c + I * ldc);                    \
    __m128i *p1 = reinterpret_cast<__m128i *>(c + I * ldc + 4);                \
    if (accumulate) {                                                          \
      c##I##0 = _mm_add_epi32(_mm_loadu_si128(p0), c##I##0);                   \
      c##I##1 = _mm_add_epi32(_mm_loadu_si128(p1), c##I##1);                   \
    }                                                                          \
    _mm_storeu_si128(p0, c##I##0);                                             \
    _mm_storeu_si128(p1, c##I##1);                                             \
  }
  QOPT_STORE(0)
  QOPT_STORE(1)
  QOPT_STORE(2)
  QOPT_STORE(3)
  QOPT_STORE(4)
  QOPT_STORE(5)
#undef QOPT_STORE
}
#else
void microI16Sse(int64_t steps, const int16_t *a, const int16_t *b, int32_t *c,
                 int64_t ldc, bool accumulate) {
  uint32_t acc[MR][8] = {};
  for (int64_t s = 0; s < steps; ++s) {
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < 8; ++j)
        acc[i][j] +=
            static_cast<uint32_t>(int32_t(a[2 * i]) * b[2 * j] +
                                  int32_t(a[2 * i + 1]) * b[2 * j + 1]);
    a += 2 * MR;
    b += 16;
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < 8; ++j)
      c[i * ldc + j] = static_cast<int32_t>(
          accumulate ? static_cast<uint32_t>(c[i * ldc + j]) + acc[i][j]
                     : acc[i][j]);
}
#endif

//===----------------------------------------------------------------------===//
// Element configurations
//===----------------------------------------------------------------------===//

/// f32: one k per micro-kernel step.
struct F32Cfg {
  using In = float;
  using Pack = float;
  using Acc = float;
  static constexpr int64_t KU = 1;

  /// Packs rows [0, mc) x k [k0, k0 + steps) of A into MR-row panels,
  /// zero-padding missing rows.
  static void packA(const float *a, int64_t rsA, int64_t csA, int64_t mc,
                    int64_t /*kTotal*/, int64_t k0, int64_t steps, float *dst) {
    for (int64_t p = 0; p < mc; p += MR) {
      int64_t rows = std::min<int64_t>(MR, mc - p);
      for (int64_t i = 0; i < MR; ++i) {
        float *d = dst + i;
        if (i >= rows) {
          for (int64_t k = 0; k < steps; ++k)
            d[k * MR] = 0.0f;
          continue;
        }
        const float *s = a + (p + i) * rsA + k0 * csA;
        if (csA == 1) {
          for (int64_t k = 0; k < steps; ++k)
            d[k * MR] = s[k];
        } else {
          for (int64_t k = 0; k < steps; ++k)
            d[k * MR] = s[k * csA];
        }
      }
      dst += steps * MR;
    }
  }

  /// Packs columns [n0, n0 + cols) (cols <= nr) x k [k0, k0 + steps) of B
  /// into one panel of width nr, zero-padding missing columns.
  static void packB(const float *b, int64_t rsB, int64_t csB, int64_t nr,
                    int64_t n0, int64_t cols, int64_t /*kTotal*/, int64_t k0,
                    int64_t steps, float *dst) {
    for (int64_t k = 0; k < steps; ++k) {
      const float *s = b + (k0 + k) * rsB + n0 * csB;
      float *d = dst + k * nr;
      if (csB == 1) {
        std::memcpy(d, s, cols * sizeof(float));
      } else {
        for (int64_t j = 0; j < cols; ++j)
          d[j] = s[j * csB];
      }
      for (int64_t j = cols; j < nr; ++j)
        d[j] = 0.0f;
    }
  }

  static void addTile(const float *src, int64_t ldSrc, float *dst,
                      int64_t ldDst, int64_t rows, int64_t cols,
                      bool accumulate) {
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j)
        dst[i * ldDst + j] = accumulate
                                 ? dst[i * ldDst + j] + src[i * ldSrc + j]
                                 : src[i * ldSrc + j];
  }
};

/// int16 pairs: two k per micro-kernel step; K is zero-padded to even.
struct I16Cfg {
  using In = int16_t;
  using Pack = int16_t;
  using Acc = int32_t;
  static constexpr int64_t KU = 2;

  static void packA(const int16_t *a, int64_t rsA, int64_t csA, int64_t mc,
                    int64_t kTotal, int64_t k0, int64_t steps, int16_t *dst) {
    for (int64_t p = 0; p < mc; p += MR) {
      int64_t rows = std::min<int64_t>(MR, mc - p);
      for (int64_t s = 0; s < steps; ++s) {
        int64_t k = k0 + 2 * s;
        for (int64_t i = 0; i < MR; ++i) {
          int16_t *d = dst + (s * MR + i) * 2;
          if (i >= rows) {
            d[0] = d[1] = 0;
            continue;
          }
          const int16_t *r = a + (p + i) * rsA;
          d[0] = k < kTotal ? r[k * csA] : 0;
          d[1] = k + 1 < kTotal ? r[(k + 1) * csA] : 0;
        }
      }
      dst += steps * MR * 2;
    }
  }

  static void packB(const int16_t *b, int64_t rsB, int64_t csB, int64_t nr,
                    int64_t n0, int64_t cols, int64_t kTotal, int64_t k0,
                    int64_t steps, int16_t *dst) {
    for (int64_t s = 0; s < steps; ++s) {
      int64_t k = k0 + 2 * s;
      const int16_t *r0 = b + k * rsB + n0 * csB;
      bool has1 = k + 1 < kTotal;
      int16_t *d = dst + s * nr * 2;
      for (int64_t j = 0; j < cols; ++j) {
        d[2 * j] = r0[j * csB];
        d[2 * j + 1] = has1 ? r0[rsB + j * csB] : 0;
      }
      for (int64_t j = cols; j < nr; ++j)
        d[2 * j] = d[2 * j + 1] = 0;
    }
  }

  static void addTile(const int32_t *src, int64_t ldSrc, int32_t *dst,
                      int64_t ldDst, int64_t rows, int64_t cols,
                      bool accumulate) {
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j)
        dst[i * ldDst + j] =
            accumulate ? wrapAdd(dst[i * ldDst + j], src[i * ldSrc + j])
                       : src[i * ldSrc + j];
  }
};

template <typename Cfg>
using MicroFn = void (*)(int64_t, const typename Cfg::Pack *,
                         const typename Cfg::Pack *, typename Cfg::Acc *,
                         int64_t, bool);

/// The blocked driver shared by both element types.
template <typename Cfg, typename Item>
void runGemm(int64_t m, int64_t n, int64_t k, int64_t rsA, int64_t csA,
             int64_t rsB, int64_t csB, int64_t ldc, llvm::ArrayRef<Item> items,
             int64_t nr, MicroFn<Cfg> micro) {
  using In = typename Cfg::In;
  using Pack = typename Cfg::Pack;
  using Acc = typename Cfg::Acc;
  constexpr int64_t KU = Cfg::KU;
  if (m == 0 || n == 0 || items.empty())
    return;
  if (k == 0) {
    for (const Item &it : items)
      for (int64_t i = 0; i < m; ++i)
        std::fill(it.c + i * ldc, it.c + i * ldc + n, Acc(0));
    return;
  }

  const int64_t steps = (k + KU - 1) / KU;
  const int64_t nPanels = (n + nr - 1) / nr;
  const int64_t nPad = nPanels * nr;
  const int64_t packedBSize = steps * KU * nPad;

  // Distinct B matrices, packed once each.
  llvm::DenseMap<const In *, int64_t> bIndex;
  std::vector<const In *> uniqueB;
  std::vector<int64_t> itemB(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    auto [it, inserted] = bIndex.try_emplace(items[i].b, uniqueB.size());
    if (inserted)
      uniqueB.push_back(items[i].b);
    itemB[i] = it->second;
  }
  std::shared_ptr<void> packedMem = allocateAlignedBuffer(
      sizeof(Pack) * static_cast<size_t>(packedBSize * uniqueB.size()),
      /*zeroFill=*/false);
  if (!packedMem)
    llvm::report_bad_alloc_error("qopt kernels: out of memory packing a GEMM "
                                 "operand");
  Pack *packedB = static_cast<Pack *>(packedMem.get());

  int64_t packJobs = static_cast<int64_t>(uniqueB.size()) * nPanels;
  parallelFor(packJobs, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, k)),
              [&](int64_t begin, int64_t end) {
                for (int64_t job = begin; job < end; ++job) {
                  int64_t bi = job / nPanels, p = job % nPanels;
                  Pack *base = packedB + bi * packedBSize;
                  for (int64_t s0 = 0; s0 < steps; s0 += kKcSteps) {
                    int64_t ks = std::min(kKcSteps, steps - s0);
                    Cfg::packB(uniqueB[bi], rsB, csB, nr, p * nr,
                               std::min(nr, n - p * nr), k, s0 * KU, ks,
                               base + s0 * KU * nPad + p * ks * KU * nr);
                  }
                }
              });

  const int64_t mTiles = (m + kMc - 1) / kMc;
  const int64_t nTiles = (n + kNc - 1) / kNc;
  const int64_t tilesPerItem = mTiles * nTiles;
  const int64_t totalTiles = tilesPerItem * static_cast<int64_t>(items.size());
  // A tile of kMc x kNc x k multiply-adds is worth a task when k is not tiny.
  int64_t grain = std::max<int64_t>(1, 64 / std::max<int64_t>(1, k));

  parallelFor(totalTiles, grain, [&](int64_t begin, int64_t end) {
    Pack *aBuf = scratch<Pack>(static_cast<size_t>(kMc * kKcSteps * KU), 0);
    alignas(64) Acc tmp[MR * 16];
    for (int64_t t = begin; t < end; ++t) {
      int64_t itemIdx = t / tilesPerItem;
      int64_t rem = t % tilesPerItem;
      int64_t mt = rem / nTiles, nt = rem % nTiles;
      const Item &it = items[itemIdx];
      const Pack *bBase = packedB + itemB[itemIdx] * packedBSize;
      int64_t m0 = mt * kMc, mc = std::min(kMc, m - m0);
      int64_t n0 = nt * kNc, nc = std::min(kNc, n - n0);
      for (int64_t s0 = 0; s0 < steps; s0 += kKcSteps) {
        int64_t ks = std::min(kKcSteps, steps - s0);
        bool accumulate = s0 > 0;
        Cfg::packA(it.a + m0 * rsA, rsA, csA, mc, k, s0 * KU, ks, aBuf);
        for (int64_t j = 0; j < nc; j += nr) {
          int64_t col = n0 + j;
          int64_t cols = std::min(nr, n - col);
          const Pack *bPanel =
              bBase + s0 * KU * nPad + (col / nr) * ks * KU * nr;
          for (int64_t i = 0; i < mc; i += MR) {
            int64_t rows = std::min<int64_t>(MR, mc - i);
            const Pack *aPanel = aBuf + (i / MR) * ks * KU * MR;
            Acc *cPtr = it.c + (m0 + i) * ldc + col;
            if (rows == MR && cols == nr) {
              micro(ks, aPanel, bPanel, cPtr, ldc, accumulate);
            } else {
              micro(ks, aPanel, bPanel, tmp, nr, false);
              Cfg::addTile(tmp, nr, cPtr, ldc, rows, cols, accumulate);
            }
          }
        }
      }
    }
  });
}

//===----------------------------------------------------------------------===//
// f32 special shapes: few rows (vector x matrix) and one column.
//===----------------------------------------------------------------------===//

/// C[i, j0:j1] = sum_k A[i, k] * B[k, j0:j1] for m small, B rows contiguous.
inline __attribute__((always_inline)) void
fewRowsBody(int64_t m, int64_t k, const float *a, int64_t rsA, int64_t csA,
            const float *b, int64_t rsB, float *c, int64_t ldc, int64_t j0,
            int64_t j1) {
  for (int64_t i = 0; i < m; ++i)
    std::fill(c + i * ldc + j0, c + i * ldc + j1, 0.0f);
  for (int64_t kk = 0; kk < k; ++kk) {
    const float *br = b + kk * rsB;
    for (int64_t i = 0; i < m; ++i) {
      float av = a[i * rsA + kk * csA];
      float *cr = c + i * ldc;
      for (int64_t j = j0; j < j1; ++j)
        cr[j] += av * br[j];
    }
  }
}

void fewRowsBaseline(int64_t m, int64_t k, const float *a, int64_t rsA,
                     int64_t csA, const float *b, int64_t rsB, float *c,
                     int64_t ldc, int64_t j0, int64_t j1) {
  fewRowsBody(m, k, a, rsA, csA, b, rsB, c, ldc, j0, j1);
}

#if QOPT_X86
__attribute__((target("avx2,fma"))) void
fewRowsAvx2(int64_t m, int64_t k, const float *a, int64_t rsA, int64_t csA,
            const float *b, int64_t rsB, float *c, int64_t ldc, int64_t j0,
            int64_t j1) {
  fewRowsBody(m, k, a, rsA, csA, b, rsB, c, ldc, j0, j1);
}
#endif

/// Dot product with 8 independent partial sums (vectorizable without
/// reassociation); the summation order is fixed.
inline __attribute__((always_inline)) float dotBody(const float *x,
                                                    const float *y, int64_t k) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t kk = 0;
  for (; kk + 8 <= k; kk += 8)
    for (int t = 0; t < 8; ++t)
      acc[t] += x[kk + t] * y[kk + t];
  for (int t = 0; kk < k; ++kk, ++t)
    acc[t] += x[kk] * y[kk];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) +
         ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

float dotBaseline(const float *x, const float *y, int64_t k) {
  return dotBody(x, y, k);
}

#if QOPT_X86
__attribute__((target("avx2,fma"))) float dotAvx2(const float *x,
                                                  const float *y, int64_t k) {
  return dotBody(x, y, k);
}
#endif

} // namespace

void kernels::detail::setForceBaselineIsa(bool force) { forceBaseline = force; }

bool kernels::detail::usingAvx2() { return useAvx2(); }

void detail::sgemm(int64_t m, int64_t n, int64_t k, int64_t rsA, int64_t csA,
                   int64_t rsB, int64_t csB, int64_t ldc,
                   llvm::ArrayRef<SgemmItem> items) {
  if (m == 0 || n == 0 || items.empty())
    return;
  bool avx2 = useAvx2();

  // A few rows against a row-major B: stream B once per column block.
  if (m <= 3 && csB == 1 && k > 0) {
    constexpr int64_t kCols = 512;
    int64_t colBlocks = (n + kCols - 1) / kCols;
    int64_t jobs = colBlocks * static_cast<int64_t>(items.size());
    parallelFor(
        jobs, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, k)),
        [&](int64_t begin, int64_t end) {
          for (int64_t job = begin; job < end; ++job) {
            const SgemmItem &it = items[job / colBlocks];
            int64_t j0 = (job % colBlocks) * kCols;
            int64_t j1 = std::min(n, j0 + kCols);
#if QOPT_X86
            if (avx2) {
              fewRowsAvx2(m, k, it.a, rsA, csA, it.b, rsB, it.c, ldc, j0, j1);
              continue;
            }
#endif
            fewRowsBaseline(m, k, it.a, rsA, csA, it.b, rsB, it.c, ldc, j0, j1);
          }
        });
    return;
  }

  // One column against a row-major A: dot products.
  if (n == 1 && csA == 1 && k > 0) {
    int64_t rowsTotal = m * static_cast<int64_t>(items.size());
    parallelFor(rowsTotal, std::max<int64_t>(1, 16384 / k),
                [&](int64_t begin, int64_t end) {
                  float *col = scratch<float>(static_cast<size_t>(k), 1);
                  const float *loaded = nullptr;
                  for (int64_t r = begin; r < end; ++r) {
                    const SgemmItem &it = items[r / m];
                    int64_t i = r % m;
                    if (loaded != it.b) {
                      for (int64_t kk = 0; kk < k; ++kk)
                        col[kk] = it.b[kk * rsB];
                      loaded = it.b;
                    }
                    const float *row = it.a + i * rsA;
#if QOPT_X86
                    if (avx2) {
                      it.c[i * ldc] = dotAvx2(row, col, k);
                      continue;
                    }
#endif
                    it.c[i * ldc] = dotBaseline(row, col, k);
                  }
                });
    return;
  }

#if QOPT_X86
  if (avx2) {
    runGemm<F32Cfg>(m, n, k, rsA, csA, rsB, csB, ldc, items, 16, microF32Avx2);
    return;
  }
#endif
  runGemm<F32Cfg>(m, n, k, rsA, csA, rsB, csB, ldc, items, 8, microF32Sse);
}

void detail::igemm16(int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb,
                     int64_t ldc, llvm::ArrayRef<Igemm16Item> items) {
#if QOPT_X86
  if (useAvx2()) {
    runGemm<I16Cfg>(m, n, k, lda, 1, ldb, 1, ldc, items, 16, microI16Avx2);
    return;
  }
#endif
  runGemm<I16Cfg>(m, n, k, lda, 1, ldb, 1, ldc, items, 8, microI16Sse);
}
