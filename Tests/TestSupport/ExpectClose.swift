import Testing
import TensorEngine

/// Expects `actual` to match `expected` elementwise within `atol + rtol·|expected|`, with equal
/// shapes, reporting the number of differing elements and the worst one at the caller.
///
/// A missing tensor (`nil`: a gradient PyTorch or autograd never produced) means zeros of the
/// other side's shape, as PyTorch's `None` gradient of a leaf the loss does not reach: `nil`
/// matches `nil` or zeros, and nothing else. A NaN on either side is a difference.
public func expectClose(
    _ actual: Tensor?, _ expected: Tensor?, rtol: Float = 1e-4, atol: Float = 1e-5, _ what: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard actual != nil || expected != nil else { return }
    let a = actual ?? Tensor.zeros(expected!.shape)
    let e = expected ?? Tensor.zeros(actual!.shape)
    guard a.shape == e.shape else {
        Issue.record("\(what): shape \(a.shape) vs expected \(e.shape)", sourceLocation: sourceLocation)
        return
    }
    let x = a.scalars, y = e.scalars
    var worst = -1, bad = 0
    var worstErr: Float = 0
    for i in 0..<x.count {
        let err = Swift.abs(x[i] - y[i]) - (atol + rtol * Swift.abs(y[i]))
        if !(err <= 0) {
            bad += 1
            if worst < 0 || err > worstErr || err.isNaN { (worst, worstErr) = (i, err) }
        }
    }
    if worst >= 0 {
        Issue.record(
            "\(what): \(bad) of \(x.count) elements differ\(actual == nil ? " (actual missing: zeros)" : "")\(expected == nil ? " (expected missing: zeros)" : ""); worst at \(worst): \(x[worst]) vs expected \(y[worst])",
            sourceLocation: sourceLocation)
    }
}
