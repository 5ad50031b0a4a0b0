//===- MappedFile.h - Read-only memory-mapped files -------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Opens a file read-only as an llvm::MemoryBuffer (memory-mapped when the file
// is large enough for mapping to pay off) held by a std::shared_ptr, so that
// tensors borrowing its bytes (qopt::Tensor::borrow) can keep it alive.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_SUPPORT_MAPPEDFILE_H
#define QOPT_SUPPORT_MAPPEDFILE_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <memory>

namespace qopt {

/// Maps `path` read-only. The buffer is not null-terminated and the file is
/// assumed not to change while mapped. Fails (naming the file) when it cannot
/// be opened or is a directory.
llvm::Expected<std::shared_ptr<llvm::MemoryBuffer>>
mapFile(llvm::StringRef path);

/// A `keepAlive` handle for Tensor::borrow over bytes of `buffer`.
inline std::shared_ptr<const void>
keepAliveHandle(const std::shared_ptr<llvm::MemoryBuffer> &buffer) {
  return std::shared_ptr<const void>(buffer, buffer->getBufferStart());
}

} // namespace qopt

#endif // QOPT_SUPPORT_MAPPEDFILE_H
