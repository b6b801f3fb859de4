import QuantCore
import QuantNN
import Quantizers
import TensorEngine
import Testing

/// The ops Brevitas defines on `FloatQuantTensor` (`cat`, `__neg__`, `__abs__`): metadata as
/// Brevitas sets it, values on the grid, and the cases Brevitas refuses.
@Suite struct FloatQuantTensorOpsTests {
    /// An e4m3 (or e5m2) QuantTensor with scale `s` (unscaled quantizer, value `q · s`).
    func fp8(_ values: [Float], e5m2: Bool = false, training: Bool = false) throws -> QuantTensor {
        let l = try QuantIdentity(actQuant: e5m2 ? .fp8e5m2OCPAct : .fp8e4m3OCPAct, returnQuantTensor: true)
        l.train(training)
        return try l.quant(Tensor(shape: [1, values.count], values))
    }

    @Test func catKeepsTheFormatInEval() throws {
        let a = try fp8([1.1, -3]), b = try fp8([500, 0.01])
        let c = try QuantTensor.cat([a, b], dim: 1)
        #expect(c.value.scalars == [1.125, -3, 448, 0.009765625])
        #expect(c.minifloat == .ocp(exponentBitWidth: 4, mantissaBitWidth: 3) && !c.training && c.isValid)
        #expect(c.kind == .floatQuantTensor)
    }

    /// In training the scales and zero points are averaged (as Brevitas), the format kept.
    @Test func catAveragesScalesInTraining() throws {
        let a = try fp8([1, 2], training: true)
        var b = try fp8([4, 8], training: true)
        b = QuantTensor(value: b.value * 2, scale: b.scale * 2, zeroPoint: b.zeroPoint, bitWidth: b.bitWidth, signed: true,
                        training: true, minifloat: b.minifloat)
        let c = try QuantTensor.cat([a, b], dim: 1)
        #expect(c.scale.scalars == [1.5] && c.training && c.minifloat == a.minifloat)
    }

    @Test func catRefusesMixedFormatsAndScales() throws {
        #expect(throws: QuantTensorError.self) { try QuantTensor.cat([try fp8([1]), try fp8([1], e5m2: true)], dim: 1) }
        let a = try fp8([1])
        let b = QuantTensor(value: a.value * 2, scale: a.scale * 2, zeroPoint: a.zeroPoint, bitWidth: a.bitWidth, signed: true,
                            training: false, minifloat: a.minifloat)
        #expect(throws: QuantTensorError.self) { try QuantTensor.cat([a, b], dim: 1) }
    }

    @Test func negationAndAbsoluteValue() throws {
        let a = try fp8([1.1, -3, 0.001953125, -448])
        let n = try a.negated()
        #expect(n.value.scalars == [-1.125, 3, -0.001953125, 448] && n.signed && n.isValid)
        let m = try a.abs()
        #expect(m.value.scalars == [1.125, 3, 0.001953125, 448] && !m.signed && m.minifloat == a.minifloat)
        // Brevitas raises NotImplementedError for an unsigned FloatQuantTensor.
        #expect(throws: QuantTensorError.self) { try m.negated() }
        #expect(try m.abs().value.scalars == m.value.scalars)
    }
}
