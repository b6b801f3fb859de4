import NN
import TensorEngine

/// A per-channel multiplier in front of a layer (Brevitas `ScaleBias` without bias): `x · w`
/// with `w` (`[C]`, parameter `weight`) viewed as `runtimeShape` (`[1, C]` for features last,
/// `[1, C, 1, 1]` for NCHW).
public final class ScaleBias: Module, Layer {
    public let weight: Tensor
    public let runtimeShape: [Int]

    public init(_ scale: [Float], runtimeShape: [Int]) {
        precondition(runtimeShape.reduce(1, *) == scale.count,
                     "ScaleBias: runtime shape \(runtimeShape) does not hold \(scale.count) factors")
        self.runtimeShape = runtimeShape
        weight = Tensor(shape: [scale.count], scale)
        super.init()
        _ = registerParameter("weight", weight)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x * weight.view(runtimeShape) }

    public override var extraRepr: String { "num_features=\(weight.count), runtime_shape=\(runtimeShape)" }
}

/// A layer behind an input multiplier (Brevitas `EqualizedModule`, what layerwise activation
/// equalization leaves): `layer(scale(x))`. Children `scale` (``ScaleBias``) and `layer`, so the
/// wrapped layer's state-dict keys are `L.layer.weight` and the multiplier's `L.scale.weight`.
///
/// `layer` is read from the children at each call: a quantizer that replaces `L.layer` (as
/// `layerwiseQuantize` does) is what runs. Brevitas's FX `quantize` matches modules by class,
/// so it does not see the layer inside: the weights stay float.
public final class EqualizedModule: Module, Layer {
    public init(scale: ScaleBias, layer: Module) {
        super.init()
        _ = registerModule("scale", scale)
        _ = registerModule("layer", layer)
    }

    public var scale: ScaleBias {
        guard let s = module(at: "scale") as? ScaleBias else { preconditionFailure("EqualizedModule: 'scale' is not a ScaleBias") }
        return s
    }

    public var layer: Module {
        guard let l = module(at: "layer") else { preconditionFailure("EqualizedModule: no 'layer' child") }
        return l
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard let l = layer as? any Layer else {
            preconditionFailure("EqualizedModule: \(layer.typeName) is not a float Layer; run it inside its QuantGraphModule")
        }
        return l(scale(x))
    }
}
