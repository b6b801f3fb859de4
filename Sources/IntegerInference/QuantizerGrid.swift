import Foundation
import QuantCore
import QuantNN
import TensorEngine

/// Reads the integer grid of an activation quantizer in eval mode by asking the quantizer
/// itself: its scale and zero point from quantizing a zero, its code range from quantizing
/// `±10^30` (the clamp answers), so the grid is the model's and not a re-derivation of its
/// configuration.
///
/// The quantizer must be an integer one (`RescalingIntQuant`) with one scale (per tensor) that
/// does not depend on the data in eval mode, and an integer zero point.
enum QuantizerGrid {
    static func grid(of proxy: ActQuantProxy, layer: String) throws -> IntegerGrid {
        guard let tq = proxy.tensorQuant else {
            preconditionFailure("QuantizerGrid: \(layer) has no quantizer")
        }
        guard tq is RescalingIntQuant else {
            throw IntegerLoweringError.notExpressible(
                layer: layer, reason: "its quantizer is a \(tq.typeName), not an integer quantizer with a scale",
                fix: "use an integer activation quantizer (Int8ActPerTensorFloat, Uint8ActPerTensorFloat)")
        }
        let probe = Autograd.noGrad { tq(Tensor([0])) }
        let other = Autograd.noGrad { tq(Tensor([37.5, -12.25])) }
        guard probe.scale.count == 1 else {
            throw IntegerLoweringError.notExpressible(
                layer: layer, reason: "its activation scale has \(probe.scale.count) values (per channel)",
                fix: "use a per-tensor activation quantizer")
        }
        guard other.scale.scalars == probe.scale.scalars, other.zeroPoint.scalars == probe.zeroPoint.scalars else {
            throw IntegerLoweringError.notExpressible(
                layer: layer, reason: "its scale depends on the data in eval mode (statistics are taken from each batch)",
                fix: "use a quantizer whose eval-mode scale is a parameter or a running statistic (scaling_impl_type parameter, const or stats with collection finished)")
        }
        let scale = Double(probe.scale.item())
        let z = Double(probe.zeroPoint.item())
        guard scale > 0, scale.isFinite, z == z.rounded() else {
            throw IntegerLoweringError.notExpressible(
                layer: layer, reason: "its scale \(scale) or zero point \(z) is not a positive scale and an integer",
                fix: "train or calibrate the quantizer (a zero or NaN scale means it never saw data)")
        }
        let ends = Autograd.noGrad { tq(Tensor([-1e30, 1e30])) }.value.scalars
        let lo = (Double(ends[0]) / scale + z).rounded(), hi = (Double(ends[1]) / scale + z).rounded()
        return IntegerGrid(scale: scale, zeroPoint: Int64(z), min: Int64(lo), max: Int64(hi),
                           bitWidth: Int(probe.bitWidth.item()), signed: tq.isSigned)
    }
}
