//===- ThreadPool.h - Thread pool for the reference kernels -----*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// A fixed set of worker threads that run `parallelFor` loops for the reference
// kernels. The calling thread takes part in the work, so a pool of N threads
// starts N - 1 workers. A loop started from inside a worker (nested
// parallelism), or while another thread is already running a loop on the same
// pool, runs inline on the calling thread instead of waiting.
//
// The global pool has `hardware_concurrency()` threads unless the environment
// variable QOPT_NUM_THREADS holds a positive integer, or setNumThreads() was
// called.
//
// Kernels only split work so that every output element is computed by exactly
// one chunk with the same arithmetic whatever the chunking, so results never
// depend on the number of threads.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_EXECUTOR_THREADPOOL_H
#define QOPT_EXECUTOR_THREADPOOL_H

#include "llvm/ADT/STLFunctionalExtras.h"

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace qopt::kernels {

class ThreadPool {
public:
  /// Creates a pool that runs loops on `numThreads` threads in total
  /// (the caller plus numThreads - 1 workers); 0 is treated as 1.
  explicit ThreadPool(unsigned numThreads);
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  /// Threads taking part in a loop, the caller included.
  unsigned numThreads() const {
    return static_cast<unsigned>(workers.size()) + 1;
  }

  /// Calls `fn(begin, end)` on disjoint chunks covering [0, n), each chunk
  /// at least `grain` long (except the last), and returns when all are done.
  void parallelFor(int64_t n, int64_t grain,
                   llvm::function_ref<void(int64_t, int64_t)> fn);

private:
  struct Job;
  void workerLoop();
  static void runChunks(Job &job);

  std::vector<std::thread> workers;
  std::mutex runMutex; // held by the thread that is running a loop
  std::mutex stateMutex;
  std::condition_variable wakeCv;
  std::condition_variable doneCv;
  Job *job = nullptr;
  uint64_t generation = 0;
  unsigned activeWorkers = 0;
  bool stopping = false;
};

/// The process-wide pool used by the kernels (created on first use).
ThreadPool &globalThreadPool();

/// Threads used by the kernels.
unsigned getNumThreads();

/// Replaces the global pool with one of `n` threads (0 = default: the
/// QOPT_NUM_THREADS environment variable, else hardware_concurrency()).
/// Must not be called while a kernel is running.
void setNumThreads(unsigned n);

/// parallelFor on the global pool.
void parallelFor(int64_t n, int64_t grain,
                 llvm::function_ref<void(int64_t, int64_t)> fn);

} // namespace qopt::kernels

#endif // QOPT_EXECUTOR_THREADPOOL_H
