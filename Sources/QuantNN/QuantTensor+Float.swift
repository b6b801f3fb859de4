import Foundation
import QuantCore
import TensorEngine

/// The kinds of QuantTensor Brevitas defines, told apart by their metadata.
public enum QuantTensorKind: String, Sendable {
    case intQuantTensor = "IntQuantTensor"
    case groupwiseIntQuantTensor = "GroupwiseIntQuantTensor"
    case floatQuantTensor = "FloatQuantTensor"
    case groupwiseFloatQuantTensor = "GroupwiseFloatQuantTensor"
}

/// Minifloat QuantTensors (Brevitas `FloatQuantTensor`, `GroupwiseFloatQuantTensor`):
/// `value = minifloat · scale` with `minifloat` on the grid of `minifloat` (the format), zero
/// point 0.
extension QuantTensor {
    /// Which of Brevitas's QuantTensor classes this is.
    public var kind: QuantTensorKind {
        switch (minifloat != nil, group != nil) {
        case (false, false): return .intQuantTensor
        case (false, true): return .groupwiseIntQuantTensor
        case (true, false): return .floatQuantTensor
        case (true, true): return .groupwiseFloatQuantTensor
        }
    }

    /// `value / scale` divided by its grid step `2^(max(floor(log2|v|), 1 − b) − m)` (Brevitas
    /// `_pre_round_float_value`): integers exactly when the values are on the minifloat grid.
    public var preRoundMinifloatValue: Tensor {
        guard let f = minifloat else { preconditionFailure("preRoundMinifloatValue needs a minifloat QuantTensor (kind \(kind.rawValue))") }
        return Autograd.noGrad { (value / scale).mapScalars { v in v / f.step(at: v) } }
    }

    /// Whether `value / scale` lies on the minifloat grid, within 0.2 of a grid point (Brevitas's
    /// float32 tolerance); false when any element is NaN or infinite. The range is not checked
    /// (as in Brevitas).
    var isValidMinifloat: Bool {
        var maxDiff: Float = 0
        for v in preRoundMinifloatValue.scalars {
            guard v.isFinite else { return false }
            maxDiff = Swift.max(maxDiff, Swift.abs(v - roundHalfEven(v)))
        }
        return maxDiff < 0.2
    }

    /// The unscaled minifloat values `value / scale` snapped to the grid (Brevitas
    /// `minifloat()`), or a thrown error when the tensor is not valid.
    public func minifloatValue() throws -> Tensor {
        guard let f = minifloat else {
            throw QuantTensorError.incompatible(op: "minifloat", reason: "an \(kind.rawValue) has no minifloat values; use int()", lhs: describe(), rhs: "")
        }
        guard isValid else { throw QuantTensorError.notValid(describe()) }
        return Autograd.noGrad { (value / scale).mapScalars { v in roundHalfEven(v / f.step(at: v)) * f.step(at: v) } }
    }

    /// Brevitas's printing of the float kinds.
    var floatDescription: String {
        guard let f = minifloat else { return description }
        func b(_ v: Bool) -> String { v ? "True" : "False" }
        func codes(_ c: [String]?) -> String { c.map { "(" + $0.map { "'\($0)'" }.joined(separator: ", ") + (($0.count == 1) ? ",)" : ")") } ?? "None" }
        let groupPart = group.map { ", group_size=\($0.groupSize), group_dim=\($0.groupDim)" } ?? ""
        return "\(kind.rawValue)(value=\(value), scale=\(scale), zero_point=\(zeroPoint)\(groupPart), exponent_bit_width=tensor(\(Float(f.exponentBitWidth))), mantissa_bit_width=tensor(\(Float(f.mantissaBitWidth))), exponent_bias=tensor(\(Float(f.exponentBias))), saturating_t=tensor(\(b(f.saturating))), inf_values=\(codes(f.infValues)), nan_values=\(codes(f.nanValues)), signed_t=tensor(\(b(signed))), training_t=tensor(\(b(training))))"
    }

    /// `-x` of a signed float kind (Brevitas `FloatQuantTensor.__neg__`): `(-minifloat - z) · s`,
    /// metadata unchanged (the grid is symmetric). Unsigned float tensors are an error, as in
    /// Brevitas (`NotImplementedError`).
    func floatNegated() throws -> QuantTensor {
        guard signed else {
            throw QuantTensorError.incompatible(op: "neg", reason: "negating an unsigned \(kind.rawValue) is not defined (Brevitas raises NotImplementedError)", lhs: describe(), rhs: "")
        }
        return with(value: (-(try minifloatValue()) - zeroPoint) * scale)
    }

    /// `|x|` of a signed float kind (Brevitas `FloatQuantTensor.__abs__`): `(|minifloat| - z) · s`,
    /// now unsigned; an unsigned tensor is returned as is.
    func floatAbs() throws -> QuantTensor {
        guard signed else { return self }
        var out = with(value: ((try minifloatValue()).abs() - zeroPoint) * scale)
        out.signed = false
        return out
    }

    /// Throws for the integer algebra on float kinds (Brevitas computes those on plain values).
    func requireInteger(_ op: String, _ other: QuantTensor? = nil) throws {
        for t in [self] + (other.map { [$0] } ?? []) where t.minifloat != nil {
            throw QuantTensorError.incompatible(op: op, reason: "\(t.kind.rawValue) operands have no integer algebra; use .value for the plain result", lhs: describe(), rhs: other?.describe() ?? "")
        }
    }
}

/// A read-only view of a minifloat QuantTensor with Brevitas `FloatQuantTensor`'s fields.
///
/// ```swift
/// let q = try QuantIdentity(actQuant: .fp8e4m3OCPAct, returnQuantTensor: true).quant(x)
/// let f = FloatQuantTensor(q)!
/// f.exponentBitWidth, f.mantissaBitWidth, f.exponentBias   // 4, 3, 7
/// f.nanValues                                              // ["111"]
/// ```
public struct FloatQuantTensor: CustomStringConvertible {
    public let base: QuantTensor
    public let format: MinifloatFormat

    /// The view of `q`, or nil when `q` is an integer kind.
    public init?(_ q: QuantTensor) {
        guard let f = q.minifloat else { return nil }
        base = q
        format = f
    }

    public var value: Tensor { base.value }
    public var scale: Tensor { base.scale }
    public var zeroPoint: Tensor { base.zeroPoint }
    public var exponentBitWidth: Int { format.exponentBitWidth }
    public var mantissaBitWidth: Int { format.mantissaBitWidth }
    public var exponentBias: Int { format.exponentBias }
    public var saturating: Bool { format.saturating }
    public var infValues: [String]? { format.infValues }
    public var nanValues: [String]? { format.nanValues }
    public var signed: Bool { base.signed }
    public var training: Bool { base.training }
    public var group: GroupLayout? { base.group }
    public var isValid: Bool { base.isValid }
    public func minifloat() throws -> Tensor { try base.minifloatValue() }
    public var description: String { base.description }
}
