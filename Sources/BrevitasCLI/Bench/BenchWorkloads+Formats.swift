import NN
import QuantNN
import Quantizers
import TensorEngine

/// Group (vii) of `bench_brevitas.py`: the FP8 activation quantizer (eval forward, train
/// forward+backward on 64x64x56x56) and an MXInt8 QuantLinear(1024, 1024) forward+backward on a
/// batch of 256, with the script's row names.
extension BenchWorkloads {
    mutating func formats(_ g: RandomGenerator) throws {
        let big = quick ? [16, 64, 56, 56] : [64, 64, 56, 56]
        let s = Self.shapeString(big)
        let fp8 = try QuantIdentity(actQuant: .fp8e4m3OCPActPerTensorFloat)
        fp8.train()
        let small = g.normal([1, 3, 8, 8])
        Self.finishCollection { _ = fp8(small) }
        let x = g.normal(big)
        fp8.eval()
        add("vii", "QuantIdentity FP8 e4m3 OCP eval fwd", s) { _ = Autograd.noGrad { fp8(x) } }
        fp8.train()
        let xg = x.copy()
        xg.requiresGrad = true
        let grad = g.normal(big)
        add("vii", "QuantIdentity FP8 e4m3 OCP train fwd+bwd", s) {
            xg.grad = nil
            fp8(xg).backward(grad)
        }
        let lin = try QuantLinear(1024, 1024, bias: false, weightQuant: .mxInt8Weight, inputQuant: .mxInt8Act, generator: g)
        lin.train()
        let xl = g.normal([256, 1024])
        xl.requiresGrad = true
        let gl = g.normal([256, 1024])
        try add("vii", "QuantLinear(1024,1024) MXInt8 weight+act fwd+bwd", "256x1024") {
            xl.grad = nil
            for p in lin.parameters() { p.grad = nil }
            try lin(xl).backward(gl)
        }
    }
}
