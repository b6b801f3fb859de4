import Graph
import NN
import QuantNN
import TensorEngine

extension QuantGraphModule {
    /// What the forward does at one module node, for post-training algorithms (bias correction,
    /// GPTQ, GPFQ) that watch or replace a layer's output: receives the node's name, its module,
    /// the module's input and the output it computed; returns the value passed on (`nil`: keep it).
    public typealias Interceptor = (_ node: String, _ module: Module, _ input: QuantValue, _ output: QuantValue) throws -> QuantValue?

    /// Runs the quantized graph (quantization as configured) on one value per input, calling
    /// `intercept` after every module node; its non-nil result replaces that node's value.
    ///
    /// ```swift
    /// _ = try q.forwardIntercepting([.float(x)]) { name, m, input, out in
    ///     print(name, input.value.shape); return nil
    /// }
    /// ```
    /// An ``EqualizedModule`` is seen as its inner layer with the multiplied input.
    /// `replace`, when given, runs before each module node; a non-nil result is that node's value
    /// and the module is not run (e.g. a float forward of a quantized model).
    public func forwardIntercepting(_ inputs: [QuantValue], replace: ((_ node: String, _ module: Module, _ input: QuantValue) throws -> QuantValue?)? = nil,
                                    _ intercept: Interceptor) throws -> [QuantValue] {
        precondition(inputs.count == inputNames.count,
                     "QuantGraphModule: expected \(inputNames.count) inputs (\(inputNames)), got \(inputs.count)")
        var values: [String: QuantValue] = [:]
        for (name, x) in zip(inputNames, inputs) { values[name] = x }
        for node in nodes {
            let args = node.inputs.map { values[$0]! }
            if let replace, case .module(let path) = node.op, let outer = module(at: path),
                case let (m, input, _) = Self.unwrapped(outer, args[0], path), let v = try replace(node.name, m, input) {
                values[node.name] = v
                continue
            }
            var captured: (Module, QuantValue, QuantValue)?
            let out = try evaluate(node, args, mode: .quantized) { _, m, i, o in captured = (m, i, o) }
            if let (m, i, o) = captured, let replaced = try intercept(node.name, m, i, o) {
                values[node.name] = replaced
            } else {
                values[node.name] = out
            }
        }
        return outputNames.map { values[$0]! }
    }
}
