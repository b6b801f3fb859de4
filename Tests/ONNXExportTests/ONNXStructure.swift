import Foundation
import ONNXProto

/// The computation of an ONNX graph as a tree per graph output, independent of node order and
/// tensor names: each tensor is the node producing it (op, domain, attributes, which output)
/// over its inputs' trees, a constant (an initializer's values), or a graph input. Two exports of
/// the same model (ours and Brevitas's) have equal trees when they have the same node types,
/// attributes and initializer values wired the same way.
indirect enum ONNXTree: CustomStringConvertible {
    case input
    case constant(values: [Double])
    case node(op: String, domain: String, attributes: [String: String], output: Int, inputs: [ONNXTree])
    case missing

    var description: String {
        switch self {
        case .input: return "graph input"
        case .constant(let v): return "constant[\(v.count)] \(v.prefix(4))"
        case .node(let op, _, _, let k, let ins): return "\(op)#\(k)(\(ins.count) inputs)"
        case .missing: return "(empty)"
        }
    }

    /// The trees of the model's outputs `outputs` (indices into `graph.output`).
    static func trees(_ model: Onnx_ModelProto, outputs: [Int]) -> [ONNXTree] {
        let g = model.graph
        var constants: [String: [Double]] = [:]
        for t in g.initializer { constants[t.name] = values(t) }
        var producers: [String: (Onnx_NodeProto, Int)] = [:]
        for n in g.node { for (k, o) in n.output.enumerated() { producers[o] = (n, k) } }
        var memo: [String: ONNXTree] = [:]
        func tree(_ name: String) -> ONNXTree {
            if name.isEmpty { return .missing }
            if let t = memo[name] { return t }
            let t: ONNXTree
            if let c = constants[name] {
                t = .constant(values: c)
            } else if let (n, k) = producers[name] {
                if n.opType == "Constant", let a = n.attribute.first(where: { $0.name == "value" }) {
                    t = .constant(values: values(a.t))
                } else {
                    var attrs: [String: String] = [:]
                    for a in n.attribute { attrs[a.name] = attributeText(a) }
                    t = .node(op: n.opType, domain: n.domain, attributes: attrs, output: k, inputs: n.input.map(tree))
                }
            } else {
                t = .input
            }
            memo[name] = t
            return t
        }
        return outputs.map { tree(g.output[$0].name) }
    }

    static func attributeText(_ a: Onnx_AttributeProto) -> String {
        switch a.type {
        case .int: return "\(a.i)"
        case .float: return "\(a.f)"
        case .string: return String(decoding: a.s, as: UTF8.self)
        case .ints: return "\(a.ints)"
        case .floats: return "\(a.floats)"
        default: return "type \(a.type)"
        }
    }

    /// An initializer's values as doubles (float32, int8, uint8, int32, int64, bool; raw or typed
    /// fields).
    static func values(_ t: Onnx_TensorProto) -> [Double] {
        let raw = t.rawData
        func load<T>(_: T.Type, _ f: (T) -> Double) -> [Double] {
            raw.withUnsafeBytes { p in Array(p.bindMemory(to: T.self)).map(f) }
        }
        switch t.dataType {
        case 1: return raw.isEmpty ? t.floatData.map(Double.init) : load(Float.self) { Double($0) }
        case 2: return raw.isEmpty ? t.int32Data.map(Double.init) : load(UInt8.self) { Double($0) }
        case 3: return raw.isEmpty ? t.int32Data.map(Double.init) : load(Int8.self) { Double($0) }
        case 6: return raw.isEmpty ? t.int32Data.map(Double.init) : load(Int32.self) { Double($0) }
        case 7: return raw.isEmpty ? t.int64Data.map(Double.init) : load(Int64.self) { Double($0) }
        case 9: return raw.isEmpty ? t.int32Data.map(Double.init) : load(UInt8.self) { Double($0) }
        default: return [Double.nan]
        }
    }

    /// The differences between two trees (empty when equal), each with its path from the
    /// output. Constants are equal when they have the same number of values within `rtol` of
    /// the larger magnitude; `ignoreValues(path)` skips the values (not the count) of a constant.
    static func differences(_ a: ONNXTree, _ b: ONNXTree, path: String = "out", rtol: Double = 1e-6,
                            ignoreValues: (String) -> Bool = { _ in false }) -> [String] {
        switch (a, b) {
        case (.input, .input), (.missing, .missing): return []
        case (.constant(let x), .constant(let y)):
            guard x.count == y.count else { return ["\(path): constant of \(x.count) values vs \(y.count)"] }
            if ignoreValues(path) { return [] }
            let m = zip(x, y).map { Swift.max(abs($0), abs($1)) }.max() ?? 0
            let d = zip(x, y).map { abs($0 - $1) }.max() ?? 0
            return d <= rtol * m ? [] : ["\(path): constant values differ by \(d) (max |value| \(m)): \(x.prefix(4)) vs \(y.prefix(4))"]
        case (.node(let o1, let d1, let a1, let k1, let i1), .node(let o2, let d2, let a2, let k2, let i2)):
            var out: [String] = []
            if o1 != o2 || d1 != d2 || k1 != k2 { return ["\(path): \(d1)::\(o1) output \(k1) vs \(d2)::\(o2) output \(k2)"] }
            if a1 != a2 {
                let keys = Set(a1.keys).union(a2.keys).sorted().filter { a1[$0] != a2[$0] }
                out.append("\(path) \(o1): attributes differ: " + keys.map { "\($0)=\(a1[$0] ?? "-") vs \(a2[$0] ?? "-")" }.joined(separator: ", "))
            }
            guard i1.count == i2.count else { return out + ["\(path) \(o1): \(i1.count) inputs vs \(i2.count)"] }
            for (j, (x, y)) in zip(i1, i2).enumerated() {
                out += differences(x, y, path: "\(path)/\(o1)[\(j)]", rtol: rtol, ignoreValues: ignoreValues)
            }
            return out
        default:
            return ["\(path): \(a) vs \(b)"]
        }
    }
}
