import Foundation
import NN
import Testing
import TestSupport
import TensorEngine

/// A fresh leaf tensor with the values of `t` that requires a gradient.
func leaf(_ t: Tensor) -> Tensor { Tensor(shape: t.shape, t.scalars, requiresGrad: true) }
