import Foundation
import QuantCore
import TensorEngine

/// QuantTensor algebra with Brevitas's metadata rules.
extension QuantTensor {
    /// `min_int` of a (not narrow) range (`IntRange`), as a constant.
    static func minInt(_ bits: Tensor, signed: Bool) -> Tensor {
        Autograd.noGrad { IntRange.minInt(bits, signed: signed, narrowRange: false) }
    }
    /// `max_int` of a (not narrow) range (`IntRange`), as a constant.
    static func maxInt(_ bits: Tensor, signed: Bool) -> Tensor {
        Autograd.noGrad { IntRange.maxInt(bits, signed: signed, narrowRange: false) }
    }

    /// `torch.allclose(a, b)` (rtol 1e-5, atol 1e-8) with broadcasting; shapes that do not
    /// broadcast are not close. A bias scale `[C]` against an accumulator scale `[1, C, 1, 1]`
    /// broadcasts to `[1, C, 1, C]`, so per-channel scales compare unequal there, as in Brevitas.
    static func allClose(_ a: Tensor, _ b: Tensor) -> Bool {
        let r = Swift.max(a.rank, b.rank)
        let sa = [Int](repeating: 1, count: r - a.rank) + a.shape, sb = [Int](repeating: 1, count: r - b.rank) + b.shape
        guard zip(sa, sb).allSatisfy({ $0 == $1 || $0 == 1 || $1 == 1 }) else { return false }
        return Autograd.noGrad {
            let d = (a - b).scalars, bb = (b + a * 0).scalars
            return zip(d, bb).allSatisfy { Swift.abs($0) <= 1e-8 + 1e-5 * Swift.abs($1) }
        }
    }

    func requireSameScale(_ other: QuantTensor, _ op: String) throws {
        if training { return }
        if !Self.allClose(scale, other.scale) {
            throw QuantTensorError.incompatible(op: op, reason: "scaling factors differ (in eval mode they must match)", lhs: describe(), rhs: other.describe())
        }
    }

    /// `a + b` of two QuantTensors: in eval mode the scales must match; the result has the mean
    /// scale, the sum of zero points and bit width `ceil(log2(range_a + range_b))`.
    public static func + (a: QuantTensor, b: QuantTensor) throws -> QuantTensor {
        try a.requireInteger("add", b)
        try a.requireSameScale(b, "add")
        let maxV = maxInt(a.bitWidth, signed: a.signed) + maxInt(b.bitWidth, signed: b.signed)
        let minV = minInt(a.bitWidth, signed: a.signed) + minInt(b.bitWidth, signed: b.signed)
        let bw = Autograd.noGrad { (maxV - minV).log2().ceil() }
        return QuantTensor(
            value: a.value + b.value, scale: (a.scale + b.scale) / 2, zeroPoint: a.zeroPoint + b.zeroPoint,
            bitWidth: bw, signed: a.signed || b.signed, training: a.training || b.training)
    }

    /// `qt + t` with a float tensor: the shift is folded into the zero point.
    public static func + (a: QuantTensor, b: Tensor) -> QuantTensor {
        precondition(a.minifloat == nil, "QuantTensor + Tensor: a \(a.kind.rawValue) has no zero point to fold the shift into; add to .value")
        return QuantTensor(value: a.value + b, scale: a.scale, zeroPoint: a.zeroPoint - b / a.scale,
                    bitWidth: a.bitWidth, signed: a.signed, training: a.training)
    }

    /// `a * b`: scales multiply, bit widths add; both zero points must be zero.
    public static func * (a: QuantTensor, b: QuantTensor) throws -> QuantTensor {
        try a.requireInteger("mul", b)
        guard a.zeroPoint.scalars.allSatisfy({ $0 == 0 }) && b.zeroPoint.scalars.allSatisfy({ $0 == 0 }) else {
            throw QuantTensorError.incompatible(op: "mul", reason: "zero points of mul operands are non-zero, not supported", lhs: a.describe(), rhs: b.describe())
        }
        return QuantTensor(value: a.value * b.value, scale: a.scale * b.scale, zeroPoint: a.zeroPoint * b.zeroPoint,
                           bitWidth: a.bitWidth + b.bitWidth, signed: a.signed || b.signed, training: a.training || b.training)
    }

    /// Concatenation: bit widths and signs must match; in eval mode scales and zero points must
    /// match too; in training the metadata is averaged (as Brevitas).
    public static func cat(_ tensors: [QuantTensor], dim: Int) throws -> QuantTensor {
        precondition(!tensors.isEmpty, "QuantTensor.cat: no tensors")
        if tensors.count == 1 { return tensors[0] }
        let first = tensors[0]
        for qt in tensors.dropFirst() {
            if qt.minifloat != first.minifloat || qt.group != first.group {
                throw QuantTensorError.incompatible(op: "cat", reason: "formats differ (\(first.kind.rawValue) vs \(qt.kind.rawValue))", lhs: first.describe(), rhs: qt.describe())
            }
            if first.minifloat == nil { try first.requireInteger("cat") }
            if first.minifloat != nil && first.group != nil {
                throw QuantTensorError.incompatible(op: "cat", reason: "group-wise (\(first.kind.rawValue)) tensors have a scale per group; cat their values", lhs: first.describe(), rhs: qt.describe())
            }
            try first.requireSameScale(qt, "cat")
            if !first.training && !first.zeroPoint.isClose(to: qt.zeroPoint) {
                throw QuantTensorError.incompatible(op: "cat", reason: "zero points differ", lhs: first.describe(), rhs: qt.describe())
            }
            if !first.bitWidth.isClose(to: qt.bitWidth) {
                throw QuantTensorError.incompatible(op: "cat", reason: "bit widths differ", lhs: first.describe(), rhs: qt.describe())
            }
            if first.signed != qt.signed {
                throw QuantTensorError.incompatible(op: "cat", reason: "signs differ", lhs: first.describe(), rhs: qt.describe())
            }
        }
        let value = Tensor.cat(tensors.map(\.value), dim: dim)
        let training = tensors.contains { $0.training }
        if training {
            let n = Float(tensors.count)
            func mean(_ kp: KeyPath<QuantTensor, Tensor>) -> Tensor {
                tensors.dropFirst().reduce(tensors[0][keyPath: kp]) { $0 + $1[keyPath: kp] } / n
            }
            return QuantTensor(value: value, scale: mean(\.scale), zeroPoint: mean(\.zeroPoint), bitWidth: mean(\.bitWidth),
                               signed: first.signed, training: true, minifloat: first.minifloat)
        }
        return first.with(value: value).withTraining(false)
    }

    func withTraining(_ t: Bool) -> QuantTensor {
        var c = self
        c.training = t
        return c
    }

    /// `-x` on the integer grid; an unsigned tensor becomes signed with one more bit.
    public func negated() throws -> QuantTensor {
        if minifloat != nil { return try floatNegated() }
        try requireInteger("neg")
        let v = (-(try int()) - zeroPoint) * scale
        if signed { return with(value: v) }
        return QuantTensor(value: v, scale: scale, zeroPoint: zeroPoint, bitWidth: bitWidth + 1, signed: true, training: training)
    }

    /// `|x|` on the integer grid; a signed tensor becomes unsigned with one bit less.
    public func abs() throws -> QuantTensor {
        if minifloat != nil { return try floatAbs() }
        try requireInteger("abs")
        guard signed else { return self }
        let v = ((try int()).abs() - zeroPoint) * scale
        return QuantTensor(value: v, scale: scale, zeroPoint: zeroPoint, bitWidth: bitWidth - 1, signed: false, training: training)
    }

    public func reshape(_ shape: [Int]) -> QuantTensor { with(value: value.reshape(shape)) }
    public func view(_ shape: [Int]) -> QuantTensor { with(value: value.view(shape)) }
    public func flatten(startDim: Int = 0, endDim: Int = -1) -> QuantTensor {
        with(value: value.flatten(startDim: startDim, endDim: endDim))
    }
    /// Transposes values; a per-tensor scale is kept (per-channel metadata would need the same
    /// permutation, which Brevitas does not apply either).
    public func transpose(_ a: Int, _ b: Int) -> QuantTensor { with(value: value.transpose(a, b)) }
    public func permute(_ dims: [Int]) -> QuantTensor { with(value: value.permute(dims)) }

    /// Max pooling keeps the metadata (the maximum of grid values is on the grid).
    public func maxPool2d(kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) -> QuantTensor {
        with(value: Tensor.maxPool2d(value, kernelSize: kernelSize, stride: stride ?? kernelSize, padding: padding))
    }

    /// Average pooling of a QuantTensor (a plain `nn.AvgPool2d` in Brevitas): the scale is divided
    /// by `kh·kw` and the bit width grows to `ceil(log2(maxUint · kh · kw))` (the window sum).
    public func avgPool2d(kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) -> QuantTensor {
        let k = Float(kernelSize.0 * kernelSize.1)
        let v = Tensor.avgPool2d(value, kernelSize: kernelSize, stride: stride ?? kernelSize, padding: padding)
        let maxUint = QuantTensor.maxInt(bitWidth, signed: false)
        let bw = Autograd.noGrad { (maxUint * k).log2().ceil() }
        return QuantTensor(value: v, scale: scale / k, zeroPoint: zeroPoint, bitWidth: bw, signed: signed, training: training)
    }
}

