import Foundation
import NN
import ONNXImport
import ONNXProto
import SwiftProtobuf
import TensorEngine

/// A small float CNN for the digits, written as PyTorch's TorchScript exporter writes it
/// (opset 13, symbolic batch): `Conv(1->8, 3x3, pad 1) -> BatchNormalization -> Relu ->
/// MaxPool(2) -> Flatten -> Gemm(128->10)`. What a user brings to `brevitas quantize`.
enum FloatONNX {
    /// The model's weights by PyTorch key, from a seeded generator (PyTorch's default init bounds).
    static func initialWeights(seed: UInt64 = 7) -> [String: [Float]] {
        let g = RandomGenerator(seed: seed)
        func uniform(_ n: Int, _ bound: Float) -> [Float] { (0..<n).map { _ in (g.nextUniform() * 2 - 1) * bound } }
        return ["conv1.weight": uniform(72, 1.0 / 3), "conv1.bias": uniform(8, 1.0 / 3),
                "bn1.weight": (0..<8).map { 0.8 + Float($0) * 0.05 }, "bn1.bias": (0..<8).map { Float($0 % 3) * 0.05 - 0.05 },
                "bn1.running_mean": (0..<8).map { Float($0 % 4) * 0.03 }, "bn1.running_var": (0..<8).map { 0.5 + Float($0) * 0.1 },
                "fc.weight": uniform(1280, 1 / Float(128).squareRoot()), "fc.bias": uniform(10, 1 / Float(128).squareRoot())]
    }

    /// The model trained in float for `epochs` epochs on the digits (Adam, lr 0.01, batch 32):
    /// about 90% test accuracy after 4. Computed once per test process.
    static let trainedWeights: [String: [Float]] = {
        let model = try! ONNXImporter.load(data: digitsCNN(initialWeights()), file: "digits-cnn", folder: nil,
                                          inputShapes: ["input": [1, 1, 8, 8]]).graph
        let train = try! Digits.load(.train)
        let optimizer = Adam(model.parameters(), learningRate: 0.01)
        let loader = DataLoader(train, batchSize: 32, shuffle: true, seed: 1)
        model.train()
        for epoch in 0..<4 {
            for batch in loader.batches(epoch: epoch) {
                optimizer.zeroGrad()
                Tensor.crossEntropy(model(batch.inputs), targets: batch.labels).backward()
                optimizer.step()
            }
        }
        return Dictionary(uniqueKeysWithValues: model.stateDict().entries.map { ($0.key, $0.tensor.scalars) })
    }()

    /// The ONNX file of the model with `weights` (PyTorch keys).
    static func digitsCNN(_ weights: [String: [Float]] = trainedWeights) -> Data {
        let shapes: [(String, [Int64])] = [("conv1.weight", [8, 1, 3, 3]), ("conv1.bias", [8]), ("bn1.weight", [8]), ("bn1.bias", [8]),
                                           ("bn1.running_mean", [8]), ("bn1.running_var", [8]), ("fc.weight", [10, 128]), ("fc.bias", [10])]
        return torchScriptDigitsModel(initializers: shapes.map { .floats($0.0, $0.1, weights[$0.0]!) }, nodes: [
            Onnx_NodeProto("Conv", ["input", "conv1.weight", "conv1.bias"], ["/conv1/Conv_output_0"], name: "/conv1/Conv",
                           attributes: [.ints("pads", [1, 1, 1, 1]), .ints("kernel_shape", [3, 3]), .ints("strides", [1, 1])]),
            Onnx_NodeProto("BatchNormalization", ["/conv1/Conv_output_0", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"],
                           ["/bn1/BatchNormalization_output_0"], name: "/bn1/BatchNormalization", attributes: [.float("epsilon", 1e-5)]),
            Onnx_NodeProto("Relu", ["/bn1/BatchNormalization_output_0"], ["/relu1/Relu_output_0"], name: "/relu1/Relu"),
            Onnx_NodeProto("MaxPool", ["/relu1/Relu_output_0"], ["/pool/MaxPool_output_0"], name: "/pool/MaxPool",
                           attributes: [.ints("kernel_shape", [2, 2]), .ints("strides", [2, 2])]),
            Onnx_NodeProto("Flatten", ["/pool/MaxPool_output_0"], ["/Flatten_output_0"], name: "/Flatten", attributes: [.int("axis", 1)]),
            Onnx_NodeProto("Gemm", ["/Flatten_output_0", "fc.weight", "fc.bias"], ["logits"], name: "/fc/Gemm",
                           attributes: [.float("alpha", 1), .float("beta", 1), .int("transB", 1)]),
        ])
    }

    /// A digits classifier as PyTorch's TorchScript exporter writes it: IR 7, producer `pytorch`,
    /// opset 13, graph `main_graph` from `input [batch, 1, 8, 8]` to `logits [batch, 10]`.
    static func torchScriptDigitsModel(initializers: [Onnx_TensorProto], nodes: [Onnx_NodeProto]) -> Data {
        var model = Onnx_ModelProto()
        model.irVersion = 7
        model.producerName = "pytorch"
        var o = Onnx_OperatorSetIdProto()
        o.version = 13
        model.opsetImport = [o]
        var graph = Onnx_GraphProto()
        graph.name = "main_graph"
        graph.input = [.floatTensor("input", [-1, 1, 8, 8])]
        graph.output = [.floatTensor("logits", [-1, 10])]
        graph.initializer = initializers
        graph.node = nodes
        model.graph = graph
        return try! model.serializedData()
    }
}

/// A folder with the digits CNN and its data, as `ptq_brevitas.py` writes them: `float.onnx`,
/// `calib.npy` (the first `calib` training images), `test_x.npy` / `test_y.npy` (int64 labels).
func writeDigitsPTQFolder(_ dir: URL, calib: Int = 128) throws {
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    try FloatONNX.digitsCNN().write(to: dir.appendingPathComponent("float.onnx"))
    let train = try Digits.load(.train)
    let test = try Digits.load(.test)
    try NumPy.write(train.batch(at: Array(0..<calib)).inputs, to: dir.appendingPathComponent("calib.npy"))
    try NumPy.write(test.inputs, to: dir.appendingPathComponent("test_x.npy"))
    try NumPy.write(NumPyArray(shape: [test.count], values: .int64(test.labels.map(Int64.init))), to: dir.appendingPathComponent("test_y.npy"))
    try NumPy.write(NumPyArray(shape: [train.count], values: .int64(train.labels.map(Int64.init))), to: dir.appendingPathComponent("train_y.npy"))
    try NumPy.write(train.inputs, to: dir.appendingPathComponent("train_x.npy"))
}
