//===- ONNXImporter.cpp - ONNX model to qopt dialect ----------------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// The driver of the ONNX importer: parses the protobuf, validates the graph
// (names, undefined tensors, cycles, unsupported ops), sorts the nodes
// topologically, and builds
//
//   module attributes {qopt.source = "m.onnx", qopt.format = "onnx",
//                      qopt.opset = 17 : i64} {
//     func.func @main(%arg0: tensor<1x4xf32> {qopt.name = "x"})
//         -> (tensor<1x3xf32> {qopt.name = "y"}) { ... }
//   }
//
// with the per-op builders of ONNXOps.cpp.
//
//===----------------------------------------------------------------------===//

#include "ONNXImporterImpl.h"

#include "qopt/support/MappedFile.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/stubs/logging.h>

#include <algorithm>
#include <climits>
#include <queue>

using namespace mlir;
using namespace qopt;
using namespace qopt::onnximport;

/// The newest default-domain opset the importer accepts.
static constexpr int64_t kMaxOpset = 21;

//===----------------------------------------------------------------------===//
// Small helpers
//===----------------------------------------------------------------------===//

const onnx::AttributeProto *Node::attr(StringRef attrName) const {
  for (const onnx::AttributeProto &a : proto->attribute())
    if (a.name() == attrName)
      return &a;
  return nullptr;
}

static bool isDefaultDomain(StringRef domain) {
  return domain.empty() || domain == "ai.onnx";
}


Importer::Importer(MLIRContext &context, StringRef path,
                   const ONNXImportOptions &options)
    : ctx(&context), builder(&context), path(path.str()), options(options),
      fileLoc(FileLineColLoc::get(&context, path, 0, 0)) {
  modelDir = llvm::sys::path::parent_path(path).str();
  if (modelDir.empty())
    modelDir = ".";
}

InFlightDiagnostic Importer::fileError() { return emitError(fileLoc); }

InFlightDiagnostic Importer::nodeError(const Node &node) {
  InFlightDiagnostic diag = emitError(node.loc);
  diag << "node '" << node.name << "' (" << node.opType() << "): ";
  return diag;
}

std::string Importer::nodeName(int index) const {
  const onnx::NodeProto &n = model.graph().node(index);
  if (!n.name().empty())
    return n.name();
  return n.op_type() + "_" + std::to_string(index);
}

//===----------------------------------------------------------------------===//
// Values
//===----------------------------------------------------------------------===//

Entry *Importer::lookup(StringRef name) {
  auto it = entries.find(name);
  return it == entries.end() ? nullptr : &it->second;
}

void Importer::define(const Node &node, int i, Value value) {
  if (!node.hasOutput(i))
    return;
  Entry e;
  e.value = value;
  e.loc = node.loc;
  e.name = node.output(i).str();
  entries[node.output(i)] = std::move(e);
}

void Importer::defineConstant(const Node &node, int i, ElementsAttr constant) {
  if (!node.hasOutput(i))
    return;
  Entry e;
  e.constant = constant;
  e.loc = node.loc;
  e.name = node.output(i).str();
  entries[node.output(i)] = std::move(e);
}

void Importer::defineAlias(const Node &node, int i, const Entry &entry) {
  if (!node.hasOutput(i))
    return;
  entries[node.output(i)] = entry;
}

void Importer::defineQuantized(const Node &node, int i,
                               std::shared_ptr<Entry::Quantized> q) {
  if (!node.hasOutput(i))
    return;
  Entry e;
  e.quantized = std::move(q);
  e.loc = node.loc;
  e.name = node.output(i).str();
  entries[node.output(i)] = std::move(e);
}

Value Importer::materializeConstant(ElementsAttr attr, Location loc) {
  auto it = constants.find(attr);
  if (it != constants.end())
    return it->second;
  OpBuilder::InsertionGuard guard(builder);
  if (lastConstant)
    builder.setInsertionPointAfter(lastConstant);
  else
    builder.setInsertionPointToStart(&func.getBody().front());
  auto op = qopt::ConstantOp::create(builder, loc, attr);
  lastConstant = op;
  constants[attr] = op.getResult();
  return op.getResult();
}

FailureOr<Value> Importer::plainValue(Entry &entry, Location useLoc) {
  if (entry.value)
    return entry.value;
  if (entry.constant) {
    entry.value =
        materializeConstant(entry.constant, entry.loc.value_or(useLoc));
    return entry.value;
  }
  if (auto q = entry.quantized) {
    // The dynamic form: same numerics as the static form, plain result.
    Location loc = entry.loc.value_or(useLoc);
    Entry *scale = lookup(q->scaleName);
    Entry *zp = q->zeroPointName.empty() ? nullptr : lookup(q->zeroPointName);
    if (!scale || (!q->zeroPointName.empty() && !zp))
      return emitError(loc) << "internal error: quantization parameters of '"
                            << entry.name << "' are undefined";
    auto s = plainValue(*scale, loc);
    if (failed(s))
      return failure();
    Value z;
    if (zp) {
      auto zv = plainValue(*zp, loc);
      if (failed(zv))
        return failure();
      z = *zv;
    }
    auto xt = cast<RankedTensorType>(q->input.getType());
    auto type = RankedTensorType::get(xt.getShape(), q->storageType);
    auto op =
        typed<qopt::QuantizeOp>(loc, type, q->input, *s, z,
                                static_cast<uint64_t>(q->axis), uint64_t{0});
    if (failed(op))
      return failure();
    entry.value = op->getResult();
    return entry.value;
  }
  return emitError(useLoc) << "internal error: tensor '" << entry.name
                           << "' has no value";
}

FailureOr<Value> Importer::staticQuantized(Entry &entry) {
  auto q = entry.quantized;
  if (!q->staticValue) {
    auto xt = cast<RankedTensorType>(q->input.getType());
    auto type = RankedTensorType::get(xt.getShape(), q->type);
    auto op = typed<qopt::QuantizeOp>(*entry.loc, type, q->input, Value(),
                                      Value(), uint64_t{1}, uint64_t{0});
    if (failed(op))
      return failure();
    q->staticValue = op->getResult();
  }
  return q->staticValue;
}

FailureOr<Value> Importer::input(const Node &node, int i) {
  StringRef name = node.input(i);
  if (name.empty())
    return nodeError(node) << "input " << i << " is required";
  Entry *e = lookup(name);
  if (!e)
    return nodeError(node) << "input '" << name << "' is undefined";
  return plainValue(*e, node.loc);
}

FailureOr<Value> Importer::optionalInput(const Node &node, int i) {
  if (!node.hasInput(i))
    return Value();
  return input(node, i);
}

ElementsAttr Importer::constantInput(const Node &node, int i) {
  if (!node.hasInput(i))
    return nullptr;
  Entry *e = lookup(node.input(i));
  return e ? e->constant : nullptr;
}

FailureOr<Value> Importer::reshape(Location loc, Value v,
                                   ArrayRef<int64_t> shape) {
  auto t = cast<RankedTensorType>(v.getType());
  if (t.getShape() == shape)
    return v;
  auto type = RankedTensorType::get(shape, t.getElementType());
  auto op = typed<qopt::ReshapeOp>(loc, type, v);
  if (failed(op))
    return failure();
  return op->getResult();
}

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

/// The attribute's declared type, or the one implied by the field that is
/// set (old models leave `type` unset).
static onnx::AttributeProto::AttributeType
attrType(const onnx::AttributeProto &a) {
  if (a.type() != onnx::AttributeProto::UNDEFINED)
    return a.type();
  if (a.has_i())
    return onnx::AttributeProto::INT;
  if (a.has_f())
    return onnx::AttributeProto::FLOAT;
  if (a.has_s())
    return onnx::AttributeProto::STRING;
  if (a.has_t())
    return onnx::AttributeProto::TENSOR;
  if (a.has_g())
    return onnx::AttributeProto::GRAPH;
  if (a.ints_size())
    return onnx::AttributeProto::INTS;
  if (a.floats_size())
    return onnx::AttributeProto::FLOATS;
  if (a.strings_size())
    return onnx::AttributeProto::STRINGS;
  return onnx::AttributeProto::UNDEFINED;
}

static const char *attrTypeName(onnx::AttributeProto::AttributeType t) {
  switch (t) {
  case onnx::AttributeProto::FLOAT:
    return "a float";
  case onnx::AttributeProto::INT:
    return "an int";
  case onnx::AttributeProto::STRING:
    return "a string";
  case onnx::AttributeProto::TENSOR:
    return "a tensor";
  case onnx::AttributeProto::GRAPH:
    return "a graph";
  case onnx::AttributeProto::FLOATS:
    return "a list of floats";
  case onnx::AttributeProto::INTS:
    return "a list of ints";
  case onnx::AttributeProto::STRINGS:
    return "a list of strings";
  default:
    return "of another kind";
  }
}

/// Fails (with an error) when attribute `a` is not of type `want`.
static LogicalResult checkAttrType(Importer &imp, const Node &node,
                                   const onnx::AttributeProto &a,
                                   onnx::AttributeProto::AttributeType want) {
  if (a.has_ref_attr_name())
    return imp.nodeError(node)
           << "attribute '" << a.name()
           << "' refers to a function attribute, which is not supported";
  onnx::AttributeProto::AttributeType have = attrType(a);
  if (have == want)
    return success();
  return imp.nodeError(node)
         << "attribute '" << a.name() << "' must be " << attrTypeName(want)
         << ", got " << attrTypeName(have);
}

FailureOr<int64_t> Importer::attrInt(const Node &node, StringRef name,
                                     int64_t defaultValue) {
  const onnx::AttributeProto *a = node.attr(name);
  if (!a)
    return defaultValue;
  if (failed(checkAttrType(*this, node, *a, onnx::AttributeProto::INT)))
    return failure();
  return a->i();
}

FailureOr<float> Importer::attrFloat(const Node &node, StringRef name,
                                     float defaultValue) {
  const onnx::AttributeProto *a = node.attr(name);
  if (!a)
    return defaultValue;
  if (failed(checkAttrType(*this, node, *a, onnx::AttributeProto::FLOAT)))
    return failure();
  return a->f();
}

FailureOr<std::string> Importer::attrString(const Node &node, StringRef name,
                                            StringRef defaultValue) {
  const onnx::AttributeProto *a = node.attr(name);
  if (!a)
    return defaultValue.str();
  if (failed(checkAttrType(*this, node, *a, onnx::AttributeProto::STRING)))
    return failure();
  return a->s();
}

FailureOr<std::optional<SmallVector<int64_t>>>
Importer::attrInts(const Node &node, StringRef name) {
  const onnx::AttributeProto *a = node.attr(name);
  if (!a)
    return std::optional<SmallVector<int64_t>>();
  if (failed(checkAttrType(*this, node, *a, onnx::AttributeProto::INTS)))
    return failure();
  return std::optional<SmallVector<int64_t>>(
      SmallVector<int64_t>(a->ints().begin(), a->ints().end()));
}

FailureOr<std::optional<SmallVector<float>>>
Importer::attrFloats(const Node &node, StringRef name) {
  const onnx::AttributeProto *a = node.attr(name);
  if (!a)
    return std::optional<SmallVector<float>>();
  if (failed(checkAttrType(*this, node, *a, onnx::AttributeProto::FLOATS)))
    return failure();
  return std::optional<SmallVector<float>>(
      SmallVector<float>(a->floats().begin(), a->floats().end()));
}

//===----------------------------------------------------------------------===//
// Parsing and model-level checks
//===----------------------------------------------------------------------===//

LogicalResult Importer::parseModel() {
  auto mapped = mapFile(path);
  if (!mapped)
    return fileError() << llvm::toString(mapped.takeError());
  std::shared_ptr<llvm::MemoryBuffer> buffer = *mapped;
  size_t size = buffer->getBufferSize();
  if (size == 0)
    return fileError() << "the file is empty; not an ONNX model";
  if (size > static_cast<size_t>(INT_MAX))
    return fileError() << "the file is " << size
                       << " bytes; an ONNX protobuf cannot exceed 2 GiB "
                          "(store the weights as external data)";
  google::protobuf::LogSilencer silencer;
  google::protobuf::io::CodedInputStream stream(
      reinterpret_cast<const uint8_t *>(buffer->getBufferStart()),
      static_cast<int>(size));
  stream.SetTotalBytesLimit(static_cast<int>(size));
  if (!model.ParseFromCodedStream(&stream) || !stream.ConsumedEntireMessage())
    return fileError() << "not a valid ONNX model: the protobuf is truncated "
                          "or corrupt";
  return success();
}

LogicalResult Importer::checkModel() {
  if (!model.has_ir_version() || model.ir_version() <= 0)
    return fileError() << "not a valid ONNX model: no ir_version";
  if (!model.has_graph())
    return fileError() << "not a valid ONNX model: no graph";
  return success();
}

LogicalResult Importer::checkOpset() {
  bool found = false;
  for (const onnx::OperatorSetIdProto &o : model.opset_import()) {
    if (!isDefaultDomain(o.domain()))
      continue;
    if (found && o.version() != opset)
      return fileError() << "the model imports the default ONNX opset twice ("
                         << opset << " and " << o.version() << ")";
    found = true;
    opset = o.version();
  }
  if (!found)
    return fileError() << "the model does not import the default ONNX opset "
                          "(ai.onnx)";
  if (opset < 1 || opset > kMaxOpset)
    return fileError() << "ONNX opset " << opset
                       << " is not supported (qopt supports opsets 1 to "
                       << kMaxOpset << ")";
  if (model.graph().sparse_initializer_size() != 0)
    return fileError() << "sparse initializers are not supported";
  return success();
}

LogicalResult Importer::checkSupportedOps() {
  // Op type -> node names, in order of first appearance.
  SmallVector<std::pair<std::string, SmallVector<std::string>>> unsupported;
  const onnx::GraphProto &g = model.graph();
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto &n = g.node(i);
    std::string key;
    if (!isDefaultDomain(n.domain()))
      key = n.domain() + "." + n.op_type();
    else if (!lookupOp(n.op_type()))
      key = n.op_type().empty() ? std::string("<empty op_type>") : n.op_type();
    else
      continue;
    auto it = llvm::find_if(unsupported,
                            [&](const auto &p) { return p.first == key; });
    if (it == unsupported.end()) {
      unsupported.push_back({key, {}});
      it = std::prev(unsupported.end());
    }
    it->second.push_back(nodeName(i));
  }
  if (unsupported.empty())
    return success();
  std::string msg;
  llvm::raw_string_ostream os(msg);
  os << "unsupported ONNX ops: ";
  constexpr size_t kMaxNames = 8;
  llvm::interleaveComma(unsupported, os, [&](const auto &p) {
    os << p.first << " (nodes: ";
    ArrayRef<std::string> names = p.second;
    llvm::interleaveComma(names.take_front(kMaxNames), os);
    if (names.size() > kMaxNames)
      os << ", and " << names.size() - kMaxNames << " more";
    os << ")";
  });
  return fileError() << msg;
}

/// Checks names (defined once, every use defined) and returns the nodes in
/// a topological order, keeping the file's order where it is valid.
FailureOr<std::vector<int>> Importer::sortNodes() {
  const onnx::GraphProto &g = model.graph();
  constexpr int kGraphInput = -1, kInitializer = -2;
  llvm::StringMap<int> producer;
  auto describe = [&](int p) -> std::string {
    if (p == kGraphInput)
      return "a graph input";
    if (p == kInitializer)
      return "an initializer";
    return "node '" + nodeName(p) + "' (" + g.node(p).op_type() + ")";
  };
  for (const onnx::TensorProto &t : g.initializer()) {
    if (t.name().empty())
      return fileError() << "an initializer has no name";
    if (!producer.try_emplace(t.name(), kInitializer).second)
      return fileError() << "initializer '" << t.name() << "' is defined twice";
  }
  llvm::StringSet<> inputNames;
  for (const onnx::ValueInfoProto &vi : g.input()) {
    if (vi.name().empty())
      return fileError() << "a graph input has no name";
    if (!inputNames.insert(vi.name()).second)
      return fileError() << "graph input '" << vi.name() << "' is listed twice";
    producer.try_emplace(vi.name(), kGraphInput);
  }
  for (int i = 0; i < g.node_size(); ++i) {
    for (const std::string &out : g.node(i).output()) {
      if (out.empty())
        continue;
      auto [it, inserted] = producer.try_emplace(out, i);
      if (!inserted)
        return fileError() << "tensor '" << out << "' is defined twice: by "
                           << describe(it->second) << " and by " << describe(i)
                           << " (duplicate output name)";
    }
  }
  std::vector<SmallVector<int>> consumers(g.node_size());
  std::vector<int> pending(g.node_size(), 0);
  for (int i = 0; i < g.node_size(); ++i) {
    for (const std::string &in : g.node(i).input()) {
      if (in.empty())
        continue;
      auto it = producer.find(in);
      if (it == producer.end())
        return emitError(
                   NameLoc::get(StringAttr::get(ctx, nodeName(i)), fileLoc))
               << "node '" << nodeName(i) << "' (" << g.node(i).op_type()
               << ") uses tensor '" << in
               << "', which no node, graph input or initializer defines";
      if (it->second >= 0) {
        consumers[it->second].push_back(i);
        ++pending[i];
      }
    }
  }
  llvm::StringSet<> outputNames;
  for (const onnx::ValueInfoProto &vi : g.output()) {
    if (!producer.count(vi.name()))
      return fileError() << "graph output '" << vi.name()
                         << "' is not defined by any node, graph input or "
                            "initializer";
    if (!outputNames.insert(vi.name()).second)
      return fileError() << "graph output '" << vi.name()
                         << "' is listed twice";
  }
  // Kahn's algorithm, always taking the earliest ready node.
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (int i = 0; i < g.node_size(); ++i)
    if (pending[i] == 0)
      ready.push(i);
  std::vector<int> order;
  order.reserve(g.node_size());
  while (!ready.empty()) {
    int i = ready.top();
    ready.pop();
    order.push_back(i);
    for (int c : consumers[i])
      if (--pending[c] == 0)
        ready.push(c);
  }
  if (static_cast<int>(order.size()) == g.node_size())
    return order;
  // Every unsorted node waits on an unsorted producer; walking producers
  // from any of them must revisit a node, which closes a cycle.
  auto unsortedProducer = [&](int i) {
    for (const std::string &in : g.node(i).input()) {
      auto it = in.empty() ? producer.end() : producer.find(in);
      if (it != producer.end() && it->second >= 0 && pending[it->second] > 0)
        return it->second;
    }
    return -1;
  };
  int start = 0;
  while (pending[start] == 0)
    ++start;
  SmallVector<int> path;
  llvm::DenseMap<int, size_t> position;
  int cur = start;
  while (cur >= 0 && !position.count(cur)) {
    position[cur] = path.size();
    path.push_back(cur);
    cur = unsortedProducer(cur);
  }
  std::string msg;
  llvm::raw_string_ostream os(msg);
  if (cur < 0) {
    os << "node '" << nodeName(start) << "' cannot be ordered";
  } else {
    // path[position[cur]..] follows producers backwards: print it forwards.
    SmallVector<int> cycle(path.begin() + position[cur], path.end());
    std::reverse(cycle.begin(), cycle.end());
    std::rotate(cycle.begin(), llvm::min_element(cycle), cycle.end());
    cycle.push_back(cycle.front());
    llvm::interleave(
        cycle, os,
        [&](int i) {
          os << "'" << nodeName(i) << "' (" << g.node(i).op_type() << ")";
        },
        " -> ");
  }
  return fileError() << "the graph has a cycle: " << msg;
}

//===----------------------------------------------------------------------===//
// Inputs, initializers, nodes, outputs
//===----------------------------------------------------------------------===//

LogicalResult Importer::importInputs(SmallVectorImpl<Type> &types,
                                     SmallVectorImpl<std::string> &names) {
  const onnx::GraphProto &g = model.graph();
  llvm::StringSet<> initializers;
  for (const onnx::TensorProto &t : g.initializer())
    initializers.insert(t.name());
  llvm::StringSet<> argNames;
  for (const onnx::ValueInfoProto &vi : g.input()) {
    const std::string &name = vi.name();
    if (initializers.contains(name))
      continue;
    argNames.insert(name);
    if (!vi.has_type() || !vi.type().has_tensor_type())
      return fileError() << "graph input '" << name
                         << "' is not a tensor (sequence, map, optional and "
                            "sparse inputs are not supported)";
    const onnx::TypeProto::Tensor &tt = vi.type().tensor_type();
    Type et = elementTypeFor(ctx, tt.elem_type());
    if (!et)
      return fileError() << "graph input '" << name << "' has element type "
                         << dataTypeName(tt.elem_type())
                         << ", which qopt does not support";
    auto given = options.inputShapes.find(name);
    SmallVector<int64_t> shape;
    if (!tt.has_shape()) {
      if (given == options.inputShapes.end())
        return fileError() << "graph input '" << name
                           << "' has no shape (unknown rank); give one with "
                              "--input-shape="
                           << name << ":<d0>x<d1>...";
      shape.assign(given->second.begin(), given->second.end());
    } else {
      for (const onnx::TensorShapeProto::Dimension &d : tt.shape().dim()) {
        if (d.has_dim_value()) {
          if (d.dim_value() < 0)
            return fileError()
                   << "graph input '" << name << "' has a negative dimension "
                   << d.dim_value();
          shape.push_back(d.dim_value());
        } else {
          shape.push_back(ShapedType::kDynamic);
        }
      }
      if (given != options.inputShapes.end()) {
        ArrayRef<int64_t> g2 = given->second;
        if (g2.size() != shape.size())
          return fileError() << "--input-shape gives '" << name << "' rank "
                             << g2.size() << " but the model declares rank "
                             << shape.size() << " " << shapeStr(shape);
        for (size_t i = 0; i < shape.size(); ++i) {
          if (!ShapedType::isDynamic(shape[i]) && shape[i] != g2[i])
            return fileError() << "--input-shape gives '" << name
                               << "' dimension " << i << " = " << g2[i]
                               << " but the model fixes it to " << shape[i];
          shape[i] = g2[i];
        }
      }
    }
    SmallVector<int64_t> staticDims;
    for (int64_t d : shape)
      if (!ShapedType::isDynamic(d))
        staticDims.push_back(d);
    if (!checkedElementCount(staticDims, elementByteSize(et)))
      return fileError() << "graph input '" << name << "' has shape "
                         << shapeStr(shape) << " whose size overflows";
    types.push_back(RankedTensorType::get(shape, et));
    names.push_back(name);
  }
  for (const auto &kv : options.inputShapes)
    if (!argNames.contains(kv.getKey()))
      return fileError() << "--input-shape names '" << kv.getKey()
                         << "', which is not a graph input of this model";
  return success();
}

LogicalResult Importer::importInitializers() {
  onnx::GraphProto *g = model.mutable_graph();
  for (onnx::TensorProto &t : *g->mutable_initializer()) {
    std::string name = t.name();
    Location loc = NameLoc::get(StringAttr::get(ctx, name), fileLoc);
    auto attr = tensorToAttr(t, "initializer '" + name + "'", loc);
    if (failed(attr))
      return failure();
    Entry e;
    e.constant = *attr;
    e.loc = loc;
    e.name = name;
    entries[name] = std::move(e);
  }
  return success();
}

LogicalResult Importer::importNode(Node &node) {
  const OpInfo *info = lookupOp(node.opType());
  if (!info)
    return nodeError(node) << "unsupported op";
  if (opset < info->minOpset)
    return nodeError(node) << "the opset " << opset << " version of "
                           << node.opType()
                           << " is not supported (qopt implements it from "
                              "opset "
                           << info->minOpset << ")";
  if (failed(info->fn(*this, node)))
    return failure();
  for (int i = 0; i < node.proto->output_size(); ++i)
    if (node.hasOutput(i) && !lookup(node.output(i)))
      return nodeError(node) << "output " << i << " ('" << node.output(i)
                             << "') is not supported";
  return success();
}

LogicalResult Importer::importOutputs() {
  const onnx::GraphProto &g = model.graph();
  SmallVector<Value> results;
  SmallVector<Type> types;
  for (const onnx::ValueInfoProto &vi : g.output()) {
    Location loc = NameLoc::get(StringAttr::get(ctx, vi.name()), fileLoc);
    Entry *e = lookup(vi.name());
    if (!e)
      return emitError(loc)
             << "graph output '" << vi.name() << "' is undefined";
    auto v = plainValue(*e, loc);
    if (failed(v))
      return failure();
    auto t = cast<RankedTensorType>(v->getType());
    // Cross-check against the declared type.
    if (vi.has_type() && vi.type().has_tensor_type()) {
      const onnx::TypeProto::Tensor &tt = vi.type().tensor_type();
      if (tt.elem_type() != onnx::TensorProto::UNDEFINED &&
          tt.elem_type() != dataTypeFor(t.getElementType()))
        return emitError(loc)
               << "graph output '" << vi.name() << "' is declared as "
               << dataTypeName(tt.elem_type()) << " but computes "
               << dataTypeName(dataTypeFor(t.getElementType()));
      if (tt.has_shape()) {
        const auto &dims = tt.shape().dim();
        if (dims.size() != t.getRank())
          return emitError(loc)
                 << "graph output '" << vi.name() << "' is declared with rank "
                 << dims.size() << " but computes "
                 << shapeStr(t.getShape());
        for (int i = 0; i < dims.size(); ++i)
          if (dims[i].has_dim_value() && !t.isDynamicDim(i) &&
              dims[i].dim_value() != t.getDimSize(i))
            return emitError(loc)
                   << "graph output '" << vi.name()
                   << "' is declared with dimension " << i << " = "
                   << dims[i].dim_value() << " but computes "
                   << shapeStr(t.getShape());
      }
    }
    results.push_back(*v);
    types.push_back(t);
  }
  func::ReturnOp::create(builder, fileLoc, results);
  func.setFunctionType(
      FunctionType::get(ctx, func.getFunctionType().getInputs(), types));
  for (auto [i, vi] : llvm::enumerate(g.output()))
    func.setResultAttr(i, "qopt.name", StringAttr::get(ctx, vi.name()));
  return success();
}

FailureOr<OwningOpRef<ModuleOp>> Importer::run() {
  ctx->getOrLoadDialect<qopt::QOptDialect>();
  ctx->getOrLoadDialect<quant::QuantDialect>();
  ctx->getOrLoadDialect<func::FuncDialect>();

  if (failed(parseModel()) || failed(checkModel()) ||
      failed(checkSupportedOps()) || failed(checkOpset()))
    return failure();
  auto order = sortNodes();
  if (failed(order))
    return failure();
  SmallVector<Type> argTypes;
  SmallVector<std::string> argNames;
  if (failed(importInputs(argTypes, argNames)))
    return failure();

  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  module->getOperation()->setAttr(
      "qopt.source", StringAttr::get(ctx, llvm::sys::path::filename(path)));
  module->getOperation()->setAttr("qopt.format", StringAttr::get(ctx, "onnx"));
  module->getOperation()->setAttr("qopt.opset",
                                  builder.getI64IntegerAttr(opset));
  builder.setInsertionPointToEnd(module->getBody());
  func = func::FuncOp::create(builder, fileLoc, options.functionName,
                              FunctionType::get(ctx, argTypes, {}));
  Block *body = func.addEntryBlock();
  for (auto [i, name] : llvm::enumerate(argNames)) {
    func.setArgAttr(i, "qopt.name", StringAttr::get(ctx, name));
    BlockArgument arg = body->getArgument(i);
    arg.setLoc(NameLoc::get(StringAttr::get(ctx, name), fileLoc));
    Entry e;
    e.value = arg;
    e.name = name;
    entries[name] = std::move(e);
  }
  builder.setInsertionPointToEnd(body);

  if (failed(importInitializers()))
    return failure();
  onnx::GraphProto *g = model.mutable_graph();
  for (int i : *order) {
    std::string name = nodeName(i);
    Node node{g->mutable_node(i), i, name,
              NameLoc::get(StringAttr::get(ctx, name), fileLoc)};
    if (failed(importNode(node)))
      return failure();
  }
  if (failed(importOutputs()))
    return failure();
  if (failed(mlir::verify(*module)))
    return failure();
  return module;
}

//===----------------------------------------------------------------------===//
// Public API
//===----------------------------------------------------------------------===//

FailureOr<OwningOpRef<ModuleOp>>
qopt::importONNXFile(MLIRContext &context, StringRef path,
                     const ONNXImportOptions &options) {
  Importer importer(context, path, options);
  return importer.run();
}

std::vector<std::string> qopt::supportedONNXOps() { return supportedOpTypes(); }

std::string
qopt::parseInputShapes(StringRef spec,
                       llvm::StringMap<llvm::SmallVector<int64_t>> &out) {
  SmallVector<StringRef> items;
  spec.split(items, ',', /*MaxSplit=*/-1, /*KeepEmpty=*/false);
  if (items.empty())
    return "expected name:d0xd1x..., got '" + spec.str() + "'";
  for (StringRef item : items) {
    item = item.trim();
    // Names may contain ':' (e.g. "input:0"): split at the last one.
    size_t colon = item.rfind(':');
    if (colon == StringRef::npos)
      return "expected name:d0xd1x... in '" + item.str() + "'";
    StringRef name = item.take_front(colon).trim();
    StringRef dims = item.drop_front(colon + 1).trim();
    if (name.empty())
      return "missing input name in '" + item.str() + "'";
    SmallVector<int64_t> shape;
    if (!dims.empty()) {
      SmallVector<StringRef> parts;
      dims.split(parts, 'x');
      for (StringRef p : parts) {
        int64_t d;
        p = p.trim();
        if (p.empty() || p.getAsInteger(10, d) || d < 0)
          return "invalid dimension '" + p.str() + "' for '" + name.str() +
                 "' (dimensions are non-negative integers separated by 'x')";
        shape.push_back(d);
      }
      if (!checkedElementCount(shape, 8))
        return "the shape of '" + name.str() + "' overflows";
    }
    if (!out.try_emplace(name, std::move(shape)).second)
      return "input '" + name.str() + "' is given twice";
  }
  return "";
}
