/// Why a graph could not be quantized or calibrated: each case names the node, layer or option
/// at fault and what to do.
public enum GraphQuantError: Error, Equatable, CustomStringConvertible {
    /// A layer map entry or override could not build its quantized layer.
    case layerConfig(node: String, message: String)
    /// An option names a layer the graph does not have.
    case unknownLayer(String, known: [String])
    /// A feature of Brevitas's graph tools that is not built.
    case unsupported(String)
    /// Data of the wrong shape.
    case shape(String)
    /// The quantized forward failed at a node.
    case forward(node: String, message: String)

    public var description: String {
        switch self {
        case .layerConfig(let node, let m): return "cannot quantize '\(node)': \(m)"
        case .unknownLayer(let name, let known):
            return "no layer '\(name)' in the graph (layers: \(known.joined(separator: ", ")))"
        case .unsupported(let m): return "not supported: \(m)"
        case .shape(let m): return m
        case .forward(let node, let m): return "the quantized graph failed at node '\(node)': \(m)"
        }
    }
}
