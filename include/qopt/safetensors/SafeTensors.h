//===- SafeTensors.h - Strict safetensors and checkpoint reader -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// A strict reader for the safetensors format and for Hugging Face checkpoints
// built from it (one file, a directory with model.safetensors, or a sharded
// directory described by model.safetensors.index.json, plus config.json).
//
// File layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
// (an object mapping tensor names to {"dtype", "shape", "data_offsets"} and an
// optional "__metadata__" string map), then the data buffer. Every rule of
// the format is checked when a file is opened; a violation is reported as an
// llvm::Error whose message names the file, the tensor and the problem.
// Tensor data is memory-mapped and handed out without copying.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_SAFETENSORS_SAFETENSORS_H
#define QOPT_SAFETENSORS_SAFETENSORS_H

#include "qopt/support/Tensor.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace qopt::safetensors {

/// Largest header accepted, in bytes (the limit of the reference reader).
constexpr uint64_t kMaxHeaderSize = 100ull * 1000 * 1000;

/// Facts about one safetensors dtype string ("F32", "BF16", "F8_E4M3", ...).
struct DTypeDesc {
  llvm::StringRef name;
  /// Bits per element (4 for F4, 6 for F6_*, otherwise a multiple of 8).
  unsigned bits;
  /// The runtime element type, or std::nullopt when the dtype is recognised
  /// but cannot be imported (F8, F6, F4, C64, ...).
  std::optional<DType> runtime;
};

/// Looks up a safetensors dtype name; std::nullopt for an unknown name.
std::optional<DTypeDesc> lookupDType(llvm::StringRef name);

/// The safetensors dtype name of a runtime type ("F32", "BOOL", ...).
llvm::StringRef safetensorsDTypeName(DType t);

/// One tensor of a safetensors file, as described by the header.
struct TensorInfo {
  std::string name;
  /// The dtype string exactly as written in the header.
  std::string dtype;
  /// The runtime element type; std::nullopt for a recognised dtype that
  /// cannot be imported (see DTypeDesc::runtime).
  std::optional<DType> runtimeType;
  std::vector<int64_t> shape;
  /// Byte range relative to the start of the data buffer.
  uint64_t begin = 0;
  uint64_t end = 0;
  /// Absolute pointer to the first byte (inside the mapping).
  const char *data = nullptr;

  uint64_t byteSize() const { return end - begin; }
  int64_t numElements() const;
};

/// One validated .safetensors file, memory-mapped for its whole lifetime.
class SafeTensorsFile {
public:
  /// Maps and validates `path`. Every format rule is checked here; later
  /// accessors cannot fail on malformed input.
  static llvm::Expected<std::unique_ptr<SafeTensorsFile>>
  open(llvm::StringRef path);

  /// Validates an in-memory image (the whole file). `displayName` is used in
  /// error messages and returned by path().
  static llvm::Expected<std::unique_ptr<SafeTensorsFile>>
  fromBuffer(std::shared_ptr<llvm::MemoryBuffer> buffer,
             llvm::StringRef displayName);

  /// Tensors in header order (the order their keys appear in the JSON).
  const std::vector<TensorInfo> &tensors() const { return tensors_; }
  /// The tensor called `name`, or nullptr.
  const TensorInfo *lookup(llvm::StringRef name) const;
  /// "__metadata__" (empty when absent), ordered by key.
  const std::map<std::string, std::string> &metadata() const {
    return metadata_;
  }
  /// The mapping that holds the file; tensors borrowed from it keep it alive.
  const std::shared_ptr<llvm::MemoryBuffer> &mapping() const {
    return mapping_;
  }
  llvm::StringRef path() const { return path_; }
  /// Header length N as stored in the first 8 bytes.
  uint64_t headerSize() const { return headerSize_; }
  /// Size of the data buffer (file size - 8 - N).
  uint64_t dataSize() const { return dataSize_; }

  /// A runtime tensor viewing `info`'s bytes. Zero-copy (the tensor keeps the
  /// mapping alive) when the data is aligned for its element type; a
  /// misaligned tensor is copied. Fails for a dtype that cannot be imported.
  /// `info` must come from this file.
  llvm::Expected<Tensor> asTensor(const TensorInfo &info) const;
  /// Same, by name; fails if there is no such tensor.
  llvm::Expected<Tensor> asTensor(llvm::StringRef name) const;

private:
  SafeTensorsFile() = default;

  std::string path_;
  std::shared_ptr<llvm::MemoryBuffer> mapping_;
  uint64_t headerSize_ = 0;
  uint64_t dataSize_ = 0;
  std::vector<TensorInfo> tensors_;
  llvm::StringMap<size_t> index_;
  std::map<std::string, std::string> metadata_;
};

/// A tensor of a checkpoint together with the file that holds it.
struct TensorRef {
  const SafeTensorsFile *file = nullptr;
  const TensorInfo *info = nullptr;
  explicit operator bool() const { return info != nullptr; }
};

/// A whole model: one .safetensors file, a Hugging Face directory holding
/// model.safetensors, or a sharded directory with
/// model.safetensors.index.json (the index may also be passed directly).
/// config.json next to the weights is loaded when present.
class Checkpoint {
public:
  /// Opens `fileOrDir`:
  ///  - a regular file ending in ".json": a sharded index;
  ///  - any other regular file: one safetensors file;
  ///  - a directory: model.safetensors if present, else
  ///    model.safetensors.index.json; anything else is an error.
  /// For an index, every shard must be a plain file name in the index's
  /// directory (no '/', '\', "..", absolute path or symlink), exist, and be
  /// opened once; every weight_map entry must be found in its shard, every
  /// tensor of a shard must be listed in weight_map, and no tensor may appear
  /// in two shards.
  static llvm::Expected<std::unique_ptr<Checkpoint>>
  open(llvm::StringRef fileOrDir);

  /// The tensor called `name` and its file; both null when absent.
  TensorRef lookup(llvm::StringRef name) const;
  /// Convenience: lookup + SafeTensorsFile::asTensor.
  llvm::Expected<Tensor> asTensor(llvm::StringRef name) const;
  /// All tensor names: files in order (single file; shards sorted by file
  /// name), tensors of a file in header order.
  const std::vector<std::string> &tensorNames() const { return names_; }
  /// config.json as an object, or nullptr when there is none.
  const llvm::json::Object *config() const;
  /// The index "metadata" object, or nullptr (single-file checkpoints, or an
  /// index without one).
  const llvm::json::Object *indexMetadata() const;
  /// The opened files (one, or one per shard sorted by file name).
  const std::vector<std::unique_ptr<SafeTensorsFile>> &files() const {
    return files_;
  }
  /// The directory the checkpoint was loaded from.
  llvm::StringRef directory() const { return directory_; }

private:
  Checkpoint() = default;
  llvm::Error loadConfig();
  llvm::Error loadIndex(llvm::StringRef indexPath);

  std::string directory_;
  std::vector<std::unique_ptr<SafeTensorsFile>> files_;
  llvm::StringMap<TensorRef> byName_;
  std::vector<std::string> names_;
  std::optional<llvm::json::Value> config_;
  std::optional<llvm::json::Value> indexMetadata_;
};

/// Parses `text` as JSON like llvm::json::parse, but also rejects duplicate
/// object keys (anywhere in the document) and nesting deeper than 64 levels.
/// Errors are prefixed with `what` (for example a file name). On success,
/// `topLevelKeys` (if given) receives the keys of the root object in order.
llvm::Expected<llvm::json::Value>
parseStrictJSON(llvm::StringRef text, llvm::StringRef what,
                std::vector<std::string> *topLevelKeys = nullptr);

// Phase 2 (not here yet): an MLIR importer in lib/safetensors that builds
// Llama/BERT forward graphs in the qopt dialect from a Checkpoint and its
// config.json will be declared in its own header next to this one.

} // namespace qopt::safetensors

#endif // QOPT_SAFETENSORS_SAFETENSORS_H
