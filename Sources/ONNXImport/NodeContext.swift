import ONNXProto

/// One ONNX node as an op handler sees it: its name, attributes (checked once for duplicates and
/// against the attributes the handler knows) and inputs.
struct NodeContext {
    let node: Onnx_NodeProto
    /// The node's name, or `#<index> <op>` when it has none.
    let name: String
    let file: String
    private let attributes: [String: Onnx_AttributeProto]

    var op: String { node.opType }

    init(_ node: Onnx_NodeProto, index: Int, file: String) throws {
        self.node = node
        self.file = file
        name = node.name.isEmpty ? "#\(index) \(node.opType)" : node.name
        var table: [String: Onnx_AttributeProto] = [:]
        for a in node.attribute {
            guard table.updateValue(a, forKey: a.name) == nil else {
                throw ONNXImportError(file: file, problem: .duplicateAttribute(node: name, op: node.opType, attribute: a.name))
            }
            if !a.refAttrName.isEmpty {
                throw ONNXImportError(file: file, problem: .unsupportedAttribute(node: name, op: node.opType, attribute: a.name, reason: "references to function attributes are not supported"))
            }
        }
        attributes = table
    }

    func error(_ reason: String) -> ONNXImportError {
        ONNXImportError(file: file, problem: .invalidNode(node: name, op: op, reason: reason))
    }

    func shapeError(_ reason: String) -> ONNXImportError {
        ONNXImportError(file: file, problem: .shapeMismatch(node: name, op: op, reason: reason))
    }

    func attributeError(_ attribute: String, _ reason: String) -> ONNXImportError {
        ONNXImportError(file: file, problem: .unsupportedAttribute(node: name, op: op, attribute: attribute, reason: reason))
    }

    /// Throws for any attribute outside `known`, naming the ones this importer handles.
    func allow(_ known: Set<String>) throws {
        if let extra = attributes.keys.sorted().first(where: { !known.contains($0) }) {
            let list = known.isEmpty ? "none" : known.sorted().joined(separator: ", ")
            throw attributeError(extra, "not supported for \(op) (supported attributes: \(list))")
        }
    }

    func has(_ name: String) -> Bool { attributes[name] != nil }

    private func attribute(_ name: String, _ type: Onnx_AttributeProto.AttributeType) throws -> Onnx_AttributeProto? {
        guard let a = attributes[name] else { return nil }
        // Old exporters leave `type` unset; accept that when the matching field is filled.
        guard a.type == type || a.type == .undefined else { throw attributeError(name, "expected type \(type), got \(a.type)") }
        return a
    }

    func int(_ name: String, _ defaultValue: Int) throws -> Int {
        guard let a = try attribute(name, .int) else { return defaultValue }
        guard let v = Int(exactly: a.i) else { throw attributeError(name, "\(a.i) does not fit an Int") }
        return v
    }

    func float(_ name: String, _ defaultValue: Float) throws -> Float {
        guard let a = try attribute(name, .float) else { return defaultValue }
        return a.f
    }

    func ints(_ name: String) throws -> [Int]? {
        guard let a = try attribute(name, .ints) else { return nil }
        return a.ints.map { Int($0) }
    }

    func string(_ name: String, _ defaultValue: String) throws -> String {
        guard let a = try attribute(name, .string) else { return defaultValue }
        return String(decoding: a.s, as: UTF8.self)
    }

    func tensor(_ name: String) throws -> Onnx_TensorProto? {
        try attribute(name, .tensor)?.t
    }

    /// The number of inputs, trailing empty (omitted optional) ones left out.
    var inputCount: Int {
        var n = node.input.count
        while n > 0, node.input[n - 1].isEmpty { n -= 1 }
        return n
    }

    /// The name of input `i`, `nil` if absent or empty (an omitted optional input).
    func inputName(_ i: Int) -> String? {
        i < node.input.count && !node.input[i].isEmpty ? node.input[i] : nil
    }

    /// Checks the number of inputs.
    func expectInputs(_ range: ClosedRange<Int>) throws {
        guard range.contains(inputCount) else {
            let text = range.lowerBound == range.upperBound ? "\(range.lowerBound)" : "\(range.lowerBound) to \(range.upperBound)"
            throw error("expected \(text) inputs, got \(inputCount)")
        }
    }
}
