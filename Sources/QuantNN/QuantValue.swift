import NN
import TensorEngine

/// What flows between quantized layers: a plain tensor or a `QuantTensor` (Brevitas passes
/// either through `forward`).
public enum QuantValue: CustomStringConvertible {
    case float(Tensor)
    case quant(QuantTensor)

    /// The dequantized values.
    public var value: Tensor {
        switch self {
        case .float(let t): return t
        case .quant(let q): return q.value
        }
    }

    /// The QuantTensor, if this is one.
    public var quantTensor: QuantTensor? {
        if case .quant(let q) = self { return q }
        return nil
    }

    public var description: String {
        switch self {
        case .float(let t): return t.description
        case .quant(let q): return q.description
        }
    }
}
