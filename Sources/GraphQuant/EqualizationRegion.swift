import Graph
import NN

/// The channels of one layer that a region equalizes (Brevitas `EqualizationIndexes`): channels
/// `start..<end` of the layer, at position `offset` of the region's scale vector (a concat puts
/// its branches side by side).
public struct EqualizationIndexes: Hashable, Sendable {
    public var start: Int
    public var end: Int
    public var offset: Int

    public init(start: Int, end: Int, offset: Int) {
        (self.start, self.end, self.offset) = (start, end, offset)
    }

    /// Brevitas's key of a layer in a region, `name$EqualizationIndexes(start=0, end=6, offset=0)`:
    /// regions sort their layers by it.
    func key(_ name: String) -> String { "\(name)$EqualizationIndexes(start=\(start), end=\(end), offset=\(offset))" }
}

/// A set of layers whose channels can be rescaled together without changing the float function
/// (Brevitas `Region`): `sources` produce the channels (weight rows and bias scaled by `s`),
/// `sinks` consume them (weight input channels scaled by `1/s`), with only scale-invariant
/// operations between (ReLU, pools, dropout, flatten, reshape, adds and concats of such paths).
///
/// Layers are listed in Brevitas's order (sorted by their key), names are module paths.
public struct EqualizationRegion: Equatable, CustomStringConvertible {
    public let sources: [(name: String, indexes: EqualizationIndexes)]
    public let sinks: [(name: String, indexes: EqualizationIndexes)]

    public init(sources: [(name: String, indexes: EqualizationIndexes)], sinks: [(name: String, indexes: EqualizationIndexes)]) {
        (self.sources, self.sinks) = (sources, sinks)
    }

    public var sourceNames: [String] { sources.map(\.name) }
    public var sinkNames: [String] { sinks.map(\.name) }

    /// Two regions are the same when they have the same keyed sources and sinks (Brevitas's
    /// `Region.__eq__`).
    public static func == (a: EqualizationRegion, b: EqualizationRegion) -> Bool {
        Set(a.sources.map { $0.indexes.key($0.name) }) == Set(b.sources.map { $0.indexes.key($0.name) })
            && Set(a.sinks.map { $0.indexes.key($0.name) }) == Set(b.sinks.map { $0.indexes.key($0.name) })
    }

    /// Length of the scale vector the sources fill (`max_shape_srcs`).
    public var sourceWidth: Int { sources.map { $0.indexes.end + $0.indexes.offset }.max() ?? 0 }
    /// Length of the scale vector the sinks read (`max_shape_sinks`).
    public var sinkWidth: Int { sinks.map { $0.indexes.offset + $0.indexes.end - $0.indexes.start }.max() ?? 0 }
    /// `is_valid`: the sources' channels match the sinks' (or there are only sinks).
    public var isValid: Bool { (sourceWidth == 0 && sinkWidth > 0) || sourceWidth == sinkWidth }

    /// The channel axis of the activation between sources and sinks (`act_axis`): the one all
    /// layers that know it agree on, else `nil` (e.g. a conv feeding a Linear).
    public func actAxis(in graph: Module) -> Int? {
        let axes = (sinkNames + sourceNames).compactMap { graph.module(at: $0).flatMap(EqualizableLayer.init)?.actAxis }
        guard let first = axes.first else { return nil }
        return axes.allSatisfy { $0 == first } ? first : nil
    }

    public var description: String { "srcs \(sourceNames) -> sinks \(sinkNames)" }
}

extension EqualizationRegion {
    /// Brevitas's `_extract_regions`: for each layer of the graph in order (a source), the layers
    /// reached from its output through scale-invariant nodes (its sinks), walking back up through
    /// adds and concats to the other sources that feed them. A region that meets anything else
    /// (another op, a graph input or output, a layer `sinkFilter` rejects) is dropped; duplicates
    /// and regions whose channel counts do not match are dropped.
    ///
    /// - Parameter sinkFilter: which layers may be sinks (``EqualizeGraph`` and activation
    ///   equalization exclude BatchNorm).
    public static func extract(from graph: GraphModule, sinkFilter: @escaping (EqualizableLayer) -> Bool = { !$0.isBatchNorm }) -> [EqualizationRegion] {
        var regions: [EqualizationRegion] = []
        let walk = RegionWalk(graph: graph)
        for node in graph.nodes {
            guard let (path, layer) = walk.supported(node, sink: false, filter: nil) else { continue }
            let state = RegionWalk.State(sinkFilter: sinkFilter)
            state.addSource(path, EqualizationIndexes(start: 0, end: layer.sourceChannels, offset: 0))
            walk.findSinks(node.name, state)
            guard !state.sinks.isEmpty, !state.unsupported else { continue }
            let region = EqualizationRegion(sources: state.sources.sorted(), sinks: state.sinks.sorted())
            if !regions.contains(region) && region.isValid { regions.append(region) }
        }
        return regions
    }
}

/// The graph walk of `_extract_regions` (`find_srcs`, `find_sinks`, `find_srcs_channel_dim`,
/// `cat_handler`), node for node.
struct RegionWalk {
    let graph: GraphModule

    /// Insertion-ordered layers keyed by ``EqualizationIndexes/key(_:)``.
    struct Layers {
        private(set) var keys: [String] = []
        private(set) var entries: [String: (String, EqualizationIndexes)] = [:]
        var isEmpty: Bool { keys.isEmpty }
        var names: [String] { keys.map { entries[$0]!.0 } }
        mutating func add(_ name: String, _ idx: EqualizationIndexes) {
            let k = idx.key(name)
            if entries[k] == nil { keys.append(k) }
            entries[k] = (name, idx)
        }
        mutating func update(_ other: Layers) { for k in other.keys { add(other.entries[k]!.0, other.entries[k]!.1) } }
        mutating func clear() { (keys, entries) = ([], [:]) }
        /// Sorted by key, as `dict(sorted(...))`.
        func sorted() -> [(name: String, indexes: EqualizationIndexes)] {
            keys.sorted { Array($0.unicodeScalars.map(\.value)).lexicographicallyPrecedes($1.unicodeScalars.map(\.value)) }
                .map { (entries[$0]!.0, entries[$0]!.1) }
        }
        var first: (String, EqualizationIndexes)? { keys.first.map { entries[$0]! } }
        var all: [(String, EqualizationIndexes)] { keys.map { entries[$0]! } }
    }

    /// `WalkRegionState`.
    final class State {
        var sources = Layers()
        var sinks = Layers()
        /// `_UNSUPPORTED_OP` among the sinks: the region is invalid.
        var unsupported = false
        /// Edges `producer -> consumer` already walked.
        var history = Set<[String]>()
        var catEncountered = false
        var offset = 0
        var updateOffset = false
        let sinkFilter: ((EqualizableLayer) -> Bool)?

        init(sinkFilter: ((EqualizableLayer) -> Bool)?, offset: Int = 0) {
            self.sinkFilter = sinkFilter
            self.offset = offset
        }
        func addSource(_ name: String, _ idx: EqualizationIndexes) { sources.add(name, idx) }
        func addSink(_ name: String, _ idx: EqualizationIndexes) { sinks.add(name, idx) }
        func clearSinks() {
            sinks.clear()
            unsupported = false
        }
    }

    /// The module path and layer of a module node whose module equalization handles.
    func supported(_ node: GraphNode, sink: Bool, filter: ((EqualizableLayer) -> Bool)?) -> (String, EqualizableLayer)? {
        guard let path = node.modulePath, let m = graph.module(at: path), let l = EqualizableLayer(m) else { return nil }
        if sink, let filter, !filter(l) { return nil }
        return (path, l)
    }

    /// `_scale_invariant_layers` and `_scale_invariant_op` (+ select and reshaping ops): what
    /// commutes with a positive per-channel scale.
    func isScaleInvariant(_ node: GraphNode) -> Bool {
        if let path = node.modulePath {
            guard let m = graph.module(at: path) else { return false }
            return m is Dropout || m is MaxPool2d || m is AvgPool2d || m is AdaptiveAvgPool2d || m is Identity
                || (m is ReLU && !(m is ReLU6))
        }
        switch node.op {
        case .mul, .flatten, .reshape, .slice, .gather, .relu, .identity, .leakyRelu: return true
        case .resize(_, let mode, _, _, _): return mode == .nearest
        default: return false
        }
    }

    static func isAdd(_ node: GraphNode) -> Bool { if case .add = node.op { return true } else { return false } }
    static func isCat(_ node: GraphNode) -> Bool { if case .concat = node.op { return true } else { return false } }

    /// `all_input_nodes`: distinct inputs in order.
    func inputs(of node: GraphNode) -> [String] {
        var seen = Set<String>()
        return node.inputs.filter { seen.insert($0).inserted }
    }

    func findSources(_ start: String, _ state: State) {
        guard let startNode = graph.node(named: start) else { return }
        let savedUpdate = state.updateOffset
        for value in inputs(of: startNode) {
            guard state.history.insert([value, start]).inserted else { continue }
            guard let node = graph.node(named: value) else {
                state.unsupported = true  // a graph input
                continue
            }
            if let (path, layer) = supported(node, sink: false, filter: nil) {
                state.addSource(path, EqualizationIndexes(start: 0, end: layer.sourceChannels, offset: state.offset))
                findSinks(value, state)
                if state.updateOffset { state.offset += layer.sourceChannels }
            } else if isScaleInvariant(node) {
                findSinks(value, state)
                findSources(value, state)
            } else if Self.isAdd(node) {
                state.updateOffset = false
                findSinks(value, state)
                findSources(value, state)
                state.updateOffset = savedUpdate
            } else if Self.isCat(node) {
                if !state.catEncountered {
                    catHandler(value, state)
                } else {
                    state.updateOffset = false
                    findSinks(value, state)
                    state.updateOffset = true
                    findSources(value, state)
                    state.updateOffset = savedUpdate
                }
            } else {
                state.unsupported = true
            }
        }
    }

    func findSinks(_ start: String, _ state: State) {
        let savedUpdate = state.updateOffset
        var users = graph.users(of: start).map(Optional.some)
        if graph.isOutput(start) { users.append(nil) }  // FX's output node
        for user in users {
            guard let node = user else {
                state.unsupported = true
                continue
            }
            guard state.history.insert([start, node.name]).inserted else { continue }
            if let (path, layer) = supported(node, sink: true, filter: state.sinkFilter) {
                state.addSink(path, EqualizationIndexes(start: 0, end: layer.sinkChannels, offset: state.offset))
            } else if isScaleInvariant(node) {
                findSinks(node.name, state)
            } else if Self.isAdd(node) {
                state.updateOffset = false
                findSinks(node.name, state)
                findSources(node.name, state)
                state.updateOffset = savedUpdate
            } else if Self.isCat(node) {
                if !state.catEncountered {
                    catHandler(node.name, state)
                    continue
                }
                let ins = inputs(of: node)
                let channels = ins.map { sourceChannelDim($0) }
                guard let index = ins.firstIndex(of: start), !channels.contains(nil) else {
                    state.unsupported = true
                    continue
                }
                let lo = channels[..<index].reduce(0) { $0 + $1! }, hi = lo + channels[index]!
                // Brevitas walks on with a fresh state with the default sets (BatchNorm may be a
                // sink there) and takes its sinks and sources, not its unsupported marker.
                let inner = State(sinkFilter: nil, offset: state.offset)
                findSinks(node.name, inner)
                for name in inner.sinks.names { state.addSink(name, EqualizationIndexes(start: lo, end: hi, offset: inner.offset)) }
                state.sources.update(inner.sources)
            } else {
                state.unsupported = true
            }
        }
    }

    /// `cat_handler`: the region restarts from the concat, its sources side by side.
    func catHandler(_ cat: String, _ state: State) {
        state.sources.clear()
        state.clearSinks()
        state.history.removeAll()
        state.catEncountered = true
        state.updateOffset = true
        state.offset = 0
        findSources(cat, state)
        state.updateOffset = false
        state.offset = 0
        findSinks(cat, state)
    }

    /// `find_srcs_channel_dim`: the channels `value` carries, `nil` when unknown.
    func sourceChannelDim(_ value: String) -> Int? {
        guard let node = graph.node(named: value) else { return nil }
        if let (_, layer) = supported(node, sink: false, filter: nil) { return layer.sourceChannels }
        if Self.isAdd(node) {
            let all = inputs(of: node).map(sourceChannelDim)
            guard let first = all.first, all.allSatisfy({ $0 == first }) else { return nil }
            return first
        }
        if Self.isCat(node) {
            var total = 0
            for v in inputs(of: node) {
                guard let c = sourceChannelDim(v) else { return nil }
                total += c
            }
            return total
        }
        if isScaleInvariant(node), let first = node.inputs.first { return sourceChannelDim(first) }
        return nil
    }
}
