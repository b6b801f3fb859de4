import Foundation
import NN
import QuantCore
import Quantizers
import TensorEngine

/// A fixed Hadamard projection with a learned scale (Brevitas `HadamardClassifier`):
/// `out = −scale · (x / (‖x‖ + 1e−8)) · H[:cout, :cin]ᵀ`, where `‖x‖` is the Frobenius norm of
/// the **whole batch tensor** and `H` the Sylvester Hadamard matrix of size
/// `2^ceil(log2(max(cin, cout)))` (buffer `proj`). `scale` is a parameter, initially
/// `1/sqrt(cout)` (a buffer with `fixedScale`).
///
/// Output QuantTensor (for a QuantTensor input with zero point 0): scale
/// `s_in · scale / (‖x‖ + 1e−8)`, bit width `ceil(log2((2^b_in − 1) · cin))`, signed.
///
/// ```swift
/// let cls = try HadamardClassifier(inChannels: 6, outChannels: 3, returnQuantTensor: true)
/// try cls.forward(.quant(q))   // [N, 6] -> [N, 3]
/// ```
public final class HadamardClassifier: Module, QuantLayer {
    public let inChannels: Int, outChannels: Int
    public let scale: Tensor
    public let proj: Tensor
    public let returnQuantTensor: Bool
    static let eps: Float = 1e-8

    public init(inChannels: Int, outChannels: Int, fixedScale: Bool = false, returnQuantTensor: Bool = false) throws(QuantConfigError) {
        guard inChannels >= 1, outChannels >= 1 else {
            throw QuantConfigError(context: "HadamardClassifier", problems: [.init(key: "in_channels", message: "in_channels \(inChannels) and out_channels \(outChannels) must be >= 1")])
        }
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.returnQuantTensor = returnQuantTensor
        var size = 1
        while size < Swift.max(inChannels, outChannels) { size *= 2 }
        proj = Self.sylvester(size)
        scale = Tensor(1 / Float(outChannels).squareRoot())
        super.init()
        registerBuffer("proj", proj)
        if fixedScale { registerBuffer("scale", scale) } else { registerParameter("scale", scale) }
    }

    /// Sylvester's construction: `H_1 = [1]`, `H_2n = [[H, H], [H, −H]]` (equal to
    /// `scipy.linalg.hadamard`).
    static func sylvester(_ n: Int) -> Tensor {
        var h: [Float] = [1]
        var m = 1
        while m < n {
            var next = [Float](repeating: 0, count: 4 * m * m)
            for i in 0..<m {
                for j in 0..<m {
                    let v = h[i * m + j]
                    next[i * 2 * m + j] = v
                    next[i * 2 * m + j + m] = v
                    next[(i + m) * 2 * m + j] = v
                    next[(i + m) * 2 * m + j + m] = -v
                }
            }
            h = next
            m *= 2
        }
        return Tensor(shape: [n, n], h)
    }

    public override var typeName: String { "HadamardClassifier" }

    public func forward(_ input: QuantValue) throws -> QuantValue {
        let x = input.value
        let keep = [Int](repeating: 1, count: x.rank)
        let norm = (x * x).sum().sqrt().reshape(keep) + Self.eps
        let h = proj.narrow(dim: 0, start: 0, length: outChannels).narrow(dim: 1, start: 0, length: inChannels)
        let out = -(scale * Tensor.linear(x / norm, weight: h))
        guard returnQuantTensor else { return .float(out) }
        guard let q = input.quantTensor else {
            throw QuantLayerError.notQuantized(layer: "HadamardClassifier", reason: "the input is not a QuantTensor, so the output scale is unknown")
        }
        guard q.zeroPoint.scalars.allSatisfy({ $0 == 0 }) else {
            throw QuantLayerError.notQuantized(layer: "HadamardClassifier", reason: "computing the zero point of the output accumulator is not supported (input zero point is non-zero)")
        }
        let maxIn = QuantTensor.maxInt(q.bitWidth, signed: false)
        let bits = Autograd.noGrad { (maxIn * Float(inChannels)).log2().ceil() }
        return .quant(QuantTensor(value: out, scale: q.scale * scale / norm, zeroPoint: q.zeroPoint, bitWidth: bits,
                                  signed: true, training: training))
    }

    public override var extraRepr: String { "in_channels=\(inChannels), out_channels=\(outChannels)" }
}
