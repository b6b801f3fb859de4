import Foundation
import Testing

@testable import IntegerInference

@Suite struct RequantizationTests {
    @Test(arguments: [
        (Int64(5), 1, Int64(2)), (7, 1, 4), (-5, 1, -2), (-7, 1, -4), (6, 2, 2), (10, 2, 2), (14, 2, 4),
        (-10, 2, -2), (-14, 2, -4), (3, 0, 3), (-1, 1, 0), (1, 1, 0), (3, 1, 2), (-3, 1, -2), (9, 3, 1), (12, 3, 2),
    ])
    func roundShiftIsHalfToEven(t: Int64, shift: Int, expected: Int64) {
        #expect(Requantization.roundShiftHalfEven(t, shift) == expected)
        #expect(Double(expected) == (Double(t) / Foundation.pow(2, Double(shift))).rounded(.toNearestOrEven))
    }

    func grid(_ scale: Double, _ lo: Int64, _ hi: Int64, z: Int64 = 0) -> IntegerGrid {
        IntegerGrid(scale: scale, zeroPoint: z, min: lo, max: hi)
    }

    @Test func powerOfTwoMultipliersAreExactInFixedPoint() throws {
        let r = try Requantization(multipliers: [0.125], offsets: [0], inputZeroPoint: 0, inputBound: 1 << 20,
                                   output: grid(1, -128, 127), relu: false, layer: "t")
        #expect(r.fixedMultipliers[0] == 1 << 30 && r.shifts[0] == 33)
        for x in Int64(-2000)...2000 {
            let exact = Int64((Double(x) / 8).rounded(.toNearestOrEven))
            #expect(r.apply(x, channel: 0, fixedPoint: true) == Swift.min(Swift.max(exact, -128), 127))
            #expect(r.apply(x, channel: 0, fixedPoint: false) == Swift.min(Swift.max(exact, -128), 127))
        }
    }

    @Test func fixedPointAgreesWithTheExactFormAwayFromTies() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let m = Double.random(in: 1e-4...3, using: &rng), b = Double.random(in: -20...20, using: &rng)
            let r = try Requantization(multipliers: [m, -m], offsets: [b, b], inputZeroPoint: 3, inputBound: 100_000,
                                       output: grid(0.1, 0, 255, z: 7), relu: true, layer: "t")
            #expect(r.output.min == 7)
            for _ in 0..<2000 {
                let x = Int64.random(in: -99_000...99_000, using: &rng)
                for c in 0..<2 {
                    let v = r.exactValue(x, channel: c)
                    if Swift.abs(v - v.rounded(.down) - 0.5) < 1e-6 { continue }
                    #expect(r.apply(x, channel: c, fixedPoint: true) == r.apply(x, channel: c, fixedPoint: false), "x=\(x) M=\(m) B=\(b)")
                }
            }
        }
    }

    @Test func tiesRoundToEvenInBothForms() throws {
        // M = 0.5, B = 0: x = 1, 3, 5 land on 0.5, 1.5, 2.5.
        let r = try Requantization(multipliers: [0.5], offsets: [0], inputZeroPoint: 0, inputBound: 100, output: grid(1, -8, 7), relu: false, layer: "t")
        for (x, q) in [(Int64(1), Int64(0)), (3, 2), (5, 2), (-1, 0), (-3, -2), (-5, -2), (100, 7), (-100, -8)] {
            #expect(r.apply(x, channel: 0, fixedPoint: true) == q)
            #expect(r.apply(x, channel: 0, fixedPoint: false) == q)
        }
    }

    @Test func refusesMultipliersThatDoNotFit() {
        #expect(throws: IntegerLoweringError.self) {
            try Requantization(multipliers: [.nan], offsets: [0], inputZeroPoint: 0, inputBound: 10, output: grid(1, 0, 15), relu: false, layer: "t")
        }
        #expect(throws: IntegerLoweringError.self) {
            try Requantization(multipliers: [1e-30], offsets: [0], inputZeroPoint: 0, inputBound: 10, output: grid(1, 0, 15), relu: false, layer: "t")
        }
    }

    @Test func gridBitsAndCTypes() {
        #expect(IntegerGrid.bits(min: -128, max: 127) == 8 && IntegerGrid.cType(min: -128, max: 127) == "int8_t")
        #expect(IntegerGrid.bits(min: 0, max: 15) == 4 && IntegerGrid.cType(min: 0, max: 15) == "uint8_t")
        #expect(IntegerGrid.bits(min: -129, max: 0) == 9 && IntegerGrid.cType(min: -129, max: 0) == "int16_t")
        #expect(IntegerGrid.cType(min: 0, max: 65536) == "uint32_t")
    }
}
