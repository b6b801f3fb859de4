import NN
import QuantCore
import TensorEngine

/// What a `QuantPool2d` computes: the pooling of plain tensors and of QuantTensors (with the
/// metadata rule of that pooling).
public protocol QuantPooling {
    /// The printed name (`QuantMaxPool2d`, or `AvgPool2d` as Brevitas prints a plain pool).
    static var typeName: String { get }
    static func pool(_ x: Tensor, kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int)) -> Tensor
    static func pool(_ x: QuantTensor, kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int)) -> QuantTensor
}

/// Max pooling: the maximum of grid values is on the grid, so the metadata is kept.
public enum MaxPooling: QuantPooling {
    public static var typeName: String { "QuantMaxPool2d" }
    public static func pool(_ x: Tensor, kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int)) -> Tensor {
        Tensor.maxPool2d(x, kernelSize: kernelSize, stride: stride, padding: padding)
    }
    public static func pool(_ x: QuantTensor, kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int)) -> QuantTensor {
        x.maxPool2d(kernelSize: kernelSize, stride: stride, padding: padding)
    }
}

/// Average pooling: the scale is divided by the window size and the bit width widened to the
/// window sum's (`QuantTensor.avgPool2d`).
public enum AveragePooling: QuantPooling {
    public static var typeName: String { "AvgPool2d" }
    public static func pool(_ x: Tensor, kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int)) -> Tensor {
        Tensor.avgPool2d(x, kernelSize: kernelSize, stride: stride, padding: padding)
    }
    public static func pool(_ x: QuantTensor, kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int)) -> QuantTensor {
        x.avgPool2d(kernelSize: kernelSize, stride: stride, padding: padding)
    }
}

/// A 2-D pooling layer over `[N, C, H, W]` that passes QuantTensors through with the metadata
/// rule of its `Pooling` (Brevitas has no quantized max/avg pool layers: a plain `nn.MaxPool2d` /
/// `nn.AvgPool2d` receives QuantTensors; this is that, as a layer). `stride` defaults to the
/// kernel size, as in PyTorch.
///
///     let pool = QuantMaxPool2d(kernelSize: 2)      // QuantPool2d<MaxPooling>
///     try pool.forward(.quant(q))                    // same scale, zero point, bit width
public final class QuantPool2d<Pooling: QuantPooling>: Module, QuantLayer {
    public let kernelSize: IntOrPair, stride: IntOrPair, padding: IntOrPair

    public init(kernelSize: IntOrPair, stride: IntOrPair? = nil, padding: IntOrPair = 0) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        super.init()
    }

    public override var typeName: String { Pooling.typeName }
    public override var extraRepr: String { "kernel_size=\(kernelSize), stride=\(stride), padding=\(padding)" }

    public func forward(_ input: QuantValue) throws -> QuantValue {
        switch input {
        case .quant(let q): return .quant(Pooling.pool(q, kernelSize: kernelSize.pair, stride: stride.pair, padding: padding.pair))
        case .float(let t): return .float(callAsFunction(t))
        }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        Pooling.pool(x, kernelSize: kernelSize.pair, stride: stride.pair, padding: padding.pair)
    }
}

/// Max pooling that keeps a QuantTensor's metadata.
public typealias QuantMaxPool2d = QuantPool2d<MaxPooling>

/// Average pooling of a QuantTensor as Brevitas treats a plain `nn.AvgPool2d`.
public typealias QuantAvgPool2d = QuantPool2d<AveragePooling>
