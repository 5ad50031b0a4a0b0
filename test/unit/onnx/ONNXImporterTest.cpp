//===- ONNXImporterTest.cpp - Tests for the ONNX importer -----------------===//
//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//
//===----------------------------------------------------------------------===//
//
// Builds small ONNX models with the protobuf API, imports them and checks
// the printed IR (or the single error). Also runs the malformed corpus in
// test/corpus/onnx against its EXPECTED.txt.
//
//===----------------------------------------------------------------------===//

#include "qopt/onnx/ONNXImporter.h"
#include "qopt/dialects/qopt/QOptDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <onnx/onnx_pb.h>

#include "gtest/gtest.h"

#include <cstring>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <vector>

using namespace qopt;

#ifndef QOPT_SOURCE_DIR
#error "QOPT_SOURCE_DIR must be defined by the build"
#endif

namespace {

//===----------------------------------------------------------------------===//
// Model building helpers
//===----------------------------------------------------------------------===//

struct Model {
  onnx::ModelProto proto;
  onnx::GraphProto *graph;

  explicit Model(int64_t opset = 17) {
    proto.set_ir_version(8);
    auto *o = proto.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    graph = proto.mutable_graph();
    graph->set_name("g");
  }

  static void setType(onnx::ValueInfoProto *vi, int32_t elem,
                      std::initializer_list<int64_t> shape,
                      bool ranked = true) {
    auto *tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem);
    if (!ranked)
      return;
    auto *s = tt->mutable_shape();
    for (int64_t d : shape) {
      auto *dim = s->add_dim();
      if (d >= 0)
        dim->set_dim_value(d);
      else
        dim->set_dim_param("N");
    }
  }

  /// Dims < 0 become the symbolic dim "N".
  void input(const std::string &name, std::initializer_list<int64_t> shape,
             int32_t elem = onnx::TensorProto::FLOAT) {
    auto *vi = graph->add_input();
    vi->set_name(name);
    setType(vi, elem, shape);
  }
  void output(const std::string &name, int32_t elem = 0) {
    auto *vi = graph->add_output();
    vi->set_name(name);
    if (elem)
      vi->mutable_type()->mutable_tensor_type()->set_elem_type(elem);
  }
  onnx::NodeProto *node(const std::string &op,
                        std::initializer_list<std::string> ins,
                        std::initializer_list<std::string> outs,
                        const std::string &name = "") {
    auto *n = graph->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const auto &i : ins)
      n->add_input(i);
    for (const auto &o : outs)
      n->add_output(o);
    return n;
  }
  onnx::TensorProto *floats(const std::string &name,
                            std::initializer_list<int64_t> dims,
                            const std::vector<float> &values) {
    auto *t = graph->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims)
      t->add_dims(d);
    t->set_raw_data(std::string(reinterpret_cast<const char *>(values.data()),
                                values.size() * sizeof(float)));
    return t;
  }
  onnx::TensorProto *ints(const std::string &name,
                          std::initializer_list<int64_t> dims,
                          std::initializer_list<int64_t> values) {
    auto *t = graph->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    for (int64_t d : dims)
      t->add_dims(d);
    for (int64_t v : values)
      t->add_int64_data(v);
    return t;
  }
  template <typename T>
  onnx::TensorProto *scalar(const std::string &name, int32_t type, T v) {
    auto *t = graph->add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    t->set_raw_data(std::string(reinterpret_cast<const char *>(&v), sizeof v));
    return t;
  }
};

void setInts(onnx::NodeProto *n, const std::string &name,
             std::initializer_list<int64_t> values) {
  auto *a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values)
    a->add_ints(v);
}
void setInt(onnx::NodeProto *n, const std::string &name, int64_t v) {
  auto *a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
void setString(onnx::NodeProto *n, const std::string &name,
               const std::string &v) {
  auto *a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

class ONNXImport : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("qopt-onnx-test", dir));
    registry.insert<qopt::QOptDialect, mlir::quant::QuantDialect,
                    mlir::func::FuncDialect>();
  }
  void TearDown() override { llvm::sys::fs::remove_directories(dir); }

  std::string path(llvm::StringRef name) {
    llvm::SmallString<256> p(dir);
    llvm::sys::path::append(p, name);
    return std::string(p);
  }

  /// Imports `bytes` written to `name`; returns the IR or "" and sets
  /// `errors` to the diagnostics.
  std::string importBytes(const std::string &bytes,
                          const ONNXImportOptions &options = {},
                          llvm::StringRef name = "m.onnx") {
    std::string file = path(name);
    {
      std::ofstream f(file, std::ios::binary);
      f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    return importFile(file, options);
  }

  std::string importFile(const std::string &file,
                         const ONNXImportOptions &options = {}) {
    errors.clear();
    numErrors = 0;
    mlir::MLIRContext ctx(registry);
    mlir::ScopedDiagnosticHandler handler(&ctx, [&](mlir::Diagnostic &d) {
      if (d.getSeverity() == mlir::DiagnosticSeverity::Error)
        ++numErrors;
      errors += d.str() + "\n";
      return mlir::success();
    });
    auto module = importONNXFile(ctx, file, options);
    if (mlir::failed(module))
      return "";
    std::string ir;
    llvm::raw_string_ostream os(ir);
    mlir::OpPrintingFlags flags;
    flags.enableDebugInfo(/*enable=*/true, /*prettyForm=*/false);
    (*module)->print(os, flags);
    return ir;
  }

  std::string import(Model &m, const ONNXImportOptions &options = {}) {
    return importBytes(m.proto.SerializeAsString(), options);
  }

  /// Expects the import to fail with exactly one error containing `what`.
  void expectError(Model &m, llvm::StringRef what) {
    std::string ir = import(m);
    EXPECT_EQ(ir, "");
    EXPECT_EQ(numErrors, 1) << errors;
    EXPECT_NE(errors.find(what.str()), std::string::npos)
        << "expected '" << what.str() << "' in: " << errors;
  }

  llvm::SmallString<128> dir;
  mlir::DialectRegistry registry;
  std::string errors;
  int numErrors = 0;
};

#define EXPECT_HAS(ir, text)                                                   \
  EXPECT_NE((ir).find(text), std::string::npos)                                \
      << "expected '" << (text) << "' in:\n"                                   \
      << (ir)

//===----------------------------------------------------------------------===//
// API helpers
//===----------------------------------------------------------------------===//

TEST(ONNXImporterAPI, ParseInputShapes) {
  llvm::StringMap<llvm::SmallVector<int64_t>> shapes;
  EXPECT_EQ(parseInputShapes("x:1x3x224x224, mask:1x128,input:0:4,s:", shapes),
            "");
  ASSERT_EQ(shapes.size(), 4u);
  EXPECT_EQ(shapes["x"], (llvm::SmallVector<int64_t>{1, 3, 224, 224}));
  EXPECT_EQ(shapes["mask"], (llvm::SmallVector<int64_t>{1, 128}));
  EXPECT_EQ(shapes["input:0"], (llvm::SmallVector<int64_t>{4}));
  EXPECT_TRUE(shapes["s"].empty());

  for (const char *bad : {"x", ":4", "x:1x", "x:-1", "x:1xa", "x:1,x:2",
                          "x:99999999999x99999999999"}) {
    llvm::StringMap<llvm::SmallVector<int64_t>> s;
    EXPECT_NE(parseInputShapes(bad, s), "") << bad;
  }
}

TEST(ONNXImporterAPI, SupportedOpsAreSorted) {
  std::vector<std::string> ops = supportedONNXOps();
  EXPECT_TRUE(std::is_sorted(ops.begin(), ops.end()));
  for (const char *op : {"MatMul",
                         "Gemm",
                         "Conv",
                         "MaxPool",
                         "AveragePool",
                         "GlobalAveragePool",
                         "Add",
                         "Sub",
                         "Mul",
                         "Div",
                         "Pow",
                         "Sqrt",
                         "Exp",
                         "Erf",
                         "Tanh",
                         "Sigmoid",
                         "Relu",
                         "Gelu",
                         "Neg",
                         "Softmax",
                         "LayerNormalization",
                         "ReduceMean",
                         "ReduceSum",
                         "ReduceMax",
                         "Reshape",
                         "Flatten",
                         "Squeeze",
                         "Unsqueeze",
                         "Transpose",
                         "Concat",
                         "Slice",
                         "Gather",
                         "Where",
                         "Cast",
                         "Identity",
                         "Constant",
                         "Shape",
                         "QuantizeLinear",
                         "DequantizeLinear",
                         "QLinearMatMul",
                         "QLinearConv",
                         "MatMulInteger",
                         "ConvInteger",
                         "DynamicQuantizeLinear"})
    EXPECT_TRUE(std::binary_search(ops.begin(), ops.end(), op)) << op;
  EXPECT_EQ(ops.size(), 44u);
}

//===----------------------------------------------------------------------===//
// Module convention
//===----------------------------------------------------------------------===//

TEST_F(ONNXImport, ModuleConvention) {
  Model m(13);
  m.input("x", {1, 4});
  m.input("w", {4, 3}); // also an initializer: a constant, not an argument
  m.floats("w", {4, 3}, std::vector<float>(12, 0.5f));
  m.node("MatMul", {"x", "w"}, {"t"}, "fc");
  m.node("Relu", {"t"}, {"y"}); // unnamed: "Relu_1"
  m.output("y");
  std::string ir = import(m);
  ASSERT_NE(ir, "") << errors;
  EXPECT_HAS(ir, "qopt.format = \"onnx\"");
  EXPECT_HAS(ir, "qopt.opset = 13 : i64");
  EXPECT_HAS(ir, "qopt.source = \"m.onnx\"");
  EXPECT_HAS(ir, "func.func @main(%arg0: tensor<1x4xf32> {qopt.name = \"x\"}");
  EXPECT_HAS(ir, "-> (tensor<1x3xf32> {qopt.name = \"y\"})");
  EXPECT_HAS(ir, "qopt.constant dense<5.000000e-01> : tensor<4x3xf32>");
  EXPECT_HAS(ir, "qopt.matmul");
  // Locations print as aliases: #loc is the file, ops name their node.
  EXPECT_HAS(ir, "#loc = loc(\"" + path("m.onnx") + "\":0:0)");
  EXPECT_HAS(ir, "loc(\"fc\"(#loc))");
  EXPECT_HAS(ir, "loc(\"Relu_1\"(#loc))");
}

TEST_F(ONNXImport, LargeInitializersAreResources) {
  Model m;
  m.input("x", {1, 17});
  std::vector<float> w(17 * 2);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = static_cast<float>(i);
  m.floats("fc1.weight", {17, 2}, w);
  m.node("MatMul", {"x", "fc1.weight"}, {"y"}, "fc1");
  m.output("y");
  std::string ir = import(m);
  ASSERT_NE(ir, "") << errors;
  EXPECT_HAS(ir, "dense_resource<fc1.weight> : tensor<17x2xf32>");
  EXPECT_HAS(ir, "fc1.weight: \"0x04000000000000000000803F");
}

TEST_F(ONNXImport, ExternalDataIsMapped) {
  std::vector<float> w(32);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = static_cast<float>(i);
  {
    std::ofstream f(path("weights.bin"), std::ios::binary);
    f.write("pad!", 4);
    f.write(reinterpret_cast<const char *>(w.data()), 128);
  }
  Model m;
  m.input("x", {1, 4});
  auto *t = m.graph->add_initializer();
  t->set_name("w");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(4);
  t->add_dims(8);
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  for (auto [k, v] :
       {std::pair<const char *, const char *>{"location", "weights.bin"},
        {"offset", "4"},
        {"length", "128"}}) {
    auto *e = t->add_external_data();
    e->set_key(k);
    e->set_value(v);
  }
  m.node("MatMul", {"x", "w"}, {"y"}, "mm");
  m.output("y");
  std::string ir = import(m);
  ASSERT_NE(ir, "") << errors;
  EXPECT_HAS(ir, "dense_resource<w> : tensor<4x8xf32>");
  EXPECT_HAS(ir, "w: \"0x04000000000000000000803F00000040");
}

TEST_F(ONNXImport, NodesAreSortedTopologically) {
  Model m;
  m.input("x", {2});
  m.node("Relu", {"a"}, {"y"}, "second");
  m.node("Neg", {"x"}, {"a"}, "first");
  m.output("y");
  std::string ir = import(m);
  ASSERT_NE(ir, "") << errors;
  size_t neg = ir.find("qopt.neg"), relu = ir.find("qopt.relu");
  ASSERT_NE(neg, std::string::npos);
  ASSERT_NE(relu, std::string::npos);
  EXPECT_LT(neg, relu);
}

TEST_F(ONNXImport, DynamicDimsAndInputShapes) {
  Model m;
  m.input("x", {-1, 4});
  m.node("Relu", {"x"}, {"y"}, "r");
  m.output("y");
  std::string ir = import(m);
  ASSERT_NE(ir, "") << errors;
  EXPECT_HAS(ir, "tensor<?x4xf32>");
  ONNXImportOptions options;
  options.inputShapes["x"] = {3, 4};
  options.functionName = "forward";
  ir = import(m, options);
  ASSERT_NE(ir, "") << errors;
  EXPECT_HAS(ir, "func.func @forward(%arg0: tensor<3x4xf32>");
  options.inputShapes["x"] = {3, 5};
  EXPECT_EQ(import(m, options), "");
  EXPECT_NE(errors.find("the model fixes it to 4"), std::string::npos)
      << errors;
}

//===----------------------------------------------------------------------===//
// Ops
//===----------------------------------------------------------------------===//

TEST_F(ONNXImport, ShapeArithmeticFoldsIntoReshape) {
  Model m;
  m.input("x", {2, 3, 4});
  m.ints("zero", {}, {0});
  m.ints("minus1", {1}, {-1});
  m.node("Shape", {"x"}, {"s"}, "shape");
  auto *g = m.node("Gather", {"s", "zero"}, {"d0"}, "gather");
  setInt(g, "axis", 0);
  m.ints("ax0", {1}, {0});
  m.node("Unsqueeze", {"d0", "ax0"}, {"d0u"}, "unsq");
  auto *c = m.node("Concat", {"d0u", "minus1"}, {"target"}, "cat");
  setInt(c, "axis", 0);
  m.node("Reshape", {"x", "target"}, {"y"}, "reshape");
  m.output("y");
  std::string ir = import(m);
  ASSERT_NE(ir, "") << errors;
  EXPECT_HAS(ir,
             "qopt.reshape %arg0 : (tensor<2x3x4xf32>) -> tensor<2x12xf32>");
  EXPECT_EQ(ir.find("qopt.gather"), std::string::npos) << ir;
  EXPECT_EQ(ir.find("qopt.concat"), std::string::npos) << ir;
}

TEST_F(ONNXImport, ReshapeZeroAndAllowZero) {
  Model m(14);
  m.input("x", {2, 3, 4});
  m.ints("shape", {3}, {0, -1, 2});
  m.node("Reshape", {"x", "shape"}, {"y"}, "r");
  m.output("y");
  std::string ir = import(m);
  ASSERT_NE(ir, "") << errors;
  EXPECT_HAS(ir, "-> tensor<2x6x2xf32>");

  Model bad(14);
  bad.input("x", {2, 3, 4});
  bad.ints("shape", {2}, {0, -1});
  setInt(bad.node("Reshape", {"x", "shape"}, {"y"}, "r"), "allowzero", 1);
  bad.output("y");
  expectError(bad, "cannot contain both 0 and -1");
}

TEST_F(ONNXImport, SliceNormalization) {
  Model m(13);
  m.input("x", {4, 10});
  const int64_t big = std::numeric_limits<int64_t>::max();
  m.ints("starts", {2}, {-1, 100});
  m.ints("ends", {2}, {-big, 2});
  m.ints("axes", {2}, {0, -1});
  m.ints("steps", {2}, {-1, -3});
  m.node("Slice", {"x", "starts", "ends", "axes", "steps"}, {"y"}, "s");
  m.output("y");
  std::string ir = import(m);
  ASSERT_NE(ir, "") << errors;
  // numpy: x[-1::-1, 100:2:-3] -> rows 3..0, columns 9, 6, 3.
  EXPECT_HAS(ir, "ends = array<i64: -1, 2>, starts = array<i64: 3, 9>, "
                 "steps = array<i64: -1, -3>");
  EXPECT_HAS(ir, "-> tensor<4x3xf32>");
}

TEST_F(ONNXImport, MatMulVectors) {
  Model m;
  m.input("v", {4});
  m.input("a", {2, 3, 4});
  m.floats("w", {4, 5}, std::vector<float>(20, 1.0f));
  m.node("MatMul", {"v", "w"}, {"y1"}, "vw"); // [4] x [4,5] -> [5]
  m.node("MatMul", {"a", "v"}, {"y2"}, "av"); // [2,3,4] x [4] -> [2,3]
  m.input("b", {2, 4, 6});
  m.node("MatMul", {"v", "b"}, {"y3"}, "vb"); // [4] x [2,4,6] -> [2,6]
  m.output("y1");
  m.output("y2");
  m.output("y3");
  std::string ir = import(m);
  ASSERT_NE(ir, "") << errors;
  EXPECT_HAS(ir, "-> (tensor<5xf32> {qopt.name = \"y1\"}, tensor<2x3xf32> "
                 "{qopt.name = \"y2\"}, tensor<2x6xf32> {qopt.name = \"y3\"})");
  EXPECT_HAS(ir, "qopt.batch_matmul");
}

TEST_F(ONNXImport, ConvAutoPad) {
  for (auto [mode, pads] :
       {std::pair<const char *, const char *>{"SAME_UPPER", "0, 0, 1, 1"},
        {"SAME_LOWER", "1, 1, 0, 0"},
        {"VALID", ""}}) {
    Model m;
    m.input("x", {1, 1, 5, 5});
    m.floats("w", {1, 1, 2, 2}, std::vector<float>(4, 1.0f));
    setString(m.node("Conv", {"x", "w"}, {"y"}, "conv"), "auto_pad", mode);
    m.output("y");
    std::string ir = import(m);
    ASSERT_NE(ir, "") << errors;
    if (*pads)
      EXPECT_HAS(ir, std::string("pads = array<i64: ") + pads + ">");
    else
      EXPECT_EQ(ir.find("pads ="), std::string::npos) << ir;
  }
}

TEST_F(ONNXImport, QDQWithConstantParamsIsStatic) {
  Model m;
  m.input("x", {1, 4});
  m.scalar("s", onnx::TensorProto::FLOAT, 0.5f);
  m.scalar("z", onnx::TensorProto::INT8, static_cast<int8_t>(-3));
  m.node("QuantizeLinear", {"x", "s", "z"}, {"q"}, "q");
  m.node("DequantizeLinear", {"q", "s", "z"}, {"y"}, "dq");
  m.output("y");
  std::string ir = import(m);
  ASSERT_NE(ir, "") << errors;
  EXPECT_HAS(ir, "qopt.quantize %arg0 : (tensor<1x4xf32>) -> "
                 "tensor<1x4x!quant.uniform<i8:f32, 5.000000e-01:-3>>");
  EXPECT_HAS(ir, "qopt.dequantize %0 : (tensor<1x4x!quant.uniform<i8:f32, "
                 "5.000000e-01:-3>>) -> tensor<1x4xf32>");
}

TEST_F(ONNXImport, QuantizedWeightsArePerAxis) {
  Model m;
  m.input("x", {1, 2});
  auto *w = m.graph->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::INT8);
  w->add_dims(2);
  w->add_dims(3);
  for (int v : {1, -2, 3, -4, 5, -6})
    w->add_int32_data(v);
  m.floats("ws", {3}, {0.5f, 0.25f, 0.125f});
  auto *dq = m.node("DequantizeLinear", {"w", "ws"}, {"wf"}, "dqw");
  setInt(dq, "axis", 1);
  m.node("MatMul", {"x", "wf"}, {"y"}, "mm");
  m.output("y");
  std::string ir = import(m);
  ASSERT_NE(ir, "") << errors;
  EXPECT_HAS(ir, "quant.scast");
  EXPECT_HAS(ir, "!quant.uniform<i8:f32:1, {5.000000e-01,2.500000e-01,"
                 "1.250000e-01}>");
}

TEST_F(ONNXImport, QLinearMatMulRequantizes) {
  Model m(10);
  m.input("a", {2, 4}, onnx::TensorProto::UINT8);
  m.input("b", {4, 3}, onnx::TensorProto::UINT8);
  for (const char *s : {"as", "bs", "ys"})
    m.input(s, {}, onnx::TensorProto::FLOAT);
  for (const char *z : {"az", "bz", "yz"})
    m.input(z, {}, onnx::TensorProto::UINT8);
  m.node("QLinearMatMul", {"a", "as", "az", "b", "bs", "bz", "ys", "yz"}, {"y"},
         "qmm");
  m.output("y");
  std::string ir = import(m);
  ASSERT_NE(ir, "") << errors;
  size_t mm = ir.find("qopt.matmul_integer"), mul = ir.find("qopt.mul"),
         div = ir.find("qopt.div"), rq = ir.find("qopt.requantize");
  ASSERT_NE(rq, std::string::npos) << ir;
  EXPECT_LT(mm, mul);
  EXPECT_LT(mul, div);
  EXPECT_LT(div, rq);
  EXPECT_HAS(ir, "-> tensor<2x3xui8>");
}

TEST_F(ONNXImport, ConstantVariants) {
  Model m(13);
  auto *c = m.node("Constant", {}, {"a"}, "c1");
  auto *attr = c->add_attribute();
  attr->set_name("value_floats");
  attr->set_type(onnx::AttributeProto::FLOATS);
  attr->add_floats(1.0f);
  attr->add_floats(2.0f);
  setInts(m.node("Constant", {}, {"b"}, "c2"), "value_ints", {3, 4});
  m.output("a");
  m.output("b");
  std::string ir = import(m);
  ASSERT_NE(ir, "") << errors;
  EXPECT_HAS(ir, "dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>");
  EXPECT_HAS(ir, "dense<[3, 4]> : tensor<2xi64>");
}

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

TEST_F(ONNXImport, AllUnsupportedOpsInOneError) {
  Model m;
  m.input("x", {2});
  m.node("Foo", {"x"}, {"a"}, "n1");
  m.node("Bar", {"a"}, {"b"}, "n2");
  m.node("Foo", {"b"}, {"y"}); // unnamed: Foo_2
  m.output("y");
  expectError(m, "unsupported ONNX ops: Foo (nodes: n1, Foo_2), Bar (nodes: "
                 "n2)");
}

TEST_F(ONNXImport, StructuralErrors) {
  {
    Model m;
    m.input("x", {2});
    m.node("Relu", {"missing"}, {"y"}, "r");
    m.output("y");
    expectError(m, "node 'r' (Relu) uses tensor 'missing'");
  }
  {
    Model m;
    m.input("x", {2});
    m.node("Relu", {"x"}, {"y"}, "r1");
    m.node("Neg", {"x"}, {"y"}, "r2");
    m.output("y");
    expectError(m, "tensor 'y' is defined twice");
  }
  {
    Model m;
    m.input("x", {2});
    m.node("Add", {"x", "c"}, {"b"}, "a1");
    m.node("Relu", {"b"}, {"c"}, "a2");
    m.node("Relu", {"b"}, {"y"}, "a3");
    m.output("y");
    expectError(m, "the graph has a cycle: 'a1' (Add) -> 'a2' (Relu) -> "
                   "'a1' (Add)");
  }
}

TEST_F(ONNXImport, GarbageAndTruncation) {
  EXPECT_EQ(importBytes(""), "");
  EXPECT_EQ(numErrors, 1);
  EXPECT_NE(errors.find("the file is empty"), std::string::npos) << errors;

  Model m;
  m.input("x", {64});
  m.floats("w", {64}, std::vector<float>(64, 1.0f));
  m.node("Add", {"x", "w"}, {"y"}, "add");
  m.output("y");
  std::string bytes = m.proto.SerializeAsString();
  for (size_t cut :
       {size_t{1}, bytes.size() / 3, bytes.size() / 2, bytes.size() - 1}) {
    EXPECT_EQ(importBytes(bytes.substr(0, cut)), "") << cut;
    EXPECT_EQ(numErrors, 1) << errors;
  }
  std::string garbage(200, '\0');
  for (size_t i = 0; i < garbage.size(); ++i)
    garbage[i] = static_cast<char>((i * 131 + 7) % 256);
  garbage[0] = '\xff';
  EXPECT_EQ(importBytes(garbage), "");
  EXPECT_EQ(numErrors, 1) << errors;
}

//===----------------------------------------------------------------------===//
// The committed malformed corpus
//===----------------------------------------------------------------------===//

TEST_F(ONNXImport, CorpusFilesFailWithTheirMessage) {
  llvm::SmallString<256> corpus(QOPT_SOURCE_DIR);
  llvm::sys::path::append(corpus, "test", "corpus", "onnx");
  llvm::SmallString<256> expectedPath(corpus);
  llvm::sys::path::append(expectedPath, "EXPECTED.txt");
  auto buf = llvm::MemoryBuffer::getFile(expectedPath);
  ASSERT_TRUE(static_cast<bool>(buf)) << expectedPath.str().str();
  llvm::SmallVector<llvm::StringRef> lines;
  (*buf)->getBuffer().split(lines, '\n', -1, false);
  int checked = 0;
  for (llvm::StringRef line : lines) {
    if (line.starts_with("#"))
      continue;
    auto [file, expected] = line.split(": ");
    llvm::SmallString<256> p(corpus);
    llvm::sys::path::append(p, file);
    EXPECT_EQ(importFile(std::string(p)), "") << file.str();
    EXPECT_EQ(numErrors, 1) << file.str() << ": " << errors;
    EXPECT_NE(errors.find(expected.str()), std::string::npos)
        << file.str() << ": expected '" << expected.str() << "' in " << errors;
    ++checked;
  }
  EXPECT_GE(checked, 16);
}

} // namespace
