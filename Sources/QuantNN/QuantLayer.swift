import NN
import TensorEngine

/// A layer of the quantized stack: takes and returns plain tensors or QuantTensors.
///
/// `forward` is the general, throwing path (Brevitas's `forward`); `callAsFunction` on a
/// `Tensor` returns the dequantized output and cannot fail for single-input layers; `quant(_:)`
/// returns the output as a QuantTensor.
public protocol QuantLayer: Module {
    func forward(_ input: QuantValue) throws -> QuantValue
}

extension QuantLayer {
    /// The output QuantTensor; throws when the layer does not produce one (quantization disabled
    /// and no metadata to pass through).
    public func quant(_ x: Tensor) throws -> QuantTensor {
        try quant(.float(x))
    }

    /// The output QuantTensor for a QuantTensor input.
    public func quant(_ x: QuantTensor) throws -> QuantTensor {
        try quant(.quant(x))
    }

    func quant(_ x: QuantValue) throws -> QuantTensor {
        let out = try forward(x)
        guard let q = out.quantTensor else {
            throw QuantLayerError.notQuantized(layer: typeName, reason: "its output quantizer is disabled and no metadata passes through")
        }
        return q
    }
}

/// Errors of quantized layers.
public enum QuantLayerError: Error, CustomStringConvertible, Equatable {
    /// `returnQuantTensor` was asked for but the layer produced a plain tensor.
    case notQuantized(layer: String, reason: String)
    /// A QuantTensor operation inside the layer failed.
    case quantTensor(layer: String, QuantTensorError)
    /// A required quantized input is missing (e.g. a bias quantizer needs the input scale).
    case missingQuantInput(layer: String, reason: String)

    public var description: String {
        switch self {
        case .notQuantized(let l, let r):
            return "\(l) cannot return a QuantTensor: \(r). Enable its quantizer (e.g. pass an act_quant preset), feed it a QuantTensor through a layer that keeps metadata, or set returnQuantTensor: false."
        case .quantTensor(let l, let e): return "\(l): \(e)"
        case .missingQuantInput(let l, let r): return "\(l): \(r)"
        }
    }
}

extension Module {
    /// Wraps QuantTensor algebra errors with the layer name.
    func qt<R>(_ body: () throws -> R) throws -> R {
        do { return try body() } catch let e as QuantTensorError { throw QuantLayerError.quantTensor(layer: typeName, e) }
    }
}
