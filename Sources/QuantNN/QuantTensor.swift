import Foundation
import QuantCore
import TensorEngine

/// A tensor of dequantized values with the metadata that makes them integers (Brevitas
/// `IntQuantTensor`): `value = (int − zeroPoint) · scale`.
///
/// `scale` and `zeroPoint` broadcast against `value` (per tensor: shape `[]`; per channel: e.g.
/// `[1, C, 1, 1]`). `bitWidth` is a scalar tensor.
public struct QuantTensor: CustomStringConvertible {
    public var value: Tensor
    public var scale: Tensor
    public var zeroPoint: Tensor
    public var bitWidth: Tensor
    public var signed: Bool
    public var training: Bool
    /// The minifloat format when this is a `FloatQuantTensor` (or group-wise float one); `nil`
    /// for integer kinds. See `QuantTensor+Float.swift`.
    public var minifloat: MinifloatFormat?
    /// The group layout of a group-wise kind (`GroupwiseIntQuantTensor`,
    /// `GroupwiseFloatQuantTensor`); `scale` and `zeroPoint` then have the full shape of `value`.
    public var group: GroupLayout?

    public init(value: Tensor, scale: Tensor, zeroPoint: Tensor, bitWidth: Tensor, signed: Bool, training: Bool,
                minifloat: MinifloatFormat? = nil, group: GroupLayout? = nil) {
        self.minifloat = minifloat
        self.group = group
        self.value = value
        self.scale = scale
        self.zeroPoint = zeroPoint
        self.bitWidth = bitWidth
        self.signed = signed
        self.training = training
    }

    /// `value / scale + zeroPoint` before rounding.
    public var preRoundIntValue: Tensor { Autograd.noGrad { value / scale + zeroPoint } }

    /// Whether the values are integers on the grid (within 0.2, as Brevitas for float32) and
    /// inside the range of `bitWidth` bits; for 1 bit, whether exactly two codes of the right
    /// sign occur.
    public var isValid: Bool {
        if minifloat != nil { return isValidMinifloat }
        let pre = preRoundIntValue.scalars
        if pre.isEmpty { return true }
        var maxDiff: Float = 0
        var lo = Float.infinity, hi = -Float.infinity
        var distinct = Set<Float>()
        for v in pre {
            let r = roundHalfEven(v)
            maxDiff = Swift.max(maxDiff, Swift.abs(v - r))
            if v.isNaN { return false }
            lo = Swift.min(lo, r)
            hi = Swift.max(hi, r)
            if distinct.count < 3 { distinct.insert(r) }
        }
        let isInt = maxDiff < 0.2
        let b = bitWidth.item()
        if b >= 2 {
            // Beyond 2^1023 the bounds are infinite, as Brevitas's float ones.
            let range = IntRange(bitWidth: Int(Swift.min(b, 2048)), signed: signed, narrowRange: false)
            return isInt && range.contains(Double(lo)) && range.contains(Double(hi))
        }
        return isInt && distinct.count == 2 && (distinct.contains { $0 < 0 }) == signed
    }

    /// The integer codes `round(value / scale + zeroPoint)` as floats (Brevitas
    /// `int(float_datatype=True)`), or a thrown error when the tensor is not valid.
    public func int() throws -> Tensor {
        if minifloat != nil {
            throw QuantTensorError.incompatible(op: "int", reason: "a FloatQuantTensor has no integer codes; use minifloat() for the unscaled minifloat values", lhs: describe(), rhs: "")
        }
        guard isValid else { throw QuantTensorError.notValid(describe()) }
        return preRoundIntValue.rounded()
    }

    /// The same metadata with new values (for shape operations).
    public func with(value newValue: Tensor) -> QuantTensor {
        QuantTensor(value: newValue, scale: scale, zeroPoint: zeroPoint, bitWidth: bitWidth, signed: signed, training: training,
                    minifloat: minifloat, group: group)
    }

    func describe() -> String {
        "scale \(scale.scalars.prefix(8)), zero point \(zeroPoint.scalars.prefix(8)), bit width \(bitWidth.item()), signed \(signed)"
    }

    /// Brevitas's printing: `IntQuantTensor(value=tensor(...), scale=..., zero_point=..., bit_width=..., signed_t=..., training_t=...)`.
    public var description: String {
        func b(_ v: Bool) -> String { v ? "True" : "False" }
        if minifloat != nil { return floatDescription }
        if let group { return "GroupwiseIntQuantTensor(value=\(value), scale=\(scale), zero_point=\(zeroPoint), group_size=\(group.groupSize), group_dim=\(group.groupDim), bit_width=\(bitWidth), signed_t=tensor(\(b(signed))), training_t=tensor(\(b(training))))" }
        return "IntQuantTensor(value=\(value), scale=\(scale), zero_point=\(zeroPoint), bit_width=\(bitWidth), signed_t=tensor(\(b(signed))), training_t=tensor(\(b(training))))"
    }
}

/// Errors of QuantTensor operations: each shows both sides' metadata.
public enum QuantTensorError: Error, CustomStringConvertible, Equatable {
    case notValid(String)
    case incompatible(op: String, reason: String, lhs: String, rhs: String)

    public var description: String {
        switch self {
        case .notValid(let m): return "QuantTensor not valid (\(m)): its values are not integers of its bit width on its scale"
        case .incompatible(let op, let reason, let l, let r):
            return "QuantTensor \(op): \(reason)\n  left:  \(l)\n  right: \(r)"
        }
    }
}
