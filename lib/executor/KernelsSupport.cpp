//===- KernelsSupport.cpp - Shape, dtype and broadcasting helpers ---------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#include "KernelsInternal.h"

#include <algorithm>
#include <limits>

using namespace qopt;
using namespace qopt::kernels;
using namespace qopt::kernels::detail;

std::string detail::shapeString(llvm::ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += 'x';
    s += std::to_string(shape[i]);
  }
  s += ']';
  return s;
}

llvm::Expected<Tensor> detail::makeTensor(const char *kernel, DType dtype,
                                          std::vector<int64_t> shape) {
  std::optional<int64_t> n = checkedNumElements(shape);
  if (!n)
    return kernelError(kernel, "result shape " + shapeString(shape) +
                                   " has a negative dim or too many elements");
  if (static_cast<uint64_t>(*n) >
      static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) /
          dtypeSize(dtype))
    return kernelError(kernel,
                       "result shape " + shapeString(shape) + " is too large");
  return Tensor(dtype, std::move(shape));
}

llvm::Expected<int64_t> detail::normalizeAxis(const char *kernel, int64_t axis,
                                              int64_t rank, const char *what) {
  if (axis < -rank || axis >= rank)
    return kernelError(kernel, llvm::Twine(what) + " " + llvm::Twine(axis) +
                                   " is out of range for rank " +
                                   llvm::Twine(rank));
  return axis < 0 ? axis + rank : axis;
}

llvm::Error detail::expectDType(const char *kernel, const char *operand,
                                const Tensor &t, bool (*pred)(DType),
                                const char *expected) {
  if (pred(t.dtype()))
    return llvm::Error::success();
  return kernelError(kernel, llvm::Twine(operand) + " " + t.describe() +
                                 " has an unsupported dtype; expected " +
                                 expected);
}

Tensor detail::toF32(const Tensor &t) {
  if (t.dtype() == DType::F32)
    return t;
  Tensor out(DType::F32, t.shape());
  float *o = out.mutableData<float>();
  int64_t n = t.numElements();
  switch (t.dtype()) {
  case DType::F64: {
    const double *p = t.data<double>();
    for (int64_t i = 0; i < n; ++i)
      o[i] = static_cast<float>(p[i]);
    break;
  }
  case DType::F16: {
    const uint16_t *p = static_cast<const uint16_t *>(t.rawData());
    for (int64_t i = 0; i < n; ++i)
      o[i] = halfToFloat(p[i]);
    break;
  }
  case DType::BF16: {
    const uint16_t *p = static_cast<const uint16_t *>(t.rawData());
    for (int64_t i = 0; i < n; ++i)
      o[i] = bf16ToFloat(p[i]);
    break;
  }
  default:
    for (int64_t i = 0; i < n; ++i)
      o[i] = static_cast<float>(t.getAsDouble(i));
    break;
  }
  return out;
}

Tensor detail::fromF32(const Tensor &t, DType to) {
  if (to == DType::F32)
    return t;
  Tensor out(to, t.shape());
  const float *p = t.data<float>();
  int64_t n = t.numElements();
  switch (to) {
  case DType::F64: {
    double *o = out.mutableData<double>();
    for (int64_t i = 0; i < n; ++i)
      o[i] = p[i];
    break;
  }
  case DType::F16: {
    uint16_t *o = static_cast<uint16_t *>(out.mutableRawData());
    for (int64_t i = 0; i < n; ++i)
      o[i] = floatToHalf(p[i]);
    break;
  }
  case DType::BF16: {
    uint16_t *o = static_cast<uint16_t *>(out.mutableRawData());
    for (int64_t i = 0; i < n; ++i)
      o[i] = floatToBf16(p[i]);
    break;
  }
  default:
    for (int64_t i = 0; i < n; ++i)
      out.setFromDouble(i, p[i]);
    break;
  }
  return out;
}

int64_t detail::getInt(const Tensor &t, int64_t i) {
  return dispatchInt(t.dtype(), [&](auto tag) -> int64_t {
    using T = typename decltype(tag)::type;
    return static_cast<int64_t>(static_cast<const T *>(t.rawData())[i]);
  });
}

int64_t detail::dtypeMin(DType t) {
  return dispatchInt(t, [](auto tag) -> int64_t {
    using T = typename decltype(tag)::type;
    return std::is_same_v<T, uint64_t>
               ? 0
               : static_cast<int64_t>(std::numeric_limits<T>::min());
  });
}

int64_t detail::dtypeMax(DType t) {
  return dispatchInt(t, [](auto tag) -> int64_t {
    using T = typename decltype(tag)::type;
    return std::is_same_v<T, uint64_t>
               ? std::numeric_limits<int64_t>::max()
               : static_cast<int64_t>(std::numeric_limits<T>::max());
  });
}

//===----------------------------------------------------------------------===//
// Broadcasting
//===----------------------------------------------------------------------===//

llvm::Expected<std::vector<int64_t>>
qopt::kernels::broadcastShapes(llvm::ArrayRef<int64_t> a,
                               llvm::ArrayRef<int64_t> b) {
  size_t rank = std::max(a.size(), b.size());
  std::vector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      return kernelError("broadcast", "shapes " + shapeString(a) + " and " +
                                          shapeString(b) +
                                          " are not broadcast-compatible");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

llvm::Expected<BroadcastPlan>
detail::planBroadcast(const char *kernel,
                      llvm::ArrayRef<llvm::ArrayRef<int64_t>> shapes) {
  BroadcastPlan plan;
  plan.numInputs = static_cast<int>(shapes.size());
  size_t rank = 0;
  for (llvm::ArrayRef<int64_t> s : shapes)
    rank = std::max(rank, s.size());
  std::vector<int64_t> out(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    for (llvm::ArrayRef<int64_t> s : shapes) {
      if (i < rank - s.size())
        continue;
      int64_t d = s[i - (rank - s.size())];
      if (d == 1 || d == out[i])
        continue;
      if (out[i] != 1) {
        std::string all;
        for (size_t j = 0; j < shapes.size(); ++j)
          all += (j ? ", " : "") + shapeString(shapes[j]);
        return kernelError(kernel, "input shapes " + all +
                                       " are not broadcast-compatible");
      }
      out[i] = d;
    }
  }
  std::optional<int64_t> n = checkedNumElements(out);
  if (!n)
    return kernelError(kernel, "broadcast shape " + shapeString(out) +
                                   " has too many elements");
  plan.outShape = out;
  plan.numOut = *n;

  // Per-input strides in output dim order (0 where broadcast).
  std::vector<std::array<int64_t, BroadcastPlan::kMaxInputs>> strides(
      rank, {0, 0, 0});
  for (size_t j = 0; j < shapes.size(); ++j) {
    llvm::ArrayRef<int64_t> s = shapes[j];
    int64_t stride = 1;
    for (size_t i = rank; i-- > rank - s.size();) {
      int64_t d = s[i - (rank - s.size())];
      strides[i][j] = d == 1 ? 0 : stride;
      stride *= d;
    }
  }
  // Drop unit dims and merge dim i into the current outer one when every
  // input is contiguous across the pair (or broadcast across both).
  for (size_t i = 0; i < rank; ++i) {
    if (out[i] == 1)
      continue;
    if (!plan.dims.empty()) {
      bool mergeable = true;
      for (size_t j = 0; j < shapes.size(); ++j)
        if (plan.strides.back()[j] != strides[i][j] * out[i])
          mergeable = false;
      if (mergeable) {
        plan.dims.back() *= out[i];
        plan.strides.back() = strides[i];
        continue;
      }
    }
    plan.dims.push_back(out[i]);
    plan.strides.push_back(strides[i]);
  }
  if (plan.dims.empty()) {
    plan.dims.push_back(1);
    plan.strides.push_back({0, 0, 0});
  }
  return plan;
}

void BroadcastPlan::rowOffsets(int64_t row, int64_t *offsets) const {
  for (int j = 0; j < numInputs; ++j)
    offsets[j] = 0;
  for (size_t d = dims.size() - 1; d-- > 0;) {
    int64_t idx = row % dims[d];
    row /= dims[d];
    for (int j = 0; j < numInputs; ++j)
      offsets[j] += idx * strides[d][j];
  }
}
