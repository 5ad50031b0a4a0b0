/*===- qopt_model.h - C API of a model compiled by qopt-translate -*- C -*-===*\
|*                                                                            *|
|* SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception                    *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/
/*
 * A library written by `qopt-translate --emit=cpu-library model.mlir -o DIR`
 * holds one model: DIR/libmodel.so (this API), DIR/weights.bin (the packed
 * weights, memory-mapped by qopt_model_create) and DIR/qopt_model.h (this
 * file).
 *
 *   char err[256];
 *   qopt_model *m = qopt_model_create("DIR/weights.bin", 0, err, sizeof err);
 *   if (!m) { fprintf(stderr, "%s\n", err); ... }
 *   const void *in[] = {x};     // one pointer per input, dense row-major
 *   void *out[] = {logits};     // one pointer per output, allocated by you
 *   if (qopt_model_run(m, batch, in, out) != 0) ... qopt_model_last_error(m)
 *   qopt_model_destroy(m);
 *
 * Shapes: a dim of -1 in a descriptor is the batch, the same value for every
 * input and output, given to qopt_model_run. A model is used by one thread at
 * a time; it runs its kernels on its own pool of `threads` threads (0: all
 * cores).
 */
#ifndef QOPT_MODEL_H
#define QOPT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QOPT_MODEL_ABI_VERSION 1
#define QOPT_MODEL_MAX_RANK 8

typedef enum qopt_dtype {
  QOPT_F32 = 0,
  QOPT_U8 = 1,
  QOPT_I8 = 2,
  QOPT_I32 = 3,
  QOPT_I64 = 4
} qopt_dtype;

typedef struct qopt_tensor_desc {
  const char *name;
  qopt_dtype dtype;
  int32_t rank;
  int64_t shape[QOPT_MODEL_MAX_RANK]; /* -1: the batch */
} qopt_tensor_desc;

typedef struct qopt_model qopt_model;

int qopt_model_abi_version(void);
/* The target the kernels were generated for: "cpu:avx2", ... */
const char *qopt_model_target(void);
int qopt_model_num_inputs(void);
int qopt_model_num_outputs(void);
const qopt_tensor_desc *qopt_model_input(int i);
const qopt_tensor_desc *qopt_model_output(int i);

/* Maps the weights file and starts `threads` threads (0: all cores). NULL on
 * error, with a message in err (when errlen > 0). */
qopt_model *qopt_model_create(const char *weights_path, int threads, char *err,
                              size_t errlen);
/* Runs the model on `batch` samples; 0 on success. */
int qopt_model_run(qopt_model *m, int64_t batch, const void *const *inputs,
                   void *const *outputs);
const char *qopt_model_last_error(const qopt_model *m);
int qopt_model_threads(const qopt_model *m);
void qopt_model_destroy(qopt_model *m);

#ifdef __cplusplus
}
#endif

#endif /* QOPT_MODEL_H */
