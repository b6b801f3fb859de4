import Foundation
import NN
import QuantCore
import QuantNN
import TensorEngine

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The two ONNX dialects Brevitas exports to.
///
/// ```swift
/// model.train()                         // calibrate / train as usual
/// ...
/// try exportONNX(model, example: x, format: .qcdq, to: URL(fileURLWithPath: "model.qcdq.onnx"))
/// try exportONNX(model, example: x, format: .qonnx, to: URL(fileURLWithPath: "model.qonnx.onnx"))
/// ```
///
/// What each layer becomes:
///
/// | layer | QCDQ (opset 13) | QONNX (opset 20 + qonnx.custom_op.general v2) |
/// |---|---|---|
/// | activation quantizer | `[Relu/Sigmoid/Tanh/Clip] -> QuantizeLinear -> [Clip] -> DequantizeLinear` | `[act] -> Quant` (`BipolarQuant` for binary) |
/// | weight | int8/uint8 codes `-> [Clip] -> DequantizeLinear` (axis 0 per channel) | float weight `-> Quant` / `BipolarQuant` |
/// | A2Q / A2Q+ weight | its integer weights `-> Clip(±127) -> DequantizeLinear` | quantized weight `-> Quant` (narrow, 8 bits) |
/// | QuantLSTM | refused, as Brevitas | `Quant` (input, weights, 32-bit biases) `-> QuantLSTMCell -> Unsqueeze` per layer and direction; as the model: outputs `output`, `h_n`, `c_n`; inside a composite: `flow.apply(lstm, to: x)` (ONNXDataflow) |
/// | quantized bias | int8/int32 codes `-> DequantizeLinear` (scale s_in·s_w) | float bias `-> Quant` (bit width 32 for Int32Bias) |
/// | float bias | float initializer | float initializer |
/// | FP8 activation (OCP/FNUZ e4m3, e5m2) | `QuantizeLinear -> DequantizeLinear` with a float8 zero point (opset 19, IR 9) | `FloatQuant` (also FP6/FP4) |
/// | FP8 weight | float8 codes `-> DequantizeLinear` | float weight `-> FloatQuant` |
/// | conv / linear | `Conv` (1-, 2-, 3-d) / `Gemm(transB=1)` (`Transpose -> MatMul -> Add` above 2-D) | same |
/// | QuantConvTranspose1d/2d | `ConvTranspose` | same |
/// | QuantScaleBias, BatchNorm2dToQuantScaleBias | `Reshape -> Mul -> [Reshape -> Add]` | same |
/// | QuantEmbedding | quantized table `-> Gather` (int64 indices) | same |
/// | QuantUpsample (nearest / bilinear) | `Resize` (bilinear: then `QuantizeLinear -> DequantizeLinear` onto the input's grid) | `Resize [-> Quant]` |
/// | pools, flatten | `MaxPool`, `AveragePool`, `GlobalAveragePool`, `Flatten` / `Reshape` | same |
/// | TruncAvgPool2d | `AveragePool -> Div -> Round -> [Div -> Round/Floor] -> Clip -> Cast -> DequantizeLinear` | `AveragePool -> Trunc` |
/// | QuantEltwiseAdd / QuantCat | input quantizers, `Add` / `Concat`, output quantizer | same |
/// | ``ONNXComposite`` (residual block) | its submodules, wired as its ``ONNXComposite/dataflow(_:in:)`` says | same |
///
/// The `Clip` after `QuantizeLinear` appears when the integer range is narrower than the 8-bit
/// container (fewer bits, or a narrow range). Anything that has no exact form in the chosen
/// format is refused with an ``ONNXExportError`` naming the layer: group-wise (MX) quantizers,
/// minifloats other than OCP/FNUZ FP8 in QCDQ, QuantLSTM in QCDQ (Brevitas raises too),
/// QuantRNN (Brevitas has no handler).
public enum ONNXFormat: String, CaseIterable, Sendable, CustomStringConvertible {
    /// Standard ONNX (opset 13): activations as `QuantizeLinear -> [Clip] -> DequantizeLinear`,
    /// weights and biases as stored integers `-> [Clip] -> DequantizeLinear`. Runs in ONNX Runtime,
    /// TensorRT and other QDQ consumers. At most 8 bits for activations and weights.
    case qcdq
    /// QONNX: the custom ops `Quant`, `BipolarQuant` and `Trunc` of domain
    /// `qonnx.custom_op.general` (FINN, hls4ml), with arbitrary bit widths.
    case qonnx

    public var description: String { rawValue }
}

/// Why a model could not be exported. Every case names the layer (its path in the model and its
/// type) so the offending piece can be found.
public enum ONNXExportError: Error, CustomStringConvertible, Equatable {
    /// The layer or one of its quantizers has no faithful representation in the format.
    case notExpressible(layer: String, format: ONNXFormat, reason: String)
    /// The model contains a module the exporter does not know how to translate.
    case unsupportedModule(layer: String, reason: String)
    /// The example inputs do not fit the model.
    case badExample(reason: String)
    /// Running the layer on the example failed (the model cannot run as configured).
    case forwardFailed(layer: String, message: String)
    /// The graph being built would not reproduce the Swift computation (an internal check).
    case inconsistent(layer: String, reason: String)
    /// The file could not be written.
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .notExpressible(let l, let f, let r): return "cannot export \(l) to \(f.rawValue.uppercased()): \(r)"
        case .unsupportedModule(let l, let r): return "cannot export \(l): \(r)"
        case .badExample(let r): return "bad example input: \(r)"
        case .forwardFailed(let l, let m): return "\(l) fails on the example input: \(m)"
        case .inconsistent(let l, let r): return "internal export check failed at \(l): \(r)"
        case .writeFailed(let p, let r): return "cannot write \(p): \(r)"
        }
    }
}

/// A quantized tensor of the exported graph together with the values Swift computed for it: the
/// output of an activation quantizer (`DequantizeLinear` in QCDQ, `Quant`/`BipolarQuant` in
/// QONNX) or of a truncation. A checker can expose these tensors and compare integer codes.
public struct ONNXQuantPoint {
    /// The name of the tensor in the graph.
    public let tensorName: String
    /// The layer and quantizer, e.g. `'features.1' (QuantReLU) act_quant`.
    public let layer: String
    /// Swift's eval-mode (dequantized) values at this point.
    public let value: Tensor
    public let scale: Tensor
    public let zeroPoint: Tensor
    public let bitWidth: Int
    public let signed: Bool
    /// The minifloat format of an FP8 (or other minifloat) quantizer; `nil` for integers. The
    /// values then lie on the format's grid times `scale` instead of on integer codes.
    public let minifloat: MinifloatFormat?

    init(tensorName: String, layer: String, value: Tensor, scale: Tensor, zeroPoint: Tensor, bitWidth: Int, signed: Bool,
         minifloat: MinifloatFormat? = nil) {
        self.tensorName = tensorName
        self.layer = layer
        self.value = value
        self.scale = scale
        self.zeroPoint = zeroPoint
        self.bitWidth = bitWidth
        self.signed = signed
        self.minifloat = minifloat
    }
}

/// The exported model with what Swift computed for the example inputs.
public struct ONNXExportResult {
    /// The serialized `ModelProto`.
    public let data: Data
    public let format: ONNXFormat
    /// Graph input names, in the order of the examples.
    public let inputNames: [String]
    /// The graph output's name.
    public let outputName: String
    /// The model's eval-mode output for the examples: what the graph must reproduce.
    public let output: Tensor
    /// The output's metadata when the model returns a QuantTensor.
    public let outputQuant: QuantTensor?
    /// Every quantized activation of the graph, in graph order.
    public let quantPoints: [ONNXQuantPoint]
    /// Graph outputs after `output`, with Swift's values: `h_n` and `c_n` of a `QuantLSTM`.
    public var additionalOutputs: [(name: String, value: Tensor)] = []
}

/// Exports `model` in eval mode, traced on `example` (the input shape becomes static in the
/// graph; the batch size too, unless `dynamicBatch`: then the first dimension of the graph's
/// inputs and outputs is the symbolic `batch`, so a runtime takes any batch size), and returns
/// the serialized ONNX model.
///
/// The scales, zero points and bit widths are those the quantizers produce in eval mode now
/// (learned or collected values). The model's training mode is restored afterwards.
public func exportONNX(_ model: Module, example: Tensor, format: ONNXFormat, dynamicBatch: Bool = false) throws -> Data {
    try exportONNX(model, examples: [example], format: format, dynamicBatch: dynamicBatch).data
}

/// Exports `model` as `exportONNX(_:example:format:)` and writes the file atomically (a temporary
/// file in the same directory, then a rename).
public func exportONNX(_ model: Module, example: Tensor, format: ONNXFormat, dynamicBatch: Bool = false, to url: URL) throws {
    try exportONNX(model, examples: [example], format: format, dynamicBatch: dynamicBatch, to: url)
}

/// Exports a model with one or more inputs (`QuantEltwiseAdd`, `QuantCat`) and returns the
/// serialized model with Swift's values for the examples.
public func exportONNX(_ model: Module, examples: [Tensor], format: ONNXFormat, dynamicBatch: Bool = false) throws -> ONNXExportResult {
    let saved = model.namedModules().map { ($0.module, $0.module.training) }
    model.eval()
    defer { for (m, t) in saved { m.train(t) } }
    // The graph has the unfused nodes (convolution, then BatchNorm), so the reference output is
    // the layer-by-layer forward, not the fused one (which differs by float rounding).
    return try LayerFusion.$isEnabled.withValue(false) {
        try Autograd.noGrad { try Exporter(format: format, dynamicBatch: dynamicBatch).run(model, examples: examples) }
    }
}

/// Exports and writes the file atomically; returns the details.
@discardableResult
public func exportONNX(_ model: Module, examples: [Tensor], format: ONNXFormat, dynamicBatch: Bool = false, to url: URL) throws -> ONNXExportResult {
    let result = try exportONNX(model, examples: examples, format: format, dynamicBatch: dynamicBatch)
    try writeAtomically(result.data, to: url)
    return result
}

func writeAtomically(_ data: Data, to url: URL) throws {
    do {
        try AtomicWrite.write(data, to: url)
    } catch let e as AtomicWriteError {
        throw ONNXExportError.writeFailed(path: url.path, reason: e.reason)
    }
}
