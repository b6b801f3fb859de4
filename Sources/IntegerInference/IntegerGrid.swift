/// The integer grid of a per-tensor quantizer: the real value of code `q` is
/// `(q − zeroPoint) · scale`, and codes lie in `min...max`.
///
/// A signed 8-bit quantizer has `min = −128, max = 127` (narrow range: `−127`), an unsigned 4-bit
/// one `0...15`. Sums of codes (residual adds, average-pool windows) have wider grids.
public struct IntegerGrid: Equatable, Sendable, Codable {
    /// The real value of one step (Brevitas `scale`), as the model holds it (float32, widened).
    public var scale: Double
    public var zeroPoint: Int64
    public var min: Int64
    public var max: Int64
    /// Brevitas's bit width of the tensor (the quantizer's; `max(a, b) + 1` for a sum, the
    /// window sum's for a pool). A ReLU raises `min` but keeps it.
    public var bitWidth: Int
    /// Brevitas's signedness of the tensor (kept through a ReLU).
    public var signed: Bool

    /// A grid; `bitWidth` and `signed` default to those of the range `min...max`.
    public init(scale: Double, zeroPoint: Int64, min: Int64, max: Int64, bitWidth: Int? = nil, signed: Bool? = nil) {
        precondition(scale > 0 && scale.isFinite, "IntegerGrid: scale must be positive and finite, got \(scale)")
        precondition(min <= max, "IntegerGrid: min \(min) > max \(max)")
        self.scale = scale
        self.zeroPoint = zeroPoint
        self.min = min
        self.max = max
        self.bitWidth = bitWidth ?? IntegerGrid.bits(min: min, max: max)
        self.signed = signed ?? (min < 0)
    }

    /// Bits of the narrowest two's-complement (signed) or plain binary (unsigned) type that
    /// holds every code: 8 for `−128...127` and for `0...255`.
    public var bits: Int { IntegerGrid.bits(min: min, max: max) }

    /// Bits needed for the range `min...max` (signed when `min < 0`).
    public static func bits(min: Int64, max: Int64) -> Int {
        if min >= 0 { return Swift.max(1, 64 - UInt64(max).leadingZeroBitCount) }
        var b = 1
        while b < 64 && !(min >= -(Int64(1) << (b - 1)) && max <= (Int64(1) << (b - 1)) - 1) { b += 1 }
        return b
    }

    /// The C type of the narrowest standard integer that holds the grid's codes.
    public var cType: String { IntegerGrid.cType(min: min, max: max) }

    /// `int8_t`, `uint8_t`, `int16_t`, ... for a range.
    public static func cType(min: Int64, max: Int64) -> String {
        for b in [8, 16, 32] {
            if min >= 0 && max <= (Int64(1) << b) - 1 { return "uint\(b)_t" }
            if min >= -(Int64(1) << (b - 1)) && max <= (Int64(1) << (b - 1)) - 1 { return "int\(b)_t" }
        }
        return "int64_t"
    }
}
