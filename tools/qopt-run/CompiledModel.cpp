//===- CompiledModel.cpp - run a library written by qopt-translate --------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#include "CompiledModel.h"

#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"

#include <dlfcn.h>

extern "C" {
// Mirror of runtime/cpu/qopt_model.h (ABI version 1).
struct qopt_tensor_desc_v1 {
  const char *name;
  int dtype;
  int32_t rank;
  int64_t shape[8];
};
}

using namespace qopt;

struct CompiledModel::Api {
  int (*abiVersion)();
  const char *(*target)();
  int (*numInputs)();
  int (*numOutputs)();
  const qopt_tensor_desc_v1 *(*input)(int);
  const qopt_tensor_desc_v1 *(*output)(int);
  void *(*create)(const char *, int, char *, size_t);
  int (*run)(void *, int64_t, const void *const *, void *const *);
  const char *(*lastError)(const void *);
  int (*threads)(const void *);
  void (*destroy)(void *);
};

static llvm::Error err(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

bool qopt::isCompiledModelDir(llvm::StringRef path) {
  llvm::SmallString<256> lib(path);
  llvm::sys::path::append(lib, "libmodel.so");
  return llvm::sys::fs::is_directory(path) && llvm::sys::fs::exists(lib);
}

llvm::Expected<std::unique_ptr<CompiledModel>>
CompiledModel::open(mlir::MLIRContext &context, llvm::StringRef dir,
                    int threads) {
  std::unique_ptr<CompiledModel> m(new CompiledModel());
  m->dir_ = dir.str();
  llvm::SmallString<256> lib(dir), weights(dir);
  llvm::sys::path::append(lib, "libmodel.so");
  llvm::sys::path::append(weights, "weights.bin");
  llvm::SmallString<256> abs(lib);
  llvm::sys::fs::make_absolute(abs);
  m->handle_ = dlopen(abs.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!m->handle_)
    return err(lib + ": " + dlerror());
  m->api_ = std::make_unique<Api>();
  Api &a = *m->api_;
  auto sym = [&](const char *name, auto &fn) -> bool {
    void *p = dlsym(m->handle_, name);
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(p);
    return p != nullptr;
  };
  const char *missing = nullptr;
  if (!sym("qopt_model_abi_version", a.abiVersion))
    missing = "qopt_model_abi_version";
  else if (!sym("qopt_model_target", a.target) ||
           !sym("qopt_model_num_inputs", a.numInputs) ||
           !sym("qopt_model_num_outputs", a.numOutputs) ||
           !sym("qopt_model_input", a.input) ||
           !sym("qopt_model_output", a.output) ||
           !sym("qopt_model_create", a.create) ||
           !sym("qopt_model_run", a.run) ||
           !sym("qopt_model_last_error", a.lastError) ||
           !sym("qopt_model_threads", a.threads) ||
           !sym("qopt_model_destroy", a.destroy))
    missing = "the qopt_model_* functions";
  if (missing)
    return err(lib + ": not a qopt model library (no " + missing + ")");
  if (a.abiVersion() != 1)
    return err(lib + ": C API version " + llvm::Twine(a.abiVersion()) +
               ", this qopt-run reads version 1");
  auto typeOf = [&](const qopt_tensor_desc_v1 *d, DType &dt)
      -> llvm::Expected<mlir::RankedTensorType> {
    mlir::Type e;
    switch (d->dtype) {
    case 0:
      e = mlir::Float32Type::get(&context);
      dt = DType::F32;
      break;
    case 1:
      e = mlir::IntegerType::get(&context, 8, mlir::IntegerType::Unsigned);
      dt = DType::U8;
      break;
    case 2:
      e = mlir::IntegerType::get(&context, 8);
      dt = DType::I8;
      break;
    case 3:
      e = mlir::IntegerType::get(&context, 32);
      dt = DType::I32;
      break;
    case 4:
      e = mlir::IntegerType::get(&context, 64);
      dt = DType::I64;
      break;
    default:
      return err(lib + ": tensor '" + d->name + "' has unknown dtype " +
                 llvm::Twine(d->dtype));
    }
    if (d->rank < 0 || d->rank > 8)
      return err(lib + ": tensor '" + d->name + "' has rank " +
                 llvm::Twine(d->rank));
    llvm::SmallVector<int64_t> shape;
    for (int i = 0; i < d->rank; ++i)
      shape.push_back(d->shape[i] < 0 ? mlir::ShapedType::kDynamic
                                      : d->shape[i]);
    return mlir::RankedTensorType::get(shape, e);
  };
  auto describe = [&](int count, const qopt_tensor_desc_v1 *(*get)(int),
                      std::vector<IOSpec> &specs,
                      std::vector<DType> &types) -> llvm::Error {
    for (int i = 0; i < count; ++i) {
      DType dt;
      auto t = typeOf(get(i), dt);
      if (!t)
        return t.takeError();
      specs.push_back({get(i)->name, *t});
      types.push_back(dt);
    }
    return llvm::Error::success();
  };
  if (llvm::Error e = describe(a.numInputs(), a.input, m->inputs_, m->inTypes_))
    return std::move(e);
  if (llvm::Error e =
          describe(a.numOutputs(), a.output, m->outputs_, m->outTypes_))
    return std::move(e);
  char msg[512] = {0};
  m->model_ = a.create(weights.c_str(), threads, msg, sizeof msg);
  if (!m->model_)
    return err(msg);
  return std::move(m);
}

CompiledModel::~CompiledModel() {
  if (model_)
    api_->destroy(model_);
  if (handle_)
    dlclose(handle_);
}

std::string CompiledModel::target() const { return api_->target(); }
int CompiledModel::threads() const { return api_->threads(model_); }

llvm::Expected<std::vector<Tensor>>
CompiledModel::run(llvm::ArrayRef<Tensor> inputs) {
  if (inputs.size() != inputs_.size())
    return err(llvm::formatv("{0}: the model takes {1} input(s), got {2}",
                             dir_, inputs_.size(), inputs.size())
                   .str());
  std::optional<int64_t> batch;
  std::vector<const void *> in;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor &t = inputs[i];
    auto type = inputs_[i].type;
    if (t.dtype() != inTypes_[i])
      return err(dir_ + ": input '" + inputs_[i].name + "' is " +
                 t.describe() + " but the model takes " +
                 dtypeName(inTypes_[i]));
    bool ok = t.rank() == type.getRank();
    for (int64_t d = 0; ok && d < t.rank(); ++d) {
      if (type.isDynamicDim(d)) {
        if (batch && *batch != t.dim(d))
          ok = false;
        batch = t.dim(d);
      } else if (type.getDimSize(d) != t.dim(d)) {
        ok = false;
      }
    }
    if (!ok) {
      std::string s;
      llvm::raw_string_ostream os(s);
      os << type;
      return err(dir_ + ": input '" + inputs_[i].name + "' is " +
                 t.describe() + " but the model takes " + s +
                 (batch ? " (with the batch of the other inputs)" : ""));
    }
    in.push_back(t.rawData());
  }
  int64_t b = batch.value_or(1);
  std::vector<Tensor> outs;
  std::vector<void *> out;
  for (size_t i = 0; i < outputs_.size(); ++i) {
    std::vector<int64_t> shape;
    for (int64_t d : outputs_[i].type.getShape())
      shape.push_back(mlir::ShapedType::isDynamic(d) ? b : d);
    outs.emplace_back(outTypes_[i], shape);
    out.push_back(outs.back().byteSize() ? outs.back().mutableRawData()
                                         : nullptr);
  }
  // Zero-sized tensors have no storage; give them a valid pointer.
  static char dummy[64];
  for (auto &p : in)
    if (!p)
      p = dummy;
  for (auto &p : out)
    if (!p)
      p = dummy;
  if (api_->run(model_, b, in.data(), out.data()) != 0)
    return err(dir_ + ": " + api_->lastError(model_));
  return outs;
}
