import Foundation
import Graph
import NN
import ONNXProto
import SwiftProtobuf
import TensorEngine

/// A float model imported from ONNX: the graph module and what the file said about it.
public struct ImportedModel {
    /// The model, ready to run (in eval mode) or train.
    public let graph: GraphModule
    /// The graph inputs (their ONNX names) and the shapes the import was specialised for.
    public let inputs: [(name: String, shape: [Int])]
    /// The ONNX output names, in order (the graph's own output values may be named differently).
    public let outputNames: [String]
    /// The opset version of the default domain.
    public let opsetVersion: Int
    /// `producer_name producer_version` of the file.
    public let producer: String
}

/// Reads an ONNX model into a ``GraphModule``: float models as PyTorch's TorchScript and dynamo
/// exporters write them, opsets 13 to 21, weights inline or in external data files next to the
/// model.
///
/// - Conv, ConvTranspose, Gemm (and MatMul by a constant matrix followed by a bias Add), and
///   BatchNormalization become NN modules (`Conv2d`, `ConvTranspose2d`, `Linear`, `BatchNorm2d`, ...) named after
///   their weights (`layers.0.c1.weight` gives the module `layers.0.c1`), so the state dict has
///   PyTorch's keys and graph passes find them. Relu, Sigmoid, Tanh, Clip(0, 6), pools and
///   Dropout become modules too; the other ops become functional nodes.
/// - Everything computed from initializers, `Constant`s and `Shape` is folded at import for the
///   given input shapes (the declared ones when all dimensions are fixed).
/// - An op, attribute or attribute value outside what is supported is an error naming the node,
///   the op, the attribute and what is supported; malformed files (truncated, lengths past the
///   end, negative or overflowing dims, external data outside the folder, cycles, undefined
///   names, duplicate attributes, future opsets) are typed errors, never a crash.
///
/// ```swift
/// let model = try ONNXImporter.load(URL(fileURLWithPath: "resnet.onnx"))
/// model.graph.eval()
/// let y = model.graph(try NumPy.readTensor(URL(fileURLWithPath: "x.npy")))
/// ```
public enum ONNXImporter {
    /// The supported opset versions of the default (`ai.onnx`) domain.
    public static let opsets: ClosedRange<Int64> = 13...21

    /// The file's bytes; an unreadable file is an `.io` error naming it.
    static func readFile(_ url: URL) throws -> Data {
        do {
            return try Data(contentsOf: url)
        } catch {
            throw ONNXImportError(file: url.path, problem: .io("cannot read: \(error.localizedDescription)"))
        }
    }

    /// Decodes a model with protobuf nesting bounded at 64 messages (a hostile file cannot
    /// recurse the decoder without limit); undecodable bytes are `.invalidProtobuf`.
    static func decodeModel(_ data: Data, file: String) throws -> Onnx_ModelProto {
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 64
            return try Onnx_ModelProto(serializedBytes: data, options: options)
        } catch {
            throw ONNXImportError(file: file, problem: .invalidProtobuf("\(error)"))
        }
    }

    /// `readFile` then `decodeModel`: what every reader of a model file's metadata starts with.
    static func readModel(_ url: URL) throws -> Onnx_ModelProto {
        try decodeModel(readFile(url), file: url.path)
    }

    /// Imports the model at `url`. `inputShapes` gives the shape of graph inputs by name (needed
    /// when the file declares symbolic dimensions; must agree with fixed declared ones).
    public static func load(_ url: URL, inputShapes: [String: [Int]] = [:]) throws -> ImportedModel {
        try load(data: readFile(url), file: url.path, folder: url.deletingLastPathComponent(), inputShapes: inputShapes)
    }

    /// Imports a model from its bytes; `file` names it in errors, `folder` is where external
    /// data files are looked up (`nil` refuses external data).
    public static func load(data: Data, file: String, folder: URL?, inputShapes: [String: [Int]] = [:]) throws -> ImportedModel {
        let model = try decodeModel(data, file: file)
        var importer = try GraphImporter(model: model, file: file, folder: folder)
        return try importer.run(inputShapes: inputShapes)
    }

    /// The names of the graph inputs the file declares (initializers listed as inputs left out),
    /// without importing the graph; a file without a graph or without inputs is an error.
    public static func inputNames(_ url: URL) throws -> [String] {
        let model = try readModel(url)
        // An empty file is a valid (empty) protobuf message: not a model.
        guard model.hasGraph else { throw ONNXImportError(file: url.path, problem: .emptyModel("the model has no graph")) }
        let initializers = Set(model.graph.initializer.map(\.name))
        let names = model.graph.input.map(\.name).filter { !initializers.contains($0) }
        guard !names.isEmpty else { throw ONNXImportError(file: url.path, problem: .emptyModel("the graph has no inputs")) }
        return names
    }

    /// The graph inputs the file declares, each with its declared shape (`nil` for a symbolic or
    /// missing dimension, `shape == nil` when the file gives no shape), without importing the graph.
    public static func declaredInputs(_ url: URL) throws -> [(name: String, shape: [Int?]?)] {
        let model = try readModel(url)
        let initializers = Set(model.graph.initializer.map(\.name))
        return model.graph.input.filter { !initializers.contains($0.name) }.map { input in
            guard input.type.tensorType.hasShape else { return (input.name, nil) }
            let dims = input.type.tensorType.shape.dim.map { d -> Int? in
                if case .dimValue(let v)? = d.value, v >= 0, v <= Int64(Int32.max) { return Int(v) }
                return nil
            }
            return (input.name, dims)
        }
    }

    /// The external data files the model's tensors name (`location`, relative to the model's
    /// folder), each once, in order of first use: what must travel with the `.onnx` file.
    public static func externalDataFiles(_ url: URL) throws -> [String] {
        let model = try readModel(url)
        let tensors = model.graph.initializer + model.graph.node.flatMap { $0.attribute.filter { $0.hasT }.map(\.t) }
        var files: [String] = []
        for t in tensors where t.dataLocation == .external {
            for entry in t.externalData where entry.key == "location" && !files.contains(entry.value) { files.append(entry.value) }
        }
        return files
    }

    /// The ops the importer handles.
    public static var supportedOps: [String] { GraphImporter.handlers.keys.sorted() }
}

/// A value while importing: known now (folded), or computed by the graph at run time (with its
/// shape for the input shapes the import is specialised to).
enum ImportValue {
    case const(ConstValue, initializer: String?)
    case runtime(GraphValue, shape: [Int])

    var shape: [Int] {
        switch self {
        case .const(let c, _): c.shape
        case .runtime(_, let s): s
        }
    }
}

struct GraphImporter {
    let model: Onnx_ModelProto
    let file: String
    let reader: TensorProtoReader
    let opset: Int64
    let builder = GraphBuilder()
    var values: [String: ImportValue] = [:]
    /// Graph values of float initializers already registered as parameters.
    var parameters: [String: GraphValue] = [:]
    /// Module paths and tensor keys already taken.
    var takenPaths: Set<String> = []
    /// MatMul outputs turned into a `Linear` with the bias of the Add that reads them: the Add
    /// passes the Linear's output on.
    var fusedMatMuls: [String: ImportValue] = [:]

    init(model: Onnx_ModelProto, file: String, folder: URL?) throws {
        self.model = model
        self.file = file
        reader = TensorProtoReader(folder: folder, file: file)
        var version: Int64?
        for o in model.opsetImport where o.domain.isEmpty || o.domain == "ai.onnx" {
            guard version == nil else { throw ONNXImportError(file: file, problem: .emptyModel("the default domain is imported twice")) }
            version = o.version
        }
        guard let version else { throw ONNXImportError(file: file, problem: .emptyModel("no opset of the default domain (ai.onnx) is imported")) }
        guard ONNXImporter.opsets.contains(version) else {
            throw ONNXImportError(file: file, problem: .unsupportedOpset(domain: "", version: version, supported: "\(ONNXImporter.opsets.lowerBound) to \(ONNXImporter.opsets.upperBound)"))
        }
        opset = version
        guard model.hasGraph else { throw ONNXImportError(file: file, problem: .emptyModel("the model has no graph")) }
    }

    func fail(_ problem: ONNXImportError.Problem) -> ONNXImportError { ONNXImportError(file: file, problem: problem) }

    /// Throws the ``InputLimits`` error when `shape` has too many elements or dimensions (or
    /// dimensions whose product overflows): every value's shape is checked, and every folded
    /// constant's before it is computed.
    func checkedShape(_ shape: [Int]) throws {
        do { _ = try InputLimits.elementCount(shape) } catch { throw fail(.limit(error)) }
    }

    mutating func run(inputShapes: [String: [Int]]) throws -> ImportedModel {
        let graph = model.graph
        do {
            try InputLimits.check(graph.node.count, InputLimits.maxGraphNodes, limit: "graph nodes", what: "nodes")
            try InputLimits.check(graph.initializer.count, InputLimits.maxTensors, limit: "tensors per file", what: "initializers")
        } catch { throw fail(.limit(error)) }
        // Initializers.
        for t in graph.initializer {
            guard !t.name.isEmpty else { throw fail(.invalidTensor(name: "", reason: "an initializer has no name")) }
            guard values[t.name] == nil else { throw fail(.duplicateValue(t.name)) }
            values[t.name] = .const(try reader.read(t), initializer: t.name)
        }
        if !graph.sparseInitializer.isEmpty {
            throw fail(.invalidTensor(name: graph.sparseInitializer[0].values.name, reason: "sparse initializers are not supported"))
        }
        // Inputs (older exporters also list the initializers as inputs: those keep their values).
        var inputs: [(String, [Int])] = []
        for info in graph.input where values[info.name] == nil || inputs.contains(where: { $0.0 == info.name }) {
            guard !inputs.contains(where: { $0.0 == info.name }) else { throw fail(.duplicateValue(info.name)) }
            let shape = try inputShape(info, given: inputShapes[info.name])
            let v = builder.input(info.name)
            values[info.name] = .runtime(v, shape: shape)
            inputs.append((info.name, shape))
        }
        for name in inputShapes.keys.sorted() where !inputs.contains(where: { $0.0 == name }) {
            throw fail(.inputShape(input: name, reason: "the model has no such input (inputs: \(inputs.map(\.0).joined(separator: ", ")))"))
        }
        guard !inputs.isEmpty else { throw fail(.emptyModel("the graph has no inputs")) }
        guard !graph.output.isEmpty else { throw fail(.emptyModel("the graph has no outputs")) }

        for (index, node) in try orderedNodes().enumerated() {
            let context = try NodeContext(node, index: index, file: file)
            guard node.domain.isEmpty || node.domain == "ai.onnx" else {
                throw fail(.unsupportedOp(node: context.name, op: "\(node.domain)::\(node.opType)", supported: ONNXImporter.supportedOps))
            }
            guard let handler = Self.handlers[node.opType] else {
                throw fail(.unsupportedOp(node: context.name, op: node.opType, supported: ONNXImporter.supportedOps))
            }
            let outputs = try handler(&self, context)
            for value in outputs { try checkedShape(value.shape) }
            let declared = node.output
            if declared.count > outputs.count {
                let missing = Set(declared[outputs.count...].filter { !$0.isEmpty })
                let read = graph.node.contains { $0.input.contains(where: missing.contains) } || graph.output.contains { missing.contains($0.name) }
                guard !read else { throw context.error("produces \(outputs.count) outputs, the node declares \(declared.count) and later ones are read") }
            }
            for (name, value) in zip(declared, outputs) where !name.isEmpty {
                guard values[name] == nil else { throw fail(.duplicateValue(name)) }
                values[name] = value
            }
        }

        var outs: [GraphValue] = []
        for info in graph.output {
            guard let v = values[info.name] else { throw fail(.undefinedValue(node: "graph output", value: info.name)) }
            outs.append(materialize(v, name: info.name))
        }
        let module: GraphModule
        do { module = try builder.build(outputs: outs) } catch { throw fail(.emptyModel("the imported graph is invalid: \(error)")) }
        module.eval()
        let opsetVersion = Int(opset)
        return ImportedModel(graph: module, inputs: inputs, outputNames: graph.output.map(\.name), opsetVersion: opsetVersion,
                             producer: [model.producerName, model.producerVersion].filter { !$0.isEmpty }.joined(separator: " "))
    }

    /// The shape of a graph input: the given one, checked against the declaration, or the
    /// declared one when every dimension is fixed.
    func inputShape(_ info: Onnx_ValueInfoProto, given: [Int]?) throws -> [Int] {
        let declared: [Int?]? = info.type.tensorType.hasShape
            ? info.type.tensorType.shape.dim.map { $0.dimValue > 0 ? Int($0.dimValue) : nil } : nil
        if info.type.tensorType.elemType != 0, info.type.tensorType.elemType != 1 {
            let name = TensorProtoReader.typeNames[info.type.tensorType.elemType] ?? "\(info.type.tensorType.elemType)"
            throw fail(.inputShape(input: info.name, reason: "element type \(name) is not supported (FLOAT is)"))
        }
        if let given {
            guard given.allSatisfy({ $0 >= 0 }) else { throw fail(.inputShape(input: info.name, reason: "shape \(given) has a negative dimension")) }
            do { _ = try InputLimits.elementCount(given) } catch { throw fail(.limit(error)) }
            if let declared {
                let text = "[" + declared.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + "]"
                guard declared.count == given.count, zip(declared, given).allSatisfy({ $0 == nil || $0 == $1 }) else {
                    throw fail(.inputShape(input: info.name, reason: "the data has shape \(given), the model expects \(text)"))
                }
            }
            return given
        }
        guard let declared, declared.allSatisfy({ $0 != nil }) else {
            throw fail(.inputShape(input: info.name, reason: "the declared shape has symbolic or unknown dimensions; give the input's shape (e.g. run it on data)"))
        }
        let shape = declared.map { $0! }
        do { _ = try InputLimits.elementCount(shape) } catch { throw fail(.limit(error)) }
        return shape
    }

    /// The nodes in an order where every value is defined before it is read (Kahn's algorithm,
    /// iterative); a cycle or an undefined name is an error.
    func orderedNodes() throws -> [Onnx_NodeProto] {
        let nodes = model.graph.node
        var producer: [String: Int] = [:]
        for (i, node) in nodes.enumerated() {
            for out in node.output where !out.isEmpty {
                guard producer.updateValue(i, forKey: out) == nil, values[out] == nil else { throw fail(.duplicateValue(out)) }
            }
        }
        var pending = [Int](repeating: 0, count: nodes.count)
        var readers: [[Int]] = Array(repeating: [], count: nodes.count)
        for (i, node) in nodes.enumerated() {
            for input in node.input where !input.isEmpty {
                if let p = producer[input] {
                    pending[i] += 1
                    readers[p].append(i)
                } else if values[input] == nil {
                    let name = node.name.isEmpty ? "#\(i) \(node.opType)" : node.name
                    throw fail(.undefinedValue(node: name, value: input))
                }
            }
        }
        var ready = (0..<nodes.count).filter { pending[$0] == 0 }.reversed() as [Int]
        var order: [Onnx_NodeProto] = []
        while let i = ready.popLast() {
            order.append(nodes[i])
            for r in readers[i] {
                pending[r] -= 1
                if pending[r] == 0 { ready.append(r) }
            }
            ready.sort(by: >)
        }
        guard order.count == nodes.count else {
            let stuck = (0..<nodes.count).filter { pending[$0] > 0 }.map { nodes[$0].name.isEmpty ? "#\($0) \(nodes[$0].opType)" : nodes[$0].name }
            throw fail(.cycle(stuck))
        }
        return order
    }

    // MARK: Values

    /// Whether the node's outputs after the first are absent or read by nothing (exporters
    /// name LayerNormalization's Mean and InvStdDev, or MaxPool's Indices, without using them).
    func onlyFirstOutputRead(_ c: NodeContext) -> Bool {
        let extra = Set(c.node.output.dropFirst().filter { !$0.isEmpty })
        if extra.isEmpty { return true }
        let read = model.graph.node.contains { $0.input.contains(where: extra.contains) }
        return !read && !model.graph.output.contains { extra.contains($0.name) }
    }

    func input(_ c: NodeContext, _ i: Int) throws -> ImportValue {
        guard let name = c.inputName(i) else { throw c.error("input \(i) is required") }
        guard let v = values[name] else { throw fail(.undefinedValue(node: c.name, value: name)) }
        return v
    }

    func optionalInput(_ c: NodeContext, _ i: Int) throws -> ImportValue? {
        guard c.inputName(i) != nil else { return nil }
        return try input(c, i)
    }

    /// Input `i` as an import-time constant.
    func constant(_ c: NodeContext, _ i: Int, _ what: String) throws -> ConstValue {
        switch try input(c, i) {
        case .const(let v, _): return v
        case .runtime:
            throw c.error("input \(i) (\(what)) must be known at import (an initializer, a Constant or computed from Shape); it depends on the model's input")
        }
    }

    /// Input `i` as a graph value (constants become parameters or literals).
    mutating func runtime(_ c: NodeContext, _ i: Int) throws -> (GraphValue, [Int]) {
        let v = try input(c, i)
        return (materialize(v, name: c.inputName(i)!), v.shape)
    }

    /// A graph value for `v`: float initializers become trainable parameters named after them,
    /// other constants literals.
    mutating func materialize(_ v: ImportValue, name: String) -> GraphValue {
        switch v {
        case .runtime(let g, _): return g
        case .const(let c, let initializer):
            if let initializer, c.isFloat {
                if let p = parameters[initializer] { return p }
                let key = uniquePath(sanitizedPath(initializer, fallback: "param"))
                let p = builder.parameter(key, c.tensor)
                parameters[initializer] = p
                return p
            }
            return builder.constant(c.tensor)
        }
    }

    /// Emits a functional node.
    func emit(_ op: GraphOp, _ inputs: [GraphValue], shape: [Int]) -> ImportValue {
        .runtime(builder.op(op, inputs), shape: shape)
    }

    /// Registers `layer` at `path` and calls it on `input`.
    mutating func call(_ path: String, _ layer: any Layer, _ input: GraphValue, shape: [Int]) -> ImportValue {
        takenPaths.insert(path)
        return .runtime(builder.call(path, layer, input), shape: shape)
    }

    // MARK: Names

    /// A dotted path made of valid names: `layers.0.c1` stays; `onnx::Conv_12` becomes
    /// `onnx__Conv_12`; empty or odd segments are replaced.
    func sanitizedPath(_ name: String, fallback: String) -> String {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map { part -> String in
            String(part.map { $0.isLetter || $0.isNumber || $0 == "_" ? $0 : "_" })
        }
        if parts.isEmpty || parts.contains(where: \.isEmpty) {
            let flat = String(name.map { $0.isLetter || $0.isNumber || $0 == "_" ? $0 : "_" })
            return flat.isEmpty ? fallback : flat
        }
        return parts.joined(separator: ".")
    }

    /// `path`, or `path_1`, `path_2`, ... when taken by a module or tensor or a prefix of one.
    mutating func uniquePath(_ path: String) -> String {
        var candidate = path
        var k = 0
        while isTaken(candidate) {
            k += 1
            candidate = "\(path)_\(k)"
        }
        takenPaths.insert(candidate)
        return candidate
    }

    func isTaken(_ path: String) -> Bool {
        if takenPaths.contains(path) { return true }
        // A path under a taken one, or above one, would mix a module's own names with children.
        return takenPaths.contains { $0.hasPrefix(path + ".") || path.hasPrefix($0 + ".") }
    }

    /// The module path for a node: from its weight initializer (`stem.0.weight` -> `stem.0`),
    /// else from TorchScript's scope in the node name (`/layers/layers.0/c1/Conv` ->
    /// `layers.0.c1`), else from the op name.
    mutating func modulePath(_ c: NodeContext, weight: String?, opName: String) -> String {
        if let weight, weight.hasSuffix(".weight") || weight.hasSuffix(".bias") {
            let base = String(weight[..<weight.lastIndex(of: ".")!])
            let path = sanitizedPath(base, fallback: opName)
            if !isTaken(path) { return uniquePath(path) }
        }
        let scope = scopePath(c.node.name)
        if !scope.isEmpty, !isTaken(scope) { return uniquePath(scope) }
        return uniquePath(scope.isEmpty ? opName : scope + "." + opName)
    }

    /// TorchScript node names are `/<scope>/<scope>/<Op>_<n>`, each scope either a child name
    /// or the full dotted path (`/layers/layers.0/c1/Conv`); this returns the module path.
    func scopePath(_ nodeName: String) -> String {
        guard nodeName.hasPrefix("/") else { return "" }
        var parts = nodeName.split(separator: "/").map(String.init)
        guard parts.count >= 2 else { return "" }
        parts.removeLast()
        var path = ""
        for p in parts {
            if !path.isEmpty, p.hasPrefix(path + ".") { path = p } else { path = path.isEmpty ? p : path + "." + p }
        }
        return sanitizedPath(path, fallback: "")
    }
}
