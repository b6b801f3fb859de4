import NN
import QuantNN

/// The PyTorch class name of a float module (`torch.nn.Conv2d`), the key of Brevitas's layer
/// maps; `nil` for modules that have no PyTorch counterpart here.
///
/// Subclasses are checked before their bases (`ReLU6` is a `HardTanh`, `BatchNorm2d` a
/// `BatchNorm`), so each module has exactly one name.
public func torchClassName(of module: Module) -> String? {
    switch module {
    case is Conv2d: return "torch.nn.Conv2d"
    case is Conv1d: return "torch.nn.Conv1d"
    case is Linear: return "torch.nn.Linear"
    case is BatchNorm2d: return "torch.nn.BatchNorm2d"
    case is BatchNorm1d: return "torch.nn.BatchNorm1d"
    case is ReLU6: return "torch.nn.ReLU6"
    case is ReLU: return "torch.nn.ReLU"
    case is Sigmoid: return "torch.nn.Sigmoid"
    case is Tanh: return "torch.nn.Tanh"
    case is MaxPool2d: return "torch.nn.MaxPool2d"
    case is AvgPool2d: return "torch.nn.AvgPool2d"
    case is AdaptiveAvgPool2d: return "torch.nn.AdaptiveAvgPool2d"
    case is Dropout: return "torch.nn.Dropout"
    case is Flatten: return "torch.nn.Flatten"
    case is Identity: return "torch.nn.Identity"
    default: return nil
    }
}

/// Brevitas's module families that graph walks look through (`brevitas/graph/quantize_impl.py`).
enum ModuleFamily {
    /// `SIGN_PRESERVING_MODULES`: dropout, max/avg pools (adaptive included), identity.
    static func preservesSign(_ m: Module) -> Bool {
        m is Dropout || m is MaxPool2d || m is AvgPool2d || m is AdaptiveAvgPool2d || m is Identity
    }

    /// `PRECISION_PRESERVING_MODULES`: dropout, max pools, identity (average pools are not).
    static func preservesPrecision(_ m: Module) -> Bool {
        m is Dropout || m is MaxPool2d || m is Identity
    }
}
