import NN
import QuantCore
import Quantizers
import TensorEngine

/// A layer that takes several inputs (`QuantEltwiseAdd`, `QuantCat`).
public protocol QuantMultiInputLayer: Module {
    func forward(_ inputs: [QuantValue]) throws -> QuantValue
}

/// Quantized addition (Brevitas `QuantEltwiseAdd`): `output_quant(input_quant(a) + input_quant(b))`,
/// with one input quantizer shared by both operands (so both get the same scale in eval mode).
public final class QuantEltwiseAdd: Module, QuantMultiInputLayer {
    public let inputQuant: ActQuantProxy
    public let outputQuant: ActQuantProxy
    public let returnQuantTensor: Bool

    public init(inputQuant: ActQuant? = .int8ActPerTensorFloat, outputQuant: ActQuant? = .int8ActPerTensorFloat,
                returnQuantTensor: Bool = false) throws(QuantConfigError) {
        self.inputQuant = try ActQuantProxy(config: inputQuant, activation: .identity, fused: false, context: "QuantEltwiseAdd.input_quant")
        self.outputQuant = try ActQuantProxy(config: outputQuant, activation: .identity, fused: false, context: "QuantEltwiseAdd.output_quant")
        self.returnQuantTensor = returnQuantTensor
        super.init()
        registerModule("input_quant", self.inputQuant)
        registerModule("output_quant", self.outputQuant)
    }

    public func forward(_ inputs: [QuantValue]) throws -> QuantValue {
        precondition(inputs.count == 2, "QuantEltwiseAdd takes 2 inputs, got \(inputs.count)")
        return try sum(quantized: inputQuant(inputs[0]), inputQuant(inputs[1]))
    }

    /// The rest of `forward` once both operands went through `inputQuant`: the sum, the output
    /// quantizer, the output packing (`LayerFusion.residualTail` quantizes one operand itself).
    func sum(quantized a: QuantValue, _ b: QuantValue) throws -> QuantValue {
        let sum = try qt { () throws -> QuantValue in
            switch (a, b) {
            case (.quant(let x), .quant(let y)): return .quant(try x + y)
            case (.quant(let x), .float(let y)): return .quant(x + y)
            case (.float(let x), .quant(let y)): return .quant(y + x)
            case (.float(let x), .float(let y)): return .float(x + y)
            }
        }
        return try pack(outputQuant(sum), returnQuantTensor, "QuantEltwiseAdd")
    }

    /// The dequantized sum.
    public func callAsFunction(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        try forward([.float(a), .float(b)]).value
    }
}

/// Quantized concatenation (Brevitas `QuantCat`): `output_quant(cat(input_quant(x_i), dim))`.
/// Brevitas 0.13.4's own QuantCat fails (`QuantTensor.cat` does not exist there); this one
/// concatenates with QuantTensor cat semantics: in training the operands' metadata is averaged,
/// in eval scales and zero points must match (they do, since one input quantizer serves all).
public final class QuantCat: Module, QuantMultiInputLayer {
    public let inputQuant: ActQuantProxy
    public let outputQuant: ActQuantProxy
    public let returnQuantTensor: Bool
    public let dim: Int

    public init(dim: Int = 1, inputQuant: ActQuant? = .int8ActPerTensorFloat, outputQuant: ActQuant? = .int8ActPerTensorFloat,
                returnQuantTensor: Bool = false) throws(QuantConfigError) {
        self.dim = dim
        self.inputQuant = try ActQuantProxy(config: inputQuant, activation: .identity, fused: false, context: "QuantCat.input_quant")
        self.outputQuant = try ActQuantProxy(config: outputQuant, activation: .identity, fused: false, context: "QuantCat.output_quant")
        self.returnQuantTensor = returnQuantTensor
        super.init()
        registerModule("input_quant", self.inputQuant)
        registerModule("output_quant", self.outputQuant)
    }

    public func forward(_ inputs: [QuantValue]) throws -> QuantValue { try forward(inputs, dim: dim) }

    public func forward(_ inputs: [QuantValue], dim: Int) throws -> QuantValue {
        let qs = inputs.map { inputQuant($0) }
        let joined: QuantValue = try qt {
            let quants = qs.compactMap(\.quantTensor)
            if quants.count == qs.count { return .quant(try QuantTensor.cat(quants, dim: dim)) }
            return .float(Tensor.cat(qs.map(\.value), dim: dim))
        }
        return try pack(outputQuant(joined), returnQuantTensor, "QuantCat")
    }
}

/// Brevitas `pack_output`: the value alone, or the QuantTensor (an error if there is none).
func pack(_ out: QuantValue, _ returnQuantTensor: Bool, _ layer: String) throws -> QuantValue {
    guard returnQuantTensor else { return .float(out.value) }
    guard out.quantTensor != nil else {
        throw QuantLayerError.notQuantized(layer: layer, reason: "its output quantizer is disabled and its inputs are not QuantTensors")
    }
    return out
}
