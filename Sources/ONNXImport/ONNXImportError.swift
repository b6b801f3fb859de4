import TensorEngine

/// Why an ONNX file could not be imported: the file, and what is wrong where.
///
/// ```
/// model.onnx: node '/act/Gelu' (Gelu): op 'Gelu' is not supported; supported: Add, AveragePool, ...
/// ```
public struct ONNXImportError: FileError, Equatable {
    public enum Problem: Equatable, Sendable, CustomStringConvertible {
        /// The file could not be read (the system's message).
        case io(String)
        /// The bytes are not a valid ONNX protobuf (truncated, lengths past the end, bad wire data).
        case invalidProtobuf(String)
        /// The model has no graph, or the graph no inputs or outputs.
        case emptyModel(String)
        /// An opset of the default domain outside the supported range, or another domain.
        case unsupportedOpset(domain: String, version: Int64, supported: String)
        /// A tensor (initializer, Constant, attribute) is malformed: its dims, type or data.
        case invalidTensor(name: String, reason: String)
        /// An external data reference that is missing, escapes the model's folder, or lies about
        /// offsets and lengths.
        case externalData(tensor: String, reason: String)
        /// Nodes that depend on each other in a cycle (their names).
        case cycle([String])
        /// A node reads a value that no graph input, initializer or node defines.
        case undefinedValue(node: String, value: String)
        /// A value is defined twice (by two nodes, or a node and an input/initializer).
        case duplicateValue(String)
        /// An op this importer does not handle.
        case unsupportedOp(node: String, op: String, supported: [String])
        /// An attribute the op does not have, or a value of it this importer does not handle.
        case unsupportedAttribute(node: String, op: String, attribute: String, reason: String)
        /// The same attribute given twice on one node.
        case duplicateAttribute(node: String, op: String, attribute: String)
        /// A required attribute or input is missing, or an input must be a constant and is not.
        case invalidNode(node: String, op: String, reason: String)
        /// Input shapes that the op cannot combine (both named).
        case shapeMismatch(node: String, op: String, reason: String)
        /// The graph input's declared shape has symbolic or unknown dimensions and no shape was
        /// given, or the given shape contradicts the declared one.
        case inputShape(input: String, reason: String)
        /// The model asks for more than ``InputLimits`` allows (nodes, tensors, elements, rank).
        case limit(InputLimitExceeded)

        /// What is wrong, in words (the error adds the file).
        public var description: String {
            switch self {
            case .io(let m): return m
            case .invalidProtobuf(let m): return "not a valid ONNX model (protobuf): \(m)"
            case .emptyModel(let m): return m
            case .unsupportedOpset(let domain, let version, let supported):
                return "opset \(version) of domain '\(domain.isEmpty ? "ai.onnx" : domain)' is not supported (supported: \(supported))"
            case .invalidTensor(let name, let reason): return "tensor '\(name)': \(reason)"
            case .externalData(let tensor, let reason): return "external data of tensor '\(tensor)': \(reason)"
            case .cycle(let nodes): return "the graph has a cycle through nodes \(nodes.map { "'\($0)'" }.joined(separator: ", "))"
            case .undefinedValue(let node, let value):
                return "node '\(node)' reads '\(value)', which no graph input, initializer or node defines"
            case .duplicateValue(let v): return "the value '\(v)' is defined more than once"
            case .unsupportedOp(let node, let op, let supported):
                return "node '\(node)' (\(op)): op '\(op)' is not supported; supported: \(supported.joined(separator: ", "))"
            case .unsupportedAttribute(let node, let op, let attribute, let reason):
                return "node '\(node)' (\(op)): attribute '\(attribute)': \(reason)"
            case .duplicateAttribute(let node, let op, let attribute):
                return "node '\(node)' (\(op)): attribute '\(attribute)' is given more than once"
            case .invalidNode(let node, let op, let reason): return "node '\(node)' (\(op)): \(reason)"
            case .shapeMismatch(let node, let op, let reason): return "node '\(node)' (\(op)): \(reason)"
            case .inputShape(let input, let reason): return "graph input '\(input)': \(reason)"
            case .limit(let exceeded): return "the model \(exceeded)"
            }
        }
    }

    /// The path of the model file (or a description of its source).
    public var file: String
    public var problem: Problem

    public init(file: String, problem: Problem) {
        self.file = file
        self.problem = problem
    }
}
