import TensorEngine

/// How a scale is restricted (Brevitas `FloatRestrictValue` / `PowerOfTwoRestrictValue`).
///
/// | | `pre` (init, threshold) | `restrict` |
/// |---|---|---|
/// | `.float` | `|x|` | `|x|` |
/// | `.powerOfTwo(r)` | `log2(x)` | `2^r(x)` with a straight-through `r` (ceil/round/floor) |
public enum Restrict: Equatable, Sendable {
    case float
    case powerOfTwo(rounding: RestrictRounding)

    /// Maps a raw value into the space the parameter lives in.
    public func pre(_ x: Tensor) -> Tensor {
        switch self {
        case .float: return x.abs()
        case .powerOfTwo: return x.log2()
        }
    }

    /// Maps a parameter to a scale.
    public func restrict(_ x: Tensor) -> Tensor {
        switch self {
        case .float: return x.abs()
        case .powerOfTwo(let r):
            let i: Tensor
            switch r {
            case .ceil: i = STE.ceilSte(x)
            case .floor: i = STE.floorSte(x)
            case .round: i = STE.roundSte(x)
            }
            return i.exp2()
        }
    }

    /// Printed name, as Brevitas.
    var typeName: String {
        switch self {
        case .float: return "FloatRestrictValue"
        case .powerOfTwo: return "PowerOfTwoRestrictValue"
        }
    }
}

/// The rounding of a power-of-two exponent.
public enum RestrictRounding: String, Equatable, Sendable { case round, ceil, floor }

/// Brevitas `_ClampValue` with `ScalarSignedClampMinSte`: `sign(x) · max(|x|, minVal)` with
/// straight-through gradients; identity when `minVal` is nil or 0.
public func signedClampMin(_ x: Tensor, _ minVal: Float?) -> Tensor {
    guard let m = minVal, m != 0 else { return x }
    let sign = Tensor.where(x.ge(Tensor(0)), Tensor(1), Tensor(-1))
    return sign * STE.scalarClampMinSte(STE.absBinarySignGrad(x), min: m)
}
