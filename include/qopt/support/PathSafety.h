//===- PathSafety.h - Resolving paths found inside model files --*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Model files name other files (ONNX external data, safetensors shards). Such
// names come from untrusted input, so they are resolved only inside the
// model's directory: no absolute paths, no `..`, no symlinks.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_SUPPORT_PATHSAFETY_H
#define QOPT_SUPPORT_PATHSAFETY_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <string>

namespace qopt {

/// Resolves `location` (a relative, '/'-separated path read from a model file)
/// against `baseDir` and returns `baseDir/location`. Rejects empty locations,
/// absolute paths, `..` components, backslashes, drive letters (`C:`), NUL
/// characters, and any component (directories and the final file) that is a
/// symlink; the result must be an existing regular file. `.` and empty
/// components are skipped. Errors name `what` (e.g. "tensor 'w' external
/// data") and the offending location. `baseDir` itself is trusted (it may be a
/// symlink); an empty `baseDir` means the current directory.
llvm::Expected<std::string> resolveInside(llvm::StringRef baseDir,
                                          llvm::StringRef location,
                                          llvm::StringRef what);

} // namespace qopt

#endif // QOPT_SUPPORT_PATHSAFETY_H
