//===- machine_peaks.cpp - what this CPU can do at most --------------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Measures the ceilings the kernel benchmarks are quoted against:
//  * the int8 multiply-accumulate peak of the instruction sequence an int8
//    GEMM uses on this CPU: AVX-512 VNNI `vpdpbusd` when the CPU has it
//    (u8 x s8 -> s32, 64 MACs per instruction), else the AVX2 sequence
//    `vpmaddubsw` + `vpmaddwd` + `vpaddd` (32 MACs per triple);
//  * the f32 FMA peak (`vfmadd231ps`, 8 lanes x 2 flops on AVX2);
//  * the DRAM read bandwidth (a 1 GiB buffer summed with 256-bit loads by
//    1..T threads).
// Each number is the best of several repetitions. Results print as one table.
//
//===----------------------------------------------------------------------===//

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

/// Runs fn(threadIndex) on `threads` threads at once; returns wall seconds.
template <typename Fn> double parallel(int threads, Fn fn) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load())
        ;
      fn(t);
    });
  while (ready.load() != threads)
    ;
  auto start = Clock::now();
  go.store(true);
  for (auto &th : pool)
    th.join();
  return seconds(start, Clock::now());
}

// 12 independent accumulator chains hide the instruction latency.
__attribute__((target("avx2"), noinline)) int64_t
avx2Int8Kernel(int64_t iters, int8_t seedA, int8_t seedB) {
  __m256i a = _mm256_set1_epi8(seedA), b = _mm256_set1_epi8(seedB);
  __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[12];
  for (auto &x : acc)
    x = _mm256_setzero_si256();
  // Each product reads its own accumulator as the u8 operand, so no product
  // is loop invariant (a shared maddubs(a, b) would be computed once per
  // iteration and the loop would measure vpaddd); the chain latency (3+3+1
  // cycles) stays below the 12 chains' throughput time.
  acc[0] = a;
  for (int64_t i = 0; i < iters; ++i) {
    for (int j = 0; j < 12; ++j) {
      __m256i p = _mm256_maddubs_epi16(acc[j], b); // 32 u8*s8 -> 16 s16 pairs
      p = _mm256_madd_epi16(p, ones);              // -> 8 s32
      acc[j] = _mm256_add_epi32(acc[j], p);
    }
  }
  __m256i s = acc[0];
  for (int j = 1; j < 12; ++j)
    s = _mm256_add_epi32(s, acc[j]);
  return _mm256_extract_epi32(s, 0);
}

__attribute__((target("avx512f,avx512vnni"), noinline)) int64_t
vnniKernel(int64_t iters, int8_t seedA, int8_t seedB) {
  __m512i a = _mm512_set1_epi8(seedA), b = _mm512_set1_epi8(seedB);
  __m512i acc[12];
  for (auto &x : acc)
    x = _mm512_setzero_si512();
  for (int64_t i = 0; i < iters; ++i) {
    for (int j = 0; j < 12; ++j)
      acc[j] = _mm512_dpbusd_epi32(acc[j], a, b); // 64 u8*s8 MACs
    a = _mm512_xor_si512(a, acc[0]);
  }
  __m512i s = acc[0];
  for (int j = 1; j < 12; ++j)
    s = _mm512_add_epi32(s, acc[j]);
  return _mm512_reduce_add_epi32(s);
}

__attribute__((target("avx2,fma"), noinline)) float
fmaKernel(int64_t iters, float seedA, float seedB) {
  __m256 a = _mm256_set1_ps(seedA), b = _mm256_set1_ps(seedB);
  __m256 acc[12];
  for (int j = 0; j < 12; ++j)
    acc[j] = _mm256_set1_ps(static_cast<float>(j));
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < 12; ++j)
      acc[j] = _mm256_fmadd_ps(a, b, acc[j]);
  __m256 s = acc[0];
  for (int j = 1; j < 12; ++j)
    s = _mm256_add_ps(s, acc[j]);
  return _mm256_cvtss_f32(s);
}

__attribute__((target("avx2"), noinline)) int64_t
readSum(const uint8_t *p, size_t bytes) {
  __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
  for (size_t i = 0; i + 128 <= bytes; i += 128) {
    s0 = _mm256_add_epi64(s0, _mm256_load_si256((const __m256i *)(p + i)));
    s1 = _mm256_add_epi64(s1, _mm256_load_si256((const __m256i *)(p + i + 32)));
    s2 = _mm256_add_epi64(s2, _mm256_load_si256((const __m256i *)(p + i + 64)));
    s3 = _mm256_add_epi64(s3, _mm256_load_si256((const __m256i *)(p + i + 96)));
  }
  __m256i s = _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3));
  return _mm256_extract_epi64(s, 0);
}

volatile int64_t sink;

} // namespace

int main(int argc, char **argv) {
  int maxThreads = static_cast<int>(std::thread::hardware_concurrency());
  if (argc > 1)
    maxThreads = std::max(1, std::atoi(argv[1]));
  __builtin_cpu_init();
  bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  bool vnni = __builtin_cpu_supports("avx512vnni");
  if (!avx2) {
    std::fprintf(stderr, "machine_peaks: this CPU has no AVX2+FMA\n");
    return 1;
  }
  std::printf("%-48s %8s %14s\n", "measurement", "threads", "value");
  const int reps = 5;
  const int64_t iters = 20'000'000;
  for (int threads = 1; threads <= maxThreads; threads *= 2) {
    double best = 1e30;
    for (int r = 0; r < reps; ++r)
      best = std::min(best, parallel(threads, [&](int t) {
                        sink = avx2Int8Kernel(iters, int8_t(3 + t), int8_t(-2));
                      }));
    double macs = 32.0 * 12 * iters * threads;
    std::printf("%-48s %8d %9.1f GOP/s\n",
                "int8 peak, AVX2 vpmaddubsw+vpmaddwd (2 op/MAC)", threads,
                2 * macs / best / 1e9);
    if (vnni) {
      best = 1e30;
      for (int r = 0; r < reps; ++r)
        best = std::min(best, parallel(threads, [&](int t) {
                          sink = vnniKernel(iters, int8_t(3 + t), int8_t(-2));
                        }));
      macs = 64.0 * 12 * iters * threads;
      std::printf("%-48s %8d %9.1f GOP/s\n", "int8 peak, AVX-512 vpdpbusd",
                  threads, 2 * macs / best / 1e9);
    }
    best = 1e30;
    for (int r = 0; r < reps; ++r)
      best = std::min(best, parallel(threads, [&](int t) {
                        volatile float f = fmaKernel(iters, 1.0f + t, 0.5f);
                        (void)f;
                      }));
    double flops = 2.0 * 8 * 12 * iters * threads;
    std::printf("%-48s %8d %9.1f GFLOP/s\n", "f32 peak, AVX2 vfmadd231ps",
                threads, flops / best / 1e9);
  }
  if (!vnni)
    std::printf("%-48s %8s %14s\n", "int8 peak, AVX-512 vpdpbusd", "-",
                "not on this CPU");

  const size_t bytes = size_t(1) << 30;
  auto *buf = static_cast<uint8_t *>(std::aligned_alloc(64, bytes));
  if (!buf) {
    std::fprintf(stderr, "machine_peaks: cannot allocate 1 GiB\n");
    return 1;
  }
  std::memset(buf, 1, bytes); // fault the pages in
  for (int threads = 1; threads <= maxThreads; threads *= 2) {
    double best = 1e30;
    size_t chunk = bytes / threads / 128 * 128;
    for (int r = 0; r < reps; ++r)
      best = std::min(best, parallel(threads, [&](int t) {
                        sink = readSum(buf + t * chunk, chunk);
                      }));
    std::printf("%-48s %8d %9.1f GB/s\n", "DRAM read bandwidth (1 GiB, 256-bit loads)",
                threads, double(chunk) * threads / best / 1e9);
  }
  std::free(buf);
  return 0;
}
