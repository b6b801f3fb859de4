import Foundation
import NN
import QuantCore
import Quantizers
import TensorEngine

/// Adaptive average pooling followed by truncation to 8 bits (Brevitas `TruncAdaptiveAvgPool2d`).
/// The window is the kernel PyTorch's adaptive pooling uses when the sizes divide evenly.
public final class TruncAdaptiveAvgPool2d: Module, QuantLayer {
    public let outputSize: IntOrPair
    public let truncQuant: TruncQuantProxy
    public let returnQuantTensor: Bool

    public init(outputSize: IntOrPair, truncQuant: TruncQuant? = .roundTo8bit, returnQuantTensor: Bool = true) {
        self.outputSize = outputSize
        self.truncQuant = TruncQuantProxy(config: truncQuant)
        self.returnQuantTensor = returnQuantTensor
        super.init()
        registerModule("trunc_quant", self.truncQuant)
    }

    public override var typeName: String { "TruncAdaptiveAvgPool2d" }
    public override var extraRepr: String { "output_size=\(outputSize)" }

    public func forward(_ input: QuantValue) throws -> QuantValue {
        let v = Tensor.adaptiveAvgPool2d(input.value, outputSize: outputSize.pair)
        guard case .quant(let q) = input, truncQuant.tensorQuant != nil else { return try pack(.float(v), returnQuantTensor, "TruncAdaptiveAvgPool2d") }
        let inH = q.value.shape[2], inW = q.value.shape[3]
        let outH = v.shape[2], outW = v.shape[3]
        // Brevitas compute_kernel_size_stride: stride = in // out, kernel = in - (out - 1) * stride.
        let kH = inH - (outH - 1) * (inH / outH), kW = inW - (outW - 1) * (inW / outW)
        let k = Float(kH * kW)
        let maxUint = QuantTensor.maxInt(q.bitWidth, signed: false)
        let bw = Autograd.noGrad { (maxUint * k).log2().ceil() }
        let pooled = QuantTensor(value: v, scale: q.scale / k, zeroPoint: q.zeroPoint, bitWidth: bw, signed: q.signed, training: q.training)
        return try pack(truncQuant(.quant(pooled)), returnQuantTensor, "TruncAdaptiveAvgPool2d")
    }
}
