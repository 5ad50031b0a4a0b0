//===- qopt_cpu_api.h - the C API of a compiled model -------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Included once, at the end of the generated model.cpp, after the generated
// code has defined the model's metadata (qopt_meta_*) and its forward
// function. Implements qopt_model.h: maps weights.bin (checking its header
// against the model id compiled into the library), owns the thread pool and
// the scratch arena (grown to the largest batch seen), and runs the forward
// function.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_CPU_API_H
#define QOPT_CPU_API_H

#include "qopt_model.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <new>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct qopt_model {
  qopt_cpu::ThreadPool pool;
  const uint8_t *weights = nullptr;
  size_t mappedBytes = 0;
  void *mapped = nullptr;
  uint8_t *arena = nullptr;
  int64_t arenaBytes = 0;
  std::string error;
  explicit qopt_model(int threads) : pool(threads) {}
};

namespace qopt_api {
inline void setError(char *err, size_t errlen, const std::string &msg) {
  if (err && errlen) {
    std::snprintf(err, errlen, "%s", msg.c_str());
  }
}
} // namespace qopt_api

extern "C" {

__attribute__((visibility("default"))) int qopt_model_abi_version(void) {
  return QOPT_MODEL_ABI_VERSION;
}
__attribute__((visibility("default"))) const char *qopt_model_target(void) {
  return qopt_meta_target;
}
__attribute__((visibility("default"))) int qopt_model_num_inputs(void) {
  return qopt_meta_num_inputs;
}
__attribute__((visibility("default"))) int qopt_model_num_outputs(void) {
  return qopt_meta_num_outputs;
}
__attribute__((visibility("default"))) const qopt_tensor_desc *
qopt_model_input(int i) {
  return i >= 0 && i < qopt_meta_num_inputs ? &qopt_meta_inputs[i] : nullptr;
}
__attribute__((visibility("default"))) const qopt_tensor_desc *
qopt_model_output(int i) {
  return i >= 0 && i < qopt_meta_num_outputs ? &qopt_meta_outputs[i] : nullptr;
}

__attribute__((visibility("default"))) qopt_model *
qopt_model_create(const char *weights_path, int threads, char *err,
                  size_t errlen) {
  using qopt_api::setError;
  if (!weights_path) {
    setError(err, errlen, "qopt_model_create: no weights path");
    return nullptr;
  }
  std::string path = weights_path;
  int fd = ::open(weights_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    setError(err, errlen, path + ": " + std::strerror(errno));
    return nullptr;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    setError(err, errlen, path + ": " + std::strerror(errno));
    ::close(fd);
    return nullptr;
  }
  const size_t want = static_cast<size_t>(qopt_meta_weights_bytes);
  if (static_cast<size_t>(st.st_size) != want) {
    setError(err, errlen,
             path + ": " + std::to_string(st.st_size) +
                 " bytes, but this library was compiled with a weights file "
                 "of " +
                 std::to_string(want) + " bytes");
    ::close(fd);
    return nullptr;
  }
  void *p = ::mmap(nullptr, want, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) {
    setError(err, errlen, path + ": mmap: " + std::strerror(errno));
    return nullptr;
  }
  const uint8_t *bytes = static_cast<const uint8_t *>(p);
  if (std::memcmp(bytes, "QOPTWGT1", 8) != 0 ||
      std::memcmp(bytes + 8, qopt_meta_model_id, 16) != 0) {
    setError(err, errlen,
             path + ": not the weights file of this library (the model id in "
                    "its header differs; was the model recompiled?)");
    ::munmap(p, want);
    return nullptr;
  }
  qopt_model *m = new (std::nothrow) qopt_model(threads);
  if (!m) {
    setError(err, errlen, "qopt_model_create: out of memory");
    ::munmap(p, want);
    return nullptr;
  }
  m->mapped = p;
  m->mappedBytes = want;
  m->weights = bytes;
  return m;
}

__attribute__((visibility("default"))) int
qopt_model_run(qopt_model *m, int64_t batch, const void *const *inputs,
               void *const *outputs) {
  if (!m)
    return -1;
  if (batch < 0 || (batch != 1 && !qopt_meta_has_batch && batch != 0)) {
    m->error = "batch " + std::to_string(batch) +
               " is not valid for this model (its shapes are static: use 1)";
    return -1;
  }
  if (!qopt_meta_has_batch)
    batch = 1;
  int64_t need = qopt_meta_arena_per_batch * batch + qopt_meta_arena_const;
  if (need > m->arenaBytes) {
    std::free(m->arena);
    size_t bytes = static_cast<size_t>((need + 63) / 64 * 64);
    m->arena = static_cast<uint8_t *>(std::aligned_alloc(64, bytes ? bytes : 64));
    if (!m->arena) {
      m->arenaBytes = 0;
      m->error = "out of memory for the scratch arena (" +
                 std::to_string(need) + " bytes)";
      return -1;
    }
    m->arenaBytes = need;
  }
  for (int i = 0; i < qopt_meta_num_inputs; ++i)
    if (!inputs || !inputs[i]) {
      m->error = std::string("input '") + qopt_meta_inputs[i].name +
                 "' is a null pointer";
      return -1;
    }
  for (int i = 0; i < qopt_meta_num_outputs; ++i)
    if (!outputs || !outputs[i]) {
      m->error = std::string("output '") + qopt_meta_outputs[i].name +
                 "' is a null pointer";
      return -1;
    }
  if (batch == 0)
    return 0;
  qopt_cg::Ctx ctx{&m->pool, m->weights, m->arena, inputs, outputs, batch};
  qopt_generated_forward(&ctx);
  return 0;
}

__attribute__((visibility("default"))) const char *
qopt_model_last_error(const qopt_model *m) {
  return m ? m->error.c_str() : "no model";
}
__attribute__((visibility("default"))) int
qopt_model_threads(const qopt_model *m) {
  return m ? m->pool.size() : 0;
}
__attribute__((visibility("default"))) void qopt_model_destroy(qopt_model *m) {
  if (!m)
    return;
  if (m->mapped)
    ::munmap(m->mapped, m->mappedBytes);
  std::free(m->arena);
  delete m;
}

} // extern "C"

#endif // QOPT_CPU_API_H
