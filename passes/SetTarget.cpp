//===- SetTarget.cpp - record the CPU code generation target ----------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#include "qopt/passes/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringSwitch.h"

#include <cstdlib>

namespace qopt {
#define GEN_PASS_DEF_QOPTSETTARGETPASS
#include "qopt/passes/Passes.h.inc"
} // namespace qopt

using namespace mlir;

namespace {

enum class CpuLevel { Generic = 0, Avx2 = 1, Avx512Vnni = 2 };

const char *targetName(CpuLevel l) {
  switch (l) {
  case CpuLevel::Avx512Vnni:
    return "cpu:avx512-vnni";
  case CpuLevel::Avx2:
    return "cpu:avx2";
  case CpuLevel::Generic:
    break;
  }
  return "cpu:generic";
}

/// The best target the CPU running qopt supports; QOPT_HOST_TARGET (one of
/// the target names) overrides the detection, for tests and for building on
/// one machine what another will run.
CpuLevel hostLevel() {
  if (const char *env = std::getenv("QOPT_HOST_TARGET")) {
    llvm::StringRef e(env);
    if (e == "cpu:avx512-vnni")
      return CpuLevel::Avx512Vnni;
    if (e == "cpu:avx2")
      return CpuLevel::Avx2;
    if (e == "cpu:generic")
      return CpuLevel::Generic;
  }
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vnni"))
    return CpuLevel::Avx512Vnni;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return CpuLevel::Avx2;
#endif
  return CpuLevel::Generic;
}

} // namespace

std::string qopt::hostCpuTarget() { return targetName(hostLevel()); }

namespace {
struct SetTargetPass : public qopt::impl::QOptSetTargetPassBase<SetTargetPass> {
  using QOptSetTargetPassBase::QOptSetTargetPassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    CpuLevel host = hostLevel();
    std::optional<CpuLevel> level =
        llvm::StringSwitch<std::optional<CpuLevel>>(target)
            .Case("host", host)
            .Case("cpu:avx512-vnni", CpuLevel::Avx512Vnni)
            .Case("cpu:avx2", CpuLevel::Avx2)
            .Case("cpu:generic", CpuLevel::Generic)
            .Default(std::nullopt);
    if (!level) {
      module.emitError() << "qopt-set-target: target must be host, "
                            "cpu:avx512-vnni, cpu:avx2 or cpu:generic, got '"
                         << target << "'";
      return signalPassFailure();
    }
    if (static_cast<int>(*level) > static_cast<int>(host))
      module.emitWarning() << "qopt-set-target: this machine cannot run "
                              "code for "
                           << targetName(*level) << " (it supports "
                           << targetName(host) << ")";
    module->setAttr("qopt.target",
                    StringAttr::get(&getContext(), targetName(*level)));
  }
};

} // namespace
