# -*- Python -*-
# lit configuration for qopt's FileCheck suites.
# SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
import os

import lit.formats
from lit.llvm import llvm_config

config.name = "qopt"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py",
                   "corpus", "unit", "onnx-backend", "models"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.qopt_obj_root, "test")

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.qopt_tools_dir, append_path=True)
# Sanitizer builds: leaks in the LLVM command-line registry are not ours.
config.environment["ASAN_OPTIONS"] = "detect_leaks=0"
config.environment["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"

config.substitutions.append(("%qopt_src", config.qopt_src_root))
config.substitutions.append(("%python", config.python_executable))
llvm_config.add_tool_substitutions(["qopt", "qopt-run", "qopt-translate"], [config.qopt_tools_dir])
if config.qopt_sanitizers:
    config.available_features.add("asan")
config.substitutions.append(("%dialect_name", "qopt"))
