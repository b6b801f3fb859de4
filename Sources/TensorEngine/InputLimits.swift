/// A bound that a file from outside (a checkpoint, a model, a data set, a JSON case) went past:
/// which limit, its value, and what the file asked for.
///
/// Every reader of outside files checks what a header promises against these limits *before*
/// allocating or multiplying anything, so a hostile file cannot make a reader allocate without
/// bound, overflow an integer or recurse until the stack runs out. Readers wrap it in their own
/// typed error, which names the file:
///
/// ```
/// x.npy: exceeds the limit on elements per tensor (268435456): the shape [65536, 65536] has 4294967296
/// ```
public struct InputLimitExceeded: Error, Equatable, Sendable, CustomStringConvertible {
    /// The limit, as ``InputLimits`` names it (`"elements per tensor"`, `"JSON nesting depth"`, ...).
    public let limit: String
    /// The limit's value.
    public let value: Int
    /// What the input asked for, in words.
    public let found: String

    public init(limit: String, value: Int, found: String) {
        self.limit = limit
        self.value = value
        self.found = found
    }

    public var description: String { "exceeds the limit on \(limit) (\(value)): \(found)" }
}

/// The bounds every reader of outside files enforces (see ``InputLimitExceeded``).
///
/// | limit | value | readers |
/// |---|---|---|
/// | elements per tensor | 2²⁸ (1 GiB of float32) | safetensors, `.npy`, IDX, ONNX tensors and folded constants, JSON cases |
/// | tensor rank | 64 (NumPy's) | safetensors, `.npy`, IDX, ONNX |
/// | tensors per file | 100,000 | safetensors, ONNX initializers |
/// | graph nodes | 100,000 | ONNX |
/// | JSON nesting depth | 128 | conformance cases, run configs |
/// | decompressed bytes | 2³¹ | gzip'd IDX and CIFAR files |
/// | header bytes | 100 MB safetensors (the format's), 10,000 `.npy` (NumPy's `max_header_size`) | |
public enum InputLimits {
    /// Elements of one tensor: 268,435,456 (a 1 GiB float32 tensor; a 50k x 4k embedding fits).
    public static let maxElements = 1 << 28
    /// Dimensions of one tensor (NumPy's `NPY_MAXDIMS`).
    public static let maxRank = 64
    /// Tensors in one checkpoint or model file.
    public static let maxTensors = 100_000
    /// Nodes of one ONNX graph.
    public static let maxGraphNodes = 100_000
    /// Nesting depth of a JSON document (arrays and objects).
    public static let maxJSONDepth = 128
    /// Bytes a compressed data file may expand to.
    public static let maxDecompressedBytes = 1 << 31

    /// The element count of `shape`, with checked multiplication: an error when a dimension is
    /// negative, the rank exceeds ``maxRank``, or the product exceeds ``maxElements`` (an
    /// overflowing product does too, without trapping). Zero dimensions are left out of that
    /// product: a `[0, 2^40, 2^40]` tensor holds nothing, but its strides would still overflow.
    ///
    /// ```swift
    /// try InputLimits.elementCount([2, 3])             // 6
    /// try InputLimits.elementCount([1 << 40, 1 << 40]) // throws: elements per tensor
    /// ```
    public static func elementCount(_ shape: [Int]) throws(InputLimitExceeded) -> Int {
        guard shape.count <= maxRank else {
            throw InputLimitExceeded(limit: "tensor rank", value: maxRank, found: "a shape of \(shape.count) dimensions")
        }
        var product = 1
        var overflow = false
        for d in shape where d != 0 {
            guard d > 0 else {
                throw InputLimitExceeded(limit: "the smallest dimension", value: 0, found: "the shape \(shape) has a negative dimension")
            }
            let (p, o) = product.multipliedReportingOverflow(by: d)
            overflow = overflow || o
            product = p
        }
        guard !overflow, product <= maxElements else {
            let total = overflow ? "more than \(Int.max)" : "\(product)"
            let found = shape.contains(0) ? "the nonzero dimensions of the shape \(shape) multiply to \(total)" : "the shape \(shape) has \(total)"
            throw InputLimitExceeded(limit: "elements per tensor", value: maxElements, found: found)
        }
        return shape.contains(0) ? 0 : product
    }

    /// The deepest nesting of arrays and objects in JSON text, found without parsing (brackets
    /// inside strings do not count): readers that hand JSON to a recursive parser check it
    /// against ``maxJSONDepth`` first.
    public static func jsonDepth<Bytes: Sequence>(_ bytes: Bytes) -> Int where Bytes.Element == UInt8 {
        var depth = 0, deepest = 0
        var inString = false, escaped = false
        for b in bytes {
            if inString {
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch b {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                deepest = max(deepest, depth)
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth = max(0, depth - 1)
            default: break
            }
        }
        return deepest
    }

    /// Throws when ``jsonDepth(_:)`` of `bytes` exceeds ``maxJSONDepth``.
    public static func checkJSONDepth<Bytes: Sequence>(_ bytes: Bytes) throws(InputLimitExceeded) where Bytes.Element == UInt8 {
        let depth = jsonDepth(bytes)
        guard depth <= maxJSONDepth else {
            throw InputLimitExceeded(limit: "JSON nesting depth", value: maxJSONDepth, found: "arrays and objects nested \(depth) deep")
        }
    }

    /// Throws unless `count <= limitValue`; `what` says what was counted.
    public static func check(_ count: Int, _ limitValue: Int, limit: String, what: String) throws(InputLimitExceeded) {
        guard count <= limitValue else {
            throw InputLimitExceeded(limit: limit, value: limitValue, found: "\(what): \(count)")
        }
    }
}
