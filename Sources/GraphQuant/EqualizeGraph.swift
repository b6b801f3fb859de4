import Graph
import NN

/// Cross-layer equalization of a float graph (Brevitas `EqualizeGraph`,
/// `brevitas/graph/equalize.py: _extract_regions, _equalize`; Nagel et al. 2019, section 4.1):
/// rescales consecutive layers so that the ranges of a source's output channels match the ranges
/// of the sink's input channels, which evens out per-tensor weight quantization.
///
/// Regions come from ``EqualizationRegion/extract(from:sinkFilter:)`` (BatchNorm never a sink).
/// One iteration equalizes every region in order, each with the weights the previous ones left
/// (``CrossLayerEqualization/equalize(_:_:mergeBias:shrinkage:alpha:activationRanges:multiplier:)``
/// with `alpha = 0.5`: `s = sqrt(r_sink) / sqrt(r_src)`); iterations stop after `iterations`, or
/// after one in which `max over regions of max|1 - s| < threshold`.
///
/// ```swift
/// let regions = EqualizeGraph(iterations: 20).apply(to: graph)   // [srcs [conv1] -> sinks [conv2], ...]
/// ```
public struct EqualizeGraph: Sendable {
    public var iterations: Int
    public var threshold: Float
    public var mergeBias: Bool
    public var biasShrinkage: BiasShrinkage

    public init(iterations: Int = 10, threshold: Float = 0.05, mergeBias: Bool = true, biasShrinkage: BiasShrinkage = .vaiq) {
        precondition(iterations >= 0, "EqualizeGraph: iterations \(iterations) < 0")
        (self.iterations, self.threshold, self.mergeBias, self.biasShrinkage) = (iterations, threshold, mergeBias, biasShrinkage)
    }

    /// The regions `apply(to:)` would equalize, without changing anything.
    public static func regions(of graph: GraphModule) -> [EqualizationRegion] { EqualizationRegion.extract(from: graph) }

    /// Equalizes `graph` in place; returns the regions and how many iterations ran.
    @discardableResult
    public func apply(to graph: GraphModule) -> (regions: [EqualizationRegion], iterations: Int) {
        let regions = Self.regions(of: graph)
        guard !regions.isEmpty else { return (regions, 0) }
        for i in 0..<iterations {
            var worst: Float = 0
            for region in regions {
                let s = CrossLayerEqualization.equalize(graph, region, mergeBias: mergeBias, shrinkage: biasShrinkage) ?? [1]
                for v in s { worst = Swift.max(worst, Swift.abs(1 - v)) }
            }
            if worst < threshold { return (regions, i + 1) }
        }
        return (regions, iterations)
    }
}
