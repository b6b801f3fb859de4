import Foundation
import NN
import QuantCore
import Quantizers
import TensorEngine

/// Max pooling that keeps a QuantTensor's metadata (Brevitas has no `QuantMaxPool2d` layer: a
/// plain `nn.MaxPool2d` passes QuantTensors through; this is that, as a layer).
public final class QuantMaxPool2d: Module, QuantLayer {
    public let kernelSize: IntOrPair, stride: IntOrPair, padding: IntOrPair

    public init(kernelSize: IntOrPair, stride: IntOrPair? = nil, padding: IntOrPair = 0) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        super.init()
    }

    public override var typeName: String { "QuantMaxPool2d" }
    public override var extraRepr: String { "kernel_size=\(kernelSize), stride=\(stride), padding=\(padding)" }

    public func forward(_ input: QuantValue) throws -> QuantValue {
        switch input {
        case .quant(let q): return .quant(q.maxPool2d(kernelSize: kernelSize.pair, stride: stride.pair, padding: padding.pair))
        case .float(let t): return .float(Tensor.maxPool2d(t, kernelSize: kernelSize.pair, stride: stride.pair, padding: padding.pair))
        }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        Tensor.maxPool2d(x, kernelSize: kernelSize.pair, stride: stride.pair, padding: padding.pair)
    }
}

/// Average pooling of a QuantTensor as Brevitas treats a plain `nn.AvgPool2d`: the scale is
/// divided by the window size and the bit width widened to the window sum's.
public final class QuantAvgPool2d: Module, QuantLayer {
    public let kernelSize: IntOrPair, stride: IntOrPair, padding: IntOrPair

    public init(kernelSize: IntOrPair, stride: IntOrPair? = nil, padding: IntOrPair = 0) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        super.init()
    }

    public override var typeName: String { "AvgPool2d" }
    public override var extraRepr: String { "kernel_size=\(kernelSize), stride=\(stride), padding=\(padding)" }

    public func forward(_ input: QuantValue) throws -> QuantValue {
        switch input {
        case .quant(let q): return .quant(q.avgPool2d(kernelSize: kernelSize.pair, stride: stride.pair, padding: padding.pair))
        case .float(let t): return .float(Tensor.avgPool2d(t, kernelSize: kernelSize.pair, stride: stride.pair, padding: padding.pair))
        }
    }
}

/// Average pooling followed by truncation of the window sum to 8 bits (Brevitas
/// `TruncAvgPool2d`, default `RoundTo8bit`). A plain tensor input is just average-pooled.
public final class TruncAvgPool2d: Module, QuantLayer {
    public let kernelSize: IntOrPair, stride: IntOrPair
    public let truncQuant: TruncQuantProxy
    public let returnQuantTensor: Bool

    public init(kernelSize: IntOrPair, stride: IntOrPair? = nil, truncQuant: TruncQuant? = .roundTo8bit, returnQuantTensor: Bool = true) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.truncQuant = TruncQuantProxy(config: truncQuant)
        self.returnQuantTensor = returnQuantTensor
        super.init()
        registerModule("trunc_quant", self.truncQuant)
    }

    public override var typeName: String { "TruncAvgPool2d" }
    public override var extraRepr: String { "kernel_size=\(kernelSize), stride=\(stride), padding=0" }

    public func forward(_ input: QuantValue) throws -> QuantValue {
        let y: QuantValue
        if case .quant(let q) = input, truncQuant.tensorQuant != nil {
            y = truncQuant(.quant(q.avgPool2d(kernelSize: kernelSize.pair, stride: stride.pair)))
        } else {
            y = .float(Tensor.avgPool2d(input.value, kernelSize: kernelSize.pair, stride: stride.pair, padding: (0, 0)))
        }
        return try pack(y, returnQuantTensor, "TruncAvgPool2d")
    }
}

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
