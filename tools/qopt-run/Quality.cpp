//===- Quality.cpp - quality metrics of a model against a reference -------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//

#include "Quality.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>

using namespace qopt;
using namespace qopt::quality;

namespace {
/// One element pair into the sums.
inline void accumulate(ErrorAccumulator &acc, double o, double r) {
  if (!std::isfinite(o) || !std::isfinite(r)) {
    bool same = (std::isnan(o) && std::isnan(r)) || o == r;
    if (!same) {
      ++acc.nonFiniteMismatches;
      acc.noise = INFINITY;
      acc.sumAbs = INFINITY;
      acc.maxAbs = INFINITY;
    }
    if (std::isfinite(r))
      acc.signal += r * r;
    return;
  }
  double d = r - o;
  acc.signal += r * r;
  acc.noise += d * d;
  acc.dot += r * o;
  acc.outSq += o * o;
  double a = std::fabs(d);
  acc.sumAbs += a;
  acc.maxAbs = std::max(acc.maxAbs, a);
}
} // namespace

void ErrorAccumulator::add(const Tensor &out, const Tensor &ref) {
  assert(out.numElements() == ref.numElements() && "element counts differ");
  int64_t n = out.numElements();
  if (out.dtype() == DType::F32 && ref.dtype() == DType::F32) {
    const float *o = out.data<float>(), *r = ref.data<float>();
    for (int64_t i = 0; i < n; ++i)
      accumulate(*this, o[i], r[i]);
  } else {
    for (int64_t i = 0; i < n; ++i)
      accumulate(*this, out.getAsDouble(i), ref.getAsDouble(i));
  }
  count += n;
}

double quality::sqnrDb(double signal, double noise) {
  if (std::isnan(signal) || std::isnan(noise))
    return NAN;
  if (noise == 0)
    return INFINITY;
  if (signal == 0)
    return -INFINITY;
  return 10.0 * std::log10(signal / noise);
}

double ErrorAccumulator::sqnrDb() const {
  return quality::sqnrDb(signal, noise);
}

double ErrorAccumulator::cosine() const {
  if (nonFiniteMismatches)
    return NAN;
  if (signal > 0 && outSq > 0)
    return dot / std::sqrt(signal * outSq);
  return signal == outSq ? 1.0 : 0.0;
}

int64_t quality::classCount(const Tensor &t) {
  return t.rank() ? t.dim(t.rank() - 1) : 1;
}

int64_t quality::rowCount(const Tensor &t) {
  if (t.rank() == 0)
    return 0;
  int64_t c = classCount(t);
  return c ? t.numElements() / c : 0;
}

std::vector<int64_t> quality::argmaxRows(const Tensor &t) {
  int64_t rows = rowCount(t), classes = classCount(t);
  std::vector<int64_t> result(rows, 0);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t best = 0;
    double bestV = t.getAsDouble(r * classes);
    for (int64_t c = 1; c < classes && !std::isnan(bestV); ++c) {
      double v = t.getAsDouble(r * classes + c);
      if (std::isnan(v) || v > bestV) {
        best = c;
        bestV = v;
      }
    }
    result[r] = best;
  }
  return result;
}

OutputMetrics quality::compareOutput(llvm::StringRef name,
                                     llvm::StringRef refName, const Tensor &out,
                                     const Tensor &ref) {
  OutputMetrics m;
  m.name = name.str();
  m.referenceName = refName.str();
  m.shape = out.shape();
  m.error.add(out, ref);
  if (out.rank() >= 1 && classCount(out) >= 2) {
    std::vector<int64_t> a = argmaxRows(out), b = argmaxRows(ref);
    m.rows = static_cast<int64_t>(a.size());
    int64_t agree = 0;
    for (size_t i = 0; i < a.size(); ++i)
      agree += a[i] == b[i];
    m.top1Agree = agree;
  }
  return m;
}

llvm::Expected<std::vector<int64_t>>
quality::readLabels(const Tensor &labels, llvm::StringRef name) {
  std::vector<int64_t> result(labels.numElements());
  bool floating = isFloat(labels.dtype());
  if (!floating && !isInteger(labels.dtype()))
    return llvm::createStringError(
        "labels array '" + name + "' has dtype " +
        dtypeName(labels.dtype()) + "; expected integer class indices");
  for (int64_t i = 0; i < labels.numElements(); ++i) {
    double v = labels.getAsDouble(i);
    if (floating && (!std::isfinite(v) || v != std::floor(v) ||
                     std::fabs(v) > 9.0e15))
      return llvm::createStringError(
          "labels array '" + name + "' holds " + std::to_string(v) +
          " at flat index " + llvm::Twine(i) +
          "; expected whole-number class indices");
    result[i] = v >= 9.0e18 ? INT64_MAX : static_cast<int64_t>(v);
  }
  if (labels.dtype() == DType::I64) // exact, no round trip through double
    std::copy_n(labels.data<int64_t>(), labels.numElements(), result.begin());
  return result;
}

Accuracy quality::accuracy(const Tensor &scores,
                           const std::vector<int64_t> &labels) {
  Accuracy acc;
  std::vector<int64_t> pred = argmaxRows(scores);
  for (size_t i = 0; i < pred.size() && i < labels.size(); ++i) {
    if (labels[i] < 0)
      continue;
    ++acc.counted;
    acc.correct += pred[i] == labels[i];
  }
  return acc;
}

std::string quality::formatDb(double db, int decimals) {
  if (std::isnan(db))
    return "nan";
  if (std::isinf(db))
    return db > 0 ? "inf" : "-inf";
  std::string s;
  llvm::raw_string_ostream os(s);
  os << llvm::format("%.*f", decimals, db);
  return s;
}

//===----------------------------------------------------------------------===//
// SVG chart
//===----------------------------------------------------------------------===//

static std::string xmlEscape(llvm::StringRef s) {
  std::string out;
  for (char c : s) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    case '\'':
      out += "&apos;";
      break;
    default:
      // Control characters are not allowed in XML 1.0.
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n')
        out += '?';
      else
        out += c;
    }
  }
  return out;
}

static const char *bandColor(double db) {
  if (std::isinf(db) && db > 0)
    return "#9e9e9e";
  if (db < 10)
    return "#d32f2f";
  if (db < 20)
    return "#f57c00";
  if (db < 30)
    return "#fbc02d";
  return "#388e3c";
}

std::string quality::renderSqnrSvg(const std::vector<LayerPoint> &layers,
                                   llvm::StringRef title) {
  constexpr int kRowH = 18, kTop = 56, kBottom = 40, kValueW = 70,
                kWidth = 900;
  constexpr double kCharW = 7.0; // 12px monospace
  constexpr size_t kMaxLabel = 48;

  size_t longest = 8;
  for (const LayerPoint &l : layers)
    longest = std::max(longest, std::min(l.name.size(), kMaxLabel));
  int labelW = static_cast<int>(longest * kCharW) + 16;
  int x0 = labelW, x1 = kWidth - kValueW;
  int n = static_cast<int>(layers.size());
  int height = kTop + std::max(n, 1) * kRowH + kBottom;

  // Scale: 0 .. the largest finite SQNR rounded up to 10 dB (at least 40).
  double maxDb = 40;
  int worst = -1;
  for (int i = 0; i < n; ++i) {
    double v = layers[i].sqnrDb;
    if (std::isfinite(v))
      maxDb = std::max(maxDb, v);
    if (!std::isnan(v) && (worst < 0 || v < layers[worst].sqnrDb))
      worst = i;
  }
  if (worst >= 0 && std::isinf(layers[worst].sqnrDb) &&
      layers[worst].sqnrDb > 0)
    worst = -1; // every layer is exact
  maxDb = std::ceil(maxDb / 10.0) * 10.0;
  double tick = maxDb <= 100 ? 10 : std::ceil(maxDb / 100.0) * 10.0;
  auto xOf = [&](double db) {
    double f = std::clamp(db / maxDb, 0.0, 1.0);
    return x0 + f * (x1 - x0);
  };

  std::string s;
  llvm::raw_string_ostream os(s);
  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
     << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth
     << "\" height=\"" << height << "\" viewBox=\"0 0 " << kWidth << " "
     << height << "\" font-family=\"monospace\" font-size=\"12\">\n"
     << "<title>" << xmlEscape(title) << "</title>\n"
     << "<rect x=\"0\" y=\"0\" width=\"" << kWidth << "\" height=\"" << height
     << "\" fill=\"#ffffff\"/>\n"
     << "<text x=\"8\" y=\"20\" font-size=\"14\" font-weight=\"bold\">"
     << xmlEscape(title) << "</text>\n"
     << "<text x=\"8\" y=\"38\" fill=\"#555555\">per-layer SQNR in dB "
        "(higher is better); red &lt; 10, orange &lt; 20, yellow &lt; 30, "
        "grey = exact</text>\n";
  // Grid and axis.
  int gridBottom = kTop + std::max(n, 1) * kRowH;
  for (double t = 0; t <= maxDb + 1e-9; t += tick) {
    double x = xOf(t);
    os << llvm::format("<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
                       "stroke=\"#e0e0e0\"/>\n",
                       x, kTop - 4, x, gridBottom)
       << llvm::format("<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" "
                       "fill=\"#555555\">%g</text>\n",
                       x, gridBottom + 16, t);
  }
  os << llvm::format("<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" "
                     "fill=\"#555555\">SQNR [dB]</text>\n",
                     (x0 + x1) / 2.0, gridBottom + 32);
  if (n == 0)
    os << "<text x=\"" << x0 << "\" y=\"" << kTop + 13
       << "\" fill=\"#555555\">no layers to show</text>\n";
  for (int i = 0; i < n; ++i) {
    const LayerPoint &l = layers[i];
    int y = kTop + i * kRowH;
    std::string label = l.name.size() > kMaxLabel
                            ? l.name.substr(0, kMaxLabel - 3) + "..."
                            : l.name;
    std::string value = formatDb(l.sqnrDb, 1);
    os << "<g>\n<title>" << xmlEscape(l.name) << ": " << value
       << " dB</title>\n";
    os << "<text x=\"" << x0 - 8 << "\" y=\"" << y + 13
       << "\" text-anchor=\"end\"" << (i == worst ? " font-weight=\"bold\"" : "")
       << ">" << xmlEscape(label) << "</text>\n";
    if (!std::isnan(l.sqnrDb)) {
      double w = std::isinf(l.sqnrDb) ? (l.sqnrDb > 0 ? x1 - x0 : 0)
                                      : xOf(l.sqnrDb) - x0;
      os << llvm::format("<rect x=\"%d\" y=\"%d\" width=\"%.1f\" "
                         "height=\"%d\" fill=\"%s\"/>\n",
                         x0, y + 3, w, kRowH - 6, bandColor(l.sqnrDb));
    }
    double tx = std::isnan(l.sqnrDb) ? x0 : xOf(l.sqnrDb);
    if (std::isinf(l.sqnrDb))
      tx = l.sqnrDb > 0 ? x1 : x0;
    os << llvm::format("<text x=\"%.1f\" y=\"%d\"", tx + 4, y + 13)
       << (i == worst ? " font-weight=\"bold\" fill=\"#d32f2f\"" : "") << ">"
       << value << (i == worst ? " (worst)" : "") << "</text>\n</g>\n";
  }
  os << "</svg>\n";
  return s;
}

std::string quality::renderSqnrHtml(const std::vector<LayerPoint> &layers,
                                    llvm::StringRef title) {
  std::string svg = renderSqnrSvg(layers, title);
  // Drop the XML declaration: inline SVG in HTML has none.
  llvm::StringRef body(svg);
  if (body.starts_with("<?xml"))
    body = body.drop_until([](char c) { return c == '\n'; }).drop_front();
  std::string s;
  llvm::raw_string_ostream os(s);
  os << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
     << "<title>" << xmlEscape(title) << "</title>\n"
     << "<style>body{font-family:sans-serif;margin:16px}"
        "table{border-collapse:collapse;font-family:monospace}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
        "td:nth-child(2),th:nth-child(2){text-align:left}</style>\n"
     << "</head>\n<body>\n<h1>" << xmlEscape(title) << "</h1>\n"
     << body << "<table>\n<tr><th>#</th><th>layer</th><th>SQNR [dB]</th></tr>\n";
  for (size_t i = 0; i < layers.size(); ++i)
    os << "<tr><td>" << i << "</td><td>" << xmlEscape(layers[i].name)
       << "</td><td>" << formatDb(layers[i].sqnrDb) << "</td></tr>\n";
  os << "</table>\n</body>\n</html>\n";
  return s;
}
