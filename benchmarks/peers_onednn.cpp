//===- peers_onednn.cpp - qopt kernels against oneDNN ---------------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// qopt-bench-gemm: rows b and c of benchmarks/run.sh.
//
//  b. int8 GEMM at the BERT-base shapes, M = 128 (K x N = 768x768, 768x3072,
//     3072x768, 768x2304): qopt_cpu::gemm_s8_i32 (u8 activations, s8 packed
//     weights, s32 out) against oneDNN's u8s8s32 matmul, and oneDNN's f32
//     matmul at the same shape; qopt_cpu::gemm_f32 too.
//  c. int4 group-128 weight-only GEMV, M = 1 (K x N = 4096x4096,
//     4096x11008): qopt_cpu::gemm_w4_f32 against oneDNN's f32 matmul with
//     the same (dequantized) weights. The weights stream from DRAM: each
//     repetition uses the next of enough copies that together they are at
//     least 4x the last-level cache.
//
// oneDNN weights are in the layout oneDNN picks (format_tag::any, reordered
// once, as an inference engine would); qopt's are packed once by its packing
// routines. The primitives are created once. Every timing is the median of
// --reps repetitions after --warmup untimed ones. Each qopt result is checked
// once against oneDNN's: s32 bit-exact for int8, relative error for f32 and
// int4 (oneDNN runs the dequantized int4 weights in f32); a mismatch aborts.
//
// The int8 data keeps every pair product sum below 2^15 (A u8 in [0, 255], W
// s8 in [-64, 63]): oneDNN's AVX2 path (no VNNI) multiplies with
// vpmaddubsw, which saturates at int16, so only in this range is its s32
// result the exact one to compare with. qopt runs both of its layouts on
// it: int16 pairs and vpmaddwd (qopt-s8; exact over the whole range, what
// 8-bit weights get) and u8 quads and vpmaddubsw (qopt-s8-quads; what the
// code generator picks for weights like these, e.g. weight-bits=7); speed
// does not depend on the values.
//
// Output, one line per measurement (benchmarks/run.sh makes the table):
//   RESULT kind=gemm impl=qopt-s8|qopt-s8-quads|onednn-u8s8s32|qopt-f32|
//          onednn-f32
//          M=.. K=.. N=.. threads=T ms=.. gops=..
//   RESULT kind=gemv impl=qopt-w4g128|onednn-f32 M=1 K=.. N=.. threads=T
//          ms=.. gops=.. weight_bytes=.. gbps=.. copies=..
// after a header line naming oneDNN's version and the compiler that built
// qopt's kernels (qopt_adapter.cpp).
//
//===----------------------------------------------------------------------===//

#include <dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "qopt_adapter.h" // qopt's kernels, built like a cpu:avx2 library

namespace {

//===----------------------------------------------------------------------===//
// Timing
//===----------------------------------------------------------------------===//

struct Options {
  int reps = 20;
  int warmup = 3;
  std::vector<int> threads = {1, 2};
  bool gemm = true, gemv = true;
  int64_t llcBytes = 0;
};

double nowMs() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch())
      .count();
}

/// Median ms of `reps` calls of fn(i) after `warmup` calls; i counts every
/// call (so streamed benchmarks move to the next weight copy each time).
double medianMs(const Options &o, const std::function<void(int)> &fn) {
  int i = 0;
  for (int w = 0; w < o.warmup; ++w)
    fn(i++);
  std::vector<double> t;
  for (int r = 0; r < o.reps; ++r) {
    double t0 = nowMs();
    fn(i++);
    t.push_back(nowMs() - t0);
  }
  std::sort(t.begin(), t.end());
  size_t n = t.size();
  return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

void result(const char *kind, const char *impl, int64_t M, int64_t K,
            int64_t N, int threads, double ms, const std::string &extra = "") {
  double gops = 2.0 * M * N * K / (ms * 1e6);
  std::printf("RESULT kind=%s impl=%s M=%lld K=%lld N=%lld threads=%d "
              "ms=%.5f gops=%.3f%s\n",
              kind, impl, (long long)M, (long long)K, (long long)N, threads,
              ms, gops, extra.c_str());
  std::fflush(stdout);
}

[[noreturn]] void fail(const std::string &msg) {
  std::fprintf(stderr, "qopt-bench-gemm: MISMATCH: %s\n", msg.c_str());
  std::fflush(stdout);
  std::abort();
}

/// The L3 size from sysfs (sysconf's can be wrong in VMs), else sysconf's.
int64_t lastLevelCacheBytes() {
  if (FILE *f = std::fopen("/sys/devices/system/cpu/cpu0/cache/index3/size",
                           "r")) {
    long kb = 0;
    if (std::fscanf(f, "%ldK", &kb) == 1 && kb > 0) {
      std::fclose(f);
      return kb * 1024;
    }
    std::fclose(f);
  }
  long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  return l3 > 0 ? l3 : 32ll << 20;
}

//===----------------------------------------------------------------------===//
// oneDNN
//===----------------------------------------------------------------------===//

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

struct OneDnnMatmul {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  dnnl::matmul prim;
  dnnl::memory::desc aMd, bMd, cMd;

  OneDnnMatmul(int64_t M, int64_t K, int64_t N, dt a, dt b, dt c) {
    aMd = dnnl::memory::desc({M, K}, a, tag::ab);
    auto bAny = dnnl::memory::desc({K, N}, b, tag::any);
    cMd = dnnl::memory::desc({M, N}, c, tag::ab);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(aMd, bAny, cMd), eng);
    bMd = pd.weights_desc();
    prim = dnnl::matmul(pd);
  }
  /// Weights [K, N] row-major -> oneDNN's layout (a reorder, done once).
  dnnl::memory packWeights(void *rowMajor, int64_t K, int64_t N, dt b) {
    dnnl::memory src({{K, N}, b, tag::ab}, eng, rowMajor);
    dnnl::memory dst(bMd, eng);
    dnnl::reorder(src, dst).execute(strm, src, dst);
    strm.wait();
    return dst;
  }
  void run(void *a, const dnnl::memory &b, void *c) {
    dnnl::memory am(aMd, eng, a), cm(cMd, eng, c);
    prim.execute(strm, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, b},
                        {DNNL_ARG_DST, cm}});
    strm.wait();
  }
};


//===----------------------------------------------------------------------===//
// Benchmarks
//===----------------------------------------------------------------------===//

std::mt19937 rng(42);

template <typename T> std::vector<T> randomInts(size_t n, int lo, int hi) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<T> v(n);
  for (T &x : v)
    x = static_cast<T>(d(rng));
  return v;
}
std::vector<float> randomFloats(size_t n, float sd) {
  std::normal_distribution<float> d(0.f, sd);
  std::vector<float> v(n);
  for (float &x : v)
    x = d(rng);
  return v;
}

[[maybe_unused]] void checkClose(const char *what, const float *got, const float *want,
                size_t n, double tol) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    double d = double(got[i]) - want[i];
    num += d * d;
    den += double(want[i]) * want[i];
  }
  double rel = std::sqrt(num / std::max(den, 1e-30));
  if (!(rel <= tol))
    fail(std::string(what) + ": relative L2 error " + std::to_string(rel) +
         " against oneDNN exceeds " + std::to_string(tol));
}

void benchGemm(const Options &o) {
  const int64_t M = 128;
  const int64_t shapes[][2] = {{768, 768}, {768, 3072}, {3072, 768},
                               {768, 2304}};
  for (auto &s : shapes) {
    int64_t K = s[0], N = s[1];
    auto a8 = randomInts<uint8_t>(M * K, 0, 255);
    auto w8 = randomInts<int8_t>(K * N, -64, 63);
    auto af = randomFloats(M * K, 1.f);
    auto wf = randomFloats(K * N, 0.02f);
    std::vector<int32_t> cRef(M * N), cQ(M * N);
    std::vector<float> fRef(M * N), fQ(M * N);

    OneDnnMatmul dI8(M, K, N, dt::u8, dt::s8, dt::s32);
    dnnl::memory bI8 = dI8.packWeights(w8.data(), K, N, dt::s8);
    OneDnnMatmul dF32(M, K, N, dt::f32, dt::f32, dt::f32);
    dnnl::memory bF32 = dF32.packWeights(wf.data(), K, N, dt::f32);
    qopt_bench::S8Gemm qS8(w8.data(), K, N, /*quads=*/false);
    qopt_bench::S8Gemm qS8q(w8.data(), K, N, /*quads=*/true);
    qopt_bench::F32Gemm qF32(wf.data(), K, N);
    for (int t : o.threads) {
      omp_set_num_threads(t);
      {
        qopt_bench::Pool pool(t);
        double ms = medianMs(o, [&](int) {
          qS8.run(pool, M, a8.data(), cQ.data());
        });
        result("gemm", "qopt-s8", M, K, N, t, ms);
        std::vector<int32_t> cQq(M * N);
        ms = medianMs(o, [&](int) {
          qS8q.run(pool, M, a8.data(), cQq.data());
        });
        result("gemm", "qopt-s8-quads", M, K, N, t, ms);
        if (cQq != cQ)
          fail("int8 GEMM (quads) differs from int16 pairs at " +
               std::to_string(K) + "x" + std::to_string(N));
        ms = medianMs(o, [&](int) {
          qF32.run(pool, M, af.data(), fQ.data());
        });
        result("gemm", "qopt-f32", M, K, N, t, ms);
      }
      double ms = medianMs(o, [&](int) {
        dI8.run(a8.data(), bI8, cRef.data());
      });
      result("gemm", "onednn-u8s8s32", M, K, N, t, ms);
      ms = medianMs(o, [&](int) { dF32.run(af.data(), bF32, fRef.data()); });
      result("gemm", "onednn-f32", M, K, N, t, ms);
      for (int64_t i = 0; i < M * N; ++i)
        if (cQ[i] != cRef[i])
          fail("int8 GEMM " + std::to_string(K) + "x" + std::to_string(N) +
               " threads " + std::to_string(t) + ": C[" +
               std::to_string(i / N) + "," + std::to_string(i % N) +
               "] = " + std::to_string(cQ[i]) + ", oneDNN u8s8s32 gives " +
               std::to_string(cRef[i]));
      checkClose("f32 GEMM", fQ.data(), fRef.data(), fQ.size(), 1e-5);
    }
  }
}

void benchGemv(const Options &o) {
  const int64_t K = 4096, G = 128;
  const int64_t Ns[] = {4096, 11008};
  for (int64_t N : Ns) {
    // One copy of the weights, int4 symmetric per group of 128 along K.
    auto wf = randomFloats(K * N, 0.02f);
    std::vector<int8_t> q(K * N);
    std::vector<float> scales((K / G) * N);
    for (int64_t g = 0; g < K / G; ++g)
      for (int64_t n = 0; n < N; ++n) {
        float amax = 0;
        for (int64_t k = g * G; k < (g + 1) * G; ++k)
          amax = std::max(amax, std::fabs(wf[k * N + n]));
        float sc = amax > 0 ? amax / 7.f : 1.f;
        scales[g * N + n] = sc;
        for (int64_t k = g * G; k < (g + 1) * G; ++k) {
          int v = (int)std::nearbyint(wf[k * N + n] / sc);
          v = std::min(7, std::max(-8, v));
          q[k * N + n] = (int8_t)v;
          wf[k * N + n] = v * sc; // oneDNN runs the dequantized weights
        }
      }
    auto a = randomFloats(K, 1.f);
    std::vector<float> cRef(N), cQ(N);
    auto copiesFor = [&](size_t bytes) {
      return (int)std::max<int64_t>(
          2, (4 * o.llcBytes + (int64_t)bytes - 1) / (int64_t)bytes);
    };

    OneDnnMatmul d(1, K, N, dt::f32, dt::f32, dt::f32);
    size_t fBytes = d.bMd.get_size();
    int fCopies = copiesFor(fBytes);
    std::vector<dnnl::memory> fW;
    for (int c = 0; c < fCopies; ++c)
      fW.push_back(d.packWeights(wf.data(), K, N, dt::f32));
    std::vector<qopt_bench::W4Gemm> qW;
    qW.emplace_back(q.data(), scales.data(), K, N, G);
    size_t qBytes = qW[0].bytes();
    int qCopies = copiesFor(qBytes);
    qW.reserve(qCopies);
    for (int c = 1; c < qCopies; ++c)
      qW.push_back(qW[0]);
    for (int t : o.threads) {
      omp_set_num_threads(t);
      {
        qopt_bench::Pool pool(t);
        double ms = medianMs(o, [&](int i) {
          qW[i % qCopies].run(pool, 1, a.data(), cQ.data());
        });
        result("gemv", "qopt-w4g128", 1, K, N, t, ms,
               " weight_bytes=" + std::to_string(qBytes) +
                   " gbps=" + std::to_string(qBytes / (ms * 1e6)) +
                   " copies=" + std::to_string(qCopies));
      }
      double ms = medianMs(o, [&](int i) {
        d.run(a.data(), fW[i % fCopies], cRef.data());
      });
      result("gemv", "onednn-f32", 1, K, N, t, ms,
             " weight_bytes=" + std::to_string(fBytes) +
                 " gbps=" + std::to_string(fBytes / (ms * 1e6)) +
                 " copies=" + std::to_string(fCopies));
      checkClose("int4 GEMV", cQ.data(), cRef.data(), N, 1e-4);
    }
  }
}

void usage() {
  std::printf(
      "usage: qopt-bench-gemm [--reps=N] [--warmup=N] [--threads=1,2]\n"
      "                       [--only=gemm|gemv] [--llc-bytes=BYTES]\n");
}

} // namespace

int main(int argc, char **argv) {
  Options o;
  o.llcBytes = lastLevelCacheBytes();
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto val = [&](const char *key) -> const char * {
      size_t n = std::strlen(key);
      return arg.compare(0, n, key) == 0 ? arg.c_str() + n : nullptr;
    };
    if (const char *v = val("--reps="))
      o.reps = std::max(1, std::atoi(v));
    else if (const char *v = val("--warmup="))
      o.warmup = std::max(0, std::atoi(v));
    else if (const char *v = val("--llc-bytes="))
      o.llcBytes = std::atoll(v);
    else if (const char *v = val("--only=")) {
      o.gemm = std::string(v) == "gemm";
      o.gemv = std::string(v) == "gemv";
    } else if (const char *v = val("--threads=")) {
      o.threads.clear();
      for (const char *p = v; *p;) {
        o.threads.push_back(std::max(1, std::atoi(p)));
        p = std::strchr(p, ',');
        if (!p)
          break;
        ++p;
      }
    } else {
      usage();
      return arg == "--help" || arg == "-h" ? 0 : 1;
    }
  }
  const dnnl_version_t *v = dnnl_version();
  std::printf("oneDNN %d.%d.%d (%s threading), last-level cache %lld MiB, "
              "median of %d reps after %d warm-up\n",
              v->major, v->minor, v->patch,
              v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other",
              (long long)(o.llcBytes >> 20), o.reps, o.warmup);
  std::printf("qopt kernels built by %s\n", qopt_bench::kernelBuild().c_str());
  if (o.gemm)
    benchGemm(o);
  if (o.gemv)
    benchGemv(o);
  return 0;
}
