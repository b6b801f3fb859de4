import NN
import TensorEngine

/// How equalization sees a layer with a weight (Brevitas `brevitas/graph/equalize.py`:
/// `_supported_layers`, `_get_input_axis`, `_get_output_axis`, `_get_act_axis`).
///
/// | layer | output axis (as source) | input axis (as sink) | activation channel axis |
/// |---|---|---|---|
/// | `Linear` `[out, in]` | 0 | 1 | last |
/// | `Conv1d`/`Conv2d`, `groups == 1` | 0 | 1 | 1 (NCHW) |
/// | depthwise conv, `groups == out_channels` | 0 | 0 | 1 |
/// | other grouped conv | 0 | none (not equalized) | 1 |
/// | `ConvTranspose2d` `[in, out/g, kh, kw]`, `groups == 1` | 1 | 0 | 1 |
/// | `BatchNorm1d`/`2d` (affine; only as a source in ``EqualizeGraph``) | 0 | 0 | none |
///
/// A depthwise conv is both a sink (of the layer before) and a source (of the layer after): its
/// channel `c` is input and output at once.
public struct EqualizableLayer {
    public let module: Module
    public let weight: Tensor
    public let bias: Tensor?
    /// The weight axis of the output channels (`nil`: cannot be a scaled source).
    public let outputAxis: Int?
    /// The weight axis of the input channels (`nil`: cannot be a scaled sink).
    public let inputAxis: Int?
    /// `-1` (features last, Linear), `0` (channels first after the batch dim) or `nil` (BatchNorm).
    public let actAxis: Int?
    public let isBatchNorm: Bool

    /// `nil` for a module equalization does not handle.
    public init?(_ m: Module) {
        switch m {
        case let l as Linear:
            (weight, bias, outputAxis, inputAxis, actAxis, isBatchNorm) = (l.weight, l.bias, 0, 1, -1, false)
        case let c as Conv2d:
            (weight, bias, outputAxis, actAxis, isBatchNorm) = (c.weight, c.bias, 0, 0, false)
            inputAxis = c.groups == 1 ? 1 : (c.groups == c.outChannels ? 0 : nil)
        case let c as Conv1d:
            (weight, bias, outputAxis, actAxis, isBatchNorm) = (c.weight, c.bias, 0, 0, false)
            inputAxis = c.groups == 1 ? 1 : (c.groups == c.outChannels ? 0 : nil)
        case let c as ConvTranspose2d:
            (weight, bias, outputAxis, actAxis, isBatchNorm) = (c.weight, c.bias, 1, 0, false)
            inputAxis = c.groups == 1 ? 0 : (c.groups == c.outChannels ? 1 : nil)
        case let b as BatchNorm:
            guard let w = b.weight else { return nil }
            (weight, bias, outputAxis, inputAxis, actAxis, isBatchNorm) = (w, b.bias, 0, 0, nil, true)
        default:
            return nil
        }
        module = m
    }

    /// Output channels (`get_weight_source(m).shape[0]`).
    public var sourceChannels: Int { weight.rank == 1 || outputAxis == 0 ? weight.shape[0] : weight.shape[1] }
    /// Input channels (`get_weight_sink(m).shape[0]`; a grouped conv counts its per-group inputs).
    public var sinkChannels: Int { weight.rank == 1 || inputAxis == 0 ? weight.shape[0] : weight.shape[1] }

    /// Per-channel `max|·|` of `values` (shape `shape`) along `axis`, over every other element
    /// (`_channel_maxabs` after `transpose(·, axis).reshape(C, -1)`).
    public static func channelMaxAbs(_ values: [Float], shape: [Int], axis: Int) -> [Float] {
        let (outer, channels, inner) = split(shape, axis)
        var r = [Float](repeating: 0, count: channels)
        for o in 0..<outer {
            for c in 0..<channels {
                let base = (o * channels + c) * inner
                var m = r[c]
                for i in 0..<inner { m = Swift.max(m, Swift.abs(values[base + i])) }
                r[c] = m
            }
        }
        return r
    }

    /// Multiplies slice `c` of `t` along `axis` by `factors[c]` (`ScaleWeightParametrization`).
    static func scale(_ t: Tensor, axis: Int, by factors: [Float]) {
        let (outer, channels, inner) = split(t.shape, axis)
        precondition(channels == factors.count, "equalization: \(factors.count) factors for axis \(axis) of a tensor of shape \(t.shape)")
        var v = t.scalars
        for o in 0..<outer {
            for c in 0..<channels {
                let base = (o * channels + c) * inner, f = factors[c]
                for i in 0..<inner { v[base + i] *= f }
            }
        }
        t.assign(Tensor(shape: t.shape, v))
    }

    /// `(product of dims before axis, dim, product after)`.
    static func split(_ shape: [Int], _ axis: Int) -> (Int, Int, Int) {
        let a = axis < 0 ? axis + shape.count : axis
        precondition(a >= 0 && a < shape.count, "equalization: axis \(axis) of shape \(shape)")
        return (shape[..<a].reduce(1, *), shape[a], shape[(a + 1)...].reduce(1, *))
    }
}
