//===- KernelsTest.cpp - Reference kernels against naive implementations --===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Every kernel is checked against a straightforward implementation written
// here (float kernels within a tolerance, integer and quantization kernels
// bit-exactly), including edge shapes, both GEMM instruction-set paths and
// thread-count independence, plus the error paths.
//
//===----------------------------------------------------------------------===//

#include "qopt/executor/Kernels.h"
#include "qopt/executor/ThreadPool.h"

#include "gtest/gtest.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

using namespace qopt;
namespace k = qopt::kernels;

namespace {

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

Tensor make(DType dt, std::vector<int64_t> shape, std::vector<double> vals) {
  Tensor t(dt, std::move(shape));
  EXPECT_EQ(static_cast<int64_t>(vals.size()), t.numElements());
  for (size_t i = 0; i < vals.size(); ++i)
    t.setFromDouble(static_cast<int64_t>(i), vals[i]);
  return t;
}

Tensor f32(std::vector<int64_t> shape, std::vector<double> vals) {
  return make(DType::F32, std::move(shape), std::move(vals));
}

Tensor scalar(DType dt, double v) { return make(dt, {}, {v}); }

Tensor random(DType dt, std::vector<int64_t> shape, uint32_t seed,
              double lo = -1.0, double hi = 1.0) {
  Tensor t(dt, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  for (int64_t i = 0; i < t.numElements(); ++i) {
    double v = u(rng);
    t.setFromDouble(i, isFloat(dt) ? v : std::floor(v));
  }
  return t;
}

std::vector<double> values(const Tensor &t) {
  std::vector<double> v(t.numElements());
  for (int64_t i = 0; i < t.numElements(); ++i)
    v[i] = t.getAsDouble(i);
  return v;
}

template <typename T> T unwrap(llvm::Expected<T> e) {
  if (!e) {
    ADD_FAILURE() << llvm::toString(e.takeError());
    return T();
  }
  return std::move(*e);
}

/// The error message of a failing call ("" and a test failure if it worked).
template <typename T> std::string errorOf(llvm::Expected<T> e) {
  if (e) {
    ADD_FAILURE() << "expected an error";
    return "";
  }
  return llvm::toString(e.takeError());
}

#define EXPECT_ERROR(call, substr)                                             \
  EXPECT_NE(errorOf(call).find(substr), std::string::npos)

void expectNear(const Tensor &got, const std::vector<double> &want, double rtol,
                double atol = 1e-6) {
  ASSERT_EQ(got.numElements(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) {
    double g = got.getAsDouble(static_cast<int64_t>(i));
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(g)) << "element " << i;
      continue;
    }
    ASSERT_NEAR(g, want[i], atol + rtol * std::fabs(want[i]))
        << "element " << i;
  }
}

void expectExact(const Tensor &got, const std::vector<double> &want) {
  ASSERT_EQ(got.numElements(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_EQ(got.getAsDouble(static_cast<int64_t>(i)), want[i])
        << "element " << i;
}

bool sameBits(const Tensor &a, const Tensor &b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.rawData(), b.rawData(), a.byteSize()) == 0;
}

/// Restores the GEMM ISA and thread count after a test changes them.
struct IsaGuard {
  ~IsaGuard() { k::detail::setForceBaselineIsa(false); }
};
struct ThreadGuard {
  unsigned saved = k::getNumThreads();
  ~ThreadGuard() { k::setNumThreads(saved); }
};

/// Naive numpy matmul on doubles for 2-D..4-D operands with broadcasting.
std::vector<double> naiveMatmul(const Tensor &a, const Tensor &b,
                                std::vector<int64_t> &outShape) {
  std::vector<int64_t> as = a.shape(), bs = b.shape();
  bool av = as.size() == 1, bv = bs.size() == 1;
  if (av)
    as.insert(as.begin(), 1);
  if (bv)
    bs.push_back(1);
  size_t br = std::max(as.size(), bs.size()) - 2;
  while (as.size() < br + 2)
    as.insert(as.begin(), 1);
  while (bs.size() < br + 2)
    bs.insert(bs.begin(), 1);
  int64_t m = as[br], kk = as[br + 1], n = bs[br + 1];
  std::vector<int64_t> batch(br);
  int64_t nb = 1;
  for (size_t i = 0; i < br; ++i) {
    batch[i] = std::max(as[i], bs[i]);
    nb *= batch[i];
  }
  outShape = batch;
  if (!av)
    outShape.push_back(m);
  if (!bv)
    outShape.push_back(n);
  std::vector<double> out(nb * m * n, 0.0);
  std::vector<double> A = values(a), B = values(b);
  for (int64_t bi = 0; bi < nb; ++bi) {
    int64_t rem = bi, oa = 0, ob = 0, sa = m * kk, sb = kk * n;
    for (size_t i = br; i-- > 0;) {
      int64_t idx = rem % batch[i];
      rem /= batch[i];
      oa += (as[i] == 1 ? 0 : idx) * sa;
      ob += (bs[i] == 1 ? 0 : idx) * sb;
      sa *= as[i];
      sb *= bs[i];
    }
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t q = 0; q < kk; ++q)
          s += A[oa + i * kk + q] * B[ob + q * n + j];
        out[(bi * m + i) * n + j] = s;
      }
  }
  return out;
}

//===----------------------------------------------------------------------===//
// Thread pool
//===----------------------------------------------------------------------===//

TEST(ThreadPoolTest, CoversRangeExactlyOnce) {
  k::ThreadPool pool(3);
  EXPECT_EQ(pool.numThreads(), 3u);
  std::vector<std::atomic<int>> hits(1000);
  pool.parallelFor(1000, 7, [&](int64_t b, int64_t e) {
    EXPECT_LT(b, e);
    for (int64_t i = b; i < e; ++i)
      hits[i]++;
  });
  for (auto &h : hits)
    EXPECT_EQ(h.load(), 1);
}

TEST(ThreadPoolTest, NestedLoopsRunInline) {
  k::ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  pool.parallelFor(8, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      pool.parallelFor(10, 1,
                       [&](int64_t b2, int64_t e2) { sum += (e2 - b2) * i; });
  });
  EXPECT_EQ(sum.load(), 10 * (0 + 1 + 2 + 3 + 4 + 5 + 6 + 7));
  pool.parallelFor(0, 1, [&](int64_t, int64_t) { ADD_FAILURE(); });
}

TEST(ThreadPoolTest, SetNumThreads) {
  ThreadGuard guard;
  k::setNumThreads(1);
  EXPECT_EQ(k::getNumThreads(), 1u);
  k::setNumThreads(3);
  EXPECT_EQ(k::getNumThreads(), 3u);
}

//===----------------------------------------------------------------------===//
// Matmul / Gemm
//===----------------------------------------------------------------------===//

struct MatmulCase {
  std::vector<int64_t> a, b;
};

class MatmulTest : public ::testing::TestWithParam<MatmulCase> {};

TEST_P(MatmulTest, MatchesNaiveOnBothIsas) {
  IsaGuard guard;
  const MatmulCase &c = GetParam();
  Tensor a = random(DType::F32, c.a, 1), b = random(DType::F32, c.b, 2);
  std::vector<int64_t> shape;
  std::vector<double> want = naiveMatmul(a, b, shape);
  int64_t kdim = c.a.back();
  for (bool baseline : {false, true}) {
    k::detail::setForceBaselineIsa(baseline);
    Tensor y = unwrap(k::matmul(a, b));
    EXPECT_EQ(y.shape(), shape);
    expectNear(y, want, 1e-5, 1e-6 * std::sqrt(double(kdim)) + 1e-6);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MatmulTest,
    ::testing::Values(
        MatmulCase{{1, 1}, {1, 1}}, MatmulCase{{7, 13}, {13, 5}},
        MatmulCase{{6, 16}, {16, 16}}, // exactly one micro-tile
        MatmulCase{{64, 64}, {64, 64}},
        MatmulCase{{130, 300}, {300, 271}},  // K blocks + ragged tiles
        MatmulCase{{75, 520}, {520, 33}},    // M tiles + K blocks
        MatmulCase{{1, 40}, {40, 700}},      // vector x matrix path
        MatmulCase{{3, 40}, {40, 9}},        // few rows
        MatmulCase{{50, 40}, {40, 1}},       // one column path
        MatmulCase{{2, 3, 5, 7}, {7, 4}},    // batch folded into rows
        MatmulCase{{2, 1, 5, 7}, {3, 7, 4}}, // batch broadcasting both ways
        MatmulCase{{5, 7}, {2, 7, 4}},       // A broadcast over B's batch
        MatmulCase{{7}, {7, 4}},             // 1-D A
        MatmulCase{{3, 7}, {7}},             // 1-D B
        MatmulCase{{9}, {9}},                // both 1-D -> scalar
        MatmulCase{{4, 0}, {0, 3}},          // K = 0 -> zeros
        MatmulCase{{0, 5}, {5, 3}}));

TEST(MatmulTest, ThreadCountDoesNotChangeBits) {
  ThreadGuard guard;
  Tensor a = random(DType::F32, {3, 97, 311}, 3);
  Tensor b = random(DType::F32, {311, 203}, 4);
  k::setNumThreads(1);
  Tensor y1 = unwrap(k::matmul(a, b));
  k::setNumThreads(4);
  Tensor y4 = unwrap(k::matmul(a, b));
  EXPECT_TRUE(sameBits(y1, y4));
}

TEST(MatmulTest, OtherFloatDtypes) {
  Tensor a = random(DType::F64, {5, 9}, 5), b = random(DType::F64, {9, 3}, 6);
  std::vector<int64_t> shape;
  expectNear(unwrap(k::matmul(a, b)), naiveMatmul(a, b, shape), 1e-12);
  for (DType dt : {DType::F16, DType::BF16}) {
    Tensor ah = random(dt, {4, 8}, 7), bh = random(dt, {8, 5}, 8);
    Tensor y = unwrap(k::matmul(ah, bh));
    EXPECT_EQ(y.dtype(), dt);
    expectNear(y, naiveMatmul(ah, bh, shape), dt == DType::F16 ? 2e-3 : 1e-2,
               1e-2);
  }
}

TEST(MatmulTest, Errors) {
  Tensor a = random(DType::F32, {2, 3}, 1);
  EXPECT_ERROR(k::matmul(a, random(DType::F32, {4, 2}, 1)),
               "inner dimensions differ");
  EXPECT_ERROR(k::matmul(a, random(DType::F64, {3, 2}, 1)), "dtypes differ");
  EXPECT_ERROR(
      k::matmul(random(DType::I32, {2, 3}, 1), random(DType::I32, {3, 2}, 1)),
      "unsupported dtype");
  EXPECT_ERROR(k::matmul(random(DType::F32, {2, 2, 3}, 1),
                         random(DType::F32, {3, 3, 2}, 1)),
               "do not broadcast");
  EXPECT_ERROR(k::matmul(scalar(DType::F32, 1), a), "rank >= 1");
}

TEST(GemmTest, TransposesAlphaBetaAndBiasBroadcast) {
  Tensor a = random(DType::F32, {6, 4}, 1), b = random(DType::F32, {5, 6}, 2);
  // Y = 0.5 * A^T B^T + 2 * C, A^T: [4,6], B^T: [6,5].
  std::vector<double> A = values(a), B = values(b);
  for (std::vector<int64_t> cShape :
       std::vector<std::vector<int64_t>>{{}, {5}, {4, 1}, {1, 5}, {4, 5}}) {
    Tensor c = random(DType::F32, cShape, 3);
    Tensor y = unwrap(k::gemm(a, b, &c, 0.5f, 2.0f, true, true));
    ASSERT_EQ(y.shape(), (std::vector<int64_t>{4, 5}));
    std::vector<double> want(20);
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t j = 0; j < 5; ++j) {
        double s = 0;
        for (int64_t q = 0; q < 6; ++q)
          s += A[q * 4 + i] * B[j * 6 + q];
        int64_t ci = cShape.size() == 2 ? (cShape[0] == 1 ? 0 : i) : 0;
        int64_t cj = cShape.empty() ? 0 : (cShape.back() == 1 ? 0 : j);
        int64_t cn = cShape.empty() ? 1 : cShape.back();
        want[i * 5 + j] = 0.5 * s + 2.0 * c.getAsDouble(ci * cn + cj);
      }
    expectNear(y, want, 1e-5);
  }
  // No C, F64.
  Tensor a64 = random(DType::F64, {3, 2}, 4),
         b64 = random(DType::F64, {2, 4}, 5);
  std::vector<int64_t> shape;
  expectNear(unwrap(k::gemm(a64, b64, nullptr)), naiveMatmul(a64, b64, shape),
             1e-12);
}

TEST(GemmTest, Errors) {
  Tensor a = random(DType::F32, {2, 3}, 1), b = random(DType::F32, {3, 4}, 2);
  Tensor badC = random(DType::F32, {3, 4}, 3);
  EXPECT_ERROR(k::gemm(a, b, &badC), "cannot be broadcast");
  EXPECT_ERROR(k::gemm(a, b, nullptr, 1, 1, true, false),
               "inner dimensions differ");
  EXPECT_ERROR(k::gemm(random(DType::F32, {2, 3, 1}, 1), b, nullptr),
               "must be 2-D");
}

//===----------------------------------------------------------------------===//
// Convolution and pooling
//===----------------------------------------------------------------------===//

std::vector<double> naiveConv(const Tensor &x, const Tensor &w,
                              const Tensor *bias, const k::Conv2DOptions &o,
                              std::vector<int64_t> &shape, double xzp = 0,
                              std::vector<double> wzp = {}) {
  int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3);
  int64_t oc = w.dim(0), cg = w.dim(1), kh = w.dim(2), kw = w.dim(3);
  int64_t g = o.group, og = oc / g;
  int64_t oh = (h + o.pads[0] + o.pads[2] - o.dilations[0] * (kh - 1) - 1) /
                   o.strides[0] +
               1;
  int64_t ow = (wd + o.pads[1] + o.pads[3] - o.dilations[1] * (kw - 1) - 1) /
                   o.strides[1] +
               1;
  shape = {n, oc, oh, ow};
  std::vector<double> X = values(x), W = values(w);
  std::vector<double> out(n * oc * oh * ow);
  (void)c;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t f = 0; f < oc; ++f) {
      int64_t grp = f / og;
      double wz = wzp.empty() ? 0 : wzp[wzp.size() == 1 ? 0 : f];
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t xx = 0; xx < ow; ++xx) {
          double s = bias ? bias->getAsDouble(f) : 0;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                int64_t iy = y * o.strides[0] - o.pads[0] + i * o.dilations[0];
                int64_t ix = xx * o.strides[1] - o.pads[1] + j * o.dilations[1];
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd)
                  continue;
                double xv =
                    X[((b * x.dim(1) + grp * cg + ci) * h + iy) * wd + ix];
                double wv = W[((f * cg + ci) * kh + i) * kw + j];
                s += (xv - xzp) * (wv - wz);
              }
          out[((b * oc + f) * oh + y) * ow + xx] = s;
        }
    }
  return out;
}

struct ConvCase {
  std::vector<int64_t> x, w;
  k::Conv2DOptions o;
};

class ConvTest : public ::testing::TestWithParam<ConvCase> {};

k::Conv2DOptions convOpts(std::array<int64_t, 2> s, std::array<int64_t, 4> p,
                          std::array<int64_t, 2> d, int64_t g) {
  k::Conv2DOptions o;
  o.strides = s;
  o.pads = p;
  o.dilations = d;
  o.group = g;
  return o;
}

TEST_P(ConvTest, FloatMatchesNaive) {
  IsaGuard guard;
  const ConvCase &c = GetParam();
  Tensor x = random(DType::F32, c.x, 11), w = random(DType::F32, c.w, 12);
  Tensor bias = random(DType::F32, {c.w[0]}, 13);
  std::vector<int64_t> shape;
  std::vector<double> want = naiveConv(x, w, &bias, c.o, shape);
  for (bool baseline : {false, true}) {
    k::detail::setForceBaselineIsa(baseline);
    Tensor y = unwrap(k::conv2d(x, w, &bias, c.o));
    EXPECT_EQ(y.shape(), shape);
    expectNear(y, want, 1e-5, 1e-5);
  }
  // F64 and no bias.
  Tensor x64 = unwrap(k::cast(x, DType::F64)),
         w64 = unwrap(k::cast(w, DType::F64));
  std::vector<double> want64 = naiveConv(x64, w64, nullptr, c.o, shape);
  expectNear(unwrap(k::conv2d(x64, w64, nullptr, c.o)), want64, 1e-12, 1e-12);
}

TEST_P(ConvTest, IntegerMatchesNaiveExactly) {
  IsaGuard guard;
  const ConvCase &c = GetParam();
  Tensor x = random(DType::U8, c.x, 21, 0, 256);
  Tensor w = random(DType::I8, c.w, 22, -128, 128);
  Tensor xzp = scalar(DType::U8, 131);
  Tensor wzp = random(DType::I8, {c.w[0]}, 23, -20, 20);
  std::vector<int64_t> shape;
  std::vector<double> want =
      naiveConv(x, w, nullptr, c.o, shape, 131, values(wzp));
  for (bool baseline : {false, true}) {
    k::detail::setForceBaselineIsa(baseline);
    Tensor y = unwrap(k::convInteger(x, w, &xzp, &wzp, c.o));
    EXPECT_EQ(y.dtype(), DType::I32);
    EXPECT_EQ(y.shape(), shape);
    expectExact(y, want);
  }
  // Scalar weight zero point.
  Tensor wzp1 = scalar(DType::I8, -3);
  expectExact(unwrap(k::convInteger(x, w, &xzp, &wzp1, c.o)),
              naiveConv(x, w, nullptr, c.o, shape, 131, {-3}));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ConvTest,
    ::testing::Values(
        ConvCase{{1, 3, 8, 9},
                 {4, 3, 3, 3},
                 convOpts({1, 1}, {0, 0, 0, 0}, {1, 1}, 1)},
        ConvCase{{2, 4, 9, 7},
                 {6, 2, 3, 2},
                 convOpts({2, 1}, {1, 0, 2, 1}, {1, 1}, 2)},
        ConvCase{{1, 3, 11, 10},
                 {5, 3, 3, 3},
                 convOpts({1, 2}, {2, 2, 2, 2}, {2, 3}, 1)},
        ConvCase{{2, 6, 7, 8},
                 {6, 1, 3, 3},
                 convOpts({1, 1}, {1, 1, 1, 1}, {1, 1}, 6)}, // depthwise
        ConvCase{{1, 4, 9, 9},
                 {8, 1, 3, 3},
                 convOpts({2, 2}, {1, 1, 0, 0}, {1, 1}, 4)}, // depthwise x2
        ConvCase{{2, 8, 5, 6},
                 {16, 8, 1, 1},
                 convOpts({1, 1}, {0, 0, 0, 0}, {1, 1}, 1)}, // pointwise
        ConvCase{
            {1, 8, 5, 6},
            {4, 4, 1, 1},
            convOpts({1, 1}, {0, 0, 0, 0}, {1, 1}, 2)}, // grouped pointwise
        ConvCase{{1, 16, 12, 12},
                 {20, 16, 5, 5},
                 convOpts({1, 1}, {2, 2, 2, 2}, {1, 1}, 1)}));

TEST(ConvTest, Errors) {
  Tensor x = random(DType::F32, {1, 4, 5, 5}, 1);
  EXPECT_ERROR(k::conv2d(x, random(DType::F32, {4, 3, 3, 3}, 1), nullptr),
               "input channels per group");
  EXPECT_ERROR(k::conv2d(x, random(DType::F32, {3, 2, 3, 3}, 1), nullptr,
                         convOpts({1, 1}, {0, 0, 0, 0}, {1, 1}, 2)),
               "divisible by group");
  EXPECT_ERROR(k::conv2d(x, random(DType::F32, {4, 4, 7, 7}, 1), nullptr),
               "larger than the padded input");
  Tensor w = random(DType::F32, {4, 4, 3, 3}, 1);
  Tensor badBias = random(DType::F32, {3}, 1);
  EXPECT_ERROR(k::conv2d(x, w, &badBias), "bias");
  EXPECT_ERROR(
      k::conv2d(x, w, nullptr, convOpts({0, 1}, {0, 0, 0, 0}, {1, 1}, 1)),
      "strides");
  EXPECT_ERROR(k::conv2d(random(DType::F32, {4, 5, 5}, 1), w, nullptr),
               "rank 4");
  EXPECT_ERROR(k::convInteger(random(DType::I32, {1, 4, 5, 5}, 1),
                              random(DType::I8, {4, 4, 3, 3}, 1), nullptr,
                              nullptr),
               "u8 or i8");
}

k::Pool2DOptions poolOpts(std::array<int64_t, 2> kern, std::array<int64_t, 2> s,
                          std::array<int64_t, 4> p, std::array<int64_t, 2> d,
                          bool ceil, bool includePad = false) {
  k::Pool2DOptions o;
  o.kernel = kern;
  o.strides = s;
  o.pads = p;
  o.dilations = d;
  o.ceilMode = ceil;
  o.countIncludePad = includePad;
  return o;
}

TEST(PoolTest, MaxPoolPadsDilationsCeil) {
  // 1x1x4x5 input 0..19.
  std::vector<double> v(20);
  for (int i = 0; i < 20; ++i)
    v[i] = i;
  Tensor x = f32({1, 1, 4, 5}, v);
  // 2x2 stride 2, ceil: rows (0..1), (2..3) -> 2; cols 0..1,2..3,4 -> 3.
  Tensor y = unwrap(
      k::maxPool2d(x, poolOpts({2, 2}, {2, 2}, {0, 0, 0, 0}, {1, 1}, true)));
  EXPECT_EQ(y.shape(), (std::vector<int64_t>{1, 1, 2, 3}));
  expectExact(y, {6, 8, 9, 16, 18, 19});
  // Floor mode drops the partial column.
  y = unwrap(
      k::maxPool2d(x, poolOpts({2, 2}, {2, 2}, {0, 0, 0, 0}, {1, 1}, false)));
  expectExact(y, {6, 8, 16, 18});
  // Ceil mode never starts a window in the trailing padding: H=4, k=2, s=3,
  // pad bottom 1: ceil((4+1-2)/3)+1 = 2 windows start at 0 and 3 (< 4).
  y = unwrap(
      k::maxPool2d(x, poolOpts({2, 1}, {3, 5}, {0, 0, 1, 0}, {1, 1}, true)));
  EXPECT_EQ(y.shape(), (std::vector<int64_t>{1, 1, 2, 1}));
  expectExact(y, {5, 15});
  // W=5, k=2, s=2, pad right 1: (5+1-2)/2 = 2 -> ceil 2, +1 = 3; the third
  // window starts at 4 < 5 so it stays. With s=4: ceil(4/4)+1 = 2, second
  // window starts at 4 < 5, kept.
  y = unwrap(
      k::maxPool2d(x, poolOpts({1, 2}, {4, 4}, {0, 0, 0, 1}, {1, 1}, true)));
  EXPECT_EQ(y.shape(), (std::vector<int64_t>{1, 1, 1, 2}));
  expectExact(y, {1, 4});
  // Dilation 2 with padding 1: padding never wins even for negative data.
  Tensor neg = unwrap(k::neg(x));
  y = unwrap(
      k::maxPool2d(neg, poolOpts({2, 2}, {1, 1}, {1, 1, 1, 1}, {2, 2}, false)));
  EXPECT_EQ(y.shape(), (std::vector<int64_t>{1, 1, 4, 5}));
  EXPECT_EQ(y.getAsDouble(0), -6); // taps (-1,-1),(-1,1),(1,-1),(1,1)
  // Integer dtype and NaN propagation.
  Tensor u = make(DType::U8, {1, 1, 2, 2}, {3, 200, 7, 1});
  expectExact(unwrap(k::maxPool2d(
                  u, poolOpts({2, 2}, {1, 1}, {0, 0, 0, 0}, {1, 1}, false))),
              {200});
  Tensor withNan = f32({1, 1, 1, 3}, {1, NAN, 2});
  Tensor yn = unwrap(k::maxPool2d(
      withNan, poolOpts({1, 2}, {1, 1}, {0, 0, 0, 0}, {1, 1}, false)));
  EXPECT_TRUE(std::isnan(yn.getAsDouble(0)));
  EXPECT_TRUE(std::isnan(yn.getAsDouble(1)));
}

TEST(PoolTest, AvgPoolCountIncludePadAndCeil) {
  Tensor x = f32({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  // 2x2 stride 1 pad 1 on all sides -> 4x4 output.
  Tensor ex = unwrap(k::avgPool2d(
      x, poolOpts({2, 2}, {1, 1}, {1, 1, 1, 1}, {1, 1}, false, false)));
  Tensor in = unwrap(k::avgPool2d(
      x, poolOpts({2, 2}, {1, 1}, {1, 1, 1, 1}, {1, 1}, false, true)));
  ASSERT_EQ(ex.shape(), (std::vector<int64_t>{1, 1, 4, 4}));
  EXPECT_FLOAT_EQ(ex.getAsDouble(0), 1.0f);  // only x[0,0]
  EXPECT_FLOAT_EQ(in.getAsDouble(0), 0.25f); // 1 / 4
  EXPECT_FLOAT_EQ(ex.getAsDouble(5), 3.0f);  // (1+2+4+5)/4
  EXPECT_FLOAT_EQ(in.getAsDouble(1), 0.75f); // (1+2)/4
  // Ceil mode: the part of a window beyond the trailing pad is not counted
  // even with countIncludePad. 3x3, k=2, s=2, no pad, ceil -> 2x2; the last
  // window covers one row/col only.
  Tensor c = unwrap(k::avgPool2d(
      x, poolOpts({2, 2}, {2, 2}, {0, 0, 0, 0}, {1, 1}, true, true)));
  expectNear(c, {3, 4.5, 7.5, 9}, 1e-6);
  // Global average pool.
  Tensor g = unwrap(k::globalAvgPool(random(DType::F32, {2, 3, 4, 5}, 9)));
  EXPECT_EQ(g.shape(), (std::vector<int64_t>{2, 3, 1, 1}));
  Tensor r =
      unwrap(k::reduceMean(random(DType::F32, {2, 3, 4, 5}, 9), {2, 3}, true));
  expectNear(g, values(r), 1e-6);
}

TEST(PoolTest, Errors) {
  Tensor x = random(DType::F32, {1, 1, 4, 4}, 1);
  EXPECT_ERROR(
      k::maxPool2d(x, poolOpts({2, 2}, {1, 1}, {2, 0, 0, 0}, {1, 1}, false)),
      "smaller than the dilated kernel");
  EXPECT_ERROR(
      k::avgPool2d(random(DType::I32, {1, 1, 4, 4}, 1),
                   poolOpts({2, 2}, {1, 1}, {0, 0, 0, 0}, {1, 1}, false)),
      "unsupported dtype");
  EXPECT_ERROR(
      k::maxPool2d(x, poolOpts({5, 5}, {1, 1}, {0, 0, 0, 0}, {1, 1}, false)),
      "larger than the padded input");
  EXPECT_ERROR(k::globalAvgPool(random(DType::F32, {2, 3}, 1)), "rank >= 3");
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

TEST(BinaryTest, BroadcastingFloat) {
  Tensor a = random(DType::F32, {2, 3, 1}, 1),
         b = random(DType::F32, {1, 4}, 2);
  Tensor y = unwrap(k::add(a, b));
  ASSERT_EQ(y.shape(), (std::vector<int64_t>{2, 3, 4}));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t q = 0; q < 4; ++q)
        EXPECT_EQ(
            y.getAsDouble((i * 3 + j) * 4 + q),
            double(float(a.getAsDouble(i * 3 + j)) + float(b.getAsDouble(q))));
  // Scalar on either side, sub/mul/div/pow.
  Tensor s = scalar(DType::F32, 2);
  Tensor x = f32({3}, {1, 4, 9});
  expectExact(unwrap(k::sub(s, x)), {1, -2, -7});
  expectExact(unwrap(k::mul(x, s)), {2, 8, 18});
  expectExact(unwrap(k::div(x, s)), {0.5, 2, 4.5});
  expectExact(unwrap(k::pow(x, f32({3}, {0.5, 0.5, 0.5}))), {1, 2, 3});
  // Middle-dim broadcast (non-contiguous inner pattern).
  Tensor m = unwrap(k::mul(random(DType::F32, {3, 1, 5}, 3),
                           random(DType::F32, {1, 4, 5}, 4)));
  EXPECT_EQ(m.shape(), (std::vector<int64_t>{3, 4, 5}));
  // Max / Min propagate NaN.
  Tensor n = unwrap(k::max(f32({3}, {1, NAN, 3}), f32({3}, {2, 0, NAN})));
  EXPECT_EQ(n.getAsDouble(0), 2);
  EXPECT_TRUE(std::isnan(n.getAsDouble(1)));
  EXPECT_TRUE(std::isnan(n.getAsDouble(2)));
  expectExact(unwrap(k::min(f32({2}, {1, 5}), f32({2}, {2, 3}))), {1, 3});
  // Empty broadcast.
  EXPECT_EQ(
      unwrap(k::add(random(DType::F32, {0, 3}, 1), random(DType::F32, {3}, 1)))
          .shape(),
      (std::vector<int64_t>{0, 3}));
  // F16 computes in f32 and rounds back.
  Tensor h = unwrap(
      k::add(make(DType::F16, {1}, {1}), make(DType::F16, {1}, {0.0001})));
  EXPECT_EQ(h.dtype(), DType::F16);
  EXPECT_EQ(h.getAsDouble(0), 1.0); // 1.0001 rounds to 1 in half
}

TEST(BinaryTest, IntegerSemantics) {
  Tensor a = make(DType::I32, {4}, {-7, 7, -7, 7});
  Tensor b = make(DType::I32, {4}, {2, 2, -2, -2});
  expectExact(unwrap(k::div(a, b)), {-3, 3, 3, -3}); // truncation toward zero
  EXPECT_ERROR(k::div(a, make(DType::I32, {4}, {1, 0, 1, 1})), "by zero");
  Tensor mn = make(DType::I32, {1}, {double(INT32_MIN)});
  expectExact(unwrap(k::div(mn, make(DType::I32, {1}, {-1}))),
              {double(INT32_MIN)});
  // Wrapping add/sub/mul.
  expectExact(
      unwrap(k::add(make(DType::I8, {1}, {127}), make(DType::I8, {1}, {1}))),
      {-128});
  expectExact(
      unwrap(k::sub(make(DType::U8, {1}, {0}), make(DType::U8, {1}, {1}))),
      {255});
  expectExact(unwrap(k::mul(make(DType::I16, {1}, {300}),
                            make(DType::I16, {1}, {300}))),
              {double(int16_t(90000 - 65536 * 1))});
  // Integer pow by repeated multiplication.
  expectExact(unwrap(k::pow(make(DType::I64, {4}, {2, 3, -2, 1}),
                            make(DType::I64, {4}, {10, 0, 3, -5}))),
              {1024, 1, -8, 1});
  expectExact(unwrap(k::pow(make(DType::I32, {3}, {-1, -1, 2}),
                            make(DType::I32, {3}, {-3, -2, -1}))),
              {-1, 1, 0});
  EXPECT_ERROR(k::pow(make(DType::I32, {1}, {0}), make(DType::I32, {1}, {-1})),
               "negative power");
  // Mixed-dtype pow: double, then cast to the base dtype.
  expectExact(unwrap(k::pow(make(DType::I32, {2}, {2, 3}), f32({2}, {0.5, 2}))),
              {1, 9}); // 1.414 truncates to 1
  expectNear(unwrap(k::pow(f32({2}, {2, 3}), make(DType::I64, {2}, {3, -1}))),
             {8, 1.0 / 3}, 1e-7);
  // Max/min on unsigned.
  expectExact(unwrap(k::max(make(DType::U16, {2}, {1, 60000}),
                            make(DType::U16, {2}, {2, 5}))),
              {2, 60000});
}

TEST(BinaryTest, Errors) {
  EXPECT_ERROR(
      k::add(random(DType::F32, {2, 3}, 1), random(DType::F32, {4}, 1)),
      "not broadcast-compatible");
  EXPECT_ERROR(k::add(random(DType::F32, {2}, 1), random(DType::F64, {2}, 1)),
               "dtypes differ");
  EXPECT_ERROR(k::add(make(DType::Bool, {1}, {1}), make(DType::Bool, {1}, {1})),
               "bool");
}

TEST(UnaryTest, MatchesStdFunctions) {
  Tensor x = random(DType::F32, {257}, 5, -6, 6);
  std::vector<double> v = values(x);
  auto check = [&](k::UnaryOp op, auto fn) {
    Tensor y = unwrap(k::unary(op, x));
    std::vector<double> want(v.size());
    for (size_t i = 0; i < v.size(); ++i)
      want[i] = fn(v[i]);
    expectNear(y, want, 2e-6, 1e-7);
  };
  check(k::UnaryOp::Exp, [](double t) { return std::exp(t); });
  check(k::UnaryOp::Erf, [](double t) { return std::erf(t); });
  check(k::UnaryOp::Tanh, [](double t) { return std::tanh(t); });
  check(k::UnaryOp::Sigmoid, [](double t) { return 1 / (1 + std::exp(-t)); });
  check(k::UnaryOp::Relu, [](double t) { return t > 0 ? t : 0; });
  check(k::UnaryOp::Gelu,
        [](double t) { return 0.5 * t * (1 + std::erf(t / std::sqrt(2.0))); });
  check(k::UnaryOp::GeluTanh, [](double t) {
    return 0.5 * t *
           (1 + std::tanh(std::sqrt(2 / M_PI) * (t + 0.044715 * t * t * t)));
  });
  check(k::UnaryOp::Silu, [](double t) { return t / (1 + std::exp(-t)); });
  check(k::UnaryOp::Neg, [](double t) { return -t; });
  check(k::UnaryOp::Abs, [](double t) { return std::fabs(t); });
  Tensor pos = random(DType::F32, {50}, 6, 0, 100);
  expectNear(
      unwrap(k::sqrt(pos)),
      [&] {
        std::vector<double> w;
        for (double t : values(pos))
          w.push_back(std::sqrt(t));
        return w;
      }(),
      1e-6);
  // Named wrappers, gelu approximation selector, extreme sigmoid inputs.
  expectNear(unwrap(k::gelu(f32({1}, {1}), k::GeluApproximation::Tanh)),
             {0.8411919906}, 1e-6);
  expectNear(unwrap(k::gelu(f32({1}, {1}))), {0.8413447461}, 1e-6);
  expectExact(unwrap(k::sigmoid(f32({2}, {-200, 200}))), {0, 1});
  // F64 and BF16.
  expectNear(unwrap(k::tanh(make(DType::F64, {1}, {0.5}))), {std::tanh(0.5)},
             1e-15);
  EXPECT_EQ(unwrap(k::exp(make(DType::BF16, {1}, {1}))).dtype(), DType::BF16);
}

TEST(UnaryTest, IntegerOpsAndErrors) {
  Tensor i = make(DType::I8, {4}, {-128, -3, 0, 5});
  expectExact(unwrap(k::relu(i)), {0, 0, 0, 5});
  expectExact(unwrap(k::neg(i)), {-128, 3, 0, -5}); // -(-128) wraps
  expectExact(unwrap(k::abs(i)), {-128, 3, 0, 5});
  expectExact(unwrap(k::abs(make(DType::U8, {1}, {200}))), {200});
  EXPECT_ERROR(k::neg(make(DType::U8, {1}, {1})), "signed");
  EXPECT_ERROR(k::sqrt(make(DType::I32, {1}, {4})), "float dtype");
  EXPECT_ERROR(k::exp(make(DType::Bool, {1}, {1})), "numeric");
}

//===----------------------------------------------------------------------===//
// Softmax, norms, reductions
//===----------------------------------------------------------------------===//

TEST(SoftmaxTest, AxesAndStability) {
  Tensor x = random(DType::F32, {2, 3, 4}, 7, -5, 5);
  std::vector<double> v = values(x);
  for (int64_t axis : {0, 1, 2, -1}) {
    Tensor y = unwrap(k::softmax(x, axis));
    int64_t ax = axis < 0 ? axis + 3 : axis;
    int64_t dims[3] = {2, 3, 4};
    int64_t inner = 1;
    for (int64_t d = ax + 1; d < 3; ++d)
      inner *= dims[d];
    std::vector<double> want(v.size());
    for (int64_t i = 0; i < 24; ++i) {
      int64_t base = i - ((i / inner) % dims[ax]) * inner;
      double mx = -1e300, s = 0;
      for (int64_t a = 0; a < dims[ax]; ++a)
        mx = std::max(mx, v[base + a * inner]);
      for (int64_t a = 0; a < dims[ax]; ++a)
        s += std::exp(v[base + a * inner] - mx);
      want[i] = std::exp(v[i] - mx) / s;
    }
    expectNear(y, want, 1e-6, 1e-7);
  }
  Tensor big = unwrap(k::softmax(f32({3}, {10000, 10001, 10002}), 0));
  expectNear(big, {0.09003057, 0.24472847, 0.66524096}, 1e-6);
  EXPECT_ERROR(k::softmax(x, 3), "out of range");
}

TEST(NormTest, LayerNormAndRmsNorm) {
  Tensor x = random(DType::F32, {3, 4, 5}, 8, -3, 3);
  Tensor scale = random(DType::F32, {5}, 9),
         bias = random(DType::F32, {4, 5}, 10);
  std::vector<double> v = values(x), sc = values(scale), bi = values(bias);
  // Normalize over the last two dims; scale [5] broadcasts to [4, 5].
  Tensor y = unwrap(k::layerNorm(x, scale, &bias, -2, 1e-5f));
  Tensor r = unwrap(k::rmsNorm(x, scale, 1, 1e-6f));
  std::vector<double> wantY(60), wantR(60);
  for (int64_t row = 0; row < 3; ++row) {
    double mean = 0, var = 0, sq = 0;
    for (int64_t i = 0; i < 20; ++i)
      mean += v[row * 20 + i] / 20;
    for (int64_t i = 0; i < 20; ++i) {
      double d = v[row * 20 + i] - mean;
      var += d * d / 20;
      sq += v[row * 20 + i] * v[row * 20 + i] / 20;
    }
    for (int64_t i = 0; i < 20; ++i) {
      double t = v[row * 20 + i];
      wantY[row * 20 + i] =
          (t - mean) / std::sqrt(var + 1e-5) * sc[i % 5] + bi[i];
      wantR[row * 20 + i] = t / std::sqrt(sq + 1e-6) * sc[i % 5];
    }
  }
  expectNear(y, wantY, 1e-5, 1e-6);
  expectNear(r, wantR, 1e-5, 1e-6);
  EXPECT_ERROR(k::layerNorm(x, random(DType::F32, {3}, 1), nullptr, -1, 1e-5f),
               "cannot be broadcast");
  EXPECT_ERROR(k::layerNorm(x, random(DType::F64, {5}, 1), nullptr, -1, 1e-5f),
               "dtypes differ");
  EXPECT_ERROR(k::rmsNorm(x, scale, 4, 1e-5f), "out of range");
}

TEST(ReduceTest, AxesKeepdimsAndDtypes) {
  Tensor x = random(DType::F32, {3, 4, 5}, 11);
  std::vector<double> v = values(x);
  auto naive = [&](std::vector<bool> red, k::ReduceKind kind) {
    std::map<int64_t, std::vector<double>> groups;
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 4; ++j)
        for (int64_t q = 0; q < 5; ++q) {
          int64_t key =
              ((red[0] ? 0 : i) * 4 + (red[1] ? 0 : j)) * 5 + (red[2] ? 0 : q);
          groups[key].push_back(v[(i * 4 + j) * 5 + q]);
        }
    std::vector<double> out;
    for (auto &[key, g] : groups) {
      double s = 0, mx = -1e300, mn = 1e300;
      for (double t : g) {
        s += t;
        mx = std::max(mx, t);
        mn = std::min(mn, t);
      }
      out.push_back(kind == k::ReduceKind::Sum    ? s
                    : kind == k::ReduceKind::Mean ? s / g.size()
                    : kind == k::ReduceKind::Max  ? mx
                                                  : mn);
    }
    return out;
  };
  for (auto kind : {k::ReduceKind::Sum, k::ReduceKind::Mean, k::ReduceKind::Max,
                    k::ReduceKind::Min}) {
    for (std::vector<int64_t> axes : std::vector<std::vector<int64_t>>{
             {}, {0}, {1}, {2}, {-1, 0}, {0, 2}, {1, 2}}) {
      std::vector<bool> red(3, axes.empty());
      for (int64_t a : axes)
        red[a < 0 ? a + 3 : a] = true;
      Tensor y = unwrap(k::reduce(kind, x, axes, true));
      std::vector<int64_t> shape = {red[0] ? 1 : 3, red[1] ? 1 : 4,
                                    red[2] ? 1 : 5};
      EXPECT_EQ(y.shape(), shape);
      expectNear(y, naive(red, kind), 1e-6);
      Tensor z = unwrap(k::reduce(kind, x, axes, false));
      EXPECT_EQ(z.numElements(), y.numElements());
      EXPECT_EQ(z.rank(), 3 - static_cast<int64_t>(
                                  std::count(red.begin(), red.end(), true)));
    }
  }
  // Integer mean truncates toward zero; integer sums wrap to the dtype.
  Tensor xi = make(DType::I32, {2, 2}, {-3, -4, 5, 2});
  expectExact(unwrap(k::reduceMean(xi, {1}, false)), {-3, 3});
  expectExact(unwrap(k::reduceSum(make(DType::I8, {2}, {100, 100}), {}, false)),
              {-56});
  expectExact(
      unwrap(k::reduceMax(make(DType::U8, {3}, {1, 250, 3}), {0}, false)),
      {250});
  // NaN propagates through max; empty reductions give the identity.
  EXPECT_TRUE(std::isnan(
      unwrap(k::reduceMax(f32({3}, {1, NAN, 2}), {}, false)).getAsDouble(0)));
  Tensor empty(DType::F32, {0, 3});
  expectExact(unwrap(k::reduceSum(empty, {0}, false)), {0, 0, 0});
  expectExact(unwrap(k::reduceMax(empty, {0}, false)),
              {-INFINITY, -INFINITY, -INFINITY});
  EXPECT_ERROR(k::reduceMean(Tensor(DType::I32, {0}), {0}, false), "empty");
  EXPECT_ERROR(k::reduceSum(x, {1, -2}, true), "repeated");
  EXPECT_ERROR(k::reduceSum(x, {3}, true), "out of range");
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

TEST(DataTest, Transpose) {
  Tensor x = random(DType::F32, {2, 3, 4}, 12);
  Tensor y = unwrap(k::transpose(x, {2, 0, 1}));
  ASSERT_EQ(y.shape(), (std::vector<int64_t>{4, 2, 3}));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t q = 0; q < 4; ++q)
        EXPECT_EQ(y.getAsDouble((q * 2 + i) * 3 + j),
                  x.getAsDouble((i * 3 + j) * 4 + q));
  Tensor h =
      unwrap(k::transpose(make(DType::F16, {2, 2}, {1, 2, 3, 4}), {1, 0}));
  expectExact(h, {1, 3, 2, 4});
  EXPECT_ERROR(k::transpose(x, {0, 0, 1}), "permutation");
  EXPECT_ERROR(k::transpose(x, {0, 1}), "perm");
}

TEST(DataTest, Concat) {
  Tensor a = f32({2, 1}, {1, 2}), b = f32({2, 2}, {3, 4, 5, 6});
  expectExact(unwrap(k::concat({a, b}, -1)), {1, 3, 4, 2, 5, 6});
  expectExact(unwrap(k::concat({b, b}, 0)), {3, 4, 5, 6, 3, 4, 5, 6});
  EXPECT_ERROR(k::concat({a, b}, 0), "does not match");
  EXPECT_ERROR(k::concat({a, make(DType::I32, {2, 1}, {1, 2})}, 1),
               "does not match");
}

TEST(DataTest, SliceConventions) {
  Tensor x = f32({6}, {0, 1, 2, 3, 4, 5});
  expectExact(unwrap(k::slice(x, {1}, {5}, {2})), {1, 3});
  expectExact(unwrap(k::slice(x, {5}, {-1}, {-1})), {5, 4, 3, 2, 1, 0});
  expectExact(unwrap(k::slice(x, {4}, {0}, {-2})), {4, 2});
  expectExact(unwrap(k::slice(x, {3}, {3}, {1})), {});
  EXPECT_EQ(unwrap(k::slice(x, {2}, {4}, {-1})).numElements(), 0);
  Tensor m = random(DType::I64, {3, 4}, 13, -100, 100);
  Tensor s = unwrap(k::slice(m, {2, 0}, {-1, 4}, {-2, 3}));
  ASSERT_EQ(s.shape(), (std::vector<int64_t>{2, 2}));
  expectExact(s, {m.getAsDouble(8), m.getAsDouble(11), m.getAsDouble(0),
                  m.getAsDouble(3)});
  EXPECT_ERROR(k::slice(x, {0}, {6}, {0}), "step");
  EXPECT_ERROR(k::slice(x, {0}, {7}, {1}), "out of range");
  EXPECT_ERROR(k::slice(x, {6}, {0}, {-1}), "out of range");
  EXPECT_ERROR(k::slice(x, {0, 0}, {1, 1}, {1, 1}), "one start");
}

TEST(DataTest, Gather) {
  Tensor data = f32({3, 2}, {1, 2, 3, 4, 5, 6});
  Tensor idx = make(DType::I64, {2, 2}, {0, -1, 2, 1});
  Tensor y = unwrap(k::gather(data, idx, 0));
  ASSERT_EQ(y.shape(), (std::vector<int64_t>{2, 2, 2}));
  expectExact(y, {1, 2, 5, 6, 5, 6, 3, 4});
  expectExact(unwrap(k::gather(data, make(DType::I32, {1}, {1}), 1)),
              {2, 4, 6});
  expectExact(unwrap(k::gather(data, scalar(DType::I32, -2), 0)), {3, 4});
  EXPECT_ERROR(k::gather(data, make(DType::I64, {1}, {3}), 0), "out of range");
  EXPECT_ERROR(k::gather(data, make(DType::I64, {1}, {-4}), 0), "out of range");
  EXPECT_ERROR(k::gather(data, f32({1}, {0}), 0), "i32 or i64");
}

TEST(DataTest, Where) {
  Tensor c = make(DType::Bool, {2, 1}, {1, 0});
  Tensor x = f32({1, 3}, {1, 2, 3}), y = scalar(DType::F32, -1);
  Tensor r = unwrap(k::where(c, x, y));
  ASSERT_EQ(r.shape(), (std::vector<int64_t>{2, 3}));
  expectExact(r, {1, 2, 3, -1, -1, -1});
  EXPECT_ERROR(k::where(x, x, y), "bool");
  EXPECT_ERROR(k::where(c, x, make(DType::I32, {1}, {1})), "dtypes");
}

TEST(DataTest, CastSemantics) {
  Tensor f = f32({8}, {2.7, -2.7, 1e10, -1e10, NAN, 0.0, -0.0, 255.9});
  expectExact(unwrap(k::cast(f, DType::I32)),
              {2, -2, 2147483647, -2147483648.0, 0, 0, 0, 255});
  expectExact(unwrap(k::cast(f, DType::U8)), {2, 0, 255, 0, 0, 0, 0, 255});
  expectExact(unwrap(k::cast(f, DType::Bool)), {1, 1, 1, 1, 1, 0, 0, 1});
  expectExact(unwrap(k::cast(make(DType::I32, {2}, {300, -1}), DType::U8)),
              {44, 255}); // keeps the low bits
  expectExact(unwrap(k::cast(make(DType::I64, {1}, {-1}), DType::U16)),
              {65535});
  expectExact(unwrap(k::cast(make(DType::Bool, {2}, {1, 0}), DType::F32)),
              {1, 0});
  // f32 -> bf16 / f16 round to nearest even.
  Tensor bf = unwrap(k::cast(f32({2}, {0.480336666, 1.00390625}), DType::BF16));
  EXPECT_EQ(static_cast<const uint16_t *>(bf.rawData())[0], 0x3EF6);
  EXPECT_EQ(static_cast<const uint16_t *>(bf.rawData())[1],
            0x3F80); // tie -> even
  Tensor hf = unwrap(k::cast(f32({1}, {65520}), DType::F16));
  EXPECT_TRUE(std::isinf(hf.getAsDouble(0)));
  // Same dtype shares storage.
  Tensor same = unwrap(k::cast(f, DType::F32));
  EXPECT_EQ(same.rawData(), f.rawData());
}

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

TEST(QuantizeTest, RoundHalfToEvenTies) {
  Tensor x = f32({9}, {2.5, -2.5, 3.5, 0.5, 1.5, -0.5, -1.5, 2.4999998, 2.6});
  Tensor one = scalar(DType::F32, 1);
  Tensor q = unwrap(k::quantizeLinear(x, one, nullptr, 1, 0, DType::I8));
  EXPECT_EQ(q.dtype(), DType::I8);
  expectExact(q, {2, -2, 4, 0, 2, -0.0, -2, 2, 3});
  // With a zero point and a scale: x / 0.5 = 5 -> 4? no: 2.5/0.5 = 5 exactly.
  Tensor zp = scalar(DType::U8, 10);
  Tensor q2 =
      unwrap(k::quantizeLinear(f32({3}, {1.25, -1.25, 0.75}),
                               scalar(DType::F32, 0.5), &zp, 1, 0, DType::U8));
  expectExact(q2, {12, 8, 12}); // 2.5->2, -2.5->-2, 1.5->2; + 10
}

TEST(QuantizeTest, SaturationAndRanges) {
  Tensor x = f32({5}, {-1000, -129, 127.4, 1000, NAN});
  Tensor one = scalar(DType::F32, 1);
  expectExact(unwrap(k::quantizeLinear(x, one, nullptr, 1, 0, DType::I8)),
              {-128, -128, 127, 127, 0});
  Tensor zp = scalar(DType::U8, 128);
  expectExact(unwrap(k::quantizeLinear(x, one, &zp, 1, 0, DType::U8)),
              {0, 0, 255, 255, 128});
  // int4 stored in I8 / uint4 in U8 via qmin/qmax.
  expectExact(unwrap(k::quantizeLinear(f32({4}, {-9, -8, 7, 7.6}), one, nullptr,
                                       1, 0, DType::I8, -8, 7)),
              {-8, -8, 7, 7});
  expectExact(unwrap(k::quantizeLinear(f32({3}, {-1, 15, 16}), one, nullptr, 1,
                                       0, DType::U8, 0, 15)),
              {0, 15, 15});
  // Wider outputs.
  expectExact(unwrap(k::quantizeLinear(f32({2}, {40000, -40000}), one, nullptr,
                                       1, 0, DType::I16)),
              {32767, -32768});
  expectExact(unwrap(k::quantizeLinear(f32({2}, {70000, -1}), one, nullptr, 1,
                                       0, DType::U16)),
              {65535, 0});
  expectExact(unwrap(k::quantizeLinear(f32({3}, {3e9, -3e9, 123456.5}), one,
                                       nullptr, 1, 0, DType::I32)),
              {2147483647, -2147483648.0, 123456});
  EXPECT_ERROR(k::quantizeLinear(x, one, nullptr, 1, 0, DType::I8, -200, 7),
               "outside the range");
  EXPECT_ERROR(k::quantizeLinear(x, one, nullptr, 1, 0, DType::I8, 5, 4),
               "empty");
  EXPECT_ERROR(k::quantizeLinear(x, one, nullptr, 1, 0, DType::I64),
               "output dtype");
  EXPECT_ERROR(k::quantizeLinear(x, one, &zp, 1, 0, DType::I8), "zero point");
}

TEST(QuantizeTest, InvalidScalesAreRejected) {
  Tensor x = f32({2}, {1, 2});
  for (double s : {0.0, -1.0, double(NAN), double(INFINITY)}) {
    EXPECT_ERROR(
        k::quantizeLinear(x, scalar(DType::F32, s), nullptr, 1, 0, DType::I8),
        "finite and > 0");
    EXPECT_ERROR(k::dequantizeLinear(make(DType::I8, {2}, {1, 2}),
                                     scalar(DType::F32, s), nullptr, 1, 0),
                 "finite and > 0");
  }
}

TEST(QuantizeTest, PerAxisAndBlocked) {
  // x [2, 3, 2], per-axis along 1.
  Tensor x = random(DType::F32, {2, 3, 2}, 14, -4, 4);
  Tensor s = f32({3}, {0.1, 0.2, 0.05});
  Tensor zp = make(DType::I8, {3}, {-3, 0, 7});
  Tensor q = unwrap(k::quantizeLinear(x, s, &zp, 1, 0, DType::I8));
  std::vector<double> want;
  for (int64_t i = 0; i < 12; ++i) {
    int64_t c = (i / 2) % 3;
    float v = float(x.getAsDouble(i)) / float(s.getAsDouble(c));
    want.push_back(
        std::clamp(std::nearbyint(v) + zp.getAsDouble(c), -128.0, 127.0));
  }
  expectExact(q, want);
  // Round trip: dequantize gives (q - zp) * s.
  Tensor d = unwrap(k::dequantizeLinear(q, s, &zp, -2, 0));
  EXPECT_EQ(d.dtype(), DType::F32);
  for (int64_t i = 0; i < 12; ++i) {
    int64_t c = (i / 2) % 3;
    EXPECT_EQ(d.getAsDouble(i),
              double(float(q.getAsDouble(i) - zp.getAsDouble(c)) *
                     float(s.getAsDouble(c))));
  }
  // Blocked along axis 1 of [2, 5] with block 2 -> scale [2, 3].
  Tensor xb = random(DType::F32, {2, 5}, 15, -2, 2);
  Tensor sb = random(DType::F32, {2, 3}, 16, 0.01, 0.1);
  Tensor zb = make(DType::U8, {2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor qb = unwrap(k::quantizeLinear(xb, sb, &zb, 1, 2, DType::U8));
  Tensor db = unwrap(k::dequantizeLinear(qb, sb, &zb, 1, 2));
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t c = 0; c < 5; ++c) {
      int64_t p = r * 3 + c / 2;
      float v = float(xb.getAsDouble(r * 5 + c)) / float(sb.getAsDouble(p));
      double qv = std::clamp(std::nearbyint(v) + zb.getAsDouble(p), 0.0, 255.0);
      EXPECT_EQ(qb.getAsDouble(r * 5 + c), qv);
      EXPECT_EQ(
          db.getAsDouble(r * 5 + c),
          double(float(qv - zb.getAsDouble(p)) * float(sb.getAsDouble(p))));
    }
  // Blocked along axis 0 (block 3 over 4 rows -> 2 blocks).
  Tensor xa = random(DType::F32, {4, 2}, 17);
  Tensor sa = f32({2, 2}, {0.1, 0.2, 0.3, 0.4});
  Tensor qa = unwrap(k::quantizeLinear(xa, sa, nullptr, 0, 3, DType::I8));
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < 2; ++c) {
      float v = float(xa.getAsDouble(r * 2 + c)) /
                float(sa.getAsDouble((r / 3) * 2 + c));
      EXPECT_EQ(qa.getAsDouble(r * 2 + c), std::nearbyint(v));
    }
  // Dequantize keeps an f16 scale's dtype.
  Tensor dh =
      unwrap(k::dequantizeLinear(make(DType::I8, {2}, {3, -3}),
                                 make(DType::F16, {}, {0.5}), nullptr, 1, 0));
  EXPECT_EQ(dh.dtype(), DType::F16);
  expectExact(dh, {1.5, -1.5});
  // Layout errors.
  EXPECT_ERROR(k::quantizeLinear(x, f32({2}, {1, 1}), nullptr, 1, 0, DType::I8),
               "1-D with 3 elements");
  EXPECT_ERROR(k::quantizeLinear(xb, f32({2, 2}, {1, 1, 1, 1}), nullptr, 1, 2,
                                 DType::I8),
               "must be [2x3]");
  EXPECT_ERROR(k::quantizeLinear(x, s, nullptr, 3, 0, DType::I8),
               "out of range");
  EXPECT_ERROR(k::quantizeLinear(x, s, &zb, 1, 0, DType::U8), "shape");
  EXPECT_ERROR(k::dequantizeLinear(f32({1}, {1}), s, nullptr, 1, 0),
               "must be i8");
}

std::vector<double> naiveMatmulInteger(const Tensor &a, const Tensor &b,
                                       const std::vector<double> &azp,
                                       const std::vector<double> &bzp,
                                       int64_t m, int64_t kk, int64_t n) {
  std::vector<double> out(m * n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t s = 0;
      for (int64_t q = 0; q < kk; ++q)
        s += (int64_t(a.getAsDouble(i * kk + q)) -
              int64_t(azp[azp.size() == 1 ? 0 : i])) *
             (int64_t(b.getAsDouble(q * n + j)) -
              int64_t(bzp[bzp.size() == 1 ? 0 : j]));
      out[i * n + j] = double(int32_t(uint32_t(uint64_t(s))));
    }
  return out;
}

TEST(MatmulIntegerTest, PerRowAndPerColumnZeroPoints) {
  IsaGuard guard;
  for (auto [m, kk, n] : std::vector<std::array<int64_t, 3>>{
           {1, 1, 1}, {5, 7, 3}, {6, 16, 16}, {37, 301, 45}, {80, 600, 70}}) {
    Tensor a = random(DType::U8, {m, kk}, 31, 0, 256);
    Tensor b = random(DType::I8, {kk, n}, 32, -128, 128);
    Tensor azp = random(DType::U8, {m}, 33, 100, 156);
    Tensor bzp = random(DType::I8, {n}, 34, -10, 10);
    std::vector<double> want =
        naiveMatmulInteger(a, b, values(azp), values(bzp), m, kk, n);
    for (bool baseline : {false, true}) {
      k::detail::setForceBaselineIsa(baseline);
      Tensor y = unwrap(k::matmulInteger(a, b, &azp, &bzp));
      EXPECT_EQ(y.dtype(), DType::I32);
      expectExact(y, want);
    }
    // Scalar zero points and none.
    Tensor sa = scalar(DType::U8, 128), sb = scalar(DType::I8, 3);
    expectExact(unwrap(k::matmulInteger(a, b, &sa, &sb)),
                naiveMatmulInteger(a, b, {128}, {3}, m, kk, n));
    expectExact(unwrap(k::matmulInteger(a, b, nullptr, nullptr)),
                naiveMatmulInteger(a, b, {0}, {0}, m, kk, n));
  }
}

TEST(MatmulIntegerTest, BatchesAndWrapAround) {
  // Batch broadcasting: A [2, 1, 3, 5] x B [4, 5, 6].
  Tensor a = random(DType::I8, {2, 1, 3, 5}, 41, -128, 128);
  Tensor b = random(DType::U8, {4, 5, 6}, 42, 0, 256);
  Tensor y = unwrap(k::matmulInteger(a, b, nullptr, nullptr));
  ASSERT_EQ(y.shape(), (std::vector<int64_t>{2, 4, 3, 6}));
  Tensor af = unwrap(k::cast(a, DType::F64)),
         bf = unwrap(k::cast(b, DType::F64));
  std::vector<int64_t> shape;
  expectExact(y, naiveMatmul(af, bf, shape));
  // int32 accumulation wraps: 255 * 255 * 40000 > 2^31.
  int64_t kk = 40000;
  Tensor big(DType::U8, {1, kk}), bigB(DType::U8, {kk, 1});
  std::memset(big.mutableRawData(), 255, kk);
  std::memset(bigB.mutableRawData(), 255, kk);
  Tensor w = unwrap(k::matmulInteger(big, bigB, nullptr, nullptr));
  EXPECT_EQ(w.data<int32_t>()[0],
            int32_t(uint32_t(uint64_t(255 * 255) * uint64_t(kk))));
  // Errors.
  EXPECT_ERROR(k::matmulInteger(f32({1, 1}, {1}), b, nullptr, nullptr),
               "u8 or i8");
  Tensor badZp = make(DType::I8, {2}, {0, 0});
  EXPECT_ERROR(k::matmulInteger(a, b, &badZp, nullptr), "one per row");
  Tensor wrongType = scalar(DType::U8, 0);
  EXPECT_ERROR(k::matmulInteger(a, b, &wrongType, nullptr), "operand's dtype");
}

TEST(RequantizeTest, FloatMultiplierContract) {
  // y = saturate(nearbyint(float(acc) * m) + zp)
  Tensor acc = make(DType::I32, {6}, {5, -5, 7, 1000, -1000, 123457});
  Tensor m = scalar(DType::F32, 0.5);
  Tensor zp = scalar(DType::I8, 1);
  expectExact(unwrap(k::requantize(acc, m, &zp, 1, DType::I8)),
              {3, -1, 5, 127, -128, 127}); // 2.5->2, -2.5->-2, 3.5->4
  // float(acc) rounds first: 16777217 -> 16777216 in f32.
  Tensor big = make(DType::I32, {1}, {16777217});
  expectExact(unwrap(k::requantize(big, scalar(DType::F32, 1.0), nullptr, 0,
                                   DType::I32)),
              {16777216});
  // Per-axis multipliers and zero points along axis 1, with qmin/qmax.
  Tensor a2 = random(DType::I32, {2, 3, 4}, 51, -5000, 5000);
  Tensor mm = f32({3}, {0.01, 0.02, 0.003});
  Tensor zz = make(DType::U8, {3}, {0, 128, 250});
  Tensor y = unwrap(k::requantize(a2, mm, &zz, 1, DType::U8, 0, 255));
  for (int64_t i = 0; i < 24; ++i) {
    int64_t c = (i / 4) % 3;
    float v = float(int32_t(a2.getAsDouble(i))) * float(mm.getAsDouble(c));
    EXPECT_EQ(
        y.getAsDouble(i),
        std::clamp(double(std::nearbyint(v)) + zz.getAsDouble(c), 0.0, 255.0));
  }
  Tensor y4 = unwrap(k::requantize(a2, mm, nullptr, 1, DType::I8, -8, 7));
  for (double v : values(y4)) {
    EXPECT_GE(v, -8);
    EXPECT_LE(v, 7);
  }
  EXPECT_ERROR(k::requantize(f32({1}, {1}), m, nullptr, 1, DType::I8), "i32");
  EXPECT_ERROR(k::requantize(acc, scalar(DType::F32, 0), nullptr, 1, DType::I8),
               "finite and > 0");
  EXPECT_ERROR(k::requantize(a2, f32({4}, {1, 1, 1, 1}), nullptr, 1, DType::I8),
               "1-D with 3 elements");
  EXPECT_ERROR(k::requantize(acc, m, &zz, 1, DType::I8), "zero point");
}

TEST(DynamicQuantizeTest, OnnxCasesAndDegenerateRange) {
  auto r =
      unwrap(k::dynamicQuantizeLinear(f32({6}, {0, 2, -3, -2.5, 1.34, 0.5})));
  EXPECT_EQ(r.scale.rank(), 0);
  EXPECT_FLOAT_EQ(r.scale.data<float>()[0], 0.019607844f);
  EXPECT_EQ(r.zeroPoint.data<uint8_t>()[0], 153);
  expectExact(r.y, {153, 255, 0, 26, 221, 179});
  // All zeros: scale 1/255, zero point 0.
  auto z = unwrap(k::dynamicQuantizeLinear(f32({3}, {0, 0, 0})));
  EXPECT_EQ(z.scale.data<float>()[0], 1.0f / 255.0f);
  EXPECT_EQ(z.zeroPoint.data<uint8_t>()[0], 0);
  expectExact(z.y, {0, 0, 0});
  EXPECT_ERROR(k::dynamicQuantizeLinear(f32({2}, {1, NAN})), "not finite");
  EXPECT_ERROR(k::dynamicQuantizeLinear(make(DType::F64, {1}, {1})), "f32");
}

//===----------------------------------------------------------------------===//
// Speed sanity (not timed): realistic sizes run and agree with a reference
// on sampled elements, so a pathological slowdown shows up as a slow test.
//===----------------------------------------------------------------------===//

TEST(SpeedSanityTest, LargeMatmulAndConv) {
  Tensor a = random(DType::F32, {384, 512}, 61),
         b = random(DType::F32, {512, 448}, 62);
  Tensor y = unwrap(k::matmul(a, b));
  std::mt19937 rng(1);
  for (int t = 0; t < 50; ++t) {
    int64_t i = rng() % 384, j = rng() % 448;
    double s = 0;
    for (int64_t q = 0; q < 512; ++q)
      s += a.getAsDouble(i * 512 + q) * b.getAsDouble(q * 448 + j);
    EXPECT_NEAR(y.getAsDouble(i * 448 + j), s, 1e-3);
  }
  Tensor x = random(DType::F32, {1, 64, 56, 56}, 63);
  Tensor w = random(DType::F32, {64, 64, 3, 3}, 64);
  k::Conv2DOptions o = convOpts({1, 1}, {1, 1, 1, 1}, {1, 1}, 1);
  Tensor c = unwrap(k::conv2d(x, w, nullptr, o));
  ASSERT_EQ(c.shape(), (std::vector<int64_t>{1, 64, 56, 56}));
  for (int t = 0; t < 20; ++t) {
    int64_t f = rng() % 64, yy = rng() % 56, xx = rng() % 56;
    double s = 0;
    for (int64_t ci = 0; ci < 64; ++ci)
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 3; ++j) {
          int64_t iy = yy - 1 + i, ix = xx - 1 + j;
          if (iy < 0 || iy >= 56 || ix < 0 || ix >= 56)
            continue;
          s += x.getAsDouble((ci * 56 + iy) * 56 + ix) *
               w.getAsDouble(((f * 64 + ci) * 3 + i) * 3 + j);
        }
    EXPECT_NEAR(c.getAsDouble((f * 56 + yy) * 56 + xx), s, 1e-3);
  }
}

} // namespace
