import Graph
import NN
import TensorEngine

/// BatchNormalization (inference form) as `BatchNorm2d`/`BatchNorm1d` modules holding the running
/// statistics, and LayerNormalization as a functional node with trainable scale and bias.
extension GraphImporter {
    mutating func batchNormalization(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow(["epsilon", "momentum", "training_mode"])
        try c.expectInputs(5...5)
        guard try c.int("training_mode", 0) == 0 else { throw c.attributeError("training_mode", "only 0 (inference) is supported") }
        guard onlyFirstOutputRead(c) else { throw c.error("the running-statistics outputs of training mode are not supported") }
        let (vx, xs) = try runtime(c, 0)
        guard xs.count == 4 || xs.count == 2 || xs.count == 3 else { throw c.shapeError("input \(xs) must be [N, C], [N, C, L] or [N, C, H, W]") }
        let channels = xs[1]
        var stats: [Tensor] = []
        for (i, what) in [(1, "scale"), (2, "B"), (3, "input_mean"), (4, "input_var")] {
            let v = try constant(c, i, what)
            guard v.isFloat, v.shape == [channels] else { throw c.shapeError("\(what) \(v.shape) must be [\(channels)] for input \(xs)") }
            stats.append(v.tensor)
        }
        let eps = try c.float("epsilon", 1e-5)
        guard eps > 0 else { throw c.attributeError("epsilon", "\(eps) must be positive") }
        let momentum = 1 - (try c.float("momentum", 0.9))
        guard momentum >= 0, momentum <= 1 else { throw c.attributeError("momentum", "must be in [0, 1]") }
        let bn: BatchNorm = xs.count == 4 ? BatchNorm2d(numFeatures: channels, eps: eps, momentum: momentum)
            : BatchNorm1d(numFeatures: channels, eps: eps, momentum: momentum)
        bn.weight!.assign(stats[0])
        bn.bias!.assign(stats[1])
        bn.runningMean!.assign(stats[2])
        bn.runningVar!.assign(stats[3])
        bn.eval()
        let path = modulePath(c, weight: c.inputName(1), opName: "batch_norm")
        return [call(path, bn, vx, shape: xs)]
    }

    mutating func layerNormalization(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow(["axis", "epsilon", "stash_type"])
        try c.expectInputs(2...3)
        guard try c.int("stash_type", 1) == 1 else { throw c.attributeError("stash_type", "only 1 (float32) is supported") }
        guard onlyFirstOutputRead(c) else { throw c.error("the Mean and InvStdDev outputs are not supported") }
        let (vx, xs) = try runtime(c, 0)
        let axis = try normalizedAxis(c, try c.int("axis", -1), rank: xs.count)
        let normalized = Array(xs[axis...])
        var inputs = [vx]
        for i in 1..<c.inputCount {
            let v = try input(c, i)
            guard v.shape == normalized else {
                throw c.shapeError("\(i == 1 ? "scale" : "bias") \(v.shape) must have the normalized shape \(normalized) of input \(xs)")
            }
            inputs.append(try runtime(c, i).0)
        }
        let eps = try c.float("epsilon", 1e-5)
        guard eps > 0 else { throw c.attributeError("epsilon", "\(eps) must be positive") }
        return [emit(.layerNorm(axis: axis, eps: eps), inputs, shape: xs)]
    }
}
