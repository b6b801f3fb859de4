import TensorEngine

/// An ordered map from dotted keys (`features.0.weight`) to tensors: what
/// ``Module/stateDict()`` returns and ``Module/loadStateDict(_:strict:)`` and the safetensors
/// files read and write.
///
/// Keys keep their insertion order (PyTorch's `OrderedDict`), so a saved file lists the tensors in
/// module order.
///
/// ```swift
/// var sd: StateDict = ["fc.weight": Tensor(shape: [2, 2], [1, 2, 3, 4])]
/// sd["fc.bias"] = Tensor([0, 0])
/// sd.keys  // ["fc.weight", "fc.bias"]
/// ```
public struct StateDict: Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    /// The keys in order.
    public private(set) var keys: [String] = []
    private var values: [String: Tensor] = [:]

    /// An empty state dict.
    public init() {}

    /// A state dict of `entries` in their order; keys must be unique.
    public init(_ entries: [(String, Tensor)]) {
        for (key, tensor) in entries {
            precondition(values[key] == nil, "StateDict: duplicate key '\(key)'")
            self[key] = tensor
        }
    }

    public init(dictionaryLiteral elements: (String, Tensor)...) { self.init(elements) }

    /// The tensor stored under `key`; setting `nil` removes the key, setting a new key appends it.
    public subscript(key: String) -> Tensor? {
        get { values[key] }
        set {
            if let newValue {
                if values.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if values.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    /// Number of entries.
    public var count: Int { keys.count }
    /// Whether there are no entries.
    public var isEmpty: Bool { keys.isEmpty }

    /// The entries in order.
    public var entries: [(key: String, tensor: Tensor)] { keys.map { ($0, values[$0]!) } }

    public func makeIterator() -> IndexingIterator<[(key: String, tensor: Tensor)]> {
        entries.makeIterator()
    }

    /// The entries whose key starts with `prefix + "."`, with that prefix removed (the state of
    /// one child module).
    public func scoped(to prefix: String) -> StateDict {
        let head = prefix + "."
        return StateDict(keys.filter { $0.hasPrefix(head) }.map { (String($0.dropFirst(head.count)), values[$0]!) })
    }

    /// One line per entry: key and shape.
    public var description: String {
        "StateDict(" + keys.map { "\($0): \(values[$0]!.shape)" }.joined(separator: ", ") + ")"
    }
}

/// Why a state dict could not be loaded: every problem at once. The module is unchanged.
public struct StateDictError: Error, Equatable, CustomStringConvertible {
    /// A key whose tensor has the wrong shape.
    public struct ShapeMismatch: Equatable, Sendable {
        public var key: String
        public var expected: [Int]
        public var found: [Int]

        public init(key: String, expected: [Int], found: [Int]) {
            (self.key, self.expected, self.found) = (key, expected, found)
        }
    }

    /// Keys the module expects that the state dict lacks (an error only in strict mode).
    public var missingKeys: [String]
    /// Keys in the state dict that the module does not have (an error only in strict mode).
    public var unexpectedKeys: [String]
    /// Keys present on both sides with different shapes (always an error).
    public var shapeMismatches: [ShapeMismatch]
    /// Where the state dict came from (a file path), if anywhere.
    public var source: String?

    public var description: String {
        var lines = ["Error(s) in loading state dict for \(source.map { "'\($0)'" } ?? "module"):"]
        if !missingKeys.isEmpty {
            lines.append("  missing keys: " + missingKeys.map { "'\($0)'" }.joined(separator: ", "))
        }
        if !unexpectedKeys.isEmpty {
            lines.append("  unexpected keys: " + unexpectedKeys.map { "'\($0)'" }.joined(separator: ", "))
        }
        for m in shapeMismatches {
            lines.append("  size mismatch for '\(m.key)': the checkpoint has shape \(m.found), the module expects \(m.expected)")
        }
        if !missingKeys.isEmpty || !unexpectedKeys.isEmpty {
            lines.append("  (pass strict: false to load a partial state dict; shapes must still match)")
        }
        return lines.joined(separator: "\n")
    }
}

/// What a successful (non-strict) load skipped.
public struct StateDictLoadReport: Equatable, Sendable {
    /// Keys the module has that the state dict did not provide (left unchanged).
    public var missingKeys: [String]
    /// Keys of the state dict the module has no place for (ignored).
    public var unexpectedKeys: [String]
}
