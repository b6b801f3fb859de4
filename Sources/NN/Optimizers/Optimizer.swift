import TensorEngine

/// Updates parameters in place from their accumulated gradients (`torch.optim.Optimizer`).
///
/// A training step:
/// ```swift
/// let optimizer = SGD(model.parameters(), learningRate: 0.1, momentum: 0.9)
/// optimizer.zeroGrad()
/// let loss = Tensor.crossEntropy(model(x), targets: y)
/// loss.backward()
/// optimizer.step()
/// ```
/// Parameters without a gradient (frozen, or unused in the last forward pass) are skipped. The
/// updates run outside autograd and keep every parameter the same object.
public protocol Optimizer: AnyObject {
    /// The parameters, in the order given at construction.
    var parameters: [Tensor] { get }
    /// The step size; a ``LearningRateScheduler`` sets it each epoch.
    var learningRate: Float { get set }
    /// Applies one update to every parameter that has a gradient.
    func step()
}

extension Optimizer {
    /// Clears the gradient of every parameter (sets it to `nil`).
    public func zeroGrad() {
        for p in parameters { p.grad = nil }
    }
}

/// Checks a hyperparameter range with the offending value in the message.
func checkHyper(_ ok: Bool, _ message: @autoclosure () -> String) {
    precondition(ok, message())
}
