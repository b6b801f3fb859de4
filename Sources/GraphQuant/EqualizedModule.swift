import NN
import TensorEngine

/// A per-channel multiplier in front of a layer (Brevitas `ScaleBias` without bias): `x · w`
/// with `w` (`[C]`, parameter `weight`) along `channelAxis` of `x` (`1` for NCHW, `-1` for
/// features last), i.e. viewed as Brevitas's `runtime_shape` `[1, C, 1, 1]` or `[1, C]`.
public final class ScaleBias: Module, Layer {
    public let weight: Tensor
    public let channelAxis: Int

    public init(_ scale: [Float], channelAxis: Int) {
        precondition(channelAxis == 1 || channelAxis == -1, "ScaleBias: channel axis \(channelAxis) is neither 1 (NCHW) nor -1 (features last)")
        self.channelAxis = channelAxis
        weight = Tensor(shape: [scale.count], scale)
        super.init()
        _ = registerParameter("weight", weight)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let axis = channelAxis < 0 ? x.rank + channelAxis : channelAxis
        precondition(axis >= 0 && axis < x.rank && x.shape[axis] == weight.count,
                     "ScaleBias: \(weight.count) factors for axis \(channelAxis) of an input of shape \(x.shape)")
        var shape = [Int](repeating: 1, count: x.rank)
        shape[axis] = weight.count
        return x * weight.view(shape)
    }

    public override var extraRepr: String { "num_features=\(weight.count), channel_axis=\(channelAxis)" }
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
