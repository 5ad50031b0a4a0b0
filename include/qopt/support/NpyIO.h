//===- NpyIO.h - NumPy .npy / .npz reading and writing ----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Reads and writes NumPy arrays: .npy (format versions 1.0, 2.0 and 3.0) and
// .npz (a zip archive of .npy members, stored or deflated).
//
// Supported dtypes: <f4 <f8 <f2 |i1 |u1 <i2 <u2 <i4 <u4 <i8 <u8 |b1, also with
// '>' (byte-swapped on reading) or '=' byte order. Fortran-ordered arrays are
// transposed to row-major on reading. Writers always produce little-endian,
// C-ordered version 1.0 files (2.0 when the header needs it). BF16 has no
// NumPy dtype and is rejected by the writers; convert it to f32 first.
//
// Every input is validated (magic, version, header length, the header dict,
// dims, data size with overflow checks); errors name the file, the .npz member
// and the problem.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_SUPPORT_NPYIO_H
#define QOPT_SUPPORT_NPYIO_H

#include "qopt/support/Tensor.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <string>
#include <utility>
#include <vector>

namespace qopt {

/// Named arrays in file order (keys of an .npz without the ".npy" suffix).
using NamedArrays = std::vector<std::pair<std::string, Tensor>>;

/// Reads one .npy file. Large little-endian C-ordered data is memory-mapped
/// and borrowed (copy-on-write) rather than copied.
llvm::Expected<Tensor> readNpy(llvm::StringRef path);

/// Parses the bytes of an .npy file (always copies the data).
/// `nameForErrors` is used in messages, e.g. "x.npz: member 'a.npy'".
llvm::Expected<Tensor> parseNpy(llvm::StringRef bytes,
                                llvm::StringRef nameForErrors);

/// Serializes `t` as .npy bytes (little-endian, C order).
llvm::Expected<std::string> serializeNpy(const Tensor &t,
                                         llvm::StringRef nameForErrors);

/// Writes `t` to `path` (through a temporary file in the same directory that
/// is renamed into place).
llvm::Error writeNpy(llvm::StringRef path, const Tensor &t);

/// Reads every member of an .npz archive; keys are member names without
/// ".npy". Duplicate names are an error.
llvm::Expected<std::vector<std::pair<std::string, Tensor>>>
readNpz(llvm::StringRef path);

/// Writes an .npz archive (members stored uncompressed, like numpy.savez)
/// through a temporary file in the same directory that is renamed into place,
/// so a failed write never leaves a partial file. Names must be unique and
/// non-empty; ".npy" is appended to each.
llvm::Error writeNpz(llvm::StringRef path,
                     const std::vector<std::pair<std::string, Tensor>> &arrays);

/// Dispatches on the extension: ".npz" -> all members; ".npy" -> one entry
/// named after the file stem. Other extensions are an error.
llvm::Expected<std::vector<std::pair<std::string, Tensor>>>
readArrays(llvm::StringRef path);

} // namespace qopt

#endif // QOPT_SUPPORT_NPYIO_H
