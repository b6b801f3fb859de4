import Foundation
import Graph
import NN
import ONNXImport
import TensorEngine
import Testing

/// An imported graph trains: gradients of its parameters (and its input) match central finite
/// differences. The transformer exercises LayerNorm, MatMul, Softmax, Erf, Pow, Div and the
/// reshapes; mobilenet grouped conv, BatchNorm, HardSwish and Clip.
@Suite struct ImportedGradientTests {
    @Test(arguments: ["transformer", "mobilenet", "inception"])
    func gradientsMatchFiniteDifferences(_ name: String) throws {
        guard let zoo = sharedFolder("zoo") else {
            print("skipped: ../shared/zoo is absent")
            return
        }
        let x = try NumPy.readTensor(zoo.appendingPathComponent("\(name).input.npy"))
        let model = try ONNXImporter.load(zoo.appendingPathComponent("\(name).onnx"), inputShapes: ["input": x.shape]).graph
        model.eval()
        let out = Autograd.noGrad { model(x) }
        let probe = RandomGenerator(seed: 9).normal(out.shape)
        let input = x.copy()
        input.requiresGrad = true
        let loss = { (model(input) * probe).sum() }
        model.zeroGrad()
        loss().backward()
        var checked = 0
        var worst: (String, Int, Float, Float)?
        for (key, p) in model.namedParameters() + [("input", input)] {
            let analytic = try #require(p.grad, "\(key) has no gradient").scalars
            for i in stride(from: 0, to: p.count, by: max(1, p.count / 3)) {
                let orig = p.storage.pointer[i]
                let eps: Float = 1e-3
                p.storage.pointer[i] = orig + eps
                let up = Autograd.noGrad { Double(loss().item()) }
                p.storage.pointer[i] = orig - eps
                let down = Autograd.noGrad { Double(loss().item()) }
                p.storage.pointer[i] = orig
                let numeric = Float((up - down) / Double(2 * eps))
                let err = abs(numeric - analytic[i]) / max(1, abs(numeric))
                if err > 3e-2, worst == nil || err > abs(worst!.2 - worst!.3) { worst = (key, i, numeric, analytic[i]) }
                checked += 1
            }
        }
        #expect(checked > 20)
        #expect(worst == nil, "\(name): \(worst.map { "\($0.0)[\($0.1)]: numeric \($0.2) vs autograd \($0.3)" } ?? "")")
    }
}
