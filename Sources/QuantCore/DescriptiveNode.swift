import NN

/// A node of the module tree that runs nothing itself: it carries the name of a Brevitas module
/// whose computation happens elsewhere, so that `print(layer)` and the state-dict key paths read
/// as Brevitas's do.
///
/// Brevitas composes a quantizer from many small modules; here the hot path fuses them, and the
/// tree keeps their names as descriptive nodes. Where each named computation actually runs:
///
/// | printed as | runs in |
/// |---|---|
/// | `IntQuant(narrow_range=…, signed=…)` | `FakeQuantize.apply` (constant bit width), `IntQuantSpec` (learned) |
/// | `RoundSte`, `FloorSte` | the same fused kernel, `STE.roundSte` / `STE.floorSte` (`TruncIntQuant`) |
/// | `TensorClamp`, `TensorClampSte` | the fused kernel's clamp, `IntQuantSpec.clamp` |
/// | `IntScaling`, `PowerOfTwoIntScaling` | `IntRange.threshold` / `powerOfTwoThreshold` |
/// | `_ScaleShiftZeroPoint` | `ScaleShiftZeroPoint` |
/// | `_Stats`, `_RuntimeStats`, `_ParameterListStats` | the owning scaling module (the node holds the statistic as a child, for its key path) |
/// | `_RestrictValue`, `_ClampValue`, `_RestrictClampValue` | `Restrict` and the scaling module's `clamp_min` |
/// | `OverTensorView`, `OverOutputChannelView` | `StatsView` |
/// | `FusedActivationQuantProxy`, activation names | `ActQuantProxy` |
///
/// Example: `DescriptiveNode("IntScaling", "signed=True, narrow_range=False")` prints as
/// `IntScaling(signed=True, narrow_range=False)`. A descriptive node may hold children (and so
/// their parameters and buffers) to place them at Brevitas's key paths.
public final class DescriptiveNode: Module {
    let name: String
    let details: String

    /// A node printed as `name(details)`.
    public init(_ name: String, _ details: String = "") {
        self.name = name
        self.details = details
        super.init()
    }

    public override var typeName: String { name }
    public override var extraRepr: String { details }
}

extension DescriptiveNode {
    /// Brevitas's statistics wrapper as it prints and names state: a `name` node
    /// (`_ParameterListStats`, `_RuntimeStats`) holding the input view (when given) under
    /// `stats_input_view_shape_impl`, then `stats: _Stats(stats_impl: stats)`.
    public static func statsTree(_ name: String, stats: Module, view: Module? = nil) -> DescriptiveNode {
        let tree = DescriptiveNode(name)
        if let view { tree.registerModule("stats_input_view_shape_impl", view) }
        let wrapper = DescriptiveNode("_Stats")
        wrapper.registerModule("stats_impl", stats)
        tree.registerModule("stats", wrapper)
        return tree
    }
}
