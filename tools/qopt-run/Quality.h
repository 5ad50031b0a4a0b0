//===- Quality.h - quality metrics of a model against a reference -*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// The numbers behind qopt-run's quality gate: the error of a candidate tensor
// (a quantized model's output or activation) against a reference tensor (the
// float model's), top-1 agreement and label accuracy of class scores, and a
// self-contained SVG bar chart of per-layer SQNR. Nothing here runs a model;
// the metrics are plain functions of tensors so that other tools can reuse
// them.
//
// Definitions (ref = reference, out = candidate, sums over all elements):
//   SQNR [dB]      = 10 log10(sum ref^2 / sum (ref - out)^2); +inf when the
//                    tensors are equal, -inf when ref is all zero and out not
//   cosine         = sum ref*out / sqrt(sum ref^2 * sum out^2); 1 when both
//                    are all zero, 0 when only one is
//   max / mean abs = over |ref - out|
//   top-1          = argmax over the last dim, per row (rows = elements /
//                    last dim); ties pick the first index and a NaN wins, as
//                    numpy.argmax does
// Non-finite values: a pair of equal infinities or two NaNs is no error; any
// other pair with a non-finite member is counted in `nonFiniteMismatches` and
// makes the noise (and max abs error) infinite. Only finite reference values
// add to the signal.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_QOPTRUN_QUALITY_H
#define QOPT_TOOLS_QOPTRUN_QUALITY_H

#include "qopt/support/Tensor.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <optional>
#include <string>
#include <vector>

namespace qopt::quality {

/// Streaming error statistics of candidate values against reference values.
/// Feed it any number of tensor pairs (for example one per batch of samples);
/// it keeps sums, not tensors.
struct ErrorAccumulator {
  double signal = 0;   // sum ref^2
  double noise = 0;    // sum (ref - out)^2
  double dot = 0;      // sum ref * out
  double outSq = 0;    // sum out^2
  double sumAbs = 0;   // sum |ref - out|
  double maxAbs = 0;   // max |ref - out|
  int64_t count = 0;   // elements seen
  int64_t nonFiniteMismatches = 0;

  /// Adds all elements; `out` and `ref` must have the same element count
  /// (any dtypes; they are read as double).
  void add(const Tensor &out, const Tensor &ref);

  double sqnrDb() const;
  double cosine() const;
  double meanAbs() const { return count ? sumAbs / count : 0; }
};

/// 10 log10(signal / noise) with the conventions above.
double sqnrDb(double signal, double noise);

/// Argmax over the last dim of every row; empty when `t` has rank 0.
std::vector<int64_t> argmaxRows(const Tensor &t);

/// Number of classes (size of the last dim) and rows of `t`; rows is 0 when
/// `t` has rank 0.
int64_t classCount(const Tensor &t);
int64_t rowCount(const Tensor &t);

/// Metrics of one model output against its reference.
struct OutputMetrics {
  std::string name;          // candidate output name
  std::string referenceName; // the reference array / output it was paired with
  std::vector<int64_t> shape;
  ErrorAccumulator error;
  /// Rows whose argmax agrees, of `rows`; only when the last dim is >= 2.
  std::optional<int64_t> top1Agree;
  int64_t rows = 0;
  double top1AgreementPct() const {
    return rows ? 100.0 * double(*top1Agree) / double(rows) : 100.0;
  }
};

/// Compares `out` with `ref`; they must have equal shapes (checked by the
/// caller).
OutputMetrics compareOutput(llvm::StringRef name, llvm::StringRef refName,
                            const Tensor &out, const Tensor &ref);

/// Reads a labels array as class indices (any integer dtype, or a float dtype
/// holding whole numbers). Negative labels mark rows to ignore (like the
/// -100 "ignore index" of language-model labels).
llvm::Expected<std::vector<int64_t>> readLabels(const Tensor &labels,
                                                llvm::StringRef name);

/// Top-1 accuracy of class scores against labels.
struct Accuracy {
  int64_t correct = 0;
  int64_t counted = 0; // rows with a non-negative label
  double pct() const {
    return counted ? 100.0 * double(correct) / double(counted) : 0.0;
  }
};

/// `scores` has one row per label (rows = elements / last dim); the caller
/// checks the counts match. Labels >= the class count never match.
Accuracy accuracy(const Tensor &scores, const std::vector<int64_t> &labels);

/// Per-layer entry of the sensitivity chart.
struct LayerPoint {
  std::string name;
  double sqnrDb; // may be +-inf or NaN (no data)
};

/// A self-contained SVG document: one horizontal bar per layer (in the given
/// order) with its SQNR in dB, colored by band (< 10 dB red, < 20 dB orange,
/// < 30 dB yellow, else green; infinite SQNR is a full grey bar labeled
/// "inf"), the worst layer marked.
std::string renderSqnrSvg(const std::vector<LayerPoint> &layers,
                          llvm::StringRef title);
/// The same chart in a minimal HTML page, followed by a table of the values.
std::string renderSqnrHtml(const std::vector<LayerPoint> &layers,
                           llvm::StringRef title);

/// "inf", "-inf", "nan" or the value with `decimals` decimals.
std::string formatDb(double db, int decimals = 2);

} // namespace qopt::quality

#endif // QOPT_TOOLS_QOPTRUN_QUALITY_H
