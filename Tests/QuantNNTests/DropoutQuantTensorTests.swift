import Testing
@testable import NN
@testable import QuantNN
@testable import TensorEngine

/// Dropout on a QuantTensor keeps its metadata (Brevitas 0.13.4's quant-invariant `F.dropout`
/// handler; 0.13.4 has no QuantDropout layer).
@Suite struct DropoutQuantTensorTests {
    @Test func dropoutKeepsTheMetadataAndScalesTheSurvivors() throws {
        let act = try QuantIdentity(returnQuantTensor: true)
        let q = try act.quant(RandomGenerator(seed: 1).normal([4, 64]))
        let drop = FloatLayer(Dropout(p: 0.5, generator: RandomGenerator(seed: 2)))
        let y = try #require(try drop.forward(.quant(q)).quantTensor)
        #expect(y.scale.item() == q.scale.item() && y.bitWidth.item() == q.bitWidth.item() && y.signed == q.signed)
        let kept = zip(y.value.scalars, q.value.scalars).filter { $0.0 != 0 }
        #expect(kept.count > 64 && kept.count < 192, "about half survive: \(kept.count) of 256")
        #expect(kept.allSatisfy { $0.0 == 2 * $0.1 }, "survivors scaled by 1/(1 − p)")
        drop.train(false)
        let e = try #require(try drop.forward(.quant(q)).quantTensor)
        #expect(e.value.scalars == q.value.scalars && e.isValid, "evaluation: the identity, still on the grid")
        #expect(try drop.forward(.float(q.value)).quantTensor == nil, "a plain tensor stays plain")
    }
}
