import Foundation
import NN
import ONNXExport
import ONNXProto
import QuantNN
import Testing
import TensorEngine

/// `QuantUpsample(scale_factor=f, mode='bilinear')` with `align_corners=False` (half-pixel),
/// exported as `Resize(mode=linear, coordinate_transformation_mode=pytorch_half_pixel)` with
/// `scales` `[1, 1, f, f]`, then the requantization onto the input's grid, run in ONNX Runtime
/// (QCDQ) and qonnx (QONNX).
///
/// Where the two sides differ, and why the graph is right: for `f = p/q` the source coordinate
/// `(o + 1/2)/f − 1/2` is a multiple of `1/(2p)` (quarters at factor 2), so every output is
/// `Σ wh·ww·c / (2p)²` of the input codes `c`, an exact rational. Both sides use the same
/// coordinates and weights (up to float rounding of `1/f`) and the same requantization; the
/// value `v / s` can be exactly `k + 1/2` (at factor 2 when `Σ wh·ww·c ≡ 8 (mod 16)`: about one
/// output in ten, one in 16 inside and one in 4 on the borders, where one weight is 4 quarters).
/// There the rounding is decided by float error: Swift sums `(1−λh)·((1−λw)·x00 + λw·x01) +
/// λh·(…)` on the dequantized values with `λ` from `1/f` rounded to float (as torch computes
/// the coordinates), ONNX Runtime `Σ (dx·dy)·x` with `λ` from a division by `f` (and torch's
/// kernel sums in a third way: the layers conformance family accepts tie flips against
/// Brevitas for the same reason), and each lands on either side. With the 3x4x6x8 input below
/// at factor 2: 2304 outputs, 232 exact ties, Swift's codes off the exact half-to-even at 50 of
/// them, ONNX Runtime's (1.32) different from Swift's at 26, and nowhere else (3/2: 199 ties,
/// 51 differ; 5/2: 255 ties, 53 differ; 3: no ties possible, none differ). No float Resize can
/// follow Swift's order, so the check accepts one-step flips at exactly the tie elements,
/// computed here in integer arithmetic from the codes, any number of them, and none at any
/// other element; `align_corners` (ties rare) keeps the checker's default budget in
/// NewLayersExportTests.
///
/// (The export gave the runtime `sizes` before: at a non-integer factor it then mapped outputs
/// with `in/out` instead of `1/f`, 5 → 7 by 1.5 with 0.714 for 0.667, and codes differed by up to
/// 47 steps.)
@Suite struct HalfPixelUpsampleExportTests {
    static let shape = [3, 4, 6, 8]
    /// Scale factors `p/q` and whether exact ties can occur: 2 (weights in quarters), 3/2 (λ =
    /// 1/6, 1/2, 5/6), 5/2 (λ = 1/10, 3/10, 1/2, ...): yes; 3 (λ = 0, 1/3, 2/3: `9·v` is an
    /// integer, never `k + 1/2`): no.
    static let factors = [(2, 1, true), (3, 2, true), (5, 2, true), (3, 1, false)]

    static func model(_ p: Int, _ q: Int) throws -> (QuantSequential, Tensor) {
        let m = QuantSequential([try QuantIdentity(returnQuantTensor: true),
                                 try QuantUpsample(scaleFactor: Double(p) / Double(q), mode: .bilinear)])
        try calibrate(m, { _ = try m($0) }, shape: shape)
        m.eval()
        return (m, RandomGenerator(seed: 11).normal(shape) * 1.2)
    }

    /// Half-pixel taps of resizing `n` by `p/q` in units of `1/D`, `D = 2p`: the exact source of
    /// output `o` is `(o + 1/2)·q/p − 1/2 = ((2o + 1)q − p) / D`, clamped at 0; `i0 = ⌊src⌋`,
    /// `i1 = min(i0 + 1, n − 1)`, weights `D − λ` and `λ` (λ = D · frac(src)). Factor 2: quarters.
    static func taps(_ n: Int, _ p: Int, _ q: Int) -> [(i0: Int, i1: Int, w0: Int, w1: Int)] {
        let d = 2 * p
        return (0..<(n * p / q)).map { o in
            let src = Swift.max((2 * o + 1) * q - p, 0)
            let i0 = Swift.min(src / d, n - 1), lambda = src - d * (src / d)
            return (i0, Swift.min(i0 + 1, n - 1), d - lambda, lambda)
        }
    }

    /// `D² · interp(codes)` exactly (an integer), `[N, C, H', W']` flattened, and `D²`.
    static func exactScaled(_ codes: [Int], _ s: [Int], _ p: Int, _ q: Int) -> (values: [Int], denominator: Int, shape: [Int]) {
        let (h, w) = (s[2], s[3]), rows = taps(h, p, q), cols = taps(w, p, q)
        var out: [Int] = []
        out.reserveCapacity(s[0] * s[1] * rows.count * cols.count)
        for plane in 0..<(s[0] * s[1]) {
            let c = { (i: Int, j: Int) in codes[plane * h * w + i * w + j] }
            for r in rows {
                for t in cols {
                    out.append(r.w0 * (t.w0 * c(r.i0, t.i0) + t.w1 * c(r.i0, t.i1)) + r.w1 * (t.w0 * c(r.i1, t.i0) + t.w1 * c(r.i1, t.i1)))
                }
            }
        }
        return (out, 4 * p * p, [s[0], s[1], rows.count, cols.count])
    }

    /// The model, its input, the exact requantization inputs and Swift's output.
    static func exactOutput(_ p: Int, _ q: Int) throws -> (model: QuantSequential, x: Tensor, exact: (values: [Int], denominator: Int, shape: [Int]), ours: QuantTensor) {
        let (m, x) = try model(p, q)
        let qin = try #require(try Autograd.noGrad { try m.layers[0].forward(.float(x)) }.quantTensor)
        let codes = try qin.int().scalars.map { Int($0) }
        let ours = try #require(try Autograd.noGrad { try m.forward(.float(x)) }.quantTensor)
        return (m, x, exactScaled(codes, shape, p, q), ours)
    }

    /// Whether `v / den` is exactly `k + 1/2`.
    static func isTie(_ v: Int, _ den: Int) -> Bool { ((v % den) + den) % den == den / 2 }

    static func tieMask(_ e: (values: [Int], denominator: Int, shape: [Int])) -> Tensor {
        Tensor(shape: e.shape, e.values.map { isTie($0, e.denominator) ? 1 : 0 })
    }

    /// Swift's forward agrees with the exact value's rounding everywhere except at exact ties,
    /// where it is one of the two neighbours; the input has ties at every factor (so the ORT
    /// check below is not vacuous).
    @Test(arguments: factors)
    func swiftForwardIsExactOffTheTies(_ p: Int, _ q: Int, _ hasTies: Bool) throws {
        let (_, _, e, ours) = try Self.exactOutput(p, q)
        let codes = try ours.int().scalars.map { Int($0) }
        #expect(ours.value.shape == e.shape && codes.count == e.values.count)
        var ties = 0, offHalfEven = 0
        for (c, v) in zip(codes, e.values) {
            let exact = Double(v) / Double(e.denominator)
            if Self.isTie(v, e.denominator) {
                ties += 1
                if c != Int(exact.rounded(.toNearestOrEven)) { offHalfEven += 1 }
                #expect(c == Int(exact.rounded(.down)) || c == Int(exact.rounded(.up)), "tie \(exact): code \(c)")
            } else {
                #expect(c == Int(exact.rounded(.toNearestOrEven)), "\(exact): code \(c)")
            }
        }
        #expect(hasTies ? ties > e.values.count / 64 : ties == 0, "\(ties) exact ties among \(e.values.count) outputs")
        print("  half-pixel x\(p)/\(q): \(ties) exact ties among \(e.values.count) outputs; Swift's float sum rounds \(offHalfEven) of them away from half-to-even")
    }

    /// ONNX Runtime (QCDQ) and qonnx (QONNX) on the exported graph: the input quantizer's codes
    /// within the default budget, the requantized upsample's codes identical except for one-step
    /// flips at exact ties (counted, and reported), output otherwise within 1e-5.
    @Test(.enabled(if: PythonEnv.available, PythonEnv.skipReason), arguments: factors)
    func runtimesAgreeExceptAtExactTies(_ p: Int, _ q: Int, _ hasTies: Bool) throws {
        let env = PythonEnv.found!
        let (m, x, e, _) = try Self.exactOutput(p, q)
        let mask = Self.tieMask(e)
        let nTies = e.values.filter { Self.isTie($0, e.denominator) }.count
        #expect(hasTies == (nTies > 0))
        let name = "upsample_bilinear_half_pixel_\(p)_\(q)"
        let batch = try CheckBatch()
        for f in [ONNXFormat.qcdq, .qonnx] {
            try batch.add(name, m, [x], f, ties: { $0.layer.hasSuffix("requantization") ? mask : nil })
        }
        // The mask decides: declaring no ties rejects every flip.
        let none = Tensor(repeating: 0, shape: mask.shape)
        try batch.add(name + "_no_ties", m, [x], .qcdq, ties: { $0.layer.hasSuffix("requantization") ? none : nil })
        let (results, stderr) = try batch.check(python: env.python)
        for key in batch.caseKeys where !key.contains("no_ties") {
            let r = try #require(results[key], "\(key): no result from check_onnx.py; stderr:\n\(stderr.suffix(3000))")
            let t = try #require(r.tieFlips.first, "\(key): the checker saw no ties mask")
            print(String(format: "  %-44@ %@ ties %d, flipped %d (off ties %d), max|diff| %.3g  [%@]", key as NSString,
                         r.ok ? "ok  " : "FAIL", t.ties, t.count, t.offTie, r.maxAbsDiff, r.executor as NSString))
            #expect(r.ok, "\(key): \(r.problems.joined(separator: "; "))")
            #expect(r.tieFlips.count == 1 && t.ties == nTies && t.offTie == 0 && t.count <= nTies)
        }
        let flipped = results["\(name).qcdq"]?.tieFlips.first?.count ?? 0
        let strict = try #require(results["\(name)_no_ties.qcdq"])
        #expect(strict.ok == (flipped == 0), "\(flipped) tie flips, yet with no declared ties: \(strict.problems)")
        if flipped > 0 { #expect(strict.problems.contains { $0.contains("not exact rounding ties") }, "\(strict.problems)") }
    }

    /// The check can fail: the same graph with `coordinate_transformation_mode=asymmetric`
    /// (source `o/2`: weights 1/2 instead of 1/4, 3/4) differs at elements that are not ties.
    @Test(.enabled(if: PythonEnv.available, PythonEnv.skipReason))
    func wrongCoordinatesFail() throws {
        let env = PythonEnv.found!
        let (m, x, e, _) = try Self.exactOutput(2, 1)
        let mask = Self.tieMask(e)
        let batch = try CheckBatch()
        try batch.add("upsample_bilinear_asymmetric", m, [x], .qcdq, ties: { $0.layer.hasSuffix("requantization") ? mask : nil }) { model in
            for i in model.graph.node.indices where model.graph.node[i].opType == "Resize" {
                for j in model.graph.node[i].attribute.indices where model.graph.node[i].attribute[j].name == "coordinate_transformation_mode" {
                    model.graph.node[i].attribute[j].s = Data("asymmetric".utf8)
                }
            }
        }
        let (results, stderr) = try batch.check(python: env.python)
        let r = try #require(results["upsample_bilinear_asymmetric.qcdq"], "no result; stderr:\n\(stderr.suffix(3000))")
        #expect(!r.ok && r.problems.contains { $0.contains("requantization") }, "\(r.problems)")
        print("  asymmetric coordinates: \(r.problems.prefix(2))")
    }
}
