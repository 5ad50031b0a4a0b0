//===- MappedFile.cpp - Read-only memory-mapped files ---------------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#include "qopt/support/MappedFile.h"

#include "llvm/Support/FileSystem.h"

using namespace llvm;

Expected<std::shared_ptr<MemoryBuffer>> qopt::mapFile(StringRef path) {
  // MemoryBuffer happily "reads" a directory as an empty or failing file;
  // say what is wrong instead.
  if (sys::fs::is_directory(path))
    return createStringError(inconvertibleErrorCode(),
                             "cannot open '%s': it is a directory",
                             path.str().c_str());
  ErrorOr<std::unique_ptr<MemoryBuffer>> buf =
      MemoryBuffer::getFile(path, /*IsText=*/false,
                            /*RequiresNullTerminator=*/false,
                            /*IsVolatile=*/false);
  if (!buf)
    return createStringError(buf.getError(), "cannot open '%s': %s",
                             path.str().c_str(),
                             buf.getError().message().c_str());
  return std::shared_ptr<MemoryBuffer>(std::move(*buf));
}
