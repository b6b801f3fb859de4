import Graph
import NN

/// What ``preprocessForQuantize(_:options:)`` does (Brevitas `preprocess_for_quantize`'s
/// arguments, with its defaults).
public struct PreprocessOptions: Sendable {
    /// Replace `ReLU6` by `ReLU` (`relu6_to_relu`).
    public var relu6ToReLU = true
    /// Fold BatchNorms into the preceding conv/linear (`merge_bn`).
    public var mergeBatchNorm = true
    /// Cross-layer equalization iterations (`equalize_iters`); 0 = off.
    public var equalizeIterations = 0
    /// Fold the bias into the equalization ranges (`equalize_merge_bias`).
    public var equalizeMergeBias = true

    public init(relu6ToReLU: Bool = true, mergeBatchNorm: Bool = true, equalizeIterations: Int = 0, equalizeMergeBias: Bool = true) {
        self.relu6ToReLU = relu6ToReLU
        self.mergeBatchNorm = mergeBatchNorm
        self.equalizeIterations = equalizeIterations
        self.equalizeMergeBias = equalizeMergeBias
    }
}

/// The standardisation Brevitas applies before `quantize` (`brevitas/graph/quantize.py:
/// preprocess_for_quantize`), in its order, each a pass of its own:
///
/// 1. functional calls to modules, shared stateless modules duplicated: graph modules built by
///    ``GraphBuilder`` or the ONNX importer already call one module per node;
/// 2. ``ReLU6ToReLU`` (`relu6ToReLU`);
/// 3. ``MergeBatchNorm`` (`mergeBatchNorm`);
/// 4. stochastic modules: Brevitas removes only nodes named `stochastic_depth`; **Dropout stays**
///    (identity in eval mode, and transparent to quantization: it preserves sign and precision);
/// 5. cross-layer equalization (`equalizeIterations > 0`): ``EqualizeGraph`` with those
///    iterations, `equalizeMergeBias`, Vitis AI's bias shrinkage and threshold 0.05.
///
/// The graph is changed in place and returned; it is left in eval mode.
@discardableResult
public func preprocessForQuantize(_ graph: GraphModule, options: PreprocessOptions = PreprocessOptions()) throws -> GraphModule {
    precondition(options.equalizeIterations >= 0, "preprocessForQuantize: equalizeIterations \(options.equalizeIterations) < 0")
    graph.eval()
    if options.relu6ToReLU { ReLU6ToReLU.apply(to: graph) }
    if options.mergeBatchNorm { MergeBatchNorm.apply(to: graph) }
    if options.equalizeIterations > 0 {
        EqualizeGraph(iterations: options.equalizeIterations, mergeBias: options.equalizeMergeBias).apply(to: graph)
    }
    return graph
}
