//===- Pipelines.cpp - registered quantization pipelines ------------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// The named pipelines users and scripts depend on (docs/passes.md):
//   qopt-w8a8-pipeline{calibration-data calibration-method smoothquant-alpha
//                      dynamic activation-type}
//   qopt-weight-only-pipeline{bits group-size symmetric clip-search}
//   qopt-mixed-precision-pipeline{calibration-data budget-bits group-size}
//
//===----------------------------------------------------------------------===//

#include "qopt/passes/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace {

struct W8A8Options : public PassPipelineOptions<W8A8Options> {
  Option<std::string> calibrationData{
      *this, "calibration-data",
      llvm::cl::desc("Calibration samples (.npz keyed by input name)")};
  Option<std::string> calibrationMethod{
      *this, "calibration-method",
      llvm::cl::desc("minmax, percentile, entropy or mse"),
      llvm::cl::init("minmax")};
  Option<std::string> smoothquantAlpha{
      *this, "smoothquant-alpha",
      llvm::cl::desc("SmoothQuant migration strength: a number in [0, 1], "
                     "auto, or off"),
      llvm::cl::init("off")};
  Option<bool> dynamic{
      *this, "dynamic",
      llvm::cl::desc("Per-token activation scales computed at run time"),
      llvm::cl::init(false)};
  Option<std::string> activationType{
      *this, "activation-type",
      llvm::cl::desc("Static activations: u8 (asymmetric) or s8 (symmetric)"),
      llvm::cl::init("u8")};
  Option<int64_t> batchSize{
      *this, "batch-size",
      llvm::cl::desc("Calibration samples per run (0: the arguments' static "
                     "dim 0, else 32)"),
      llvm::cl::init(0)};
  Option<int64_t> weightBits{
      *this, "weight-bits",
      llvm::cl::desc("8, or 7: int8 weights in [-63, 63] (faster exact int8 "
                     "kernels on AVX2 without VNNI)"),
      llvm::cl::init(8)};
  ListOption<std::string> exclude{
      *this, "exclude", llvm::cl::desc("Regexes on op names to keep in float")};
};

struct WeightOnlyOptions : public PassPipelineOptions<WeightOnlyOptions> {
  Option<int64_t> bits{*this, "bits", llvm::cl::desc("Weight bits (2..8)"),
                       llvm::cl::init(4)};
  Option<int64_t> groupSize{
      *this, "group-size",
      llvm::cl::desc("Input channels per scale (0: per output channel)"),
      llvm::cl::init(128)};
  Option<bool> symmetric{*this, "symmetric",
                         llvm::cl::desc("Symmetric weights (zero point 0)"),
                         llvm::cl::init(true)};
  Option<bool> clipSearch{*this, "clip-search",
                          llvm::cl::desc("Search a clipping ratio per group"),
                          llvm::cl::init(false)};
  ListOption<std::string> exclude{
      *this, "exclude", llvm::cl::desc("Regexes on op names to keep in float")};
};

struct MixedOptions : public PassPipelineOptions<MixedOptions> {
  Option<std::string> calibrationData{
      *this, "calibration-data",
      llvm::cl::desc("Samples (.npz) used to measure sensitivity")};
  Option<double> budgetBits{*this, "budget-bits",
                            llvm::cl::desc("Average weight bits to fit"),
                            llvm::cl::init(6.0)};
  Option<int64_t> groupSize{*this, "group-size",
                            llvm::cl::desc("Group size of int4 weights"),
                            llvm::cl::init(128)};
  Option<bool> printTable{*this, "print-table",
                          llvm::cl::desc("Print the sensitivity table"),
                          llvm::cl::init(false)};
};

void cleanup(OpPassManager &pm) {
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void buildW8A8(OpPassManager &pm, const W8A8Options &o) {
  bool smooth = o.smoothquantAlpha != "off";
  bool needCalibration = smooth || !o.dynamic;
  if (needCalibration) {
    qopt::QOptInsertObserversPassOptions obs;
    obs.granularity = smooth ? "per_channel" : "per_tensor";
    pm.addPass(qopt::createQOptInsertObserversPass(obs));
  }
  qopt::QOptCalibratePassOptions cal;
  cal.calibrationData = o.calibrationData;
  cal.batchSize = o.batchSize;
  if (smooth) {
    cal.method = "minmax";
    pm.addPass(qopt::createQOptCalibratePass(cal));
    qopt::QOptSmoothQuantPassOptions sq;
    sq.alpha = o.smoothquantAlpha;
    sq.calibrationData = o.calibrationData;
    pm.addPass(qopt::createQOptSmoothQuantPass(sq));
  }
  // Static ranges come from the (smoothed) model with the user's method.
  if (!o.dynamic) {
    cal.method = o.calibrationMethod;
    pm.addPass(qopt::createQOptCalibratePass(cal));
  }
  qopt::QOptQuantizePassOptions q;
  q.mode = o.dynamic ? "dynamic" : "static";
  q.activationType = o.activationType;
  q.weightBits = o.weightBits;
  q.exclude.assign(o.exclude.begin(), o.exclude.end());
  pm.addPass(qopt::createQOptQuantizePass(q));
  pm.addPass(qopt::createQOptFoldQDQPass());
  cleanup(pm);
}

void buildWeightOnly(OpPassManager &pm, const WeightOnlyOptions &o) {
  qopt::QOptQuantizePassOptions q;
  q.mode = "weight-only";
  q.weightBits = o.bits;
  q.groupSize = o.groupSize;
  q.weightSymmetric = o.symmetric;
  q.clipSearch = o.clipSearch;
  q.exclude.assign(o.exclude.begin(), o.exclude.end());
  pm.addPass(qopt::createQOptQuantizePass(q));
  cleanup(pm);
}

void buildMixed(OpPassManager &pm, const MixedOptions &o) {
  qopt::QOptMixedPrecisionPassOptions m;
  m.calibrationData = o.calibrationData;
  m.budgetBits = o.budgetBits;
  m.groupSize = o.groupSize;
  m.printTable = o.printTable;
  pm.addPass(qopt::createQOptMixedPrecisionPass(m));
  qopt::QOptQuantizePassOptions q;
  q.mode = "weight-only";
  q.groupSize = o.groupSize;
  pm.addPass(qopt::createQOptQuantizePass(q));
  cleanup(pm);
}

} // namespace

void qopt::registerQOptPipelines() {
  PassPipelineRegistration<W8A8Options>(
      "qopt-w8a8-pipeline",
      "Calibrate, optionally smooth, quantize weights and activations to 8 "
      "bits and fold to integer ops",
      buildW8A8);
  PassPipelineRegistration<WeightOnlyOptions>(
      "qopt-weight-only-pipeline",
      "Quantize weights only (int8/int4/2-3 bits, per channel or group-wise)",
      buildWeightOnly);
  PassPipelineRegistration<MixedOptions>(
      "qopt-mixed-precision-pipeline",
      "Choose float/int8/int4 weights per op under a bit budget, then "
      "quantize them",
      buildMixed);
}
