import QuantCore

/// Checks of the group-wise settings shared by activation and weight quantizers: a group-wise
/// scale needs a positive `group_size`, and is exclusive with per-channel scaling; the group
/// keywords are errors where nothing uses them. A grouped dimension need not be a multiple of the
/// group size: as Brevitas does, the last group is padded with zeros (`GroupView`).
func groupProblems(scalingPerGroup: Bool, groupSize: Int?, groupDim: Int?, perChannel: Bool,
                   overridden: Set<String>) -> [QuantConfigError.Problem] {
    var problems: [QuantConfigError.Problem] = []
    if scalingPerGroup {
        if let g = groupSize {
            if g <= 0 { problems.append(.init(key: "group_size", message: "must be positive, got \(g)")) }
        } else {
            problems.append(.init(key: "group_size", message: "required by scaling_per_output_type='GROUP' (e.g. 32)"))
        }
        if perChannel {
            problems.append(.init(key: "scaling_per_output_channel", message: "a scale is either per channel or per group; remove scaling_per_output_channel"))
        }
    } else {
        for k in ["group_size", "group_dim"] where overridden.contains(k) {
            problems.append(.init(key: k, message: "is only used by group-wise quantizers (scaling_per_output_type='GROUP', e.g. MXInt8Weight)"))
        }
    }
    return problems
}

extension WeightQuant {
    /// Problems of a group-wise weight quantizer with a weight of shape `weightShape`.
    func groupShapeProblems(weightShape: [Int]) -> [QuantConfigError.Problem] {
        guard let layout = groupLayout, layout.groupSize > 0 else { return [] }
        let k = layout.groupDim < 0 ? layout.groupDim + weightShape.count : layout.groupDim
        guard k >= 0 && k < weightShape.count else {
            return [.init(key: "group_dim", message: "\(layout.groupDim) is out of range for a weight of shape \(weightShape)")]
        }
        // A group size that does not divide the dimension is fine: Brevitas pads the last group
        // with zeros (see `GroupView`).
        return []
    }
}
