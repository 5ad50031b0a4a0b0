//===- CalibrationData.cpp - sample inputs for data-driven passes ---------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#include "CalibrationData.h"

#include "qopt/support/NpyIO.h"

#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace qopt;

static llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

int64_t CalibrationData::naturalBatchSize(const std::vector<IOSpec> &inputs) {
  for (const IOSpec &spec : inputs)
    if (spec.type.getRank() > 0 &&
        !ShapedType::isDynamic(spec.type.getDimSize(0)))
      return spec.type.getDimSize(0);
  return 1;
}

llvm::Expected<CalibrationData>
CalibrationData::load(llvm::StringRef path, const std::vector<IOSpec> &inputs,
                      int64_t batchSize) {
  auto arrays = readArrays(path);
  if (!arrays)
    return arrays.takeError();
  CalibrationData data;
  data.path_ = path.str();
  int64_t numSamples = -1;
  std::string firstName;
  for (const IOSpec &spec : inputs) {
    auto it = llvm::find_if(
        *arrays, [&](const auto &entry) { return entry.first == spec.name; });
    if (it == arrays->end()) {
      std::string have;
      for (const auto &entry : *arrays)
        have += (have.empty() ? "'" : ", '") + entry.first + "'";
      return makeError(path + ": no array '" + spec.name +
                       "' for the function argument of that name (the file "
                       "has " +
                       (have.empty() ? std::string("no arrays") : have) + ")");
    }
    const Tensor &arr = it->second;
    std::optional<DType> want = runtimeDType(spec.type.getElementType());
    if (!want || arr.dtype() != *want)
      return makeError(llvm::formatv("{0}: array '{1}' is {2} but argument "
                                     "'{1}' has type {3}",
                                     path, spec.name, arr.describe(),
                                     spec.type)
                           .str());
    if (arr.rank() != spec.type.getRank())
      return makeError(
          llvm::formatv("{0}: array '{1}' is {2}: expected rank {3} (dim 0 "
                        "the samples) for argument type {4}",
                        path, spec.name, arr.describe(), spec.type.getRank(),
                        spec.type)
              .str());
    if (arr.rank() == 0)
      return makeError(path + ": array '" + spec.name +
                       "' is a scalar; it needs a sample dim 0");
    for (int64_t d = 1; d < arr.rank(); ++d) {
      int64_t dim = spec.type.getDimSize(d);
      if (!ShapedType::isDynamic(dim) && dim != arr.dim(d))
        return makeError(
            llvm::formatv("{0}: array '{1}' is {2}: dim {3} is {4} but "
                          "argument type {5} needs {6}",
                          path, spec.name, arr.describe(), d, arr.dim(d),
                          spec.type, dim)
                .str());
    }
    int64_t dim0 = spec.type.getDimSize(0);
    if (!ShapedType::isDynamic(dim0)) {
      data.staticBatch_ = true;
      if (dim0 != batchSize)
        return makeError(
            llvm::formatv("{0}: argument '{1}' has type {2}: its dim 0 must "
                          "be dynamic or equal to the batch size ({3})",
                          path, spec.name, spec.type, batchSize)
                .str());
    }
    if (numSamples < 0) {
      numSamples = arr.dim(0);
      firstName = spec.name;
    } else if (arr.dim(0) != numSamples) {
      return makeError(llvm::formatv("{0}: array '{1}' has {2} samples but "
                                     "array '{3}' has {4}",
                                     path, spec.name, arr.dim(0), firstName,
                                     numSamples)
                           .str());
    }
    data.arrays_.push_back(std::make_shared<const Tensor>(arr));
  }
  if (numSamples <= 0)
    return makeError(path + ": no calibration samples (the " +
                     (numSamples < 0 ? "function has no arguments"
                                     : "arrays have 0 samples") +
                     ")");
  data.numSamples_ = numSamples;
  return data;
}

std::vector<Tensor> CalibrationData::batch(int64_t start, int64_t count) const {
  std::vector<Tensor> inputs;
  inputs.reserve(arrays_.size());
  for (const auto &arr : arrays_) {
    std::vector<int64_t> shape = arr->shape();
    shape[0] = count;
    size_t rowBytes = arr->byteSize() / static_cast<size_t>(arr->dim(0));
    const char *base = static_cast<const char *>(arr->rawData());
    inputs.push_back(
        Tensor::borrow(arr->dtype(), shape, base + start * rowBytes, arr));
  }
  return inputs;
}
