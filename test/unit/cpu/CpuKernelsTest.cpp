//===- CpuKernelsTest.cpp - CPU runtime kernels against the executor ------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Runs every kernel of runtime/cpu/qopt_cpu_runtime.h, on every compiled
// target (generic, AVX2 and, when built, AVX-512 VNNI; a target the CPU
// lacks is skipped), against the reference executor's kernels
// (qopt::kernels). Integer and quantization kernels must match bit for bit;
// float kernels within the tolerances documented in runtime/cpu/README.md.
//
//===----------------------------------------------------------------------===//

#include "CpuKernelTable.h"
#include "qopt_cpu_pack.h"

#include "qopt/executor/Kernels.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

using namespace qopt;
namespace k = qopt::kernels;
using qopt_cpu_test::CpuKernelTable;

namespace {

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

template <class T> T ok(llvm::Expected<T> e) {
  if (!e) {
    ADD_FAILURE() << llvm::toString(e.takeError());
    return T();
  }
  return std::move(*e);
}

template <class T>
Tensor tensorOf(DType dt, std::vector<int64_t> shape, const T *data) {
  Tensor t(dt, std::move(shape));
  std::memcpy(t.mutableRawData(), data, t.byteSize());
  return t;
}

template <class T> Tensor scalarOf(DType dt, T v) {
  Tensor t(dt, {});
  std::memcpy(t.mutableRawData(), &v, sizeof(T));
  return t;
}

/// A 64-byte aligned byte buffer.
struct Blob {
  explicit Blob(size_t n) : v((n + 127) / 64 + 1) {}
  void *data() {
    return reinterpret_cast<void *>(
        (reinterpret_cast<uintptr_t>(v.data()) + 63) & ~uintptr_t(63));
  }
  struct alignas(64) Line {
    char b[64];
  };
  std::vector<Line> v;
};

std::vector<float> randomFloats(std::mt19937 &rng, size_t n, float lo = -1.0f,
                                float hi = 1.0f) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float &x : v)
    x = u(rng);
  return v;
}

bool sameBits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

class CpuKernels : public ::testing::TestWithParam<const CpuKernelTable *> {
protected:
  void SetUp() override {
    if (!GetParam()->supported())
      GTEST_SKIP() << GetParam()->name << " not supported by this CPU";
  }
  const CpuKernelTable &T() const { return *GetParam(); }
};

std::vector<const CpuKernelTable *> allTables() {
  std::vector<const CpuKernelTable *> t = {&qopt_cpu_test::cpuKernelsGeneric(),
                                           &qopt_cpu_test::cpuKernelsAvx2()};
#ifdef QOPT_CPU_TEST_HAVE_AVX512
  t.push_back(&qopt_cpu_test::cpuKernelsAvx512());
#endif
  return t;
}

TEST_P(CpuKernels, ThreadPoolCoversEachTaskOnce) {
  const CpuKernelTable &t = T();
  for (int threads : {1, 2})
    for (int64_t n : {1, 2, 3, 7, 64, 1000}) {
      const int rounds = n < 100 ? 2000 : 50;
      EXPECT_EQ(t.parallelForSum(threads, n, rounds),
                static_cast<int64_t>(rounds) * n * (n + 1) / 2)
          << "threads=" << threads << " n=" << n;
    }
}

//===----------------------------------------------------------------------===//
// int8 GEMM
//===----------------------------------------------------------------------===//

/// One epilogue configuration and its executor oracle.
struct S8Config {
  bool aU8;
  int epi; // 0 requant, 1 dequant, 2 i32
  int32_t aZp;
  std::vector<int32_t> bias; // empty: none
  std::vector<float> mult;   // requant multipliers / dequant scales
  std::vector<float> fbias;  // dequant bias (empty: none)
  bool relu = false;
  int32_t outZp = 0, qmin = 0, qmax = 0;
  bool outU8 = false;
};

S8Config randomConfig(std::mt19937 &rng, bool aU8, int epi, int64_t N,
                      int64_t K) {
  S8Config c;
  c.aU8 = aU8;
  c.epi = epi;
  std::uniform_int_distribution<int> zpd(aU8 ? 0 : -128, aU8 ? 255 : 127);
  c.aZp = (rng() % 4 == 0) ? 0 : zpd(rng);
  if (rng() % 3 != 0) {
    std::uniform_int_distribution<int32_t> bd(-100000, 100000);
    c.bias.resize(N);
    for (int32_t &b : c.bias)
      b = bd(rng);
  }
  // Multipliers that map the accumulator spread to a few hundred steps, so
  // both rounding and saturation occur.
  float base = 1.0f / (60.0f * 64.0f * std::sqrt(static_cast<float>(K)));
  std::uniform_real_distribution<float> md(0.2f, 3.0f);
  c.mult.resize(N);
  for (float &m : c.mult)
    m = base * md(rng) * (epi == 1 ? 0.01f : 1.0f);
  if (epi == 1) {
    c.relu = rng() % 2;
    if (rng() % 2) {
      c.fbias = randomFloats(rng, N, -0.5f, 0.5f);
    }
  }
  c.outU8 = rng() % 2;
  if (c.outU8) {
    c.qmin = (rng() % 3 == 0) ? 10 : 0;
    c.qmax = (rng() % 3 == 0) ? 200 : 255;
    c.outZp = static_cast<int32_t>(rng() % 256);
  } else {
    c.qmin = (rng() % 3 == 0) ? -100 : -128;
    c.qmax = (rng() % 3 == 0) ? 90 : 127;
    c.outZp = static_cast<int32_t>(rng() % 256) - 128;
  }
  return c;
}

/// Executor result for A[M,K] (dense) x W[K,N] under config c: bytes
/// (requant), f32 (dequant) or i32, as a byte vector of M*N elements.
std::vector<char> s8Oracle(const S8Config &c, int64_t M, int64_t N, int64_t K,
                           const uint8_t *A, const int8_t *W) {
  Tensor a = tensorOf(c.aU8 ? DType::U8 : DType::I8, {M, K}, A);
  Tensor w = tensorOf(DType::I8, {K, N}, W);
  Tensor zp = c.aU8 ? scalarOf<uint8_t>(DType::U8, static_cast<uint8_t>(c.aZp))
                    : scalarOf<int8_t>(DType::I8, static_cast<int8_t>(c.aZp));
  Tensor acc = ok(k::matmulInteger(a, w, &zp, nullptr));
  if (!c.bias.empty()) {
    int32_t *p = acc.mutableData<int32_t>();
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n)
        p[m * N + n] =
            static_cast<int32_t>(static_cast<uint32_t>(p[m * N + n]) +
                                 static_cast<uint32_t>(c.bias[n]));
  }
  Tensor out;
  if (c.epi == 0) {
    Tensor mult = tensorOf(DType::F32, {N}, c.mult.data());
    DType od = c.outU8 ? DType::U8 : DType::I8;
    std::vector<uint8_t> zpv(N, static_cast<uint8_t>(c.outZp));
    Tensor ozp = tensorOf(od, {N}, zpv.data());
    out = ok(k::requantize(acc, mult, &ozp, 1, od, c.qmin, c.qmax));
  } else if (c.epi == 1) {
    Tensor sc = tensorOf(DType::F32, {N}, c.mult.data());
    out = ok(k::dequantizeLinear(acc, sc, nullptr, 1, 0));
    if (!c.fbias.empty())
      out = ok(k::add(out, tensorOf(DType::F32, {N}, c.fbias.data())));
    if (c.relu)
      out = ok(k::relu(out));
  } else {
    out = acc;
  }
  const char *p = static_cast<const char *>(out.rawData());
  return std::vector<char>(p, p + out.byteSize());
}

/// Runs the runtime on rows [0, M) of A (row stride lda) with the first N
/// columns: W packed [K, N]; compares with `want` (row stride wantLd
/// elements). Returns false on the first mismatch (reported).
bool s8RunAndCompare(const CpuKernelTable &t, qopt_cpu::S8Layout layout,
                     const S8Config &c, int threads, int64_t M, int64_t N,
                     int64_t K, const uint8_t *A, int64_t lda, const int8_t *W,
                     const void *Wp, const char *want, int64_t wantLd) {
  std::vector<int32_t> colbias(N);
  bool okFold = qopt_cpu::fold_colbias_s8(
      layout, W, K, N, c.bias.empty() ? nullptr : c.bias.data(), c.aZp, c.aU8,
      colbias.data());
  EXPECT_TRUE(okFold);
  const int64_t ldc = N + (M % 3);
  const size_t es = c.epi == 0 ? 1 : 4;
  std::vector<char> out(M * ldc * es + 64, 0x5a);
  if (c.epi == 0) {
    qopt_cpu::Requant rq{c.mult.data(), c.outZp, c.qmin, c.qmax, c.outU8};
    t.gemmS8Requant(threads, M, N, K, A, c.aU8, lda, Wp, colbias.data(), rq,
                    out.data(), ldc, layout);
  } else if (c.epi == 1) {
    qopt_cpu::Dequant dq{c.mult.data(),
                         c.fbias.empty() ? nullptr : c.fbias.data(), c.relu};
    t.gemmS8Dequant(threads, M, N, K, A, c.aU8, lda, Wp, colbias.data(), dq,
                    reinterpret_cast<float *>(out.data()), ldc, layout);
  } else {
    t.gemmS8I32(threads, M, N, K, A, c.aU8, lda, Wp, colbias.data(),
                reinterpret_cast<int32_t *>(out.data()), ldc, layout);
  }
  for (int64_t m = 0; m < M; ++m)
    if (std::memcmp(out.data() + m * ldc * es, want + m * wantLd * es,
                    N * es)) {
      for (int64_t n = 0; n < N; ++n) {
        const char *g = out.data() + (m * ldc + n) * es;
        const char *w = want + (m * wantLd + n) * es;
        if (std::memcmp(g, w, es) == 0)
          continue;
        double gv, wv;
        if (c.epi == 0) {
          gv = c.outU8 ? *reinterpret_cast<const uint8_t *>(g)
                       : *reinterpret_cast<const int8_t *>(g);
          wv = c.outU8 ? *reinterpret_cast<const uint8_t *>(w)
                       : *reinterpret_cast<const int8_t *>(w);
        } else if (c.epi == 1) {
          gv = *reinterpret_cast<const float *>(g);
          wv = *reinterpret_cast<const float *>(w);
        } else {
          gv = *reinterpret_cast<const int32_t *>(g);
          wv = *reinterpret_cast<const int32_t *>(w);
        }
        ADD_FAILURE() << t.name << " layout=" << static_cast<int>(layout)
                      << " M=" << M << " N=" << N << " K=" << K
                      << " epi=" << c.epi << " aU8=" << c.aU8
                      << " threads=" << threads << " at (" << m << ", " << n
                      << "): got " << gv << " want " << wv;
        return false;
      }
    }
  // Nothing written outside the M x N window.
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = N; n < ldc; ++n)
      for (size_t b = 0; b < es; ++b)
        if (out[(m * ldc + n) * es + b] != 0x5a) {
          ADD_FAILURE() << t.name << " wrote past column N at row " << m;
          return false;
        }
  return true;
}

/// Random weights in [-127, 127], with -128 mixed in when `with128`.
std::vector<int8_t> randomWeights(std::mt19937 &rng, size_t n, bool with128) {
  std::uniform_int_distribution<int> d(-127, 127);
  std::vector<int8_t> w(n);
  for (int8_t &x : w)
    x = static_cast<int8_t>((with128 && rng() % 7 == 0) ? -128 : d(rng));
  return w;
}

/// Weights that vpmaddubsw multiplies exactly (s8_pairs_fit_int16): mostly
/// in [-64, 63], with every k-pair of a column summing to at most 128 on the
/// positive side and -128 on the negative one, and pairs at those limits
/// ((64, 64), (-64, -64), (127, 1), (-128, 0), (127, -128)) mixed in.
std::vector<int8_t> fittingWeights(std::mt19937 &rng, int64_t K, int64_t N) {
  std::uniform_int_distribution<int> d(-64, 63);
  const int8_t edge[][2] = {{64, 64}, {-64, -64}, {127, 1}, {-128, 0},
                            {127, -128}, {1, 127}, {0, -128}};
  std::vector<int8_t> w(K * N);
  for (int64_t k = 0; k < K; k += 2)
    for (int64_t n = 0; n < N; ++n) {
      int8_t w0 = static_cast<int8_t>(d(rng)), w1 = static_cast<int8_t>(d(rng));
      if (rng() % 5 == 0) {
        const int8_t *e = edge[rng() % 7];
        w0 = e[0];
        w1 = e[1];
      }
      w[k * N + n] = w0;
      if (k + 1 < K) // a last odd row pairs with 0: any int8 fits
        w[(k + 1) * N + n] = w1;
    }
  return w;
}

/// The s8 layouts a table runs: int16 pairs everywhere, u8 quads (on AVX2
/// and generic only with fitting weights).
const qopt_cpu::S8Layout kLayouts[] = {qopt_cpu::S8Layout::Pairs,
                                       qopt_cpu::S8Layout::Quads};

/// Weights for a layout on a target: any int8 where the kernel is exact for
/// any (pairs; VNNI quads), fitting ones otherwise.
std::vector<int8_t> weightsFor(const CpuKernelTable &t,
                               qopt_cpu::S8Layout layout, std::mt19937 &rng,
                               int64_t K, int64_t N, bool with128) {
  if (layout == qopt_cpu::S8Layout::Quads &&
      t.target != qopt_cpu::Target::AVX512VNNI) {
    std::vector<int8_t> w = fittingWeights(rng, K, N);
    EXPECT_TRUE(qopt_cpu::s8_pairs_fit_int16(w.data(), K, N));
    return w;
  }
  return randomWeights(rng, K * N, with128);
}

std::vector<uint8_t> randomBytes(std::mt19937 &rng, size_t n) {
  std::vector<uint8_t> v(n);
  for (uint8_t &x : v)
    x = static_cast<uint8_t>(rng());
  return v;
}

// Every M, N, K in 1..32. The oracle is computed once per K and config on
// the full 32 x 32 problem: its top-left M x N block is the result for
// A[:M, :K] x W[:K, :N].
TEST_P(CpuKernels, Int8GemmAllSmallShapes) {
  const CpuKernelTable &t = T();
  std::mt19937 rng(1234);
  constexpr int64_t S = 32;
  for (qopt_cpu::S8Layout layout : kLayouts) {
    int64_t checked = 0;
    for (int64_t K = 1; K <= S && !HasFailure(); ++K) {
      const int64_t lda = K + K % 3;
      std::vector<uint8_t> A = randomBytes(rng, S * lda);
      std::vector<uint8_t> Adense(S * K);
      for (int64_t m = 0; m < S; ++m)
        std::memcpy(&Adense[m * K], &A[m * lda], K);
      std::vector<int8_t> W = weightsFor(t, layout, rng, K, S, K % 4 == 0);
      std::vector<S8Config> cfgs;
      std::vector<std::vector<char>> want;
      for (int i = 0; i < 6; ++i) {
        cfgs.push_back(randomConfig(rng, i % 2 == 0, i / 2, S, K));
        want.push_back(
            s8Oracle(cfgs.back(), S, S, K, Adense.data(), W.data()));
      }
      for (int64_t N = 1; N <= S && !HasFailure(); ++N) {
        std::vector<int8_t> Wn(K * N);
        for (int64_t kk = 0; kk < K; ++kk)
          std::memcpy(&Wn[kk * N], &W[kk * S], N);
        Blob wp(qopt_cpu::packed_s8_size(layout, K, N));
        qopt_cpu::pack_s8(layout, Wn.data(), K, N, wp.data());
        for (int64_t M = 1; M <= S; ++M) {
          const int ci = static_cast<int>((M * 7 + N * 3 + K) % 6);
          if (!s8RunAndCompare(t, layout, cfgs[ci], (M + N) % 2 ? 2 : 1, M, N,
                               K, A.data(), lda, Wn.data(), wp.data(),
                               want[ci].data(), S))
            break;
          ++checked;
        }
      }
    }
    EXPECT_EQ(checked, S * S * S) << "layout " << static_cast<int>(layout);
  }
}

TEST_P(CpuKernels, Int8GemmTails) {
  const CpuKernelTable &t = T();
  std::mt19937 rng(99);
  const int64_t Ms[] = {33, 47, 64, 65, 128};
  const int64_t Ns[] = {33, 48, 63, 100, 768};
  const int64_t Ks[] = {33, 63, 255, 257, 768, 3072};
  for (qopt_cpu::S8Layout layout : kLayouts) {
    int cases = 0;
    for (int64_t M : Ms)
      for (int64_t N : Ns)
        for (int64_t K : Ks) {
          // Sample about a quarter of the combinations, with a work cap.
          if (rng() % 4 != 0 || M * N * K > 128LL * 768 * 800)
            continue;
          std::vector<uint8_t> A = randomBytes(rng, M * K);
          std::vector<int8_t> W = weightsFor(t, layout, rng, K, N, rng() % 2);
          Blob wp(qopt_cpu::packed_s8_size(layout, K, N));
          qopt_cpu::pack_s8(layout, W.data(), K, N, wp.data());
          for (int epi = 0; epi < 3; ++epi) {
            S8Config c = randomConfig(rng, (cases + epi) % 2 == 0, epi, N, K);
            std::vector<char> want = s8Oracle(c, M, N, K, A.data(), W.data());
            for (int threads : {1, 2})
              ASSERT_TRUE(s8RunAndCompare(t, layout, c, threads, M, N, K,
                                          A.data(), K, W.data(), wp.data(),
                                          want.data(), N));
          }
          ++cases;
        }
    EXPECT_GT(cases, 10);
  }
}

// The vpmaddubsw bound, both ways: weights at the limit are exact with the
// worst activations (all 255, or all 0 for s8 activations shifted by 128);
// one step past it is what s8_pairs_fit_int16 refuses.
TEST(CpuPack, PairsFitInt16Bound) {
  auto fits = [](std::vector<int8_t> col) {
    return qopt_cpu::s8_pairs_fit_int16(col.data(),
                                        static_cast<int64_t>(col.size()), 1);
  };
  EXPECT_TRUE(fits({64, 64, -64, -64, 127, -128, 127, 1, -128, 0}));
  EXPECT_TRUE(fits({127}));
  EXPECT_TRUE(fits({-128}));
  EXPECT_FALSE(fits({65, 64}));
  EXPECT_FALSE(fits({-65, -64}));
  EXPECT_FALSE(fits({0, 0, 127, 2}));
  EXPECT_FALSE(fits({0, 0, -128, -1}));
  // Pairs are (2i, 2i + 1): 64 and 65 in different pairs fit.
  EXPECT_TRUE(fits({1, 64, 65, 1}));
  // Columns are checked independently of each other.
  std::vector<int8_t> w = {64, 127, 64, 2}; // [K=2, N=2]: column 1 is 129
  EXPECT_FALSE(qopt_cpu::s8_pairs_fit_int16(w.data(), 2, 2));
}

TEST_P(CpuKernels, Int8GemmQuadsAtTheSaturationBound) {
  const CpuKernelTable &t = T();
  const int64_t M = 7, N = 33, K = 66;
  // Every pair at the limit on one side: +128 (64, 64) in even columns,
  // -128 in odd ones; activations at the extremes.
  std::vector<int8_t> W(K * N);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < N; ++n)
      W[k * N + n] = static_cast<int8_t>(
          n % 2 ? (k % 2 ? -128 : 0) : (n % 3 ? 64 : (k % 2 ? 1 : 127)));
  ASSERT_TRUE(qopt_cpu::s8_pairs_fit_int16(W.data(), K, N));
  Blob wp(qopt_cpu::packed_s8_size(qopt_cpu::S8Layout::Quads, K, N));
  qopt_cpu::pack_s8(qopt_cpu::S8Layout::Quads, W.data(), K, N, wp.data());
  for (int aU8 = 0; aU8 < 2; ++aU8)
    for (uint8_t fill : {uint8_t(0), uint8_t(127), uint8_t(128), uint8_t(255)}) {
      std::vector<uint8_t> A(M * K, fill);
      S8Config c;
      c.aU8 = aU8;
      c.aZp = 0;
      c.epi = 2;
      std::vector<char> want = s8Oracle(c, M, N, K, A.data(), W.data());
      ASSERT_TRUE(s8RunAndCompare(t, qopt_cpu::S8Layout::Quads, c, 1, M, N, K,
                                  A.data(), K, W.data(), wp.data(),
                                  want.data(), N))
          << "aU8=" << aU8 << " fill=" << int(fill);
    }
}

TEST_P(CpuKernels, Int8GemmOverflowBound) {
  const CpuKernelTable &t = T();
  // a = 255, zero point 0, w = 127: 255 * 127 * K <= INT32_MAX up to K = 66311.
  const int64_t Kmax = std::numeric_limits<int32_t>::max() / (255 * 127);
  ASSERT_EQ(Kmax, 66311);
  const int64_t M = 3, N = 5;
  for (int64_t K : {Kmax, Kmax + 1}) {
    std::vector<uint8_t> A(M * K, 255);
    std::vector<int8_t> W(K * N, 127);
    std::vector<int32_t> cb(N);
    bool fits = qopt_cpu::fold_colbias_s8(t.target, W.data(), K, N, nullptr, 0,
                                          true, cb.data());
    EXPECT_EQ(fits, K == Kmax) << "K=" << K;
    if (K != Kmax)
      continue;
    Blob wp(qopt_cpu::packed_s8_size(t.target, K, N));
    qopt_cpu::pack_s8(t.target, W.data(), K, N, wp.data());
    std::vector<int32_t> C(M * N);
    t.gemmS8I32(2, M, N, K, A.data(), true, K, wp.data(), cb.data(), C.data(),
                N, qopt_cpu::s8_default_layout(t.target));
    Tensor want = ok(k::matmulInteger(tensorOf(DType::U8, {M, K}, A.data()),
                                      tensorOf(DType::I8, {K, N}, W.data()),
                                      nullptr, nullptr));
    for (int64_t i = 0; i < M * N; ++i) {
      EXPECT_EQ(C[i], want.data<int32_t>()[i]);
      EXPECT_EQ(C[i], 255 * 127 * Kmax);
    }
  }
  // s8 activations: |a - zp| <= 128 with zp = 0 and w = -128.
  const int64_t Ks8 = std::numeric_limits<int32_t>::max() / (128 * 128);
  for (int64_t K : {Ks8, Ks8 + 1}) {
    std::vector<int8_t> W(K, -128);
    int32_t cb;
    EXPECT_EQ(qopt_cpu::fold_colbias_s8(t.target, W.data(), K, 1, nullptr, 0,
                                        false, &cb),
              K == Ks8);
  }
  // The zero point's distance counts: with zp = 128, |a - zp| <= 128.
  {
    const int64_t K = std::numeric_limits<int32_t>::max() / (128 * 127);
    std::vector<int8_t> W(K + 1, 127);
    int32_t cb;
    EXPECT_TRUE(qopt_cpu::fold_colbias_s8(t.target, W.data(), K, 1, nullptr,
                                          128, true, &cb));
    EXPECT_FALSE(qopt_cpu::fold_colbias_s8(t.target, W.data(), K + 1, 1,
                                           nullptr, 128, true, &cb));
  }
}

//===----------------------------------------------------------------------===//
// f32 GEMM, batched matmul, int4 weight-only
//===----------------------------------------------------------------------===//

/// |got - want| <= tol * sum_k |a||b| + 1e-30 for each element.
void expectClose(const char *what, const float *got, int64_t ldg,
                 const float *want, const std::vector<double> &absSum,
                 int64_t M, int64_t N, double tol) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double g = got[m * ldg + n], w = want[m * N + n];
      double lim = tol * absSum[m * N + n] + 1e-30;
      if (!(std::fabs(g - w) <= lim)) {
        ADD_FAILURE() << what << " M=" << M << " N=" << N << " at (" << m
                      << ", " << n << "): got " << g << " want " << w
                      << " limit " << lim;
        return;
      }
    }
}

std::vector<double> absProducts(const float *A, const float *B, int64_t M,
                                int64_t N, int64_t K) {
  std::vector<double> s(M * N, 0.0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t kk = 0; kk < K; ++kk) {
      double a = std::fabs(A[m * K + kk]);
      for (int64_t n = 0; n < N; ++n)
        s[m * N + n] += a * std::fabs(B[kk * N + n]);
    }
  return s;
}

TEST_P(CpuKernels, F32Gemm) {
  const CpuKernelTable &t = T();
  std::mt19937 rng(7);
  struct Shape {
    int64_t M, N, K;
  };
  std::vector<Shape> shapes = {{1, 1, 1},    {1, 17, 5},     {5, 16, 16},
                               {6, 32, 256}, {7, 33, 257},   {13, 50, 300},
                               {73, 40, 9},  {128, 768, 768}};
  for (int i = 0; i < 12; ++i)
    shapes.push_back({int64_t(1 + rng() % 80), int64_t(1 + rng() % 80),
                      int64_t(1 + rng() % 600)});
  for (const Shape &s : shapes) {
    std::vector<float> A = randomFloats(rng, s.M * s.K);
    std::vector<float> W = randomFloats(rng, s.K * s.N);
    std::vector<float> bias = randomFloats(rng, s.N);
    Blob wp(qopt_cpu::packed_f32_size(t.target, s.K, s.N));
    qopt_cpu::pack_f32(t.target, W.data(), s.K, s.N, wp.data());
    Tensor ref = ok(k::matmul(tensorOf(DType::F32, {s.M, s.K}, A.data()),
                              tensorOf(DType::F32, {s.K, s.N}, W.data())));
    std::vector<double> abs = absProducts(A.data(), W.data(), s.M, s.N, s.K);
    for (int variant = 0; variant < 3; ++variant) {
      const bool useBias = variant >= 1, relu = variant == 2;
      Tensor want = ref;
      if (useBias)
        want = ok(k::add(want, tensorOf(DType::F32, {s.N}, bias.data())));
      if (relu)
        want = ok(k::relu(want));
      const int64_t ldc = s.N + variant;
      std::vector<float> C(s.M * ldc, -7.0f);
      t.gemmF32(1 + variant % 2, s.M, s.N, s.K, A.data(), s.K, wp.data(),
                useBias ? bias.data() : nullptr, relu, C.data(), ldc);
      expectClose(t.name, C.data(), ldc, want.data<float>(), abs, s.M, s.N,
                  1e-5);
      for (int64_t m = 0; m < s.M; ++m)
        for (int64_t n = s.N; n < ldc; ++n)
          ASSERT_EQ(C[m * ldc + n], -7.0f);
    }
  }
}

// Float results must not depend on the number of threads (work is only split
// across output tiles / column blocks).
TEST_P(CpuKernels, FloatGemmsThreadIndependent) {
  const CpuKernelTable &t = T();
  std::mt19937 rng(17);
  const int64_t M = 100, N = 200, K = 700, G = 64;
  std::vector<float> A = randomFloats(rng, M * K), W = randomFloats(rng, K * N);
  Blob wp(qopt_cpu::packed_f32_size(t.target, K, N));
  qopt_cpu::pack_f32(t.target, W.data(), K, N, wp.data());
  std::vector<float> c1(M * N), c2(M * N);
  t.gemmF32(1, M, N, K, A.data(), K, wp.data(), nullptr, false, c1.data(), N);
  t.gemmF32(2, M, N, K, A.data(), K, wp.data(), nullptr, false, c2.data(), N);
  EXPECT_EQ(std::memcmp(c1.data(), c2.data(), c1.size() * 4), 0);
  std::vector<int8_t> q(K * N);
  for (int8_t &v : q)
    v = static_cast<int8_t>(static_cast<int>(rng() % 16) - 8);
  std::vector<float> sc = randomFloats(rng, (K / G + 1) * N, 0.01f, 0.02f);
  Blob w4(qopt_cpu::packed_w4_size(t.target, K, N, G));
  qopt_cpu::pack_w4(t.target, q.data(), sc.data(), nullptr, K, N, G, w4.data());
  for (int64_t m : {int64_t(1), int64_t(3), M}) {
    t.gemmW4F32(1, m, N, K, G, A.data(), K, w4.data(), nullptr, c1.data(), N);
    t.gemmW4F32(2, m, N, K, G, A.data(), K, w4.data(), nullptr, c2.data(), N);
    EXPECT_EQ(std::memcmp(c1.data(), c2.data(), m * N * 4), 0) << "M=" << m;
  }
}

TEST_P(CpuKernels, BatchMatmulF32) {
  const CpuKernelTable &t = T();
  std::mt19937 rng(11);
  struct Shape {
    int64_t batch, M, N, K;
  };
  for (Shape s : {Shape{1, 1, 1, 1}, Shape{3, 7, 9, 5}, Shape{4, 16, 64, 64},
                  Shape{5, 33, 17, 70}, Shape{2, 64, 64, 300}}) {
    std::vector<float> A = randomFloats(rng, s.batch * s.M * s.K);
    std::vector<float> B = randomFloats(rng, s.batch * s.K * s.N);
    // Bt[b] = B[b]^T, [N, K].
    std::vector<float> Bt(B.size());
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t kk = 0; kk < s.K; ++kk)
        for (int64_t n = 0; n < s.N; ++n)
          Bt[b * s.K * s.N + n * s.K + kk] = B[b * s.K * s.N + kk * s.N + n];
    Tensor ref =
        ok(k::matmul(tensorOf(DType::F32, {s.batch, s.M, s.K}, A.data()),
                     tensorOf(DType::F32, {s.batch, s.K, s.N}, B.data())));
    const float alpha = 0.125f;
    Tensor want = ok(k::mul(ref, scalarOf<float>(DType::F32, alpha)));
    for (int transposed = 0; transposed < 2; ++transposed)
      for (int threads : {1, 2}) {
        std::vector<float> C(s.batch * s.M * s.N);
        t.batchMatmulF32(threads, s.batch, s.M, s.N, s.K, A.data(), s.M * s.K,
                         s.K, transposed ? Bt.data() : B.data(), s.K * s.N,
                         transposed ? 1 : s.N, transposed ? s.K : 1, alpha,
                         C.data(), s.M * s.N, s.N);
        for (int64_t b = 0; b < s.batch; ++b) {
          std::vector<double> abs =
              absProducts(A.data() + b * s.M * s.K, B.data() + b * s.K * s.N,
                          s.M, s.N, s.K);
          for (double &v : abs)
            v *= alpha;
          expectClose(t.name, C.data() + b * s.M * s.N, s.N,
                      want.data<float>() + b * s.M * s.N, abs, s.M, s.N, 1e-5);
        }
      }
  }
}

// Both operands are 8-bit activations (attention): bit-exact against the
// executor's MatMulInteger, every M, N, K <= 20, odd K, tails past one
// 16-column panel and one 6-row tile, a broadcast B, both signednesses.
TEST_P(CpuKernels, BatchMatmulS8) {
  const CpuKernelTable &t = T();
  std::mt19937 rng(13);
  std::uniform_int_distribution<int> byte(0, 255);
  struct Case {
    int64_t batch, M, N, K;
    bool aU8, bU8, broadcastB;
  };
  std::vector<Case> cases;
  for (int64_t M = 1; M <= 20; M += 1)
    for (int64_t N = 1; N <= 20; N += 3)
      for (int64_t K = 1; K <= 20; K += 2)
        cases.push_back({2, M, N, K, (M + K) % 2 == 0, N % 2 == 0, M == 7});
  cases.push_back({12, 128, 128, 64, true, true, false});
  cases.push_back({3, 50, 64, 129, false, true, false});
  cases.push_back({2, 33, 70, 300, true, false, true});
  for (const Case &c : cases) {
    const int64_t bBatch = c.broadcastB ? 1 : c.batch;
    std::vector<uint8_t> A(c.batch * c.M * c.K), B(bBatch * c.K * c.N);
    for (auto &v : A)
      v = static_cast<uint8_t>(byte(rng));
    for (auto &v : B)
      v = static_cast<uint8_t>(byte(rng));
    const int32_t za = c.aU8 ? byte(rng) : byte(rng) - 128;
    const int32_t zb = c.bU8 ? byte(rng) : byte(rng) - 128;
    const DType aT = c.aU8 ? DType::U8 : DType::I8;
    const DType bT = c.bU8 ? DType::U8 : DType::I8;
    uint8_t zaByte = static_cast<uint8_t>(za), zbByte = static_cast<uint8_t>(zb);
    Tensor zaT = tensorOf(aT, {}, &zaByte), zbT = tensorOf(bT, {}, &zbByte);
    Tensor want = ok(k::matmulInteger(
        tensorOf(aT, {c.batch, c.M, c.K}, A.data()),
        tensorOf(bT, {bBatch, c.K, c.N}, B.data()), &zaT, &zbT));
    for (int threads : {1, 2}) {
      std::vector<int32_t> C(c.batch * c.M * c.N, 0x5a5a5a5a);
      t.batchMatmulS8(threads, c.batch, c.M, c.N, c.K, A.data(), c.aU8, za,
                      B.data(), c.bU8, zb, c.broadcastB ? 0 : c.K * c.N,
                      C.data());
      ASSERT_EQ(std::memcmp(C.data(), want.data<int32_t>(), C.size() * 4), 0)
          << t.name << " batch=" << c.batch << " M=" << c.M << " N=" << c.N
          << " K=" << c.K << " aU8=" << c.aU8 << " bU8=" << c.bU8
          << " threads=" << threads;
    }
  }
}

TEST_P(CpuKernels, W4Gemm) {
  const CpuKernelTable &t = T();
  std::mt19937 rng(21);
  struct Shape {
    int64_t M, N, K, G;
  };
  const Shape shapes[] = {{1, 1, 1, 1},       {1, 16, 128, 128},
                          {1, 33, 300, 128},  {2, 100, 77, 24},
                          {3, 17, 64, 7},     {1, 64, 256, 32},
                          {5, 40, 300, 128},  {8, 33, 130, 64},
                          {17, 70, 515, 128}, {64, 48, 1024, 32}};
  for (const Shape &s : shapes)
    for (int asym = 0; asym < 2; ++asym) {
      const int64_t ng = (s.K + s.G - 1) / s.G;
      std::vector<int8_t> q(s.K * s.N);
      std::uniform_int_distribution<int> qd(asym ? 0 : -8, asym ? 15 : 7);
      for (int8_t &v : q)
        v = static_cast<int8_t>(qd(rng));
      std::vector<float> sc = randomFloats(rng, ng * s.N, 0.001f, 0.05f);
      std::vector<float> zpf(ng * s.N);
      std::vector<int8_t> zpi(ng * s.N);
      for (size_t i = 0; i < zpf.size(); ++i) {
        zpi[i] = static_cast<int8_t>(rng() % 16);
        zpf[i] = zpi[i];
      }
      Tensor qt = tensorOf(DType::I8, {s.K, s.N}, q.data());
      Tensor st = tensorOf(DType::F32, {ng, s.N}, sc.data());
      Tensor zt = tensorOf(DType::I8, {ng, s.N}, zpi.data());
      Tensor w = ok(k::dequantizeLinear(qt, st, asym ? &zt : nullptr, 0, s.G));
      std::vector<float> A = randomFloats(rng, s.M * s.K);
      std::vector<float> bias = randomFloats(rng, s.N);
      Tensor want = ok(
          k::add(ok(k::matmul(tensorOf(DType::F32, {s.M, s.K}, A.data()), w)),
                 tensorOf(DType::F32, {s.N}, bias.data())));
      std::vector<double> abs =
          absProducts(A.data(), w.data<float>(), s.M, s.N, s.K);
      for (double &v : abs)
        v += 1e-6; // the bias
      Blob wp(qopt_cpu::packed_w4_size(t.target, s.K, s.N, s.G));
      qopt_cpu::pack_w4(t.target, q.data(), sc.data(),
                        asym ? zpf.data() : nullptr, s.K, s.N, s.G, wp.data());
      for (int threads : {1, 2}) {
        std::vector<float> C(s.M * s.N);
        t.gemmW4F32(threads, s.M, s.N, s.K, s.G, A.data(), s.K, wp.data(),
                    bias.data(), C.data(), s.N);
        expectClose(t.name, C.data(), s.N, want.data<float>(), abs, s.M, s.N,
                    2e-5);
      }
    }
}

//===----------------------------------------------------------------------===//
// Quantization (bit-exact)
//===----------------------------------------------------------------------===//

std::vector<float> quantInputs(std::mt19937 &rng, int64_t n, float scale) {
  std::vector<float> x = randomFloats(rng, n, -300.0f * scale, 300.0f * scale);
  for (int64_t i = 0; i < n; i += 3) // exact .5 ties (scale is a power of 2)
    x[i] = (static_cast<float>(static_cast<int>(rng() % 400) - 200) + 0.5f) *
           scale;
  if (n > 8) {
    x[1] = std::numeric_limits<float>::quiet_NaN();
    x[2] = std::numeric_limits<float>::infinity();
    x[4] = -std::numeric_limits<float>::infinity();
    x[5] = -0.0f;
    x[7] = 1e30f;
  }
  return x;
}

TEST_P(CpuKernels, QuantizeF32) {
  const CpuKernelTable &t = T();
  std::mt19937 rng(5);
  for (int64_t n : {1, 7, 8, 9, 31, 100, 20011})
    for (int variant = 0; variant < 6; ++variant) {
      const bool u8 = variant % 2;
      const float scale = variant < 4 ? 0.25f : 0.0371f;
      const int32_t zp = u8 ? static_cast<int32_t>(rng() % 256)
                            : static_cast<int32_t>(rng() % 256) - 128;
      int32_t qmin = u8 ? 0 : -128, qmax = u8 ? 255 : 127;
      if (variant >= 2 && variant < 4) { // narrowed range
        qmin += 3;
        qmax -= 20;
      }
      std::vector<float> x = quantInputs(rng, n, scale);
      Tensor st = scalarOf<float>(DType::F32, scale);
      DType od = u8 ? DType::U8 : DType::I8;
      Tensor zt = u8 ? scalarOf<uint8_t>(od, static_cast<uint8_t>(zp))
                     : scalarOf<int8_t>(od, static_cast<int8_t>(zp));
      Tensor want = ok(k::quantizeLinear(tensorOf(DType::F32, {n}, x.data()),
                                         st, &zt, 0, 0, od, qmin, qmax));
      for (int threads : {1, 2}) {
        std::vector<uint8_t> q(n);
        t.quantizeF32(threads, n, x.data(), scale, zp, qmin, qmax, u8,
                      q.data());
        for (int64_t i = 0; i < n; ++i)
          ASSERT_EQ(q[i], static_cast<const uint8_t *>(want.rawData())[i])
              << t.name << " n=" << n << " i=" << i << " x=" << x[i]
              << " zp=" << zp << " u8=" << u8;
      }
    }
}

TEST_P(CpuKernels, DequantizeToF32) {
  const CpuKernelTable &t = T();
  std::mt19937 rng(6);
  for (int64_t n : {1, 8, 13, 20011})
    for (int dtype = 0; dtype < 3; ++dtype)
      for (int32_t zp : {0, 3}) {
        const float scale = 0.0137f;
        DType dt = dtype == 0 ? DType::U8 : dtype == 1 ? DType::I8 : DType::I32;
        std::vector<int32_t> vals(n);
        Tensor q(dt, {n});
        for (int64_t i = 0; i < n; ++i) {
          int32_t v = static_cast<int32_t>(rng());
          if (dtype == 2 && i % 5 == 0)
            v = i % 2 ? std::numeric_limits<int32_t>::min()
                      : std::numeric_limits<int32_t>::max();
          if (dtype == 0)
            q.mutableData<uint8_t>()[i] = static_cast<uint8_t>(v);
          else if (dtype == 1)
            q.mutableData<int8_t>()[i] = static_cast<int8_t>(v);
          else
            q.mutableData<int32_t>()[i] = v;
        }
        Tensor zt(dt, {});
        if (dtype == 0)
          zt.mutableData<uint8_t>()[0] = static_cast<uint8_t>(zp);
        else if (dtype == 1)
          zt.mutableData<int8_t>()[0] = static_cast<int8_t>(zp);
        else
          zt.mutableData<int32_t>()[0] = zp;
        Tensor want = ok(k::dequantizeLinear(
            q, scalarOf<float>(DType::F32, scale), &zt, 0, 0));
        for (int threads : {1, 2}) {
          std::vector<float> y(n);
          t.dequantizeToF32(threads, n, q.rawData(), dtype, scale, zp,
                            y.data());
          for (int64_t i = 0; i < n; ++i)
            ASSERT_TRUE(sameBits(y[i], want.data<float>()[i]))
                << t.name << " dtype=" << dtype << " i=" << i << " got " << y[i]
                << " want " << want.data<float>()[i];
        }
      }
}

TEST_P(CpuKernels, RequantizeI32) {
  const CpuKernelTable &t = T();
  std::mt19937 rng(8);
  for (int64_t rows : {1, 3, 40})
    for (int64_t N : {1, 7, 8, 19, 64})
      for (int variant = 0; variant < 4; ++variant) {
        const bool perCol = variant % 2, u8 = variant / 2;
        std::vector<int32_t> acc(rows * N);
        for (int64_t i = 0; i < rows * N; ++i) {
          acc[i] = static_cast<int32_t>(rng() % 2001) - 1000;
          if (i % 11 == 0)
            acc[i] = static_cast<int32_t>(rng()); // saturates
        }
        std::vector<float> mult(perCol ? N : 1);
        for (size_t i = 0; i < mult.size(); ++i)
          mult[i] = i % 2 ? 0.5f : 0.0917f; // 0.5: exact ties on odd acc
        const int32_t zp = u8 ? 128 : -5;
        const int32_t qmin = u8 ? 0 : -128, qmax = u8 ? 250 : 127;
        DType od = u8 ? DType::U8 : DType::I8;
        std::vector<uint8_t> zpv(mult.size(), static_cast<uint8_t>(zp));
        Tensor mt = perCol ? tensorOf(DType::F32, {N}, mult.data())
                           : scalarOf<float>(DType::F32, mult[0]);
        Tensor zt = perCol ? tensorOf(od, {N}, zpv.data())
                           : scalarOf<uint8_t>(od, zpv[0]);
        Tensor want =
            ok(k::requantize(tensorOf(DType::I32, {rows, N}, acc.data()), mt,
                             &zt, 1, od, qmin, qmax));
        for (int threads : {1, 2}) {
          std::vector<uint8_t> q(rows * N);
          t.requantizeI32(threads, rows, N, acc.data(), mult.data(), perCol, zp,
                          qmin, qmax, u8, q.data());
          for (int64_t i = 0; i < rows * N; ++i)
            ASSERT_EQ(q[i], static_cast<const uint8_t *>(want.rawData())[i])
                << t.name << " rows=" << rows << " N=" << N << " i=" << i;
        }
      }
}

TEST_P(CpuKernels, DynamicQuantizePerToken) {
  const CpuKernelTable &t = T();
  std::mt19937 rng(9);
  for (int64_t cols : {1, 5, 8, 33, 1000})
    for (int threads : {1, 2}) {
      const int64_t rows = 6;
      std::vector<float> x = randomFloats(rng, rows * cols, -3.0f, 3.0f);
      std::fill(x.begin() + cols, x.begin() + 2 * cols, 0.0f); // all-zero row
      // Row 2: ties once scaled (max 127 * 0.5 makes scale 0.5).
      x[2 * cols] = 63.5f;
      for (int64_t j = 1; j < cols; ++j)
        x[2 * cols + j] =
            0.25f * static_cast<float>(static_cast<int>(rng() % 200) - 100);
      k::DynamicQuantized dq = ok(k::dynamicQuantizePerToken(
          tensorOf(DType::F32, {rows, cols}, x.data())));
      const Tensor &want = dq.y, &wantS = dq.scale;
      std::vector<int8_t> q(rows * cols);
      std::vector<float> s(rows);
      t.dynamicQuantizePerToken(threads, rows, cols, x.data(), q.data(),
                                s.data());
      for (int64_t r = 0; r < rows; ++r)
        ASSERT_TRUE(sameBits(s[r], wantS.data<float>()[r])) << t.name;
      for (int64_t i = 0; i < rows * cols; ++i)
        ASSERT_EQ(q[i], want.data<int8_t>()[i]) << t.name << " i=" << i;
    }
}

//===----------------------------------------------------------------------===//
// Elementwise, softmax, normalization, transpose
//===----------------------------------------------------------------------===//

/// |got - want| <= atol + rtol * |want|, NaN matching NaN; returns the
/// largest error in units of the allowance (<= 1 passes).
double checkTol(const char *what, const float *got, const float *want,
                const float *in, int64_t n, double atol, double rtol) {
  double worst = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(want[i]) || std::isnan(got[i])) {
      EXPECT_TRUE(std::isnan(want[i]) && std::isnan(got[i]))
          << what << " i=" << i << " in=" << (in ? in[i] : 0.0f);
      continue;
    }
    if (std::isinf(want[i]) || std::isinf(got[i])) {
      EXPECT_EQ(got[i], want[i]) << what << " i=" << i;
      continue;
    }
    double lim = atol + rtol * std::fabs(want[i]);
    double e = std::fabs(static_cast<double>(got[i]) - want[i]) / lim;
    worst = std::max(worst, e);
    if (e > 1.0) {
      ADD_FAILURE() << what << " i=" << i << " in=" << (in ? in[i] : 0.0f)
                    << " got " << got[i] << " want " << want[i];
      return worst;
    }
  }
  return worst;
}

TEST_P(CpuKernels, Unary) {
  const CpuKernelTable &t = T();
  std::mt19937 rng(10);
  std::vector<float> x = randomFloats(rng, 4001, -12.0f, 12.0f);
  std::vector<float> small = randomFloats(rng, 500, -1e-3f, 1e-3f);
  x.insert(x.end(), small.begin(), small.end());
  for (float v : {0.0f, -0.0f, 0.625f, -0.625f, 1.0f, -1.0f, 2.0f, 88.0f, 88.7f,
                  89.0f, -87.0f, -88.0f, -104.0f, 100.0f, -100.0f,
                  std::numeric_limits<float>::quiet_NaN(),
                  std::numeric_limits<float>::infinity(),
                  -std::numeric_limits<float>::infinity()})
    x.push_back(v);
  const int64_t n = static_cast<int64_t>(x.size());
  Tensor xt = tensorOf(DType::F32, {n}, x.data());
  struct Op {
    int ours;
    k::UnaryOp theirs;
    double atol, rtol;
  };
  // ours: qopt_cpu::Unary { Relu, Gelu, GeluTanh, Erf, Tanh, Sigmoid, Silu,
  // Exp, Sqrt, Neg, Abs }.
  const Op ops[] = {{0, k::UnaryOp::Relu, 0, 0},
                    {1, k::UnaryOp::Gelu, 1e-6, 2e-6},
                    {2, k::UnaryOp::GeluTanh, 1e-6, 2e-6},
                    {3, k::UnaryOp::Erf, 2e-7, 1e-6},
                    {4, k::UnaryOp::Tanh, 1e-7, 1e-6},
                    {5, k::UnaryOp::Sigmoid, 1e-7, 1e-6},
                    {6, k::UnaryOp::Silu, 1e-7, 1e-6},
                    {7, k::UnaryOp::Exp, 1e-37, 1e-6},
                    {8, k::UnaryOp::Sqrt, 0, 0},
                    {9, k::UnaryOp::Neg, 0, 0},
                    {10, k::UnaryOp::Abs, 0, 0}};
  for (const Op &op : ops) {
    Tensor want = ok(k::unary(op.theirs, xt));
    for (int threads : {1, 2}) {
      std::vector<float> y(n);
      t.unaryF32(threads, op.ours, n, x.data(), y.data());
      if (op.atol == 0.0 || t.target == qopt_cpu::Target::Generic) {
        // Exact ops, and the generic target (the executor's own formulas).
        for (int64_t i = 0; i < n; ++i)
          ASSERT_TRUE(sameBits(y[i], want.data<float>()[i]) ||
                      (std::isnan(y[i]) && std::isnan(want.data<float>()[i])))
              << t.name << " op " << op.ours << " x=" << x[i] << " got " << y[i]
              << " want " << want.data<float>()[i];
        continue;
      }
      double worst = checkTol(t.name, y.data(), want.data<float>(), x.data(), n,
                              op.atol, op.rtol);
      if (threads == 1)
        RecordProperty("unary" + std::to_string(op.ours) + "_worst",
                       std::to_string(worst));
    }
  }
}

TEST_P(CpuKernels, BinaryBroadcast) {
  const CpuKernelTable &t = T();
  std::mt19937 rng(12);
  const std::vector<std::vector<int64_t>> shapes = {
      {2, 3, 4, 9}, {9},       {1, 3, 1, 9}, {2, 1, 4, 1},
      {},           {3, 4, 1}, {2, 3, 4, 1}};
  auto stridesFor = [&](const std::vector<int64_t> &s,
                        const std::vector<int64_t> &out) {
    std::vector<int64_t> st(out.size(), 0);
    int64_t acc = 1;
    for (int d = static_cast<int>(s.size()) - 1; d >= 0; --d) {
      int od = d + static_cast<int>(out.size() - s.size());
      st[od] = s[d] == 1 ? 0 : acc;
      acc *= s[d];
    }
    return st;
  };
  auto count = [](const std::vector<int64_t> &s) {
    int64_t c = 1;
    for (int64_t d : s)
      c *= d;
    return c;
  };
  const k::BinaryOp theirs[] = {k::BinaryOp::Add, k::BinaryOp::Sub,
                                k::BinaryOp::Mul, k::BinaryOp::Div,
                                k::BinaryOp::Max, k::BinaryOp::Min};
  for (const auto &sa : shapes)
    for (const auto &sb : shapes) {
      std::vector<float> a = randomFloats(rng, count(sa), -2, 2);
      std::vector<float> b = randomFloats(rng, count(sb), -2, 2);
      if (a.size() > 3) {
        a[1] = std::numeric_limits<float>::quiet_NaN();
        a[2] = 0.0f;
      }
      if (b.size() > 3) {
        b[3] = std::numeric_limits<float>::quiet_NaN();
        b[2] = -0.0f;
      }
      Tensor at = tensorOf(DType::F32, sa, a.data());
      Tensor bt = tensorOf(DType::F32, sb, b.data());
      std::vector<int64_t> out = ok(k::broadcastShapes(sa, sb));
      while (out.size() < 4)
        out.insert(out.begin(), 1);
      std::vector<int64_t> as = stridesFor(sa, out), bs = stridesFor(sb, out);
      for (int op = 0; op < 6; ++op) {
        Tensor want = ok(k::binary(theirs[op], at, bt));
        ASSERT_EQ(want.numElements(), count(out));
        std::vector<float> y(count(out));
        t.binaryF32(1 + op % 2, op, 4, out.data(), a.data(), as.data(),
                    b.data(), bs.data(), y.data());
        for (int64_t i = 0; i < count(out); ++i)
          ASSERT_TRUE(sameBits(y[i], want.data<float>()[i]) ||
                      (std::isnan(y[i]) && std::isnan(want.data<float>()[i])))
              << t.name << " op " << op << " i=" << i << " got " << y[i]
              << " want " << want.data<float>()[i];
      }
    }
}

TEST_P(CpuKernels, SoftmaxAndNorms) {
  const CpuKernelTable &t = T();
  std::mt19937 rng(13);
  const bool exact = t.target == qopt_cpu::Target::Generic;
  for (int64_t cols : {1, 5, 8, 13, 64, 768, 3000})
    for (int threads : {1, 2}) {
      const int64_t rows = 7;
      std::vector<float> x = randomFloats(rng, rows * cols, -8.0f, 8.0f);
      std::vector<float> gamma = randomFloats(rng, cols, 0.5f, 1.5f);
      std::vector<float> beta = randomFloats(rng, cols, -1.0f, 1.0f);
      Tensor xt = tensorOf(DType::F32, {rows, cols}, x.data());
      Tensor gt = tensorOf(DType::F32, {cols}, gamma.data());
      Tensor bt = tensorOf(DType::F32, {cols}, beta.data());
      std::vector<float> y(rows * cols);
      auto compare = [&](const char *what, const Tensor &want, double atol,
                         double rtol) {
        if (exact) {
          for (int64_t i = 0; i < rows * cols; ++i)
            ASSERT_TRUE(sameBits(y[i], want.data<float>()[i]))
                << what << " cols=" << cols << " i=" << i;
          return;
        }
        checkTol(what, y.data(), want.data<float>(), x.data(), rows * cols,
                 atol, rtol);
      };
      t.softmaxF32(threads, rows, cols, x.data(), y.data());
      compare("softmax", ok(k::softmax(xt, -1)), 1e-9, 1e-5);
      t.layerNormF32(threads, rows, cols, x.data(), gamma.data(), beta.data(),
                     1e-5f, y.data());
      compare("layernorm", ok(k::layerNorm(xt, gt, &bt, -1, 1e-5f)), 1e-6,
              1e-5);
      t.layerNormF32(threads, rows, cols, x.data(), gamma.data(), nullptr,
                     1e-5f, y.data());
      compare("layernorm-nobias", ok(k::layerNorm(xt, gt, nullptr, -1, 1e-5f)),
              1e-6, 1e-5);
      t.rmsNormF32(threads, rows, cols, x.data(), gamma.data(), 1e-6f,
                   y.data());
      compare("rmsnorm", ok(k::rmsNorm(xt, gt, -1, 1e-6f)), 1e-6, 1e-5);
    }
}

TEST_P(CpuKernels, Transpose) {
  const CpuKernelTable &t = T();
  std::mt19937 rng(14);
  const std::vector<std::vector<int64_t>> shapes = {
      {5, 7},       {64, 33},        {2, 3, 4},
      {4, 1, 6, 5}, {2, 3, 4, 5, 2}, {3, 128, 12, 8}};
  for (const auto &shape : shapes)
    for (size_t es : {1, 2, 4, 8})
      for (int trial = 0; trial < 3; ++trial) {
        std::vector<int64_t> perm(shape.size());
        for (size_t i = 0; i < perm.size(); ++i)
          perm[i] = static_cast<int64_t>(i);
        if (trial == 1)
          std::reverse(perm.begin(), perm.end());
        else if (trial == 2)
          std::shuffle(perm.begin(), perm.end(), rng);
        DType dt = es == 1   ? DType::U8
                   : es == 2 ? DType::I16
                   : es == 4 ? DType::I32
                             : DType::I64;
        Tensor x(dt, shape);
        std::vector<uint8_t> bytes = randomBytes(rng, x.byteSize());
        std::memcpy(x.mutableRawData(), bytes.data(), bytes.size());
        Tensor want = ok(k::transpose(x, perm));
        std::vector<uint8_t> y(x.byteSize());
        t.transpose(1 + trial % 2, static_cast<int>(shape.size()), shape.data(),
                    perm.data(), es, x.rawData(), y.data());
        ASSERT_EQ(std::memcmp(y.data(), want.rawData(), y.size()), 0)
            << t.name << " es=" << es << " trial=" << trial;
      }
}

INSTANTIATE_TEST_SUITE_P(
    Cpu, CpuKernels, ::testing::ValuesIn(allTables()),
    [](const ::testing::TestParamInfo<const CpuKernelTable *> &i) {
      return std::string(i.param->name);
    });

} // namespace
