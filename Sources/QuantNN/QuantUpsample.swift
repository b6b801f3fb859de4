import NN
import QuantCore
import Quantizers
import TensorEngine

/// Quantized resizing of `[N, C, H, W]` images (Brevitas `QuantUpsample`,
/// `QuantUpsamplingNearest2d`, `QuantUpsamplingBilinear2d`).
///
/// Nearest keeps every value on the input's grid, so the QuantTensor metadata passes through.
/// Bilinear interpolation leaves the grid and is requantized onto the input's scale:
/// `y = round_ste(interp(x) / s) · s` (half to even, identity gradient); it needs a QuantTensor
/// input. `QuantUpsamplingBilinear2d` uses `align_corners=True`; `QuantUpsample` the given mode
/// with `align_corners` false unless set.
///
/// ```swift
/// let up = QuantUpsample(scaleFactor: 2, mode: .bilinear)
/// try up.forward(.quant(q))   // [N, C, H, W] -> [N, C, 2H, 2W], same scale as q
/// ```
public final class QuantUpsample: Module, QuantLayer {
    /// What to resize to: a fixed size or a factor per dimension.
    public enum Target: Equatable, Sendable {
        case size(Int, Int)
        case scaleFactor(Double, Double)
    }

    public let target: Target
    public let mode: Tensor.InterpolationMode
    public let alignCorners: Bool
    public let returnQuantTensor: Bool
    let layerName: String

    public convenience init(size: (Int, Int)? = nil, scaleFactor: Double? = nil, mode: Tensor.InterpolationMode = .nearest,
                alignCorners: Bool = false, returnQuantTensor: Bool = true) throws(QuantConfigError) {
        try self.init(name: "QuantUpsample", size: size, scaleFactor: scaleFactor, mode: mode, alignCorners: alignCorners,
                      returnQuantTensor: returnQuantTensor)
    }

    init(name: String, size: (Int, Int)?, scaleFactor: Double?, mode: Tensor.InterpolationMode, alignCorners: Bool,
         returnQuantTensor: Bool) throws(QuantConfigError) {
        switch (size, scaleFactor) {
        case (let s?, nil) where s.0 >= 1 && s.1 >= 1: target = .size(s.0, s.1)
        case (nil, let f?) where f > 0: target = .scaleFactor(f, f)
        default:
            throw QuantConfigError(context: name, problems: [.init(
                key: "size", message: "give exactly one of size (positive) and scale_factor (positive), got size \(size.map { "\($0)" } ?? "None"), scale_factor \(scaleFactor.map { "\($0)" } ?? "None")")])
        }
        if alignCorners && mode == .nearest {
            throw QuantConfigError(context: name, problems: [.init(key: "align_corners", message: "align_corners only applies to bilinear mode")])
        }
        self.mode = mode
        self.alignCorners = alignCorners
        self.returnQuantTensor = returnQuantTensor
        layerName = name
        super.init()
    }

    /// `QuantUpsamplingNearest2d`: nearest mode.
    public static func nearest2d(size: (Int, Int)? = nil, scaleFactor: Double? = nil, returnQuantTensor: Bool = true) throws(QuantConfigError) -> QuantUpsample {
        try QuantUpsample(name: "QuantUpsamplingNearest2d", size: size, scaleFactor: scaleFactor, mode: .nearest, alignCorners: false,
                          returnQuantTensor: returnQuantTensor)
    }

    /// `QuantUpsamplingBilinear2d`: bilinear mode with `align_corners=True`.
    public static func bilinear2d(size: (Int, Int)? = nil, scaleFactor: Double? = nil, returnQuantTensor: Bool = true) throws(QuantConfigError) -> QuantUpsample {
        try QuantUpsample(name: "QuantUpsamplingBilinear2d", size: size, scaleFactor: scaleFactor, mode: .bilinear, alignCorners: true,
                          returnQuantTensor: returnQuantTensor)
    }

    public override var typeName: String { layerName }

    func resize(_ x: Tensor) -> Tensor {
        switch target {
        case .size(let h, let w): return Tensor.interpolate(x, size: (h, w), mode: mode, alignCorners: alignCorners)
        case .scaleFactor(let a, let b): return Tensor.interpolate(x, scaleFactor: (a, b), mode: mode, alignCorners: alignCorners)
        }
    }

    public func forward(_ input: QuantValue) throws -> QuantValue {
        var y = resize(input.value)
        guard let q = input.quantTensor else {
            if mode != .nearest {
                throw QuantLayerError.missingQuantInput(layer: layerName, reason: "bilinear upsampling requantizes onto the input's scale, so it needs a QuantTensor input")
            }
            if returnQuantTensor { throw QuantLayerError.notQuantized(layer: layerName, reason: "the input is not a QuantTensor") }
            return .float(y)
        }
        if mode != .nearest { y = STE.roundSte(y / q.scale) * q.scale }
        let out = q.with(value: y)
        return returnQuantTensor ? .quant(out) : .float(y)
    }

    public override var extraRepr: String {
        switch target {
        case .size(let h, let w): return "size=(\(h), \(w)), mode='\(mode.rawValue)'"
        case .scaleFactor(let f, _): return "scale_factor=\(f), mode='\(mode.rawValue)'"
        }
    }
}
