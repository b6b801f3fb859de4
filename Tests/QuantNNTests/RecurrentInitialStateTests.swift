import Foundation
import NN
import QuantNN
import Quantizers
import Testing
import TensorEngine

/// Initial states of QuantRNN / QuantLSTM (Brevitas `forward(inp, hx=None, cx=None)`):
/// gradients by central finite differences through the float recurrence, the quantization of
/// the states, Brevitas's `hx[2·l + d]` indexing, and bad shapes. Brevitas's numbers for
/// quantized layers with initial states: `Tests/Fixtures/layers-extra` (ExtraLayerCasesTests).
@Suite struct RecurrentInitialStateTests {
    static func randn(_ shape: [Int], seed: UInt64) -> Tensor { RandomGenerator(seed: seed).normal(shape) }

    /// Every quantizer off: float recurrences, differentiable everywhere.
    static func floatLSTM(layers: Int = 1, bidirectional: Bool = false) throws -> QuantLSTM {
        try QuantLSTM(inputSize: 3, hiddenSize: 4, numLayers: layers, bidirectional: bidirectional, weightQuant: nil, biasQuant: nil,
                      ioQuant: nil, gateAccQuant: nil, sigmoidQuant: nil, tanhQuant: nil, cellStateQuant: nil,
                      generator: RandomGenerator(seed: 5))
    }

    static func floatRNN(layers: Int = 1, bidirectional: Bool = false) throws -> QuantRNN {
        try QuantRNN(inputSize: 3, hiddenSize: 4, numLayers: layers, bidirectional: bidirectional, weightQuant: nil, biasQuant: nil,
                     ioQuant: nil, gateAccQuant: nil, generator: RandomGenerator(seed: 6))
    }

    /// Central differences of `loss` with respect to every element of `targets`, against autograd.
    func checkGradients(_ targets: [Tensor], _ loss: () throws -> Tensor) throws {
        for t in targets { t.requiresGrad = true; t.grad = nil }
        try loss().backward()
        let eps: Float = 1e-2
        for (k, t) in targets.enumerated() {
            let analytic = try #require(t.grad, "target \(k) has no gradient").scalars
            #expect(analytic.contains { $0 != 0 }, "target \(k): all-zero gradient")
            for i in 0..<t.count {
                let orig = t.storage.pointer[i]
                t.storage.pointer[i] = orig + eps
                let up = try Autograd.noGrad { Double(try loss().item()) }
                t.storage.pointer[i] = orig - eps
                let down = try Autograd.noGrad { Double(try loss().item()) }
                t.storage.pointer[i] = orig
                let numeric = Float((up - down) / Double(2 * eps))
                #expect(abs(numeric - analytic[i]) <= 2e-2 * max(1, abs(numeric)), "target \(k) element \(i): numeric \(numeric) vs autograd \(analytic[i])")
            }
        }
    }

    /// LSTM: `Σ out·G + Σ h_n·Gh + Σ c_n·Gc` with respect to hx, cx and the input, one and two
    /// layers, both directions (states hx[2·l + d]).
    @Test(arguments: [(1, false), (2, true)]) func lstmStateGradientsMatchFiniteDifferences(_ layers: Int, _ bidirectional: Bool) throws {
        let m = try Self.floatLSTM(layers: layers, bidirectional: bidirectional)
        let s = layers * (bidirectional ? 2 : 1), dirs = bidirectional ? 2 : 1
        let x = Self.randn([3, 2, 3], seed: 1), hx = Self.randn([s, 2, 4], seed: 2) * 0.5, cx = Self.randn([s, 2, 4], seed: 3) * 0.5
        let g = Self.randn([3, 2, 4 * dirs], seed: 4), gh = Self.randn([s, 2, 4], seed: 5), gc = Self.randn([s, 2, 4], seed: 6)
        try checkGradients([hx, cx, x]) {
            let r = try m(.float(x), hx: hx, cx: cx)
            return (r.output.value * g).sum() + (r.hidden.value * gh).sum() + (r.cell!.value * gc).sum()
        }
    }

    @Test(arguments: [(1, false), (2, true)]) func rnnStateGradientsMatchFiniteDifferences(_ layers: Int, _ bidirectional: Bool) throws {
        let m = try Self.floatRNN(layers: layers, bidirectional: bidirectional)
        let s = layers * (bidirectional ? 2 : 1), dirs = bidirectional ? 2 : 1
        let x = Self.randn([4, 2, 3], seed: 7), hx = Self.randn([s, 2, 4], seed: 8) * 0.5
        let g = Self.randn([4, 2, 4 * dirs], seed: 9), gh = Self.randn([s, 2, 4], seed: 10)
        try checkGradients([hx, x]) {
            let r = try m(.float(x), hx: hx)
            return (r.output.value * g).sum() + (r.hidden.value * gh).sum()
        }
    }

    /// A zero initial state gives the stateless result; a nonzero one changes it; with
    /// quantizers the state is put on io_quant's grid before the first step.
    @Test func statesAreUsedAndQuantized() throws {
        let m = try QuantLSTM(inputSize: 3, hiddenSize: 4, generator: RandomGenerator(seed: 8))
        m.eval()
        let x = Self.randn([3, 2, 3], seed: 11)
        let plain = try m(.float(x)).output.value
        let zero = try m(.float(x), hx: Tensor.zeros([1, 2, 4]), cx: Tensor.zeros([1, 2, 4])).output.value
        #expect(plain.scalars == zero.scalars)
        let hx = Self.randn([1, 2, 4], seed: 12)
        #expect(try m(.float(x), hx: hx).output.value.scalars != plain.scalars)
        // Moving hx within one io_quant rounding bin leaves everything unchanged.
        let io = try #require(m.directionParts(layer: 0, direction: 0).ioQuant(.float(hx)).quantTensor)
        let nudged = io.value + io.scale * 0.25
        #expect(try m(.float(x), hx: nudged).output.value.scalars == (try m(.float(x), hx: io.value).output.value.scalars))
    }

    /// Wrong shapes and Brevitas's indexing: errors name the layer, the state and the shapes.
    @Test func badStatesAreTypedErrors() throws {
        let m = try QuantLSTM(inputSize: 3, hiddenSize: 4)
        let x = Self.randn([3, 2, 3], seed: 1)
        #expect { _ = try m(.float(x), hx: Tensor.zeros([1, 2, 5])) } throws: { "\($0)".contains("QuantLSTM") && "\($0)".contains("hx must be [states, 2, 4]") }
        #expect { _ = try m(.float(x), hx: Tensor.zeros([1, 2, 4]), cx: Tensor.zeros([2, 4])) } throws: { "\($0)".contains("cx must be") }
        // Unidirectional, two layers: layer 1 reads hx[2] (Brevitas), so two states are too few.
        let deep = try QuantRNN(inputSize: 3, hiddenSize: 4, numLayers: 2)
        #expect { _ = try deep(.float(x), hx: Tensor.zeros([2, 2, 4])) } throws: { "\($0)".contains("hx has 2 states, but layer 1 direction 0 reads hx[2]") }
        #expect(try deep(.float(x), hx: Tensor.zeros([3, 2, 4])).hidden.value.shape == [2, 2, 4])
        #expect { _ = try m(.float(x), states: [Tensor.zeros([1, 2, 4]), Tensor.zeros([1, 2, 4]), Tensor.zeros([1, 2, 4])]) } throws: {
            "\($0)".contains("at most two initial states")
        }
    }
}
