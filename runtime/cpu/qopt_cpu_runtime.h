//===- qopt_cpu_runtime.h - CPU kernels for generated code ------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Header-only kernels called by the C++ that qopt's code generator emits.
// The instruction set is chosen at compile time by a macro:
//  * QOPT_CPU_TARGET_AVX512VNNI (-mavx512f -mavx512bw -mavx512vl
//    -mavx512vnni -mavx2 -mfma): int8 GEMM with vpdpbusd, the rest as AVX2;
//  * QOPT_CPU_TARGET_AVX2 (-mavx2 -mfma -mf16c): int8 GEMM exact via int16
//    pairs and vpmaddwd, f32 FMA GEMM, vectorized elementwise math;
//  * neither: portable C++ (the compiler may auto-vectorize).
// Everything target dependent lives in the inline namespace
// qopt_cpu::{avx512vnni, avx2, generic}, so translation units compiled for
// different targets can be linked into one program. Weight blobs come from
// qopt_cpu_pack.h, packed for the same Target (kTarget). See README.md for
// the layouts, the numerics and the measured tolerances.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_CPU_RUNTIME_H
#define QOPT_CPU_RUNTIME_H

#include "qopt_cpu_pack.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#if defined(QOPT_CPU_TARGET_AVX512VNNI)
#define QOPT_CPU_NS avx512vnni
#define QOPT_CPU_HAS_AVX2 1
#define QOPT_CPU_HAS_VNNI 1
#elif defined(QOPT_CPU_TARGET_AVX2)
#define QOPT_CPU_NS avx2
#define QOPT_CPU_HAS_AVX2 1
#define QOPT_CPU_HAS_VNNI 0
#else
#define QOPT_CPU_NS generic
#define QOPT_CPU_HAS_AVX2 0
#define QOPT_CPU_HAS_VNNI 0
#endif

#if QOPT_CPU_HAS_AVX2 || defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#if defined(__GNUC__)
#define QOPT_CPU_NOINLINE __attribute__((noinline)) inline
#else
#define QOPT_CPU_NOINLINE inline
#endif

namespace qopt_cpu {
inline namespace QOPT_CPU_NS {

#if QOPT_CPU_HAS_VNNI
constexpr Target kTarget = Target::AVX512VNNI;
#elif QOPT_CPU_HAS_AVX2
constexpr Target kTarget = Target::AVX2;
#else
constexpr Target kTarget = Target::Generic;
#endif

namespace detail {

using qopt_cpu::pack_detail::ceilDiv;
using qopt_cpu::pack_detail::kPanel;
using qopt_cpu::pack_detail::roundUp64;

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

/// Keeps the compiler from contracting a product with a following add into
/// an FMA where the result must match separate f32 operations bit-exactly.
template <class T> inline T noContract(T v) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  __asm__("" : "+x"(v));
#endif
  return v;
}

/// Per-thread 64-byte aligned scratch buffers that only grow.
inline void *scratch(int slot, size_t bytes) {
  struct Buf {
    void *p = nullptr;
    size_t n = 0;
    ~Buf() { std::free(p); }
  };
  thread_local Buf bufs[5];
  Buf &b = bufs[slot];
  if (bytes > b.n || !b.p) {
    std::free(b.p);
    b.n = roundUp64(std::max<size_t>(bytes + bytes / 4, 64));
    b.p = std::aligned_alloc(64, b.n);
    if (!b.p)
      std::abort();
  }
  return b.p;
}

inline bool &insidePool() {
  thread_local bool inside = false;
  return inside;
}

} // namespace detail

//===----------------------------------------------------------------------===//
// Thread pool
//===----------------------------------------------------------------------===//

/// Persistent workers plus the calling thread. Workers spin briefly after a
/// job, then sleep on a condition variable. A parallel_for issued from
/// inside a task runs inline. One parallel_for at a time per pool (callers
/// on several threads are serialized).
class ThreadPool {
public:
  explicit ThreadPool(int threads) {
    if (threads <= 0)
      threads = static_cast<int>(std::thread::hardware_concurrency());
    size_ = threads > 0 ? threads : 1;
    for (int i = 1; i < size_; ++i)
      workers_.emplace_back([this] { workerLoop(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      while (active_.load(std::memory_order_acquire) != 0)
        detail::cpuRelax();
      stop_ = true;
      gen_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (std::thread &t : workers_)
      t.join();
  }
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  int size() const { return size_; }

  template <class F> void parallel_for(int64_t n, F &&f) {
    if (n <= 0)
      return;
    if (n == 1 || size_ == 1 || detail::insidePool()) {
      for (int64_t i = 0; i < n; ++i)
        f(i);
      return;
    }
    using Fn = std::remove_reference_t<F>;
    std::lock_guard<std::mutex> call(callMu_);
    {
      std::lock_guard<std::mutex> lk(mu_);
      // Workers join a job only under mu_, so once none is active no stale
      // worker can pick up the job written below.
      while (active_.load(std::memory_order_acquire) != 0)
        detail::cpuRelax();
      fn_ = [](void *c, int64_t i) { (*static_cast<Fn *>(c))(i); };
      ctx_ = const_cast<void *>(static_cast<const void *>(&f));
      n_ = n;
      next_.store(0, std::memory_order_relaxed);
      done_.store(0, std::memory_order_relaxed);
      gen_.fetch_add(1, std::memory_order_release);
      if (sleepers_ > 0)
        cv_.notify_all();
    }
    detail::insidePool() = true;
    runTasks(fn_, ctx_, n);
    detail::insidePool() = false;
    while (done_.load(std::memory_order_acquire) < n)
      detail::cpuRelax();
  }

private:
  static void runTasksOf(std::atomic<int64_t> &next, std::atomic<int64_t> &done,
                         void (*fn)(void *, int64_t), void *ctx, int64_t n) {
    for (;;) {
      int64_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= n)
        return;
      fn(ctx, i);
      done.fetch_add(1, std::memory_order_release);
    }
  }
  void runTasks(void (*fn)(void *, int64_t), void *ctx, int64_t n) {
    runTasksOf(next_, done_, fn, ctx, n);
  }

  void workerLoop() {
    detail::insidePool() = true;
    uint64_t seen = 0;
    for (;;) {
      for (int i = 0; i < 4000 && gen_.load(std::memory_order_acquire) == seen;
           ++i)
        detail::cpuRelax();
      std::unique_lock<std::mutex> lk(mu_);
      if (gen_.load(std::memory_order_acquire) == seen) {
        ++sleepers_;
        cv_.wait(lk,
                 [&] { return gen_.load(std::memory_order_acquire) != seen; });
        --sleepers_;
      }
      seen = gen_.load(std::memory_order_acquire);
      if (stop_)
        return;
      void (*fn)(void *, int64_t) = fn_;
      void *ctx = ctx_;
      int64_t n = n_;
      active_.fetch_add(1, std::memory_order_acq_rel);
      lk.unlock();
      runTasks(fn, ctx, n);
      active_.fetch_sub(1, std::memory_order_release);
    }
  }

  int size_ = 1;
  std::vector<std::thread> workers_;
  std::mutex callMu_, mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> gen_{0};
  std::atomic<int64_t> next_{0}, done_{0};
  std::atomic<int> active_{0};
  int sleepers_ = 0;
  bool stop_ = false;
  void (*fn_)(void *, int64_t) = nullptr;
  void *ctx_ = nullptr;
  int64_t n_ = 0;
};

namespace detail {

/// Runs f(begin, end) over [0, total) in chunks of about `grain` items.
template <class F>
inline void parallelRange(ThreadPool &pool, int64_t total, int64_t grain,
                          F &&f) {
  if (total <= 0)
    return;
  int64_t tasks = std::min<int64_t>(ceilDiv(total, std::max<int64_t>(grain, 1)),
                                    static_cast<int64_t>(pool.size()) * 4);
  tasks = std::max<int64_t>(tasks, 1);
  int64_t chunk = ceilDiv(total, tasks);
  tasks = ceilDiv(total, chunk);
  pool.parallel_for(tasks, [&](int64_t t) {
    int64_t b = t * chunk, e = std::min(total, b + chunk);
    f(b, e);
  });
}

/// Runs f(task) either on the pool or serially (pool == nullptr).
template <class F> inline void runTasks(ThreadPool *pool, int64_t n, F &&f) {
  if (pool)
    pool->parallel_for(n, f);
  else
    for (int64_t i = 0; i < n; ++i)
      f(i);
}

//===----------------------------------------------------------------------===//
// Scalar reference pieces shared by all targets (bit-exact formulas)
//===----------------------------------------------------------------------===//

/// saturate(nearbyint(v) + zp) to [lo, hi], the executor's formula.
inline int32_t roundSaturate(float v, int32_t zp, int32_t lo, int32_t hi) {
  float r = std::nearbyint(v);
  if (r != r)
    return std::min(std::max(zp, lo), hi);
  double s = static_cast<double>(r) + static_cast<double>(zp);
  if (s <= lo)
    return lo;
  if (s >= hi)
    return hi;
  return static_cast<int32_t>(s);
}

inline int32_t wrapAdd(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) +
                              static_cast<uint32_t>(b));
}

#if QOPT_CPU_HAS_AVX2
/// Stores 8 int32 (already in range) as 8 bytes.
inline void storeBytes8(void *dst, __m256i v, bool u8) {
  __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v),
                              _mm256_extracti128_si256(v, 1));
  __m128i b = u8 ? _mm_packus_epi16(w, w) : _mm_packs_epi16(w, w);
  _mm_storel_epi64(static_cast<__m128i *>(dst), b);
}

/// Vector roundSaturate for finite-or-inf v (NaN lanes must be handled by the
/// caller): clamping before rounding is the same as after because the
/// bounds are integers.
inline __m256i roundSaturate8(__m256 v, __m256 lo, __m256 hi, __m256i zp) {
  v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
  return _mm256_add_epi32(_mm256_cvtps_epi32(v), zp);
}
#endif

//===----------------------------------------------------------------------===//
// int8 GEMM: A packing and micro-kernels for both weight layouts (S8Layout)
//===----------------------------------------------------------------------===//

#if QOPT_CPU_HAS_VNNI
constexpr int kQuadMR = 8; // vpdpbusd: 8 x 16 with one zmm per row
#elif QOPT_CPU_HAS_AVX2
constexpr int kQuadMR = 6; // vpmaddubsw: 6 x 16, two ymm per row
#else
constexpr int kQuadMR = 4;
#endif
constexpr int64_t kS8MC = 48;     // rows per tile
constexpr int64_t kS8KC = 512;    // k per cache block
constexpr int64_t kS8NCMax = 256; // columns per tile

/// Packs rows [m0, m0 + mc) and groups [g0, g0 + gl) of A as one dword per
/// (row, group): Ap[r * gl + g]; a group is two k as int16 (Pairs) or four k
/// as u8 (Quads; s8 activations + 128). Elements past K are zero.
inline void s8PackA(const void *A, bool u8, int64_t lda, int64_t K, int64_t m0,
                    int64_t mc, int64_t g0, int64_t gl, bool quads,
                    int32_t *Ap) {
  const int64_t gsz = quads ? 4 : 2;
  const int64_t k0 = g0 * gsz, kl = gl * gsz;
  const int64_t kv = std::max<int64_t>(0, std::min(K - k0, kl)); // real k
  for (int64_t r = 0; r < mc; ++r) {
    const uint8_t *src = static_cast<const uint8_t *>(A) + (m0 + r) * lda + k0;
    int64_t i = 0;
    if (quads) {
      uint8_t *dst = reinterpret_cast<uint8_t *>(Ap + r * gl);
      const uint8_t flip = u8 ? 0 : 0x80;
#if QOPT_CPU_HAS_AVX2
      const __m256i f = _mm256_set1_epi8(static_cast<char>(flip));
      for (; i + 32 <= kv; i += 32)
        _mm256_storeu_si256(
            reinterpret_cast<__m256i *>(dst + i),
            _mm256_xor_si256(
                _mm256_loadu_si256(reinterpret_cast<const __m256i *>(src + i)),
                f));
#endif
      for (; i < kv; ++i)
        dst[i] = src[i] ^ flip;
      for (; i < kl; ++i)
        dst[i] = 0;
      continue;
    }
    int16_t *dst = reinterpret_cast<int16_t *>(Ap + r * gl);
#if QOPT_CPU_HAS_AVX2
    if (u8) {
      for (; i + 16 <= kv; i += 16)
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(dst + i),
                            _mm256_cvtepu8_epi16(_mm_loadu_si128(
                                reinterpret_cast<const __m128i *>(src + i))));
    } else {
      for (; i + 16 <= kv; i += 16)
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(dst + i),
                            _mm256_cvtepi8_epi16(_mm_loadu_si128(
                                reinterpret_cast<const __m128i *>(src + i))));
    }
#endif
    if (u8)
      for (; i < kv; ++i)
        dst[i] = src[i];
    else
      for (; i < kv; ++i)
        dst[i] = static_cast<int8_t>(src[i]);
    for (; i < kl; ++i)
      dst[i] = 0;
  }
}

/// C[MR x 16] (=|+=) acc, wrapping (the portable micro-kernels).
template <int MR>
inline void storeTile(const uint32_t (&acc)[MR][16], int32_t *C, int64_t ldc,
                      bool accumulate) {
  for (int r = 0; r < MR; ++r)
    for (int c = 0; c < 16; ++c) {
      uint32_t v = acc[r][c];
      if (accumulate)
        v += static_cast<uint32_t>(C[r * ldc + c]);
      C[r * ldc + c] = static_cast<int32_t>(v);
    }
}

/// Calls f(std::integral_constant<int, mr>()) for 1 <= mr <= MaxMR (the
/// micro-kernels are specialized per tile height).
template <int MaxMR, class F> inline void withMR(int mr, F &&f) {
  if constexpr (MaxMR >= 1) {
    if (mr == MaxMR)
      return f(std::integral_constant<int, MaxMR>());
    withMR<MaxMR - 1>(mr, f);
  }
}

#if QOPT_CPU_HAS_AVX2
/// The AVX2 6 x 16 micro-kernel of both int8 layouts: per k-group, two
/// 32-byte weight vectors (16 columns) and one broadcast A dword per row;
/// dot(a, w) gives the 8 int32 partial sums of one group. Named
/// accumulators (12 + 2 weights + 1 broadcast = 15 ymm registers, plus the
/// ones of the quad product) so that the compiler keeps all in registers.
template <int MR, class Dot>
__attribute__((always_inline)) inline void
avx2Micro(int64_t gl, const int32_t *Ap, int64_t as, const char *W, int32_t *C,
          int64_t ldc, bool accumulate, Dot dot) {
  const __m256i z = _mm256_setzero_si256();
  __m256i c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z;
  __m256i c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z;
  const int32_t *a0 = Ap, *a1 = Ap + as, *a2 = Ap + 2 * as, *a3 = Ap + 3 * as,
                *a4 = Ap + 4 * as, *a5 = Ap + 5 * as;
  for (int64_t g = 0; g < gl; ++g) {
    const __m256i w0 =
        _mm256_loadu_si256(reinterpret_cast<const __m256i *>(W + g * 64));
    const __m256i w1 =
        _mm256_loadu_si256(reinterpret_cast<const __m256i *>(W + g * 64 + 32));
#define QOPT_S8_ROW(R)                                                         \
  if constexpr (MR > R) {                                                      \
    const __m256i a = _mm256_set1_epi32(a##R[g]);                              \
    c##R##0 = _mm256_add_epi32(c##R##0, dot(a, w0));                           \
    c##R##1 = _mm256_add_epi32(c##R##1, dot(a, w1));                           \
  }
    QOPT_S8_ROW(0)
    QOPT_S8_ROW(1)
    QOPT_S8_ROW(2)
    QOPT_S8_ROW(3)
    QOPT_S8_ROW(4)
    QOPT_S8_ROW(5)
#undef QOPT_S8_ROW
  }
#define QOPT_S8_STORE(R)                                                       \
  if constexpr (MR > R) {                                                      \
    __m256i *d = reinterpret_cast<__m256i *>(C + R * ldc);                     \
    if (accumulate) {                                                          \
      c##R##0 = _mm256_add_epi32(c##R##0, _mm256_loadu_si256(d));              \
      c##R##1 = _mm256_add_epi32(c##R##1, _mm256_loadu_si256(d + 1));          \
    }                                                                          \
    _mm256_storeu_si256(d, c##R##0);                                           \
    _mm256_storeu_si256(d + 1, c##R##1);                                       \
  }
  QOPT_S8_STORE(0)
  QOPT_S8_STORE(1)
  QOPT_S8_STORE(2)
  QOPT_S8_STORE(3)
  QOPT_S8_STORE(4)
  QOPT_S8_STORE(5)
#undef QOPT_S8_STORE
}
#endif

/// The int16-pair micro-kernel (AVX2 and generic int8 GEMM; the exact
/// int8 x int8 batched matmul on every target): C[MR x 16] (=|+=) A-panel
/// (MR rows, gl groups of two int16, row stride `as` dwords) x one 16-column
/// panel of gl groups of 64 bytes (16 columns x two int16).
#if QOPT_CPU_HAS_AVX2
constexpr int kS16MR = 6;
#else
constexpr int kS16MR = 4;
#endif

template <int MR>
QOPT_CPU_NOINLINE void s16Micro(int64_t gl, const int32_t *Ap, int64_t as,
                                const char *W, int32_t *C, int64_t ldc,
                                bool accumulate) {
  static_assert(MR >= 1 && MR <= kS16MR, "tile height");
#if QOPT_CPU_HAS_AVX2
  avx2Micro<MR>(gl, Ap, as, W, C, ldc, accumulate,
                [](__m256i a, __m256i w) { return _mm256_madd_epi16(a, w); });
#else
  uint32_t acc[MR][16] = {};
  const int16_t *w = reinterpret_cast<const int16_t *>(W);
  for (int64_t g = 0; g < gl; ++g) {
    const int16_t *wr = w + g * 32;
    for (int r = 0; r < MR; ++r) {
      uint32_t a = static_cast<uint32_t>(Ap[r * as + g]);
      int32_t a0 = static_cast<int16_t>(a & 0xffff);
      int32_t a1 = static_cast<int16_t>(a >> 16);
      for (int c = 0; c < 16; ++c)
        acc[r][c] += static_cast<uint32_t>(a0 * wr[2 * c] + a1 * wr[2 * c + 1]);
    }
  }
  storeTile<MR>(acc, C, ldc, accumulate);
#endif
}

inline void s16MicroN(int mr, int64_t gl, const int32_t *Ap, int64_t as,
                      const char *W, int32_t *C, int64_t ldc,
                      bool accumulate) {
  withMR<kS16MR>(mr, [&](auto R) {
    s16Micro<decltype(R)::value>(gl, Ap, as, W, C, ldc, accumulate);
  });
}

/// The u8-quad micro-kernel (Quads layout): C[MR x 16] (=|+=) A-panel (MR
/// rows, gl groups of four u8, row stride `as` dwords) x one 16-column panel
/// of gl groups of 64 bytes (16 columns x four s8).
template <int MR>
QOPT_CPU_NOINLINE void s8QuadMicro(int64_t gl, const int32_t *Ap, int64_t as,
                                   const char *W, int32_t *C, int64_t ldc,
                                   bool accumulate) {
  static_assert(MR >= 1 && MR <= kQuadMR, "tile height");
#if QOPT_CPU_HAS_VNNI
  __m512i c[MR];
  for (int r = 0; r < MR; ++r)
    c[r] = _mm512_setzero_si512();
  for (int64_t g = 0; g < gl; ++g) {
    __m512i w = _mm512_loadu_si512(W + g * 64);
    for (int r = 0; r < MR; ++r)
      c[r] = _mm512_dpbusd_epi32(c[r], _mm512_set1_epi32(Ap[r * as + g]), w);
  }
  for (int r = 0; r < MR; ++r) {
    int32_t *dst = C + r * ldc;
    if (accumulate)
      c[r] = _mm512_add_epi32(c[r], _mm512_loadu_si512(dst));
    _mm512_storeu_si512(dst, c[r]);
  }
#elif QOPT_CPU_HAS_AVX2
  // vpmaddubsw (u8 x s8 pairs -> saturating int16; exact for the weights
  // the code generator allows, s8_pairs_fit_int16), vpmaddwd with ones
  // (-> int32), vpaddd.
  avx2Micro<MR>(gl, Ap, as, W, C, ldc, accumulate, [](__m256i a, __m256i w) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(a, w),
                             _mm256_set1_epi16(1));
  });
#else
  // The same arithmetic as vpmaddubsw + vpmaddwd, saturation included, so
  // every target computes the same (exact) function of the packed data.
  uint32_t acc[MR][16] = {};
  const int8_t *w = reinterpret_cast<const int8_t *>(W);
  auto sat16 = [](int32_t v) {
    return std::min<int32_t>(32767, std::max<int32_t>(-32768, v));
  };
  for (int64_t g = 0; g < gl; ++g) {
    const int8_t *wr = w + g * 64;
    for (int r = 0; r < MR; ++r) {
      const uint8_t *a = reinterpret_cast<const uint8_t *>(Ap + r * as + g);
      for (int c = 0; c < 16; ++c) {
        const int8_t *q = wr + 4 * c;
        int32_t lo = sat16(a[0] * q[0] + a[1] * q[1]);
        int32_t hi = sat16(a[2] * q[2] + a[3] * q[3]);
        acc[r][c] += static_cast<uint32_t>(lo + hi);
      }
    }
  }
  storeTile<MR>(acc, C, ldc, accumulate);
#endif
}

inline void s8QuadMicroN(int mr, int64_t gl, const int32_t *Ap, int64_t as,
                         const char *W, int32_t *C, int64_t ldc,
                         bool accumulate) {
  withMR<kQuadMR>(mr, [&](auto R) {
    s8QuadMicro<decltype(R)::value>(gl, Ap, as, W, C, ldc, accumulate);
  });
}

/// Tiles M x N over the pool; each tile accumulates exact int32 sums
/// A x W (without colbias) in a per-thread buffer, then calls
/// epi(m0, mc, n0, nc, tile, ldt).
inline int64_t chooseNC(int64_t mb, int64_t N, int threads, int64_t ncMax) {
  // Smallest per-thread column load ceil(tiles / threads) * NC, preferring
  // wider tiles on ties; widths are multiples of the 16-column panel.
  const int64_t np = ceilDiv(N, kPanel);
  int64_t best = kPanel, bestCost = INT64_MAX;
  for (int64_t p = std::min(np, ncMax / kPanel); p >= 1; --p) {
    const int64_t nc = p * kPanel, nb = ceilDiv(np, p);
    const int64_t cost = ceilDiv(mb * nb, threads) * nc;
    if (cost < bestCost) {
      bestCost = cost;
      best = nc;
    }
  }
  return best;
}

template <class Epi>
inline void s8Gemm(ThreadPool &pool, int64_t M, int64_t N, int64_t K,
                   const void *A, bool u8, int64_t lda, const void *Wp,
                   bool quads, Epi &&epi) {
  if (M <= 0 || N <= 0)
    return;
  const int64_t gsz = quads ? 4 : 2;
  const int MR = quads ? kQuadMR : kS16MR;
  const int64_t groups = ceilDiv(std::max<int64_t>(K, 0), gsz);
  const int64_t kcg = kS8KC / gsz;
  const int64_t nch = std::max<int64_t>(1, ceilDiv(groups, kcg));
  const int64_t glen = ceilDiv(groups, nch);
  const int64_t mb = ceilDiv(M, kS8MC);
  const int64_t NC = chooseNC(mb, N, pool.size(), kS8NCMax);
  const int64_t nb = ceilDiv(N, NC);
  pool.parallel_for(mb * nb, [&](int64_t t) {
    const int64_t m0 = (t / nb) * kS8MC, n0 = (t % nb) * NC;
    const int64_t mc = std::min(kS8MC, M - m0), nc = std::min(NC, N - n0);
    const int64_t ncp = ceilDiv(nc, kPanel) * kPanel;
    int32_t *tile =
        static_cast<int32_t *>(scratch(0, sizeof(int32_t) * kS8MC * NC));
    int32_t *Ap = static_cast<int32_t *>(
        scratch(1, sizeof(int32_t) * kS8MC * std::max<int64_t>(glen, 1)));
    for (int64_t ch = 0; ch < nch; ++ch) {
      const int64_t g0 = ch * glen, gl = std::min(glen, groups - g0);
      s8PackA(A, u8, lda, K, m0, mc, g0, gl, quads, Ap);
      for (int64_t p = 0; p < ncp / kPanel; ++p) {
        const char *W = static_cast<const char *>(Wp) +
                        ((n0 / kPanel + p) * groups + g0) * 64;
        for (int64_t mi = 0; mi < mc; mi += MR) {
          const int mr = static_cast<int>(std::min<int64_t>(MR, mc - mi));
          int32_t *c = tile + mi * ncp + p * kPanel;
          if (quads)
            s8QuadMicroN(mr, gl, Ap + mi * gl, gl, W, c, ncp, ch > 0);
          else
            s16MicroN(mr, gl, Ap + mi * gl, gl, W, c, ncp, ch > 0);
        }
      }
    }
    epi(m0, mc, n0, nc, static_cast<const int32_t *>(tile), ncp);
  });
}

//===----------------------------------------------------------------------===//
// Exact int8 x int8 batched matmul (both operands are activations)
//===----------------------------------------------------------------------===//

/// Rows [0, rows) of an 8-bit matrix (row stride ld bytes, `cols` valid
/// columns) minus zp, as int16 pairs along the columns: dst[r * gl + g] holds
/// columns 2g and 2g + 1 (zero past cols).
inline void s16PackRows(const uint8_t *src, bool u8, int32_t zp, int64_t ld,
                        int64_t rows, int64_t cols, int64_t gl, int32_t *dst) {
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t *s = src + r * ld;
    int16_t *d = reinterpret_cast<int16_t *>(dst + r * gl);
    int64_t i = 0;
#if QOPT_CPU_HAS_AVX2
    const __m256i z = _mm256_set1_epi16(static_cast<int16_t>(zp));
    for (; i + 16 <= cols; i += 16) {
      __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i *>(s + i));
      __m256i w = u8 ? _mm256_cvtepu8_epi16(b) : _mm256_cvtepi8_epi16(b);
      _mm256_storeu_si256(reinterpret_cast<__m256i *>(d + i),
                          _mm256_sub_epi16(w, z));
    }
#endif
    for (; i < cols; ++i)
      d[i] = static_cast<int16_t>(
          (u8 ? int32_t(s[i]) : int32_t(static_cast<int8_t>(s[i]))) - zp);
    for (; i < 2 * gl; ++i)
      d[i] = 0;
  }
}

/// B [K, N] (row stride ldb bytes) minus zp as 16-column panels of k-pairs,
/// the s16Micro weight layout: Bp[(p * gl + g) * 32 + 2c + j] =
/// B[2g + j][16p + c] - zp (zero outside K x N).
inline void s16PackPanels(const uint8_t *B, bool u8, int32_t zp, int64_t ldb,
                          int64_t K, int64_t N, int64_t gl, int16_t *Bp) {
  const int64_t np = ceilDiv(N, kPanel);
  for (int64_t p = 0; p < np; ++p) {
    const int64_t n0 = p * kPanel;
    const bool full = n0 + kPanel <= N;
    for (int64_t g = 0; g < gl; ++g) {
      int16_t *d = Bp + (p * gl + g) * 2 * kPanel;
      const int64_t k = 2 * g;
#if QOPT_CPU_HAS_AVX2
      if (full && k + 1 < K) {
        // Two rows of 16 bytes -> int16 - zp, interleaved column by column.
        const __m256i z = _mm256_set1_epi16(static_cast<int16_t>(zp));
        auto row = [&](int64_t kk) {
          __m128i b = _mm_loadu_si128(
              reinterpret_cast<const __m128i *>(B + kk * ldb + n0));
          return _mm256_sub_epi16(
              u8 ? _mm256_cvtepu8_epi16(b) : _mm256_cvtepi8_epi16(b), z);
        };
        const __m256i r0 = row(k), r1 = row(k + 1);
        const __m256i lo = _mm256_unpacklo_epi16(r0, r1); // c0-3 | c8-11
        const __m256i hi = _mm256_unpackhi_epi16(r0, r1); // c4-7 | c12-15
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(d),
                            _mm256_permute2x128_si256(lo, hi, 0x20));
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(d + 16),
                            _mm256_permute2x128_si256(lo, hi, 0x31));
        continue;
      }
#endif
      for (int64_t j = 0; j < 2; ++j)
        for (int64_t c = 0; c < kPanel; ++c) {
          const int64_t n = n0 + c;
          int16_t v = 0;
          if (k + j < K && n < N) {
            const uint8_t b = B[(k + j) * ldb + n];
            v = static_cast<int16_t>(
                (u8 ? int32_t(b) : int32_t(static_cast<int8_t>(b))) - zp);
          }
          d[2 * c + j] = v;
        }
    }
  }
}

//===----------------------------------------------------------------------===//
// f32 GEMM micro-kernel (6 x 16 on AVX2 / AVX-512 targets)
//===----------------------------------------------------------------------===//

constexpr int kF32MR = 6;
constexpr int64_t kF32MC = 72;
constexpr int64_t kF32KC = 256;
constexpr int64_t kF32NCMax = 256;

/// C[MR x nr] (=|+=) A[MR x kc] (row stride lda) x B[kc x 16] (packed).
template <int MR>
QOPT_CPU_NOINLINE void f32Micro(int64_t kc, const float *A, int64_t lda,
                                const float *B, float *C, int64_t ldc, int nr,
                                bool accumulate) {
#if QOPT_CPU_HAS_AVX2
  const __m256 z = _mm256_setzero_ps();
  __m256 c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z;
  __m256 c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z;
  const float *a0 = A, *a1 = A + lda, *a2 = A + 2 * lda, *a3 = A + 3 * lda,
              *a4 = A + 4 * lda, *a5 = A + 5 * lda;
  int64_t k = 0;
  if constexpr (MR <= 2) {
    // Few rows: odd k go to the (otherwise unused) accumulators of rows
    // 2-3, so 4-8 FMA chains hide the FMA latency; folded back below.
    for (; k + 2 <= kc; k += 2) {
      const __m256 b0 = _mm256_loadu_ps(B + k * 16);
      const __m256 b1 = _mm256_loadu_ps(B + k * 16 + 8);
      const __m256 b2 = _mm256_loadu_ps(B + k * 16 + 16);
      const __m256 b3 = _mm256_loadu_ps(B + k * 16 + 24);
      const __m256 x0 = _mm256_broadcast_ss(a0 + k);
      const __m256 y0 = _mm256_broadcast_ss(a0 + k + 1);
      c00 = _mm256_fmadd_ps(x0, b0, c00);
      c01 = _mm256_fmadd_ps(x0, b1, c01);
      c20 = _mm256_fmadd_ps(y0, b2, c20);
      c21 = _mm256_fmadd_ps(y0, b3, c21);
      if constexpr (MR == 2) {
        const __m256 x1 = _mm256_broadcast_ss(a1 + k);
        const __m256 y1 = _mm256_broadcast_ss(a1 + k + 1);
        c10 = _mm256_fmadd_ps(x1, b0, c10);
        c11 = _mm256_fmadd_ps(x1, b1, c11);
        c30 = _mm256_fmadd_ps(y1, b2, c30);
        c31 = _mm256_fmadd_ps(y1, b3, c31);
      }
    }
  }
  for (; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(B + k * 16);
    const __m256 b1 = _mm256_loadu_ps(B + k * 16 + 8);
#define QOPT_F32_ROW(R)                                                        \
  if constexpr (MR > R) {                                                      \
    const __m256 a = _mm256_broadcast_ss(a##R + k);                            \
    c##R##0 = _mm256_fmadd_ps(a, b0, c##R##0);                                 \
    c##R##1 = _mm256_fmadd_ps(a, b1, c##R##1);                                 \
  }
    QOPT_F32_ROW(0)
    QOPT_F32_ROW(1)
    QOPT_F32_ROW(2)
    QOPT_F32_ROW(3)
    QOPT_F32_ROW(4)
    QOPT_F32_ROW(5)
#undef QOPT_F32_ROW
  }
  if constexpr (MR <= 2) {
    c00 = _mm256_add_ps(c00, c20);
    c01 = _mm256_add_ps(c01, c21);
    c10 = _mm256_add_ps(c10, c30);
    c11 = _mm256_add_ps(c11, c31);
  }
  if (nr == 16) {
#define QOPT_F32_STORE(R)                                                      \
  if constexpr (MR > R) {                                                      \
    float *d = C + R * ldc;                                                    \
    if (accumulate) {                                                          \
      c##R##0 = _mm256_add_ps(c##R##0, _mm256_loadu_ps(d));                    \
      c##R##1 = _mm256_add_ps(c##R##1, _mm256_loadu_ps(d + 8));                \
    }                                                                          \
    _mm256_storeu_ps(d, c##R##0);                                              \
    _mm256_storeu_ps(d + 8, c##R##1);                                          \
  }
    QOPT_F32_STORE(0)
    QOPT_F32_STORE(1)
    QOPT_F32_STORE(2)
    QOPT_F32_STORE(3)
    QOPT_F32_STORE(4)
    QOPT_F32_STORE(5)
#undef QOPT_F32_STORE
    return;
  }
  alignas(32) float tmp[6][16];
#define QOPT_F32_SPILL(R)                                                      \
  if constexpr (MR > R) {                                                      \
    _mm256_store_ps(tmp[R], c##R##0);                                          \
    _mm256_store_ps(tmp[R] + 8, c##R##1);                                      \
  }
  QOPT_F32_SPILL(0)
  QOPT_F32_SPILL(1)
  QOPT_F32_SPILL(2)
  QOPT_F32_SPILL(3)
  QOPT_F32_SPILL(4)
  QOPT_F32_SPILL(5)
#undef QOPT_F32_SPILL
#else
  float tmp[MR][16] = {};
  for (int64_t k = 0; k < kc; ++k) {
    const float *b = B + k * 16;
    for (int r = 0; r < MR; ++r) {
      const float a = A[r * lda + k];
      for (int c = 0; c < 16; ++c)
        tmp[r][c] += a * b[c];
    }
  }
#endif
  for (int r = 0; r < MR; ++r)
    for (int c = 0; c < nr; ++c)
      C[r * ldc + c] = accumulate ? C[r * ldc + c] + tmp[r][c] : tmp[r][c];
}

inline void f32MicroN(int mr, int64_t kc, const float *A, int64_t lda,
                      const float *B, float *C, int64_t ldc, int nr,
                      bool accumulate) {
  switch (mr) {
  case 1:
    return f32Micro<1>(kc, A, lda, B, C, ldc, nr, accumulate);
  case 2:
    return f32Micro<2>(kc, A, lda, B, C, ldc, nr, accumulate);
  case 3:
    return f32Micro<3>(kc, A, lda, B, C, ldc, nr, accumulate);
  case 4:
    return f32Micro<4>(kc, A, lda, B, C, ldc, nr, accumulate);
  case 5:
    return f32Micro<5>(kc, A, lda, B, C, ldc, nr, accumulate);
  case 6:
    return f32Micro<6>(kc, A, lda, B, C, ldc, nr, accumulate);
  default:
    break;
  }
}

/// C = A x Bp (packed [ceil(N/16)][K][16]), then epi(m0, mc, n0, nc) on
/// each finished tile of C. pool == nullptr runs serially.
template <class Epi>
inline void f32Gemm(ThreadPool *pool, int64_t M, int64_t N, int64_t K,
                    const float *A, int64_t lda, const float *Bp, float *C,
                    int64_t ldc, Epi &&epi) {
  if (M <= 0 || N <= 0)
    return;
  const int64_t mb = ceilDiv(M, kF32MC);
  const int64_t NC = chooseNC(mb, N, pool ? pool->size() : 1, kF32NCMax);
  const int64_t nb = ceilDiv(N, NC);
  runTasks(pool, mb * nb, [&](int64_t t) {
    const int64_t m0 = (t / nb) * kF32MC, n0 = (t % nb) * NC;
    const int64_t mc = std::min(kF32MC, M - m0), nc = std::min(NC, N - n0);
    if (K <= 0) {
      for (int64_t r = 0; r < mc; ++r)
        std::fill(C + (m0 + r) * ldc + n0, C + (m0 + r) * ldc + n0 + nc, 0.0f);
    }
    for (int64_t k0 = 0; k0 < K; k0 += kF32KC) {
      const int64_t kc = std::min(kF32KC, K - k0);
      for (int64_t p = 0; p * kPanel < nc; ++p) {
        const float *B = Bp + ((n0 / kPanel + p) * K + k0) * kPanel;
        const int nr = static_cast<int>(std::min<int64_t>(16, nc - p * 16));
        for (int64_t mi = 0; mi < mc; mi += kF32MR) {
          int mr = static_cast<int>(std::min<int64_t>(kF32MR, mc - mi));
          f32MicroN(mr, kc, A + (m0 + mi) * lda + k0, lda, B,
                    C + (m0 + mi) * ldc + n0 + p * kPanel, ldc, nr, k0 > 0);
        }
      }
    }
    epi(m0, mc, n0, nc);
  });
}

/// In-place y = y (* alpha) (+ bias[n]) (relu) on rows of a tile.
inline void f32Epilogue(float *C, int64_t ldc, int64_t mc, int64_t n0,
                        int64_t nc, const float *bias, bool relu, float alpha) {
  if (!bias && !relu && alpha == 1.0f)
    return;
  for (int64_t r = 0; r < mc; ++r) {
    float *y = C + r * ldc + n0;
    int64_t i = 0;
#if QOPT_CPU_HAS_AVX2
    const __m256 z = _mm256_setzero_ps(), al = _mm256_set1_ps(alpha);
    for (; i + 8 <= nc; i += 8) {
      __m256 v = _mm256_loadu_ps(y + i);
      if (alpha != 1.0f)
        v = _mm256_mul_ps(v, al);
      if (bias)
        v = _mm256_add_ps(v, _mm256_loadu_ps(bias + n0 + i));
      if (relu)
        v = _mm256_max_ps(z, v);
      _mm256_storeu_ps(y + i, v);
    }
#endif
    for (; i < nc; ++i) {
      float v = y[i];
      if (alpha != 1.0f)
        v = v * alpha;
      if (bias)
        v = v + bias[n0 + i];
      if (relu)
        v = v < 0.0f ? 0.0f : v;
      y[i] = v;
    }
  }
}

//===----------------------------------------------------------------------===//
// int4 weight-only helpers
//===----------------------------------------------------------------------===//

/// Scale of x for nibble j of a word: 16^-j, except the top nibble, which
/// is shifted down (see QOPT_W4_STEP). Exact power-of-two scalings.
constexpr float kW4Scale[8] = {
    1.0f,         1.0f / 16,      1.0f / 256,      1.0f / 4096,
    1.0f / 65536, 1.0f / 1048576, 1.0f / 16777216, 1.0f};

#if QOPT_CPU_HAS_AVX2
/// Dot products of one group: r0/r1 = sum over the group's rows of
/// x' * nibble for columns 0-7 / 8-15 (x' = x scaled by kW4Scale).
/// Separate function so the 8 accumulators own the register file.
QOPT_CPU_NOINLINE void w4GroupDot(const char *wd, int64_t steps, const float *x,
                                  __m256 *r0, __m256 *r1) {
  // 8 independent FMA chains (FMA latency 4 x 2 ports).
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00;
  __m256 a10 = a00, a11 = a00, a12 = a00, a13 = a00;
  // One half (8 columns) at a time keeps the live set small (8 accumulators
  // + 3 temporaries + masks): no spills, whose store-forwarding latency
  // would land on the FMA chains.
  for (int64_t s = 0; s < steps; ++s) {
    const float *xv = x + s * 8;
    _mm_prefetch(wd + s * 64 + 2048, _MM_HINT_T0);
// Nibble j is masked in place (u * 16^j, exact in f32) and multiplied by
// x * 16^-j, prepared by the caller; only the top nibble is shifted down.
// One AND per 8 weights; masks the register file cannot hold are
// rematerialized as memory operands.
#define QOPT_W4_STEP(V, J, ACC)                                                \
  {                                                                            \
    const __m256i t =                                                          \
        J == 7 ? _mm256_srli_epi32(V, 28)                                      \
               : _mm256_and_si256(V, _mm256_set1_epi32(15 << (4 * J)));        \
    ACC = _mm256_fmadd_ps(_mm256_broadcast_ss(xv + J), _mm256_cvtepi32_ps(t),  \
                          ACC);                                                \
  }
#define QOPT_W4_HALF(OFF, A0, A1, A2, A3)                                      \
  {                                                                            \
    const __m256i v = _mm256_loadu_si256(                                      \
        reinterpret_cast<const __m256i *>(wd + s * 64 + OFF));                 \
    QOPT_W4_STEP(v, 0, A0)                                                     \
    QOPT_W4_STEP(v, 1, A1)                                                     \
    QOPT_W4_STEP(v, 2, A2)                                                     \
    QOPT_W4_STEP(v, 3, A3)                                                     \
    QOPT_W4_STEP(v, 4, A0)                                                     \
    QOPT_W4_STEP(v, 5, A1)                                                     \
    QOPT_W4_STEP(v, 6, A2)                                                     \
    QOPT_W4_STEP(v, 7, A3)                                                     \
  }
    QOPT_W4_HALF(0, a00, a01, a02, a03)
    QOPT_W4_HALF(32, a10, a11, a12, a13)
#undef QOPT_W4_HALF
#undef QOPT_W4_STEP
  }
  *r0 = _mm256_add_ps(_mm256_add_ps(a00, a01), _mm256_add_ps(a02, a03));
  *r1 = _mm256_add_ps(_mm256_add_ps(a10, a11), _mm256_add_ps(a12, a13));
}
#endif

/// out[16] = sum over K of x[k] * (u - zp) * scale for one 16-column block;
/// xp holds x per group padded to ceil(G/8)*8 with zeros, xs the group sums.
inline void w4GemvBlock(const char *blk, int64_t K, int64_t G, const float *xp,
                        const float *xs, float *out) {
  const int64_t S = ceilDiv(G, 8), ng = ceilDiv(K, G);
  const int64_t gbytes = 128 + S * 64;
#if QOPT_CPU_HAS_AVX2
  __m256 o0 = _mm256_setzero_ps(), o1 = _mm256_setzero_ps();
  for (int64_t g = 0; g < ng; ++g) {
    const char *base = blk + g * gbytes;
    const int64_t steps = ceilDiv(std::min(G, K - g * G), 8);
    __m256 r0, r1;
    w4GroupDot(base + 128, steps, xp + g * S * 8, &r0, &r1);
    const __m256 sum = _mm256_broadcast_ss(xs + g);
    const float *sc = reinterpret_cast<const float *>(base);
    const __m256 d0 = _mm256_fnmadd_ps(_mm256_loadu_ps(sc + 16), sum, r0);
    const __m256 d1 = _mm256_fnmadd_ps(_mm256_loadu_ps(sc + 24), sum, r1);
    o0 = _mm256_fmadd_ps(_mm256_loadu_ps(sc), d0, o0);
    o1 = _mm256_fmadd_ps(_mm256_loadu_ps(sc + 8), d1, o1);
  }
  _mm256_storeu_ps(out, o0);
  _mm256_storeu_ps(out + 8, o1);
#else
  float o[16] = {};
  for (int64_t g = 0; g < ng; ++g) {
    const char *base = blk + g * gbytes;
    const int64_t steps = ceilDiv(std::min(G, K - g * G), 8);
    const float *x = xp + g * S * 8;
    const uint32_t *wd = reinterpret_cast<const uint32_t *>(base + 128);
    float acc[16] = {};
    for (int64_t s = 0; s < steps; ++s)
      for (int j = 0; j < 8; ++j) {
        const float xv = x[s * 8 + j];
        for (int c = 0; c < 16; ++c)
          acc[c] += xv * static_cast<float>((wd[s * 16 + c] >> (4 * j)) & 15);
      }
    const float *sc = reinterpret_cast<const float *>(base);
    for (int c = 0; c < 16; ++c)
      o[c] += sc[c] * (acc[c] - sc[16 + c] * xs[g]);
  }
  std::memcpy(out, o, sizeof(o));
#endif
}

/// Dequantizes rows [g0*G, g0*G + rows) of one 16-column block into
/// dst[rows][16] f32: (u - zp) * scale.
inline void w4Dequant(const char *blk, int64_t K, int64_t G, int64_t g0,
                      int64_t gn, float *dst) {
  const int64_t S = ceilDiv(G, 8), gbytes = 128 + S * 64;
  int64_t row = 0;
  for (int64_t g = g0; g < g0 + gn; ++g) {
    const char *base = blk + g * gbytes;
    const int64_t len = std::min(G, K - g * G);
    const float *sc = reinterpret_cast<const float *>(base);
    const uint32_t *wd = reinterpret_cast<const uint32_t *>(base + 128);
#if QOPT_CPU_HAS_AVX2
    const __m256 s0 = _mm256_loadu_ps(sc), s1 = _mm256_loadu_ps(sc + 8);
    const __m256 z0 = _mm256_loadu_ps(sc + 16), z1 = _mm256_loadu_ps(sc + 24);
    const __m256i mask = _mm256_set1_epi32(15);
    for (int64_t i = 0; i < len; i += 8) {
      const __m256i v0 =
          _mm256_loadu_si256(reinterpret_cast<const __m256i *>(wd + i * 2));
      const __m256i v1 =
          _mm256_loadu_si256(reinterpret_cast<const __m256i *>(wd + i * 2 + 8));
      const int jn = static_cast<int>(std::min<int64_t>(8, len - i));
      for (int j = 0; j < jn; ++j) {
        const __m128i sh = _mm_cvtsi32_si128(4 * j);
        __m256 f0 = _mm256_cvtepi32_ps(
            _mm256_and_si256(_mm256_srl_epi32(v0, sh), mask));
        __m256 f1 = _mm256_cvtepi32_ps(
            _mm256_and_si256(_mm256_srl_epi32(v1, sh), mask));
        float *d = dst + (row + i + j) * 16;
        _mm256_storeu_ps(d, _mm256_mul_ps(_mm256_sub_ps(f0, z0), s0));
        _mm256_storeu_ps(d + 8, _mm256_mul_ps(_mm256_sub_ps(f1, z1), s1));
      }
    }
#else
    for (int64_t i = 0; i < len; ++i)
      for (int c = 0; c < 16; ++c) {
        float u =
            static_cast<float>((wd[(i / 8) * 16 + c] >> (4 * (i % 8))) & 15);
        dst[(row + i) * 16 + c] = (u - sc[16 + c]) * sc[c];
      }
#endif
    row += len;
  }
}

//===----------------------------------------------------------------------===//
// Vector math (AVX2). Errors measured against std:: in f32 (README.md).
//===----------------------------------------------------------------------===//

#if QOPT_CPU_HAS_AVX2
inline __m256 isNan8(__m256 x) { return _mm256_cmp_ps(x, x, _CMP_UNORD_Q); }

/// exp: Cody-Waite reduction + degree-6 polynomial (Cephes expf), <= 2 ulp
/// on normal results; 2^n is applied as 2^(n/2) * 2^(n - n/2) so that
/// results near the overflow and in the subnormal range stay right; below
/// -104 gives 0, above ln(FLT_MAX) +inf, NaN stays NaN.
inline __m256 exp8(__m256 x) {
  const __m256 hiLim = _mm256_set1_ps(88.72283935546875f);
  const __m256 loLim = _mm256_set1_ps(-104.0f);
  __m256 xc = _mm256_min_ps(_mm256_max_ps(x, loLim), hiLim);
  __m256 n =
      _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500E-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507E-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073E-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894E-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459E-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201E-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
  p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i h = _mm256_srai_epi32(ni, 1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 e1 =
      _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, bias), 23));
  const __m256 e2 = _mm256_castsi256_ps(
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, h), bias), 23));
  __m256 res = _mm256_mul_ps(_mm256_mul_ps(p, e1), e2);
  res = _mm256_blendv_ps(res, _mm256_setzero_ps(),
                         _mm256_cmp_ps(x, loLim, _CMP_LT_OQ));
  res = _mm256_blendv_ps(res, _mm256_set1_ps(INFINITY),
                         _mm256_cmp_ps(x, hiLim, _CMP_GT_OQ));
  return _mm256_blendv_ps(res, x, isNan8(x));
}

inline __m256 abs8(__m256 x) {
  return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
}

/// tanh: odd polynomial below 0.625, else 1 - 2 / (exp(2|x|) + 1).
inline __m256 tanh8(__m256 x) {
  const __m256 ax = abs8(x);
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(-5.70498872745E-3f);
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954E-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531E-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036E-1f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422E-1f));
  const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
  const __m256 e = exp8(_mm256_add_ps(ax, ax));
  __m256 big =
      _mm256_sub_ps(_mm256_set1_ps(1.0f),
                    _mm256_div_ps(_mm256_set1_ps(2.0f),
                                  _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
  big = _mm256_or_ps(big, _mm256_and_ps(x, _mm256_set1_ps(-0.0f)));
  __m256 r = _mm256_blendv_ps(
      big, small, _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
  return _mm256_blendv_ps(r, x, isNan8(x));
}

inline __m256 poly8(__m256 x, const float *c, int n) {
  __m256 r = _mm256_set1_ps(c[0]);
  for (int i = 1; i <= n; ++i)
    r = _mm256_fmadd_ps(r, x, _mm256_set1_ps(c[i]));
  return r;
}

/// erf: Cephes erff/erfcf rational-free polynomials (abs error ~1.5e-7).
inline __m256 erf8(__m256 a) {
  static const float T[] = {7.853861353153693E-5f, -8.010193625184903E-4f,
                            5.188327685732524E-3f, -2.685381193529856E-2f,
                            1.128358514861418E-1f, -3.761262582423300E-1f,
                            1.128379165726710E+0f};
  static const float P[] = {
      2.326819970068386E-2f,  -1.387039388740657E-1f, 3.687424674597105E-1f,
      -5.824733027278666E-1f, 6.210004621745983E-1f,  -4.944515323274145E-1f,
      3.404879937665872E-1f,  -2.741127028184656E-1f, 5.638259427386472E-1f};
  static const float R[] = {-1.047766399936249E+1f, 1.297719955372516E+1f,
                            -7.495518717768503E+0f, 2.921019019210786E+0f,
                            -1.015265279202700E+0f, 4.218463358204948E-1f,
                            -2.820767439740514E-1f, 5.641895067754075E-1f};
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 x = _mm256_min_ps(abs8(a), _mm256_set1_ps(10.0f));
  const __m256 z = _mm256_mul_ps(x, x);
  const __m256 small = _mm256_mul_ps(x, poly8(z, T, 6));
  const __m256 q = _mm256_div_ps(one, _mm256_max_ps(x, one));
  const __m256 y = _mm256_mul_ps(q, q);
  const __m256 pp =
      _mm256_blendv_ps(poly8(y, R, 7), poly8(y, P, 8),
                       _mm256_cmp_ps(x, _mm256_set1_ps(2.0f), _CMP_LT_OQ));
  const __m256 big = _mm256_sub_ps(
      one,
      _mm256_mul_ps(
          _mm256_mul_ps(exp8(_mm256_sub_ps(_mm256_setzero_ps(), z)), q), pp));
  __m256 r = _mm256_blendv_ps(big, small, _mm256_cmp_ps(x, one, _CMP_LT_OQ));
  r = _mm256_or_ps(r, _mm256_and_ps(a, _mm256_set1_ps(-0.0f)));
  return _mm256_blendv_ps(r, a, isNan8(a));
}

inline __m256 sigmoid8(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  // 1 / (1 + exp(-x)); exp overflow gives inf and so 0, as it should.
  return _mm256_div_ps(
      one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}
#endif

/// Scalar forms used by tails and by the generic target: the executor's
/// own formulas (bit-exact on the generic target).
inline float sigmoidScalar(float x) {
  if (x >= 0.0f)
    return 1.0f / (1.0f + std::exp(-x));
  float e = std::exp(x);
  return e / (1.0f + e);
}

} // namespace detail

//===----------------------------------------------------------------------===//
// int8 GEMM entry points
//===----------------------------------------------------------------------===//

inline void gemm_s8_requant(ThreadPool &pool, int64_t M, int64_t N, int64_t K,
                            const void *A, bool a_is_u8, int64_t lda,
                            const void *Wp, const int32_t *colbias,
                            const Requant &rq, void *C, int64_t ldc,
                            S8Layout layout = s8_default_layout(kTarget)) {
  using namespace detail;
  s8Gemm(pool, M, N, K, A, a_is_u8, lda, Wp, layout == S8Layout::Quads,
         [&](int64_t m0, int64_t mc, int64_t n0, int64_t nc,
             const int32_t *tile, int64_t ldt) {
           // Locals: stores through char * would otherwise force reloads of
           // everything reached through references.
           const float *mult = rq.mult;
           const int32_t *cb = colbias;
           const int32_t zpv = rq.out_zp, qmin = rq.qmin, qmax = rq.qmax;
           const bool u8 = rq.out_u8;
           char *out = static_cast<char *>(C);
           const int64_t ldo = ldc;
           for (int64_t r = 0; r < mc; ++r) {
             const int32_t *t = tile + r * ldt;
             char *y = out + (m0 + r) * ldo + n0;
             int64_t i = 0;
#if QOPT_CPU_HAS_AVX2
             const __m256 lo = _mm256_set1_ps(static_cast<float>(qmin - zpv));
             const __m256 hi = _mm256_set1_ps(static_cast<float>(qmax - zpv));
             const __m256i zp = _mm256_set1_epi32(zpv);
             for (; i + 8 <= nc; i += 8) {
               __m256i acc = _mm256_add_epi32(
                   _mm256_loadu_si256(reinterpret_cast<const __m256i *>(t + i)),
                   _mm256_loadu_si256(
                       reinterpret_cast<const __m256i *>(cb + n0 + i)));
               __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc),
                                        _mm256_loadu_ps(mult + n0 + i));
               storeBytes8(y + i, roundSaturate8(v, lo, hi, zp), u8);
             }
#endif
             for (; i < nc; ++i) {
               float v =
                   static_cast<float>(wrapAdd(t[i], cb[n0 + i])) * mult[n0 + i];
               int32_t q = roundSaturate(v, zpv, qmin, qmax);
               if (u8)
                 reinterpret_cast<uint8_t *>(y)[i] = static_cast<uint8_t>(q);
               else
                 reinterpret_cast<int8_t *>(y)[i] = static_cast<int8_t>(q);
             }
           }
         });
}

inline void gemm_s8_dequant(ThreadPool &pool, int64_t M, int64_t N, int64_t K,
                            const void *A, bool a_is_u8, int64_t lda,
                            const void *Wp, const int32_t *colbias,
                            const Dequant &dq, float *C, int64_t ldc,
                            S8Layout layout = s8_default_layout(kTarget)) {
  using namespace detail;
  s8Gemm(
      pool, M, N, K, A, a_is_u8, lda, Wp, layout == S8Layout::Quads,
      [&](int64_t m0, int64_t mc, int64_t n0, int64_t nc, const int32_t *tile,
          int64_t ldt) {
        for (int64_t r = 0; r < mc; ++r) {
          const int32_t *t = tile + r * ldt;
          float *y = C + (m0 + r) * ldc + n0;
          int64_t i = 0;
#if QOPT_CPU_HAS_AVX2
          const __m256 z = _mm256_setzero_ps();
          for (; i + 8 <= nc; i += 8) {
            __m256i acc = _mm256_add_epi32(
                _mm256_loadu_si256(reinterpret_cast<const __m256i *>(t + i)),
                _mm256_loadu_si256(
                    reinterpret_cast<const __m256i *>(colbias + n0 + i)));
            __m256 v = noContract(_mm256_mul_ps(
                _mm256_cvtepi32_ps(acc), _mm256_loadu_ps(dq.scale + n0 + i)));
            if (dq.bias)
              v = _mm256_add_ps(v, _mm256_loadu_ps(dq.bias + n0 + i));
            if (dq.relu)
              v = _mm256_max_ps(z, v);
            _mm256_storeu_ps(y + i, v);
          }
#endif
          for (; i < nc; ++i) {
            float v =
                noContract(static_cast<float>(wrapAdd(t[i], colbias[n0 + i])) *
                           dq.scale[n0 + i]);
            if (dq.bias)
              v = v + dq.bias[n0 + i];
            if (dq.relu)
              v = v < 0.0f ? 0.0f : v;
            y[i] = v;
          }
        }
      });
}

inline void gemm_s8_i32(ThreadPool &pool, int64_t M, int64_t N, int64_t K,
                        const void *A, bool a_is_u8, int64_t lda,
                        const void *Wp, const int32_t *colbias, int32_t *C,
                        int64_t ldc,
                        S8Layout layout = s8_default_layout(kTarget)) {
  using namespace detail;
  s8Gemm(pool, M, N, K, A, a_is_u8, lda, Wp, layout == S8Layout::Quads,
         [&](int64_t m0, int64_t mc, int64_t n0, int64_t nc,
             const int32_t *tile, int64_t ldt) {
           for (int64_t r = 0; r < mc; ++r)
             for (int64_t i = 0; i < nc; ++i)
               C[(m0 + r) * ldc + n0 + i] =
                   wrapAdd(tile[r * ldt + i], colbias[n0 + i]);
         });
}

//===----------------------------------------------------------------------===//
// f32 GEMM entry points
//===----------------------------------------------------------------------===//

/// C[b] = (A[b] - za) x (B[b] - zb) in int32 for b < batch: A [batch, M, K]
/// contiguous, B[b] [K, N] row-major at byte offset b * bBatchStride (0
/// broadcasts one B), C [batch, M, N]. Exact for K * 255 * 255 < 2^31 (the
/// differences are int16, their pair sums int32). One task per (batch, block
/// of rows), after every B is packed once (in parallel, into a buffer of the
/// calling thread).
inline void batch_matmul_s8(ThreadPool &pool, int64_t batch, int64_t M,
                            int64_t N, int64_t K, const void *A, bool aU8,
                            int32_t za, const void *B, bool bU8, int32_t zb,
                            int64_t bBatchStride, int32_t *C) {
  using namespace detail;
  if (batch <= 0 || M <= 0 || N <= 0)
    return;
  const int64_t gl = std::max<int64_t>(1, ceilDiv(std::max<int64_t>(K, 0), 2));
  const int64_t np = ceilDiv(N, kPanel), ncp = np * kPanel;
  const int64_t bElems = np * gl * 2 * kPanel; // int16 per packed B
  const int64_t bCount = bBatchStride == 0 ? 1 : batch;
  const auto *a8 = static_cast<const uint8_t *>(A);
  const auto *b8 = static_cast<const uint8_t *>(B);
  auto *Bp = static_cast<int16_t *>(
      scratch(4, sizeof(int16_t) * static_cast<size_t>(bCount * bElems)));
  pool.parallel_for(bCount, [&](int64_t bi) {
    s16PackPanels(b8 + bi * bBatchStride, bU8, zb, N, K, N, gl,
                  Bp + bi * bElems);
  });
  // Rows per task: enough tasks for the pool, at most 8 micro-tiles.
  int64_t mb = std::min<int64_t>(M, 8 * kS16MR);
  while (mb > kS16MR && batch * ceilDiv(M, mb) < 2 * pool.size())
    mb = std::max<int64_t>(kS16MR, mb / 2);
  const int64_t blocks = ceilDiv(M, mb);
  pool.parallel_for(batch * blocks, [&](int64_t t) {
    const int64_t bi = t / blocks, m0 = (t % blocks) * mb;
    const int64_t mc = std::min(mb, M - m0);
    auto *Ap = static_cast<int32_t *>(scratch(1, sizeof(int32_t) * mb * gl));
    auto *tile = static_cast<int32_t *>(scratch(2, sizeof(int32_t) * mb * ncp));
    const int16_t *bp = Bp + (bBatchStride == 0 ? 0 : bi) * bElems;
    s16PackRows(a8 + (bi * M + m0) * K, aU8, za, K, mc, K, gl, Ap);
    for (int64_t p = 0; p < np; ++p)
      for (int64_t mi = 0; mi < mc; mi += kS16MR)
        s16MicroN(static_cast<int>(std::min<int64_t>(kS16MR, mc - mi)), gl,
                  Ap + mi * gl, gl,
                  reinterpret_cast<const char *>(bp + p * gl * 2 * kPanel),
                  tile + mi * ncp + p * kPanel, ncp, false);
    for (int64_t r = 0; r < mc; ++r)
      std::memcpy(C + (bi * M + m0 + r) * N, tile + r * ncp,
                  sizeof(int32_t) * N);
  });
}

inline void gemm_f32(ThreadPool &pool, int64_t M, int64_t N, int64_t K,
                     const float *A, int64_t lda, const void *Wp,
                     const float *bias, bool relu, float *C, int64_t ldc) {
  using namespace detail;
  f32Gemm(&pool, M, N, K, A, lda, static_cast<const float *>(Wp), C, ldc,
          [&](int64_t m0, int64_t mc, int64_t n0, int64_t nc) {
            f32Epilogue(C + m0 * ldc, ldc, mc, n0, nc, bias, relu, 1.0f);
          });
}

inline void batch_matmul_f32(ThreadPool &pool, int64_t batch, int64_t M,
                             int64_t N, int64_t K, const float *A,
                             int64_t strideA, int64_t lda, const float *B,
                             int64_t strideB, int64_t ldb_k, int64_t ldb_n,
                             float alpha, float *C, int64_t strideC,
                             int64_t ldc) {
  using namespace detail;
  if (batch <= 0 || M <= 0 || N <= 0)
    return;
  const int64_t panels = ceilDiv(N, kPanel);
  const size_t bytes =
      sizeof(float) * panels * kPanel * std::max<int64_t>(K, 1);
  auto packB = [&](const float *Bb, float *dst) {
    for (int64_t p = 0; p < panels; ++p) {
      const int64_t nr = std::min<int64_t>(kPanel, N - p * kPanel);
      float *d = dst + p * K * kPanel;
      for (int64_t k = 0; k < K; ++k) {
        const float *s = Bb + k * ldb_k + p * kPanel * ldb_n;
        float *dk = d + k * kPanel;
        if (ldb_n == 1) {
          std::memcpy(dk, s, sizeof(float) * nr);
        } else {
          for (int64_t c = 0; c < nr; ++c)
            dk[c] = s[c * ldb_n];
        }
        for (int64_t c = nr; c < kPanel; ++c)
          dk[c] = 0.0f;
      }
    }
  };
  auto one = [&](ThreadPool *pl, int64_t b, float *packed) {
    packB(B + b * strideB, packed);
    float *Cb = C + b * strideC;
    f32Gemm(pl, M, N, K, A + b * strideA, lda, packed, Cb, ldc,
            [&](int64_t m0, int64_t mc, int64_t n0, int64_t nc) {
              f32Epilogue(Cb + m0 * ldc, ldc, mc, n0, nc, nullptr, false,
                          alpha);
            });
  };
  if (batch >= pool.size() || pool.size() == 1) {
    pool.parallel_for(batch, [&](int64_t b) {
      one(nullptr, b, static_cast<float *>(scratch(3, bytes)));
    });
  } else {
    float *packed = static_cast<float *>(scratch(3, bytes));
    for (int64_t b = 0; b < batch; ++b)
      one(&pool, b, packed);
  }
}

//===----------------------------------------------------------------------===//
// int4 weight-only GEMM
//===----------------------------------------------------------------------===//

inline void gemm_w4_f32(ThreadPool &pool, int64_t M, int64_t N, int64_t K,
                        int64_t G, const float *A, int64_t lda, const void *Wp,
                        const float *bias, float *C, int64_t ldc) {
  using namespace detail;
  if (M <= 0 || N <= 0)
    return;
  const int64_t blocks = ceilDiv(N, kPanel);
  const int64_t blockBytes = qopt_cpu::pack_detail::w4BlockBytes(K, G);
  const char *W = static_cast<const char *>(Wp);
  if (K <= 0) {
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n)
        C[m * ldc + n] = bias ? bias[n] : 0.0f;
    return;
  }
  const int64_t ng = ceilDiv(K, G), S = ceilDiv(G, 8);
  if (M <= 4) {
    // GEMV: one sequential pass over the weights, rows from L1/L2.
    const int64_t xlen = ng * S * 8;
    float *xp =
        static_cast<float *>(scratch(2, sizeof(float) * M * (xlen + ng)));
    for (int64_t m = 0; m < M; ++m) {
      float *x = xp + m * (xlen + ng), *xs = x + xlen;
      std::fill(x, x + xlen, 0.0f);
      for (int64_t g = 0; g < ng; ++g) {
        const int64_t len = std::min(G, K - g * G);
        const float *src = A + m * lda + g * G;
        float s = 0.0f;
        for (int64_t i = 0; i < len; ++i) {
          s += src[i];
#if QOPT_CPU_HAS_AVX2
          // x or x / 16 (exact) by nibble position (see w4GemvBlock).
          x[g * S * 8 + i] = src[i] * kW4Scale[i % 8];
#else
          x[g * S * 8 + i] = src[i];
#endif
        }
        xs[g] = s;
      }
    }
    parallelRange(pool, blocks, 4, [&](int64_t b0, int64_t b1) {
      alignas(32) float out[16];
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t nr = std::min<int64_t>(16, N - b * 16);
        for (int64_t m = 0; m < M; ++m) {
          const float *x = xp + m * (xlen + ng);
          w4GemvBlock(W + b * blockBytes, K, G, x, x + xlen, out);
          float *y = C + m * ldc + b * 16;
          for (int64_t c = 0; c < nr; ++c)
            y[c] = bias ? out[c] + bias[b * 16 + c] : out[c];
        }
      }
    });
    return;
  }
  // M > 4: dequantize a K-chunk of 4 blocks (64 columns) to f32 panels and
  // run the f32 micro-kernel over all rows.
  const int64_t cg = std::max<int64_t>(1, 256 / G); // groups per chunk
  const int64_t bpt = 4;                            // blocks per task
  pool.parallel_for(ceilDiv(blocks, bpt), [&](int64_t t) {
    const int64_t b0 = t * bpt, b1 = std::min(blocks, b0 + bpt);
    float *panel =
        static_cast<float *>(scratch(2, sizeof(float) * bpt * cg * G * 16));
    for (int64_t g0 = 0; g0 < ng; g0 += cg) {
      const int64_t gn = std::min(cg, ng - g0);
      const int64_t k0 = g0 * G, kc = std::min(K, (g0 + gn) * G) - k0;
      for (int64_t b = b0; b < b1; ++b)
        w4Dequant(W + b * blockBytes, K, G, g0, gn,
                  panel + (b - b0) * cg * G * 16);
      for (int64_t mi = 0; mi < M; mi += kF32MR) {
        const int mr = static_cast<int>(std::min<int64_t>(kF32MR, M - mi));
        for (int64_t b = b0; b < b1; ++b) {
          const int nr = static_cast<int>(std::min<int64_t>(16, N - b * 16));
          f32MicroN(mr, kc, A + mi * lda + k0, lda,
                    panel + (b - b0) * cg * G * 16, C + mi * ldc + b * 16, ldc,
                    nr, g0 > 0);
        }
      }
    }
    if (bias)
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = b0 * 16; n < std::min(N, b1 * 16); ++n)
          C[m * ldc + n] += bias[n];
  });
}

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

inline void quantize_f32(ThreadPool &pool, int64_t n, const float *x,
                         float scale, int32_t zp, int32_t qmin, int32_t qmax,
                         bool out_u8, void *q) {
  using namespace detail;
  parallelRange(pool, n, 16384, [&](int64_t b, int64_t e) {
    char *y = static_cast<char *>(q);
    int64_t i = b;
#if QOPT_CPU_HAS_AVX2
    const __m256 s = _mm256_set1_ps(scale);
    const __m256 lo = _mm256_set1_ps(static_cast<float>(qmin - zp));
    const __m256 hi = _mm256_set1_ps(static_cast<float>(qmax - zp));
    const __m256i z = _mm256_set1_epi32(zp);
    for (; i + 8 <= e; i += 8) {
      __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i), s);
      v = _mm256_andnot_ps(isNan8(v), v); // NaN -> 0 -> the zero point
      storeBytes8(y + i, roundSaturate8(v, lo, hi, z), out_u8);
    }
#endif
    for (; i < e; ++i) {
      int32_t v = roundSaturate(x[i] / scale, zp, qmin, qmax);
      if (out_u8)
        reinterpret_cast<uint8_t *>(y)[i] = static_cast<uint8_t>(v);
      else
        reinterpret_cast<int8_t *>(y)[i] = static_cast<int8_t>(v);
    }
  });
}

inline void dequantize_to_f32(ThreadPool &pool, int64_t n, const void *q,
                              int dtype, float scale, int32_t zp, float *y) {
  using namespace detail;
  parallelRange(pool, n, 16384, [&](int64_t b, int64_t e) {
    int64_t i = b;
    if (dtype == 2) {
      const int32_t *s = static_cast<const int32_t *>(q);
#if QOPT_CPU_HAS_AVX2
      if (zp == 0)
        for (; i + 8 <= e; i += 8)
          _mm256_storeu_ps(
              y + i,
              _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256(
                                reinterpret_cast<const __m256i *>(s + i))),
                            _mm256_set1_ps(scale)));
#endif
      for (; i < e; ++i)
        y[i] = static_cast<float>(static_cast<int64_t>(s[i]) - zp) * scale;
      return;
    }
    const bool u8 = dtype == 0;
    const uint8_t *s = static_cast<const uint8_t *>(q);
#if QOPT_CPU_HAS_AVX2
    const __m256i z = _mm256_set1_epi32(zp);
    const __m256 sc = _mm256_set1_ps(scale);
    for (; i + 8 <= e; i += 8) {
      __m128i raw = _mm_loadl_epi64(reinterpret_cast<const __m128i *>(s + i));
      __m256i v = u8 ? _mm256_cvtepu8_epi32(raw) : _mm256_cvtepi8_epi32(raw);
      _mm256_storeu_ps(
          y + i, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(v, z)), sc));
    }
#endif
    for (; i < e; ++i) {
      int32_t v = u8 ? s[i] : static_cast<int8_t>(s[i]);
      y[i] = static_cast<float>(v - zp) * scale;
    }
  });
}

inline void dynamic_quantize_per_token(ThreadPool &pool, int64_t rows,
                                       int64_t cols, const float *x, int8_t *q,
                                       float *scale) {
  using namespace detail;
  parallelRange(
      pool, rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(cols, 1)),
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float *in = x + r * cols;
          int8_t *out = q + r * cols;
          float m = 0.0f;
          int64_t i = 0;
#if QOPT_CPU_HAS_AVX2
          __m256 mv = _mm256_setzero_ps();
          for (; i + 8 <= cols; i += 8)
            mv = _mm256_max_ps(mv, abs8(_mm256_loadu_ps(in + i)));
          alignas(32) float t[8];
          _mm256_store_ps(t, mv);
          for (float v : t)
            m = std::max(m, v);
#endif
          for (; i < cols; ++i)
            m = std::max(m, std::fabs(in[i]));
          float s = m > 0.0f ? m / 127.0f : 1.0f;
          if (s == 0.0f)
            s = 1.0f;
          scale[r] = s;
          i = 0;
#if QOPT_CPU_HAS_AVX2
          const __m256 sv = _mm256_set1_ps(s);
          const __m256 lo = _mm256_set1_ps(-127.0f),
                       hi = _mm256_set1_ps(127.0f);
          const __m256i z = _mm256_setzero_si256();
          for (; i + 8 <= cols; i += 8)
            storeBytes8(
                out + i,
                roundSaturate8(_mm256_div_ps(_mm256_loadu_ps(in + i), sv), lo,
                               hi, z),
                false);
#endif
          for (; i < cols; ++i) {
            float v = std::nearbyint(in[i] / s);
            out[i] =
                static_cast<int8_t>(std::min(127.0f, std::max(-127.0f, v)));
          }
        }
      });
}

inline void requantize_i32(ThreadPool &pool, int64_t rows, int64_t N,
                           const int32_t *acc, const float *mult,
                           bool per_column, int32_t out_zp, int32_t qmin,
                           int32_t qmax, bool out_u8, void *q) {
  using namespace detail;
  if (rows <= 0 || N <= 0)
    return;
  const int64_t total = rows * N;
  auto body = [&](int64_t b, int64_t e) {
    char *y = static_cast<char *>(q);
    int64_t i = b;
#if QOPT_CPU_HAS_AVX2
    const __m256 lo = _mm256_set1_ps(static_cast<float>(qmin - out_zp));
    const __m256 hi = _mm256_set1_ps(static_cast<float>(qmax - out_zp));
    const __m256i z = _mm256_set1_epi32(out_zp);
    const __m256 m1 = _mm256_set1_ps(mult[0]);
    for (; i + 8 <= e; i += 8) {
      // Per column: only when the 8 lanes stay within one row.
      if (per_column && (i % N) + 8 > N)
        break;
      __m256 mv = per_column ? _mm256_loadu_ps(mult + (i % N)) : m1;
      __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256(
                                   reinterpret_cast<const __m256i *>(acc + i))),
                               mv);
      storeBytes8(y + i, roundSaturate8(v, lo, hi, z), out_u8);
    }
#endif
    for (; i < e; ++i) {
      float v = static_cast<float>(acc[i]) * mult[per_column ? i % N : 0];
      int32_t r = roundSaturate(v, out_zp, qmin, qmax);
      if (out_u8)
        reinterpret_cast<uint8_t *>(y)[i] = static_cast<uint8_t>(r);
      else
        reinterpret_cast<int8_t *>(y)[i] = static_cast<int8_t>(r);
    }
  };
  if (per_column) // whole rows per chunk keep the vector path aligned to rows
    parallelRange(pool, rows, std::max<int64_t>(1, 16384 / N),
                  [&](int64_t r0, int64_t r1) {
                    for (int64_t r = r0; r < r1; ++r)
                      body(r * N, (r + 1) * N);
                  });
  else
    parallelRange(pool, total, 16384, body);
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

enum class Unary {
  Relu,
  Gelu,
  GeluTanh,
  Erf,
  Tanh,
  Sigmoid,
  Silu,
  Exp,
  Sqrt,
  Neg,
  Abs
};
enum class Binary { Add, Sub, Mul, Div, Max, Min };

namespace detail {

inline float unaryScalar(Unary op, float x) {
  switch (op) {
  case Unary::Relu:
    return x < 0.0f ? 0.0f : x;
  case Unary::Gelu:
    return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752440f));
  case Unary::GeluTanh:
    return 0.5f * x *
           (1.0f +
            std::tanh(0.79788456080286535588f * (x + 0.044715f * x * x * x)));
  case Unary::Erf:
    return std::erf(x);
  case Unary::Tanh:
    return std::tanh(x);
  case Unary::Sigmoid:
    return sigmoidScalar(x);
  case Unary::Silu:
    return x * sigmoidScalar(x);
  case Unary::Exp:
    return std::exp(x);
  case Unary::Sqrt:
    return std::sqrt(x);
  case Unary::Neg:
    return -x;
  case Unary::Abs:
    return std::fabs(x);
  }
  return x;
}

#if QOPT_CPU_HAS_AVX2
inline __m256 unary8(Unary op, __m256 x) {
  const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
  switch (op) {
  case Unary::Relu:
    return _mm256_max_ps(_mm256_setzero_ps(), x);
  case Unary::Gelu:
    return _mm256_mul_ps(
        _mm256_mul_ps(half, x),
        _mm256_add_ps(one, erf8(_mm256_mul_ps(
                               x, _mm256_set1_ps(0.70710678118654752440f)))));
  case Unary::GeluTanh: {
    __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
    __m256 in =
        _mm256_mul_ps(_mm256_set1_ps(0.79788456080286535588f),
                      _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), x3, x));
    return _mm256_mul_ps(_mm256_mul_ps(half, x), _mm256_add_ps(one, tanh8(in)));
  }
  case Unary::Erf:
    return erf8(x);
  case Unary::Tanh:
    return tanh8(x);
  case Unary::Sigmoid:
    return sigmoid8(x);
  case Unary::Silu:
    return _mm256_mul_ps(x, sigmoid8(x));
  case Unary::Exp:
    return exp8(x);
  case Unary::Sqrt:
    return _mm256_sqrt_ps(x);
  case Unary::Neg:
    return _mm256_xor_ps(x, _mm256_set1_ps(-0.0f));
  case Unary::Abs:
    return abs8(x);
  }
  return x;
}

inline __m256 binary8(Binary op, __m256 a, __m256 b) {
  switch (op) {
  case Binary::Add:
    return _mm256_add_ps(a, b);
  case Binary::Sub:
    return _mm256_sub_ps(a, b);
  case Binary::Mul:
    return _mm256_mul_ps(a, b);
  case Binary::Div:
    return _mm256_div_ps(a, b);
  // max_ps(a, b) = a > b ? a : b; NaN in a must win as in the executor.
  case Binary::Max:
    return _mm256_blendv_ps(_mm256_max_ps(a, b), a, isNan8(a));
  case Binary::Min:
    return _mm256_blendv_ps(_mm256_min_ps(a, b), a, isNan8(a));
  }
  return a;
}
#endif

inline float binaryScalar(Binary op, float a, float b) {
  switch (op) {
  case Binary::Add:
    return a + b;
  case Binary::Sub:
    return a - b;
  case Binary::Mul:
    return a * b;
  case Binary::Div:
    return a / b;
  case Binary::Max:
    if (a > b)
      return a;
    if (b > a)
      return b;
    return a != a ? a : b;
  case Binary::Min:
    if (a < b)
      return a;
    if (b < a)
      return b;
    return a != a ? a : b;
  }
  return a;
}

/// y[i] = op(a[i * sa], b[i * sb]) for i < n.
inline void binaryRun(Binary op, int64_t n, const float *a, int64_t sa,
                      const float *b, int64_t sb, float *y) {
  int64_t i = 0;
#if QOPT_CPU_HAS_AVX2
  if (sa == 1 && sb == 1) {
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps(
          y + i, binary8(op, _mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  } else if (sa == 1 && sb == 0) {
    const __m256 bv = _mm256_set1_ps(b[0]);
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps(y + i, binary8(op, _mm256_loadu_ps(a + i), bv));
  } else if (sa == 0 && sb == 1) {
    const __m256 av = _mm256_set1_ps(a[0]);
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps(y + i, binary8(op, av, _mm256_loadu_ps(b + i)));
  }
#endif
  for (; i < n; ++i)
    y[i] = binaryScalar(op, a[i * sa], b[i * sb]);
}

} // namespace detail

inline void unary_f32(ThreadPool &pool, Unary op, int64_t n, const float *x,
                      float *y) {
  using namespace detail;
  parallelRange(pool, n, 8192, [&](int64_t b, int64_t e) {
    int64_t i = b;
#if QOPT_CPU_HAS_AVX2
    for (; i + 8 <= e; i += 8)
      _mm256_storeu_ps(y + i, unary8(op, _mm256_loadu_ps(x + i)));
    if (i < e) { // tail through the same vector code for consistency
      alignas(32) float t[8] = {};
      std::memcpy(t, x + i, sizeof(float) * (e - i));
      _mm256_store_ps(t, unary8(op, _mm256_load_ps(t)));
      std::memcpy(y + i, t, sizeof(float) * (e - i));
      i = e;
    }
#endif
    for (; i < e; ++i)
      y[i] = unaryScalar(op, x[i]);
  });
}

inline void binary_f32(ThreadPool &pool, Binary op, int rank,
                       const int64_t *out_dims, const float *a,
                       const int64_t *a_strides, const float *b,
                       const int64_t *b_strides, float *y) {
  using namespace detail;
  int64_t total = 1;
  for (int d = 0; d < rank; ++d)
    total *= out_dims[d];
  if (total <= 0)
    return;
  if (rank == 0) {
    y[0] = binaryScalar(op, a[0], b[0]);
    return;
  }
  const int64_t inner = out_dims[rank - 1];
  const int64_t sa = a_strides[rank - 1], sb = b_strides[rank - 1];
  const int64_t rows = total / inner;
  // Offsets of row r (over dims [0, rank - 1)).
  auto rowOffsets = [&](int64_t r, int64_t &oa, int64_t &ob) {
    oa = ob = 0;
    for (int d = rank - 2; d >= 0; --d) {
      int64_t idx = r % out_dims[d];
      r /= out_dims[d];
      oa += idx * a_strides[d];
      ob += idx * b_strides[d];
    }
  };
  if (rows == 1) {
    parallelRange(pool, inner, 16384, [&](int64_t s, int64_t e) {
      binaryRun(op, e - s, a + s * sa, sa, b + s * sb, sb, y + s);
    });
    return;
  }
  parallelRange(pool, rows, std::max<int64_t>(1, 16384 / inner),
                [&](int64_t r0, int64_t r1) {
                  for (int64_t r = r0; r < r1; ++r) {
                    int64_t oa, ob;
                    rowOffsets(r, oa, ob);
                    binaryRun(op, inner, a + oa, sa, b + ob, sb, y + r * inner);
                  }
                });
}

inline void softmax_f32(ThreadPool &pool, int64_t rows, int64_t cols,
                        const float *x, float *y) {
  using namespace detail;
  parallelRange(
      pool, rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(cols, 1)),
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float *in = x + r * cols;
          float *out = y + r * cols;
          float m = -std::numeric_limits<float>::infinity();
          int64_t i = 0;
#if QOPT_CPU_HAS_AVX2
          __m256 mv = _mm256_set1_ps(m);
          for (; i + 8 <= cols; i += 8)
            mv = _mm256_max_ps(_mm256_loadu_ps(in + i), mv);
          alignas(32) float t[8];
          _mm256_store_ps(t, mv);
          for (float v : t)
            m = v > m ? v : m;
#endif
          for (; i < cols; ++i)
            m = in[i] > m ? in[i] : m;
          double sum = 0.0;
          i = 0;
#if QOPT_CPU_HAS_AVX2
          const __m256 mb = _mm256_set1_ps(m);
          __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
          for (; i + 8 <= cols; i += 8) {
            __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(in + i), mb));
            _mm256_storeu_ps(out + i, e);
            s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
            s1 =
                _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
          }
          alignas(32) double ds[4];
          _mm256_store_pd(ds, _mm256_add_pd(s0, s1));
          sum = (ds[0] + ds[1]) + (ds[2] + ds[3]);
          if (i < cols) {
            alignas(32) float t2[8];
            const int64_t rem = cols - i;
            for (int64_t j = 0; j < 8; ++j)
              t2[j] = j < rem ? in[i + j] - m : -INFINITY;
            _mm256_store_ps(t2, exp8(_mm256_load_ps(t2)));
            for (int64_t j = 0; j < rem; ++j) {
              out[i + j] = t2[j];
              sum += static_cast<double>(t2[j]);
            }
            i = cols;
          }
#endif
          for (; i < cols; ++i) {
            float e = std::exp(in[i] - m);
            out[i] = e;
            sum += static_cast<double>(e);
          }
          const float inv = static_cast<float>(1.0 / sum);
          i = 0;
#if QOPT_CPU_HAS_AVX2
          const __m256 iv = _mm256_set1_ps(inv);
          for (; i + 8 <= cols; i += 8)
            _mm256_storeu_ps(out + i,
                             _mm256_mul_ps(_mm256_loadu_ps(out + i), iv));
#endif
          for (; i < cols; ++i)
            out[i] *= inv;
        }
      });
}

namespace detail {
/// Double-precision sum of x (and of x^2 when sq) over n floats.
inline double sumD(const float *x, int64_t n, bool sq) {
  double s = 0.0;
  int64_t i = 0;
#if QOPT_CPU_HAS_AVX2
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
  for (; i + 8 <= n; i += 8) {
    __m256d lo = _mm256_cvtps_pd(_mm_loadu_ps(x + i));
    __m256d hi = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4));
    if (sq) {
      lo = _mm256_mul_pd(lo, lo);
      hi = _mm256_mul_pd(hi, hi);
    }
    a0 = _mm256_add_pd(a0, lo);
    a1 = _mm256_add_pd(a1, hi);
  }
  alignas(32) double t[4];
  _mm256_store_pd(t, _mm256_add_pd(a0, a1));
  s = (t[0] + t[1]) + (t[2] + t[3]);
#endif
  for (; i < n; ++i)
    s += sq ? static_cast<double>(x[i]) * x[i] : static_cast<double>(x[i]);
  return s;
}

inline double centeredSq(const float *x, int64_t n, double mean) {
  double s = 0.0;
  int64_t i = 0;
#if QOPT_CPU_HAS_AVX2
  const __m256d mv = _mm256_set1_pd(mean);
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
  for (; i + 8 <= n; i += 8) {
    __m256d lo = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i)), mv);
    __m256d hi = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)), mv);
    a0 = _mm256_add_pd(a0, _mm256_mul_pd(lo, lo));
    a1 = _mm256_add_pd(a1, _mm256_mul_pd(hi, hi));
  }
  alignas(32) double t[4];
  _mm256_store_pd(t, _mm256_add_pd(a0, a1));
  s = (t[0] + t[1]) + (t[2] + t[3]);
#endif
  for (; i < n; ++i) {
    double c = static_cast<double>(x[i]) - mean;
    s += c * c;
  }
  return s;
}
} // namespace detail

inline void layer_norm_f32(ThreadPool &pool, int64_t rows, int64_t cols,
                           const float *x, const float *gamma,
                           const float *beta, float eps, float *y) {
  using namespace detail;
  parallelRange(
      pool, rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(cols, 1)),
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float *in = x + r * cols;
          float *out = y + r * cols;
          const double meanD =
              sumD(in, cols, false) / static_cast<double>(cols);
          const double var = centeredSq(in, cols, meanD);
          const float mean = static_cast<float>(meanD);
          const float v = static_cast<float>(var / static_cast<double>(cols));
          const float inv = 1.0f / std::sqrt(v + eps);
          int64_t i = 0;
#if QOPT_CPU_HAS_AVX2
          const __m256 mv = _mm256_set1_ps(mean), iv = _mm256_set1_ps(inv);
          for (; i + 8 <= cols; i += 8) {
            __m256 t = noContract(_mm256_mul_ps(
                _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(in + i), mv), iv),
                _mm256_loadu_ps(gamma + i)));
            if (beta)
              t = _mm256_add_ps(t, _mm256_loadu_ps(beta + i));
            _mm256_storeu_ps(out + i, t);
          }
#endif
          for (; i < cols; ++i) {
            float t = noContract((in[i] - mean) * inv * gamma[i]);
            out[i] = beta ? t + beta[i] : t;
          }
        }
      });
}

inline void rms_norm_f32(ThreadPool &pool, int64_t rows, int64_t cols,
                         const float *x, const float *gamma, float eps,
                         float *y) {
  using namespace detail;
  parallelRange(
      pool, rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(cols, 1)),
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float *in = x + r * cols;
          float *out = y + r * cols;
          const float ms = static_cast<float>(sumD(in, cols, true) /
                                              static_cast<double>(cols));
          const float inv = 1.0f / std::sqrt(ms + eps);
          int64_t i = 0;
#if QOPT_CPU_HAS_AVX2
          const __m256 iv = _mm256_set1_ps(inv);
          for (; i + 8 <= cols; i += 8)
            _mm256_storeu_ps(
                out + i,
                _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(in + i), iv),
                              _mm256_loadu_ps(gamma + i)));
#endif
          for (; i < cols; ++i)
            out[i] = in[i] * inv * gamma[i];
        }
      });
}

//===----------------------------------------------------------------------===//
// Transpose
//===----------------------------------------------------------------------===//

inline void transpose(ThreadPool &pool, int rank, const int64_t *in_dims,
                      const int64_t *perm, size_t elem_size, const void *x,
                      void *y) {
  using namespace detail;
  // Merge out dims that stay adjacent and in order in the input.
  int64_t inStride[16], dims[16], strides[16];
  int64_t total = 1;
  inStride[rank > 0 ? rank - 1 : 0] = 1;
  for (int d = rank - 1; d > 0; --d)
    inStride[d - 1] = inStride[d] * in_dims[d];
  int nr = 0;
  for (int i = 0; i < rank; ++i) {
    int64_t dim = in_dims[perm[i]], st = inStride[perm[i]];
    total *= dim;
    if (dim == 1)
      continue;
    if (nr > 0 && strides[nr - 1] == st * dim) {
      dims[nr - 1] *= dim;
      strides[nr - 1] = st;
      continue;
    }
    dims[nr] = dim;
    strides[nr] = st;
    ++nr;
  }
  if (total <= 0)
    return;
  if (nr == 0) {
    std::memcpy(y, x, elem_size);
    return;
  }
  const char *src = static_cast<const char *>(x);
  char *dst = static_cast<char *>(y);
  const int64_t inner = dims[nr - 1], sInner = strides[nr - 1];
  const int64_t rows = total / inner;
  auto copyRun = [&](const char *s, char *d) {
    if (sInner == 1) {
      std::memcpy(d, s, inner * elem_size);
      return;
    }
    switch (elem_size) {
    case 1:
      for (int64_t i = 0; i < inner; ++i)
        d[i] = s[i * sInner];
      break;
    case 2:
      for (int64_t i = 0; i < inner; ++i)
        reinterpret_cast<uint16_t *>(d)[i] =
            reinterpret_cast<const uint16_t *>(s)[i * sInner];
      break;
    case 4:
      for (int64_t i = 0; i < inner; ++i)
        reinterpret_cast<uint32_t *>(d)[i] =
            reinterpret_cast<const uint32_t *>(s)[i * sInner];
      break;
    case 8:
      for (int64_t i = 0; i < inner; ++i)
        reinterpret_cast<uint64_t *>(d)[i] =
            reinterpret_cast<const uint64_t *>(s)[i * sInner];
      break;
    default:
      for (int64_t i = 0; i < inner; ++i)
        std::memcpy(d + i * elem_size, s + i * sInner * elem_size, elem_size);
    }
  };
  if (sInner != 1) {
    // The out dim that is contiguous in the input: copy 16 x 16 tiles of
    // (that dim, innermost dim) so both sides are read/written in runs.
    int q = -1;
    for (int d = 0; d < nr - 1; ++d)
      if (strides[d] == 1)
        q = d;
    if (q >= 0) {
      int64_t outStride[16];
      outStride[nr - 1] = 1;
      for (int d = nr - 1; d > 0; --d)
        outStride[d - 1] = outStride[d] * dims[d];
      const int64_t dq = dims[q], osq = outStride[q];
      const int64_t outer = total / (dq * inner);
      auto tiles = [&](auto tag) {
        using E = decltype(tag);
        const E *in = static_cast<const E *>(x);
        E *out = static_cast<E *>(y);
        const int64_t tq = ceilDiv(dq, 16), tl = ceilDiv(inner, 16);
        parallelRange(pool, outer * tq, std::max<int64_t>(1, 64 / tl),
                      [&](int64_t b, int64_t e) {
                        for (int64_t w = b; w < e; ++w) {
                          int64_t o = w / tq, iq0 = (w % tq) * 16;
                          // Offsets of the outer index o (all dims but q and
                          // the last).
                          int64_t inOff = 0, outOff = 0, rr = o;
                          for (int d = nr - 2; d >= 0; --d) {
                            if (d == q)
                              continue;
                            int64_t idx = rr % dims[d];
                            rr /= dims[d];
                            inOff += idx * strides[d];
                            outOff += idx * outStride[d];
                          }
                          const int64_t nq = std::min<int64_t>(16, dq - iq0);
                          for (int64_t il0 = 0; il0 < inner; il0 += 16) {
                            const int64_t nl =
                                std::min<int64_t>(16, inner - il0);
                            for (int64_t a = 0; a < nq; ++a) {
                              E *to = out + outOff + (iq0 + a) * osq + il0;
                              const E *from =
                                  in + inOff + (iq0 + a) + il0 * sInner;
                              for (int64_t l = 0; l < nl; ++l)
                                to[l] = from[l * sInner];
                            }
                          }
                        }
                      });
      };
      switch (elem_size) {
      case 1:
        tiles(uint8_t());
        return;
      case 2:
        tiles(uint16_t());
        return;
      case 4:
        tiles(uint32_t());
        return;
      case 8:
        tiles(uint64_t());
        return;
      default:
        break;
      }
    }
  }
  parallelRange(pool, rows, std::max<int64_t>(1, 16384 / inner),
                [&](int64_t r0, int64_t r1) {
                  for (int64_t r = r0; r < r1; ++r) {
                    int64_t off = 0, rr = r;
                    for (int d = nr - 2; d >= 0; --d) {
                      off += (rr % dims[d]) * strides[d];
                      rr /= dims[d];
                    }
                    copyRun(src + off * elem_size, dst + r * inner * elem_size);
                  }
                });
}

} // namespace QOPT_CPU_NS
} // namespace qopt_cpu

#endif // QOPT_CPU_RUNTIME_H
