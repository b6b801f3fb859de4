/// A size given either as one integer for both spatial dimensions or as a `(height, width)` pair,
/// like PyTorch's `kernel_size=3` / `kernel_size=(3, 5)`.
///
/// ```swift
/// let a: IntOrPair = 3       // (3, 3)
/// let b: IntOrPair = [3, 5]  // (3, 5)
/// ```
public struct IntOrPair: Equatable, Sendable, ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral,
    CustomStringConvertible
{
    /// Height (first) and width (second).
    public var first: Int, second: Int
    /// Whether it was given as a single integer (then it prints as one, as PyTorch does).
    public var isScalar: Bool

    /// The same size for both dimensions.
    public init(_ value: Int) {
        (first, second, isScalar) = (value, value, true)
    }

    /// Different sizes per dimension.
    public init(_ first: Int, _ second: Int) {
        (self.first, self.second, isScalar) = (first, second, false)
    }

    public init(integerLiteral value: Int) { self.init(value) }

    public init(arrayLiteral elements: Int...) {
        precondition(elements.count == 2, "IntOrPair: expected [height, width], got \(elements)")
        self.init(elements[0], elements[1])
    }

    /// As a tuple, for the tensor engine.
    public var pair: (Int, Int) { (first, second) }

    /// `3` or `(3, 5)`.
    public var description: String { isScalar ? "\(first)" : "(\(first), \(second))" }

    /// `(3, 3)` or `(3, 5)`, always a tuple.
    var tupleDescription: String { "(\(first), \(second))" }
}

/// Python-style literals for module descriptions.
enum PythonRepr {
    static func bool(_ b: Bool) -> String { b ? "True" : "False" }

    /// `1.0`, `0.1`, `1e-05`: Swift's shortest round-trip text, which matches Python's `repr`
    /// for these values.
    static func float(_ x: Float) -> String { x.description }
    static func float(_ x: Double) -> String { x.description }
}
