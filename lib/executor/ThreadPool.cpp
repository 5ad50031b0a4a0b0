//===- ThreadPool.cpp - Small persistent thread pool for the kernels ------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#include "qopt/executor/ThreadPool.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>

using namespace qopt::kernels;

namespace {
/// Set on pool workers and on a caller while it runs a loop, so nested loops
/// run inline.
thread_local bool insideParallelLoop = false;
} // namespace

struct ThreadPool::Job {
  llvm::function_ref<void(int64_t, int64_t)> fn;
  int64_t n = 0;
  int64_t chunk = 1;
  int64_t numChunks = 0;
  std::atomic<int64_t> nextChunk{0};
};

ThreadPool::ThreadPool(unsigned numThreads) {
  unsigned n = std::max(1u, numThreads);
  workers.reserve(n - 1);
  for (unsigned i = 1; i < n; ++i)
    workers.emplace_back([this] { workerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(stateMutex);
    stopping = true;
  }
  wakeCv.notify_all();
  for (std::thread &t : workers)
    t.join();
}

void ThreadPool::runChunks(Job &j) {
  for (;;) {
    int64_t c = j.nextChunk.fetch_add(1, std::memory_order_relaxed);
    if (c >= j.numChunks)
      return;
    int64_t begin = c * j.chunk;
    int64_t end = std::min(j.n, begin + j.chunk);
    j.fn(begin, end);
  }
}

void ThreadPool::workerLoop() {
  insideParallelLoop = true;
  uint64_t seen = 0;
  for (;;) {
    Job *current;
    {
      std::unique_lock<std::mutex> lock(stateMutex);
      wakeCv.wait(lock, [&] { return stopping || generation != seen; });
      if (stopping)
        return;
      seen = generation;
      current = job;
    }
    runChunks(*current);
    {
      std::lock_guard<std::mutex> lock(stateMutex);
      if (--activeWorkers == 0)
        doneCv.notify_one();
    }
  }
}

void ThreadPool::parallelFor(int64_t n, int64_t grain,
                             llvm::function_ref<void(int64_t, int64_t)> fn) {
  if (n <= 0)
    return;
  grain = std::max<int64_t>(1, grain);
  if (workers.empty() || n <= grain || insideParallelLoop ||
      !runMutex.try_lock()) {
    fn(0, n);
    return;
  }
  std::lock_guard<std::mutex> runLock(runMutex, std::adopt_lock);

  // About four chunks per thread for load balance, never below `grain`.
  int64_t threads = static_cast<int64_t>(numThreads());
  int64_t chunk = std::max(grain, (n + 4 * threads - 1) / (4 * threads));
  Job j;
  j.fn = fn;
  j.n = n;
  j.chunk = chunk;
  j.numChunks = (n + chunk - 1) / chunk;
  {
    std::lock_guard<std::mutex> lock(stateMutex);
    job = &j;
    activeWorkers = static_cast<unsigned>(workers.size());
    ++generation;
  }
  wakeCv.notify_all();

  insideParallelLoop = true;
  runChunks(j);
  insideParallelLoop = false;

  std::unique_lock<std::mutex> lock(stateMutex);
  doneCv.wait(lock, [&] { return activeWorkers == 0; });
  job = nullptr;
}

//===----------------------------------------------------------------------===//
// Global pool
//===----------------------------------------------------------------------===//

namespace {

unsigned defaultThreadCount() {
  if (const char *env = std::getenv("QOPT_NUM_THREADS")) {
    char *end = nullptr;
    long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v > 0)
      return static_cast<unsigned>(std::min<long>(v, 1024));
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : hw;
}

std::unique_ptr<ThreadPool> &globalPoolSlot() {
  static std::unique_ptr<ThreadPool> pool;
  return pool;
}

std::mutex &globalPoolMutex() {
  static std::mutex m;
  return m;
}

} // namespace

ThreadPool &qopt::kernels::globalThreadPool() {
  std::lock_guard<std::mutex> lock(globalPoolMutex());
  std::unique_ptr<ThreadPool> &slot = globalPoolSlot();
  if (!slot)
    slot = std::make_unique<ThreadPool>(defaultThreadCount());
  return *slot;
}

unsigned qopt::kernels::getNumThreads() {
  return globalThreadPool().numThreads();
}

void qopt::kernels::setNumThreads(unsigned n) {
  std::lock_guard<std::mutex> lock(globalPoolMutex());
  std::unique_ptr<ThreadPool> &slot = globalPoolSlot();
  slot.reset();
  slot = std::make_unique<ThreadPool>(n == 0 ? defaultThreadCount() : n);
}

void qopt::kernels::parallelFor(int64_t n, int64_t grain,
                                llvm::function_ref<void(int64_t, int64_t)> fn) {
  globalThreadPool().parallelFor(n, grain, fn);
}
