import ArgumentParser
import NN
import TensorEngine

/// The optimizers `--optimizer` selects, with the defaults `brevitas train` uses.
enum OptimizerChoice: String, CaseIterable, Codable, ExpressibleByArgument {
    /// SGD with momentum 0.9.
    case sgd
    /// Adam (β = 0.9, 0.999).
    case adam
    /// AdamW, weight decay 0.01 (PyTorch's default).
    case adamw

    /// The learning rate used when `--lr` is not given.
    var defaultLearningRate: Float {
        switch self {
        case .sgd: return 0.1
        case .adam, .adamw: return 0.005
        }
    }

    func make(_ parameters: [Tensor], learningRate: Float) -> any Optimizer {
        switch self {
        case .sgd: return SGD(parameters, learningRate: learningRate, momentum: 0.9)
        case .adam: return Adam(parameters, learningRate: learningRate)
        case .adamw: return AdamW(parameters, learningRate: learningRate)
        }
    }
}
