import Graph
import NN
import QuantNN
import TensorEngine

extension QuantGraphModule {
    /// The value of one node given the values of its inputs (in `node.inputs` order), computed
    /// as the quantized forward computes it (quantization as configured, in the current
    /// training mode): what a tool that replays the graph node by node (the ONNX exporter, the
    /// integer lowering) compares its own result with.
    ///
    /// A module node applies its module (a QuantLayer's `forward`, a max pool or flatten that
    /// keeps the QuantTensor metadata, an average pool that divides the scale by the window, a
    /// float layer on the dequantized value); `add` and `cat` of QuantTensors need equal scales
    /// and give a QuantTensor; shape ops keep per-tensor metadata; anything else computes on the
    /// dequantized values and gives a plain tensor.
    ///
    /// ```swift
    /// var values: [String: QuantValue] = ["x": .float(x)]
    /// for node in q.nodes { values[node.name] = try q.value(of: node, inputs: node.inputs.map { values[$0]! }) }
    /// ```
    public func value(of node: GraphNode, inputs: [QuantValue]) throws -> QuantValue {
        precondition(node.op.arity.map { $0.contains(inputs.count) } ?? !inputs.isEmpty,
                     "QuantGraphModule.value(of:inputs:): node '\(node.name)' (\(node.op.baseName)) got \(inputs.count) inputs")
        return try evaluate(node, inputs, mode: .quantized, record: nil)
    }

    /// Every value of the quantized forward on one value per graph input: the inputs under
    /// their names, each node's output under the node's name. The graph's outputs are as the
    /// nodes compute them (QuantTensors where they are quantized, whatever
    /// ``returnsPlainTensors`` says).
    ///
    /// ```swift
    /// let values = try q.forwardValues([.float(x)])
    /// values["layer1_add_quant"]?.quantTensor?.scale     // the shared residual scale
    /// ```
    public func forwardValues(_ inputs: [QuantValue]) throws -> [String: QuantValue] {
        precondition(inputs.count == inputNames.count,
                     "QuantGraphModule.forwardValues: expected \(inputNames.count) inputs (\(inputNames)), got \(inputs.count)")
        var values: [String: QuantValue] = [:]
        for (name, x) in zip(inputNames, inputs) { values[name] = x }
        for node in nodes {
            let args = node.inputs.map { values[$0]! }
            do {
                values[node.name] = try evaluate(node, args, mode: .quantized, record: nil)
            } catch let e as GraphQuantError {
                throw e
            } catch {
                throw GraphQuantError.forward(node: node.name, message: "\(error)")
            }
        }
        return values
    }
}
