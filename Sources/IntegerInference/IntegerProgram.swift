/// The integer program of a quantized model: what runs on an integer-only device.
///
/// Values live in numbered slots: slot 0 is the input (the codes of the model's first
/// quantizer), slot `i + 1` the output of step `i`. Each step applies one ``IntegerOp`` to earlier
/// slots. Every value is either the codes of a quantizer's grid, or an accumulator whose real
/// value is `acc · scale_c` (per output channel `c`).
///
/// ```
/// 0  input              codes  int8   [1, 8, 8]    s=0.0157
/// 1  0.conv2d     (0)   acc    int32  [16, 8, 8]   s_c = s_in · s_w
/// 2  2.requantize (1)   codes  uint4  [16, 8, 8]   relu, M = s_in·s_w/s_out
/// ...
/// ```
///
/// ``checkpoints`` name the slots that hold a model layer's output (`"2"`, `"4.add"`), the
/// places where ``Verification`` compares the program with the fake-quantized model.
public struct IntegerProgram: Sendable {
    /// What a slot holds.
    public enum Value: Equatable, Sendable {
        /// Codes on a quantizer's grid.
        case codes(IntegerGrid)
        /// An accumulator: real value `acc · scales[c]` (one scale, or one per channel), `|acc| ≤ bound`.
        case accumulator(scales: [Double], bound: Int64)

        /// The largest magnitude the slot can hold.
        public var bound: Int64 {
            switch self {
            case .codes(let g): return Swift.max(Swift.abs(g.min), Swift.abs(g.max))
            case .accumulator(_, let b): return b
            }
        }

        /// The range of the slot's integers.
        public var range: ClosedRange<Int64> {
            switch self {
            case .codes(let g): return g.min...g.max
            case .accumulator(_, let b): return -b...b
            }
        }
    }

    /// One operation.
    public struct Step: Sendable {
        /// The model layer it comes from (state-dict path, `"4.conv1"`).
        public var layer: String
        public var op: IntegerOp
        /// Input slots.
        public var inputs: [Int]
        /// Output shape of one example.
        public var shape: [Int]
        public var value: Value
    }

    /// A model layer's output in the program.
    public struct Checkpoint: Sendable {
        /// The layer's path (`"3"`, `"5.add"`).
        public var layer: String
        /// The layer's type (`QuantReLU`).
        public var type: String
        public var slot: Int
        /// The steps the layer lowered to.
        public var steps: Range<Int>
    }

    /// Shape of one input example (after any leading flatten).
    public var inputShape: [Int]
    /// The grid of the input codes (the first quantizer's).
    public var inputGrid: IntegerGrid
    /// The layer whose quantizer defines the input codes.
    public var inputLayer: String
    public var steps: [Step]
    public var checkpoints: [Checkpoint]
    /// The slot holding the model's output.
    public var outputSlot: Int

    /// What slot `slot` holds.
    public func value(of slot: Int) -> Value { slot == 0 ? .codes(inputGrid) : steps[slot - 1].value }
    /// The per-example shape of slot `slot`.
    public func shape(of slot: Int) -> [Int] { slot == 0 ? inputShape : steps[slot - 1].shape }
    /// The output's description.
    public var output: Value { value(of: outputSlot) }
    /// The output's per-example shape.
    public var outputShape: [Int] { shape(of: outputSlot) }

    /// One line per step, as in the type's documentation.
    public var listing: String {
        var lines = ["0  input  \(describe(.codes(inputGrid)))  \(inputShape)  (\(inputLayer))"]
        for (i, s) in steps.enumerated() {
            lines.append("\(i + 1)  \(s.layer).\(s.op.kind) (\(s.inputs.map(String.init).joined(separator: ", ")))  \(describe(s.value))  \(s.shape)")
        }
        return lines.joined(separator: "\n")
    }

    func describe(_ v: Value) -> String {
        switch v {
        case .codes(let g): return "codes \(g.cType) [\(g.min), \(g.max)] s=\(g.scale) z=\(g.zeroPoint)"
        case .accumulator(let s, let b): return "acc |x|<=\(b) s=\(s.count == 1 ? "\(s[0])" : "per channel (\(s.count))")"
        }
    }
}
