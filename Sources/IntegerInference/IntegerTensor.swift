/// A dense tensor of integers, row-major (NCHW for images), the only data type of an
/// ``IntegerProgram``: integer codes of a quantizer's grid, or accumulators.
///
/// Every element is held as `Int64`, wide enough for any accumulator the lowering admits (it
/// proves a bound on each accumulator from the integer weights, see
/// ``IntegerOp/Conv2d/accumulatorBound``), so the executor never wraps and computes exactly what
/// the generated C computes with its narrower types.
///
/// ```swift
/// let x = IntegerTensor(shape: [1, 1, 2, 2], [0, 3, -2, 7])
/// x[0]          // 0
/// x.count       // 4
/// ```
public struct IntegerTensor: Equatable, Sendable {
    public var shape: [Int]
    public var data: [Int64]

    public init(shape: [Int], _ data: [Int64]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "IntegerTensor: negative dimension in \(shape)")
        precondition(shape.reduce(1, *) == data.count, "IntegerTensor: shape \(shape) holds \(shape.reduce(1, *)) elements, got \(data.count)")
        self.shape = shape
        self.data = data
    }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        self.init(shape: shape, [Int64](repeating: 0, count: shape.reduce(1, *)))
    }

    public var count: Int { data.count }

    public subscript(i: Int) -> Int64 { data[i] }

    /// Elements per example (all dimensions after the first).
    public var perExample: Int { shape.dropFirst().reduce(1, *) }

    /// The same data with a new shape of the same element count.
    public func reshaped(_ newShape: [Int]) -> IntegerTensor { IntegerTensor(shape: newShape, data) }

    /// The examples `range` of the batch (first dimension).
    public func examples(_ range: Range<Int>) -> IntegerTensor {
        precondition(!shape.isEmpty && range.lowerBound >= 0 && range.upperBound <= shape[0],
                     "IntegerTensor.examples: \(range) outside a batch of \(shape.first ?? 0)")
        let n = perExample
        return IntegerTensor(shape: [range.count] + shape.dropFirst(), Array(data[range.lowerBound * n..<range.upperBound * n]))
    }
}
