/// How a group-wise quantizer splits a tensor: `groupSize` consecutive elements along
/// `groupDim` share one scale (Brevitas `group_size`, `group_dim`).
public struct GroupLayout: Equatable, Hashable, Sendable {
    /// Elements per group.
    public let groupSize: Int
    /// The grouped dimension, as given (`-1` for the last; `1` for conv/linear input channels).
    public let groupDim: Int

    public init(groupSize: Int, groupDim: Int) {
        self.groupSize = groupSize
        self.groupDim = groupDim
    }
}
