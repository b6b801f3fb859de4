import NN
import TensorEngine

/// Produces a quantizer's bit width as a scalar float tensor (Brevitas `bit_width_impl`,
/// registered as `msb_clamp_bit_width_impl`).
public protocol BitWidthImpl: Module {
    /// The bit width, a scalar tensor (with a gradient when learned).
    func callAsFunction() -> Tensor
    /// The current bit width as an integer (for ranges, printing and export).
    var bits: Int { get }
    /// Whether the bit width is a learned parameter. Quantization then composes differentiable
    /// pieces (`IntQuantSpec.fakeQuantize`) instead of the fused constant-range kernel.
    var isLearned: Bool { get }
}

extension BitWidthConst: BitWidthImpl {
    public var isLearned: Bool { false }
}

/// A learned bit width (Brevitas `BitWidthParameter`, `bit_width_impl_type='parameter'`):
///
///     b = round_ste(abs_binary_sign_grad(bit_width_offset) + minBitWidth)
///
/// The parameter `bit_width_offset` starts at `bitWidth − minBitWidth`; rounding is half-to-even
/// with a straight-through gradient (Brevitas `IntRestrictValue(RoundSte())`), and the absolute
/// value keeps `b ≥ minBitWidth` with gradient `G · sign(offset)` (sign(0) = +1).
///
/// ```swift
/// let b = BitWidthParameter(bitWidth: 4)     // offset 2, min 2
/// b().item()                                  // 4
/// ```
///
/// | offset | b (min 2) |
/// |---|---|
/// | 2 | 4 |
/// | 1.3 | 3 |
/// | 2.5 | 4 (half to even) |
/// | −1.6 | 4 |
public final class BitWidthParameter: Module, BitWidthImpl {
    /// The learned offset above `minBitWidth` (state-dict key `bit_width_offset`).
    public let bitWidthOffset: Tensor
    /// The lower bound of the bit width (Brevitas `min_bit_width`, `bit_width_base`).
    public let minBitWidth: Int

    /// - Precondition: `bitWidth >= minBitWidth` (configurations check this first and throw).
    public init(bitWidth: Int, minBitWidth: Int = 2) {
        precondition(bitWidth >= minBitWidth, "BitWidthParameter: bit width \(bitWidth) is below min_bit_width \(minBitWidth)")
        self.minBitWidth = minBitWidth
        bitWidthOffset = Tensor(Float(bitWidth - minBitWidth))
        super.init()
        registerParameter("bit_width_offset", bitWidthOffset)
        let restrictClamp = DescriptiveNode("_RestrictClampValue")
        restrictClamp.registerModule("clamp_ste", DescriptiveNode("Identity"))
        let restrict = DescriptiveNode("IntRestrictValue")
        restrict.registerModule("float_to_int_impl", DescriptiveNode("RoundSte"))
        restrictClamp.registerModule("restrict_value_impl", restrict)
        registerModule("restrict_clamp_bit_width_impl", restrictClamp)
    }

    public func callAsFunction() -> Tensor {
        STE.roundSte(STE.absBinarySignGrad(bitWidthOffset) + Float(minBitWidth))
    }

    public var bits: Int { Int(Autograd.noGrad { self() }.item()) }

    public var isLearned: Bool { true }
}

/// A constant bit width (Brevitas `BitWidthConst`): buffer `bit_width.value`.
public final class BitWidthConst: Module {
    /// The bit width as a scalar tensor.
    public let bitWidth: StatelessBuffer

    public init(_ bits: Int) {
        bitWidth = StatelessBuffer(Float(bits))
        super.init()
        registerModule("bit_width", bitWidth)
    }

    /// The bit width (the stored buffer, which a loaded state may have changed).
    public var bits: Int { Int(bitWidth.value.item()) }

    public func callAsFunction() -> Tensor { bitWidth.value }
}
