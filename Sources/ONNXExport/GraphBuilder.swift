import Foundation
import ONNXProto
import SwiftProtobuf
import TensorEngine

/// ONNX element types used by the exporter (`TensorProto.DataType`).
enum ElementType: Equatable {
    case float, int8, uint8, int32, int64
    /// An 8-bit float (opset 19): the minifloat codes of an FP8 quantizer.
    case float8(Float8Type)

    var onnx: Int32 {
        switch self {
        case .float: return Int32(Onnx_TensorProto.DataType.float.rawValue)
        case .int8: return Int32(Onnx_TensorProto.DataType.int8.rawValue)
        case .uint8: return Int32(Onnx_TensorProto.DataType.uint8.rawValue)
        case .int32: return Int32(Onnx_TensorProto.DataType.int32.rawValue)
        case .int64: return Int32(Onnx_TensorProto.DataType.int64.rawValue)
        case .float8(let t): return Int32(t.dataType.rawValue)
        }
    }

    /// The representable integer range (for integer types).
    var range: (min: Double, max: Double) {
        switch self {
        case .float, .float8: return (-Double(Float.greatestFiniteMagnitude), Double(Float.greatestFiniteMagnitude))
        case .int8: return (-128, 127)
        case .uint8: return (0, 255)
        case .int32: return (-2_147_483_648, 2_147_483_647)
        case .int64: return (-9.2e18, 9.2e18)
        }
    }

    var name: String {
        switch self {
        case .float: return "float32"
        case .int8: return "int8"
        case .uint8: return "uint8"
        case .int32: return "int32"
        case .int64: return "int64"
        case .float8(let t): return t.name
        }
    }
}

/// Builds one ONNX graph: unique names, initializers with raw little-endian data, nodes with
/// typed attributes, and a `value_info` entry (element type and static shape) for every tensor a
/// node produces, so that shape-dependent consumers (qonnx's executor) need no inference pass.
final class GraphBuilder {
    private(set) var nodes: [Onnx_NodeProto] = []
    private(set) var initializers: [Onnx_TensorProto] = []
    private(set) var inputs: [Onnx_ValueInfoProto] = []
    private(set) var outputs: [Onnx_ValueInfoProto] = []
    /// Type and shape of every tensor known to the graph (inputs, initializers, node outputs).
    private(set) var types: [String: (ElementType, [Int])] = [:]
    /// Names of node outputs, in creation order (for `value_info`).
    private var produced: [String] = []
    private var used = Set<String>()

    /// `base`, or `base_1`, `base_2`, ... if taken.
    func unique(_ base: String) -> String {
        if used.insert(base).inserted { return base }
        var i = 1
        while !used.insert("\(base)_\(i)").inserted { i += 1 }
        return "\(base)_\(i)"
    }

    // MARK: Inputs, outputs, initializers

    /// Whether the graph's batch dimension is symbolic (`batch`) rather than the example's.
    var dynamicBatch = false

    func addInput(_ name: String, shape: [Int], type: ElementType = .float) -> String {
        let n = unique(name)
        inputs.append(Self.valueInfo(n, type, shape))
        types[n] = (type, shape)
        return n
    }

    /// Declares `name` (a node output or input) a graph output.
    func addOutput(_ name: String) {
        let (t, s) = types[name]!
        outputs.append(Self.valueInfo(name, t, s))
    }

    /// A float initializer with the given shape.
    @discardableResult
    func constant(_ name: String, floats: [Float], shape: [Int]) -> String {
        precondition(floats.count == shape.reduce(1, *), "constant \(name): \(floats.count) values for shape \(shape)")
        var data = Data(capacity: floats.count * 4)
        for f in floats { withUnsafeBytes(of: f.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return addInitializer(name, .float, shape, data)
    }

    func constant(_ name: String, tensor: Tensor) -> String {
        constant(name, floats: tensor.scalars, shape: tensor.shape)
    }

    func constant(_ name: String, scalar: Float) -> String { constant(name, floats: [scalar], shape: []) }

    /// An integer initializer; every value must be an integer within the type's range.
    func constant(_ name: String, integers: [Int64], type: ElementType, shape: [Int]) -> String {
        precondition(integers.count == shape.reduce(1, *), "constant \(name): \(integers.count) values for shape \(shape)")
        var data = Data()
        switch type {
        case .int8: data = Data(integers.map { UInt8(bitPattern: Int8($0)) })
        case .uint8: data = Data(integers.map { UInt8($0) })
        case .int32:
            data.reserveCapacity(integers.count * 4)
            for v in integers { withUnsafeBytes(of: Int32(v).littleEndian) { data.append(contentsOf: $0) } }
        case .int64:
            data.reserveCapacity(integers.count * 8)
            for v in integers { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        case .float, .float8:
            preconditionFailure("use constant(_:floats:shape:) for floats, constant(_:bytes:type:shape:) for float8")
        }
        return addInitializer(name, type, shape, data)
    }

    /// An 8-bit float initializer from its codes (one byte per element, `raw_data`).
    func constant(_ name: String, bytes: [UInt8], type: Float8Type, shape: [Int]) -> String {
        precondition(bytes.count == shape.reduce(1, *), "constant \(name): \(bytes.count) values for shape \(shape)")
        return addInitializer(name, .float8(type), shape, Data(bytes))
    }

    private func addInitializer(_ name: String, _ type: ElementType, _ shape: [Int], _ raw: Data) -> String {
        let n = unique(name)
        var t = Onnx_TensorProto()
        t.name = n
        t.dataType = type.onnx
        t.dims = shape.map(Int64.init)
        t.rawData = raw
        initializers.append(t)
        types[n] = (type, shape)
        return n
    }

    // MARK: Nodes

    /// Appends a node with one output and returns the output's name (`<name>_output_0`).
    @discardableResult
    func node(_ opType: String, _ inputs: [String], name: String, domain: String = "",
              attributes: [Onnx_AttributeProto] = [], type: ElementType, shape: [Int]) -> String {
        let nodeName = unique(name)
        let out = unique(nodeName + "_output_0")
        var n = Onnx_NodeProto()
        n.opType = opType
        n.name = nodeName
        n.domain = domain
        n.input = inputs
        n.output = [out]
        n.attribute = attributes
        nodes.append(n)
        types[out] = (type, shape)
        produced.append(out)
        return out
    }

    /// A node with several outputs (QONNX `QuantLSTMCell`: the output sequence, the last hidden
    /// and cell states), named `<node>_output_<k>`.
    func node(_ opType: String, _ inputs: [String], name: String, domain: String = "",
              attributes: [Onnx_AttributeProto] = [], outputs: [(type: ElementType, shape: [Int])]) -> [String] {
        let nodeName = unique(name)
        let outs = outputs.indices.map { unique(nodeName + "_output_\($0)") }
        var n = Onnx_NodeProto()
        n.opType = opType
        n.name = nodeName
        n.domain = domain
        n.input = inputs
        n.output = outs
        n.attribute = attributes
        nodes.append(n)
        for (o, t) in zip(outs, outputs) { types[o] = t }
        produced.append(contentsOf: outs)
        return outs
    }

    /// Renames the tensor `old` (a node output) to `new` everywhere.
    func rename(_ old: String, to newName: String) {
        precondition(!used.contains(newName) || newName == old, "rename: \(newName) is taken")
        used.insert(newName)
        for i in nodes.indices {
            nodes[i].output = nodes[i].output.map { $0 == old ? newName : $0 }
            nodes[i].input = nodes[i].input.map { $0 == old ? newName : $0 }
        }
        if let t = types.removeValue(forKey: old) { types[newName] = t }
        produced = produced.map { $0 == old ? newName : $0 }
    }

    /// Whether `name` is produced by a node (not a graph input or initializer).
    func isNodeOutput(_ name: String) -> Bool { produced.contains(name) }

    // MARK: Attributes

    static func attr(_ name: String, int: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = Int64(int)
        return a
    }

    static func attr(_ name: String, ints: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .ints
        a.ints = ints.map(Int64.init)
        return a
    }

    static func attr(_ name: String, float: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .float
        a.f = float
        return a
    }

    static func attr(_ name: String, string: String) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .string
        a.s = Data(string.utf8)
        return a
    }

    // MARK: Model

    static func valueInfo(_ name: String, _ type: ElementType, _ shape: [Int]) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        var tt = Onnx_TypeProto.Tensor()
        tt.elemType = type.onnx
        var sp = Onnx_TensorShapeProto()
        sp.dim = shape.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            dim.dimValue = Int64(d)
            return dim
        }
        tt.shape = sp
        var tp = Onnx_TypeProto()
        tp.tensorType = tt
        v.type = tp
        return v
    }

    func graph(name: String) -> Onnx_GraphProto {
        var g = Onnx_GraphProto()
        g.name = name
        g.node = nodes
        g.initializer = initializers
        g.input = inputs
        g.output = outputs
        let outputNames = Set(outputs.map(\.name))
        g.valueInfo = produced.filter { !outputNames.contains($0) }.map { n in
            let (t, s) = types[n]!
            return Self.valueInfo(n, t, s)
        }
        if dynamicBatch {
            // The first dimension of inputs and outputs is the symbolic `batch`; intermediate
            // shapes (optional in ONNX) are left to the runtime's shape inference.
            func symbolic(_ v: Onnx_ValueInfoProto) -> Onnx_ValueInfoProto {
                var v = v
                guard !v.type.tensorType.shape.dim.isEmpty else { return v }
                var d = Onnx_TensorShapeProto.Dimension()
                d.dimParam = "batch"
                v.type.tensorType.shape.dim[0] = d
                return v
            }
            g.input = g.input.map(symbolic)
            g.output = g.output.map(symbolic)
            g.valueInfo = []
        }
        return g
    }
}
