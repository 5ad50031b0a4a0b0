//===- CalibrationData.h - sample inputs for data-driven passes -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// The calibration-data conventions shared by the passes that run the model on
// sample inputs (qopt-calibrate, qopt-smoothquant alpha=auto,
// qopt-mixed-precision): an .npz (or one .npy) with one array per function
// argument, named like the argument (IOSpec::name), dim 0 the sample dim, all
// arrays with the same number of samples. Batches are borrowed slices along
// dim 0; nothing is copied.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_PASSES_CALIBRATIONDATA_H
#define QOPT_PASSES_CALIBRATIONDATA_H

#include "qopt/executor/Interpreter.h"
#include "qopt/support/Tensor.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace qopt {

class CalibrationData {
public:
  /// Loads `path` and checks it against the function arguments `inputs`:
  /// every argument has an array of its name with its dtype and rank, dims
  /// 1.. fit the argument type, dim 0 of the argument is dynamic or equal to
  /// `batchSize`, and all arrays have the same (non-zero) number of samples.
  /// Error messages name the file and the array and carry no pass prefix.
  static llvm::Expected<CalibrationData>
  load(llvm::StringRef path, const std::vector<IOSpec> &inputs,
       int64_t batchSize);

  /// The batch size a caller that has no batch-size option should use: the
  /// static dim 0 of the first argument that has one, else 1.
  static int64_t naturalBatchSize(const std::vector<IOSpec> &inputs);

  const std::string &path() const { return path_; }
  /// Samples in the file (dim 0 of every array).
  int64_t numSamples() const { return numSamples_; }
  /// Whether some argument has a static dim 0, so only whole batches run.
  bool staticBatch() const { return staticBatch_; }

  /// The inputs (in argument order) for samples [start, start + count):
  /// borrowed slices along dim 0 that keep the arrays alive.
  std::vector<Tensor> batch(int64_t start, int64_t count) const;

private:
  std::string path_;
  std::vector<std::shared_ptr<const Tensor>> arrays_;
  int64_t numSamples_ = 0;
  bool staticBatch_ = false;
};

} // namespace qopt

#endif // QOPT_PASSES_CALIBRATIONDATA_H
