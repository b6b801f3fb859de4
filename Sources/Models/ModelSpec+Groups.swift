import NN
import QuantNN
import Quantizers
import TensorEngine

extension ModelSpec {
    /// Where the group size of an MX format does not divide a grouped dimension, one message per
    /// place, naming `--group-size` and Brevitas's `group_size`:
    /// - weights group their input channels / features: checked when the layers are built;
    /// - activations group dimension 1 (channels, or a linear layer's features): found by running
    ///   the float twin once on a zero input and checking the tensors entering and leaving each
    ///   top-level layer that holds a group-wise activation quantizer.
    func groupShapeProblems() -> [String] {
        let g = groupSize ?? 32
        let quant: QuantSequential
        do {
            quant = try makeModel(quantized: true, generator: RandomGenerator(seed: 0))
        } catch let e as QuantConfigError {
            return e.problems.map { "--group-size: \($0.key): \($0.message) (in \(e.context))" }
        } catch {
            return ["--group-size: \(error)"]
        }
        guard let float = try? makeModel(quantized: false, generator: RandomGenerator(seed: 0)) else { return [] }
        var x = Tensor.zeros([1] + inputShape)
        var out: [String] = []
        for (i, (ql, fl)) in zip(quant.layers, float.layers).enumerated() {
            let grouped = (ql as? Module)?.namedModules().contains { ($0.module as? ActQuantProxy)?.config?.scalingPerGroup == true } ?? false
            guard let y = try? fl.forward(.float(x)).value else { break }
            if grouped, let shape = [x.shape, y.shape].first(where: { $0.count > 1 && $0[1] % g != 0 }) {
                out.append("--group-size: group_size: \(g) does not divide the \(shape[1]) channels (dimension 1 of \(shape)) at layer \(i) (\(ql.typeName)); use a divisor of the channel counts")
            }
            x = y
        }
        return out
    }
}
