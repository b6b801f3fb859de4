import Foundation

/// The tolerance policy of the conformance README ("Tolerances"), as replay.py's `Checker` with
/// `--policy`: compares replayed records with the reference records and collects mismatches.
///
/// Notation: `b` the reference, `a` ours, `m = max|b|`. A float element passes when
/// `|a − b| ≤ 1e-5·|b| + 1e-6·m + extra`, where `extra` is the gradient term of a loss, gradient
/// or updated parameter. Quantized values may be one quantization step off (a *flip*) in at most
/// `max(1, ceil(1e-4·N))` elements; a step with a backward whose forward flipped is *tainted*: its
/// loss, gradients, parameters and statistics buffers are not compared, and at most
/// `max(1, floor(0.05·B))` steps of a case may be tainted. QAT cases compare normwise.
public final class Checker {
    public enum Tolerance {
        /// 2^-23.
        public static let eps = Double(Float.ulpOfOne)
        public static let rtol = 1e-5
        public static let atolRel = 1e-6
        /// Gradients: extra absolute `gradC · eps · sum|G · out| / max|p|`.
        public static let gradC = 16.0
        public static let flipFraction = 1e-4
        public static let taintFraction = 0.05
        /// QAT steps, normwise `max|a − b| ≤ t · max|b|`.
        public static let qat: [String: Double] = ["value": 0.25, "loss": 0.05, "grad": 0.75, "state": 0.05]
        /// QAT free-running run: `loss_per_step` relative, `eval_logits` normwise.
        public static let qatFreeLoss = 0.1
        public static let qatFreeValue = 0.25
        /// Recurrent layers (README-layers "Tolerances" 3), normwise per tensor; `int_value` is
        /// not compared.
        public static let recurrent: [String: Double] = ["value": 0.05, "qvalue": 0.05, "qmeta": 0.05, "loss": 0.05, "state": 0.05, "grad": 2.0]
        /// Formats cases whose name contains `hqo`: extra absolute slack `hqo · max|finite ref|`.
        public static let hqo = 5e-4
    }

    /// Per-case additions of the layers family (README-layers "Tolerances" 2 and 3), decided by
    /// the layer classes of the model.
    public enum PolicyKind: Sendable {
        case standard
        /// QuantLSTM, QuantRNN: normwise (`Tolerance.recurrent`).
        case recurrent
        /// Bilinear requantizing upsampling: any number of flips, no budget of flipped steps.
        case requantizedInterpolation

        /// The kind of a model spec: recurrent if any layer is, else interpolation, else standard.
        static func of(_ model: JSON) -> PolicyKind {
            var classes: [(String, JSON?)] = []
            func walk(_ m: JSON) {
                if let c = m["class"]?.string { classes.append((c, m["kwargs"])) }
                for e in m["sequential"]?.array ?? [] { walk(e) }
                for (_, e) in m["graph"]?["modules"]?.object?.pairs ?? [] { walk(e) }
            }
            walk(model)
            if classes.contains(where: { $0.0 == "QuantLSTM" || $0.0 == "QuantRNN" }) { return .recurrent }
            if classes.contains(where: { c, kw in
                let mode = kw?["mode"]?.string
                return c == "QuantUpsamplingBilinear2d" || (c == "QuantUpsample" && mode != nil && mode != "nearest")
            }) { return .requantizedInterpolation }
            return .standard
        }
    }

    /// The mismatches of the current case, in order (`path: message`).
    public private(set) var errors: [String] = []
    var qat = false
    /// The formats family's slack for long half-quadratic searches (`Tolerance.hqo`).
    var hqo = false
    var policyKind = PolicyKind.standard
    var flips = 0
    var tainted = false
    var nTainted = 0
    var nBackward = 0

    public init() {}

    func startCase() {
        errors = []
        qat = false
        hqo = false
        policyKind = .standard
        nTainted = 0
        nBackward = 0
        startStep()
    }

    func startStep() {
        flips = 0
        tainted = false
    }

    /// After a step's forward: flips taint the step's backward and update.
    func forwardDone(backward: Bool) {
        if backward { nBackward += 1 }
        if flips > 0 && backward {
            tainted = true
            nTainted += 1
        }
    }

    func endCase() {
        if policyKind == .requantizedInterpolation { return }  // flipped steps are not budgeted
        let budget = Swift.max(1, Int(Double(nBackward) * Tolerance.taintFraction))
        if nTainted > budget {
            fail("steps", "\(nTainted) backward steps with quantization flips (at most \(budget))")
        }
    }

    func fail(_ path: String, _ message: String) {
        errors.append("\(path): \(message)")
    }

    /// The tolerance term of a dictionary entry or of a tensor.
    enum Extra {
        case none
        case value(Double)
        case keyed([String: Double])

        var scalar: Double {
            if case .value(let v) = self { return v }
            return 0
        }

        func sub(_ key: String) -> Extra {
            switch self {
            case .keyed(let d): return .value(d[key] ?? 0)
            default: return self
            }
        }
    }

    /// Structural comparison (`Checker.compare`).
    func compare(_ path: String, _ got: JSON, _ ref: JSON, _ cat: String = "value", _ extra: Extra = .none) {
        if ref.isNull || got.isNull {
            if ref.isNull != got.isNull {
                fail(path, "\(got.isNull ? "null" : "value") where the reference has \(ref.isNull ? "null" : "a value")")
            }
            return
        }
        if let kind = ref.quantKind {
            guard QuantKind(rawValue: kind) != nil else {
                fail(path, "the runner cannot compare QuantTensor kind \(kind) yet")
                return
            }
            quantTensor(path, got, ref, cat)
        } else if ref.isTensor {
            tensor(path, got, ref, cat, extra: extra.scalar)
        } else if let r = ref.object {
            guard let g = got.object, Set(g.keys) == Set(r.keys) else {
                fail(path, "keys \(got.object?.keys.sorted().description ?? "of a \(got)") != \(r.keys.sorted())")
                return
            }
            for k in r.keys {
                compare("\(path)/\(k)", g[k]!, r[k]!, cat, extra.sub(k))
            }
        } else if let r = ref.array {
            guard let g = got.array, g.count == r.count else {
                fail(path, "list length differs")
                return
            }
            for (i, (gi, ri)) in zip(g, r).enumerated() {
                compare("\(path)[\(i)]", gi, ri, cat)
            }
        } else if got != ref {
            fail(path, "\(got) != \(ref)")
        }
    }

    /// `state_after`: counters exact, parameters (with `extra`) and buffers by tolerance. In a
    /// tainted step the parameters and statistics buffers are not compared; counters and constant
    /// buffers (bit widths, fixed zero points) still are.
    func state(_ path: String, _ got: ModuleState, _ ref: JSON, extra: [String: Double] = [:]) {
        guard let rp = ref["params"]?.object, let rb = ref["buffers"]?.object, let rc = ref["counters"]?.object else {
            fail(path, "state parts differ")
            return
        }
        if Set(got.params.keys) != Set(rp.keys) {
            fail("\(path)/params", "keys \(got.params.keys.sorted()) != \(rp.keys.sorted())")
            return
        }
        if Set(got.buffers.keys) != Set(rb.keys) {
            fail("\(path)/buffers", "keys \(got.buffers.keys.sorted()) != \(rb.keys.sorted())")
            return
        }
        for (n, r) in rp.pairs {
            compare("\(path)/params/\(n)", got.params[n]!, r, "state", .value(extra[n] ?? 0))
        }
        for (n, r) in rb.pairs {
            compare("\(path)/buffers/\(n)", got.buffers[n]!, r, ModuleState.isStatsBuffer(n) ? "state" : "constant")
        }
        compare("\(path)/counters", .object(JSONObject(got.counters.sorted { $0.key < $1.key }.map { ($0.key, .number(Double($0.value))) })),
                .object(rc), "counter")
    }

    /// A tensor compared normwise, `max|a − b| ≤ t · max|b|` (PTQ outputs of quantized models,
    /// weights after GPTQ/GPFQ); `null` must match `null`.
    func normwise(_ path: String, _ got: JSON, _ ref: JSON, _ t: Double) {
        if ref.isNull || got.isNull {
            if ref.isNull != got.isNull { fail(path, "\(got.isNull ? "null" : "value") where the reference has \(ref.isNull ? "null" : "a value")") }
            return
        }
        let r = ref.quantKind != nil ? (ref["value"] ?? .null) : ref
        let g = got.quantKind != nil ? (got["value"] ?? .null) : got
        guard let (a, b) = arrays(path, g, r) else { return }
        var m = 0.0, worst = 0.0
        for y in b { m = Swift.max(m, Swift.abs(y)) }
        for (x, y) in zip(a, b) { worst = Swift.max(worst, Swift.abs(x - y).isNaN ? .infinity : Swift.abs(x - y)) }
        if worst > t * m { fail(path, "max|diff| \(fmt(worst)) > \(t) * max|ref| \(fmt(m))") }
    }

    /// QAT: all parameter gradients of a step as one vector, normwise.
    func qatGrads(_ path: String, _ got: JSONObject, _ ref: JSONObject) {
        if Set(got.keys) != Set(ref.keys) {
            fail(path, "keys \(got.keys.sorted()) != \(ref.keys.sorted())")
            return
        }
        for n in ref.keys where got[n]!.isNull != ref[n]!.isNull {
            fail("\(path)/\(n)", "null pattern differs")
            return
        }
        let names = ref.keys.filter { !ref[$0]!.isNull }
        var a: [Double] = [], b: [Double] = []
        for n in names {
            let gs = got[n]!["shape"]?.doubles ?? [], rs = ref[n]!["shape"]?.doubles ?? []
            if gs != rs {
                fail("\(path)/\(n)", "shape \(JSON.shapeText(gs)) != \(JSON.shapeText(rs))")
                return
            }
            a += got[n]!["data"]?.doubles ?? []
            b += ref[n]!["data"]?.doubles ?? []
        }
        let shape = JSON.numbers([Double(a.count)])
        tensor(path, .object(JSONObject([("shape", shape), ("data", a.isEmpty ? .array([]) : .numbers(a))])),
               .object(JSONObject([("shape", shape), ("data", b.isEmpty ? .array([]) : .numbers(b))])), "grad")
    }

    func arrays(_ path: String, _ got: JSON, _ ref: JSON) -> ([Double], [Double])? {
        guard let gs = got["shape"]?.doubles else {
            fail(path, "expected a tensor, got \(got)")
            return nil
        }
        let rs = ref["shape"]?.doubles ?? []
        if gs != rs {
            fail(path, "shape \(JSON.shapeText(gs)) != \(JSON.shapeText(rs))")
            return nil
        }
        guard let b = ref["data"]?.doubles, b.count == Int(rs.reduce(1, *)) else {
            fail(path, "the reference tensor's data does not match its shape \(JSON.shapeText(rs))")
            return nil
        }
        guard let a = got["data"]?.doubles, a.count == b.count else {
            fail(path, "our tensor's data does not match its shape")
            return nil
        }
        return (a, b)
    }

    /// One tensor: normwise in QAT (and recurrent) cases, else elementwise close(extra), with
    /// quantization flips allowed when `step` (the reference's quantization step per element) is
    /// given. Non-finite elements must match exactly (NaN where NaN, ±inf with its sign);
    /// `m = max|ref|` is taken over the finite elements.
    func tensor(_ path: String, _ got: JSON, _ ref: JSON, _ cat: String, extra: Double = 0, step: [Double]? = nil) {
        guard let (a, b) = arrays(path, got, ref) else { return }
        if a.isEmpty { return }
        var m = 0.0
        for y in b where y.isFinite { m = Swift.max(m, Swift.abs(y)) }
        for i in 0..<a.count where !a[i].isFinite || !b[i].isFinite {
            if !(a[i].isNaN && b[i].isNaN) && a[i] != b[i] {
                fail(path, "non-finite pattern differs (first at \(i): ours \(fmt(a[i])) vs reference \(fmt(b[i])))")
                return
            }
        }
        let normwise = qat ? Tolerance.qat[cat] : (policyKind == .recurrent ? Tolerance.recurrent[cat] : nil)
        if let t = normwise {
            let bound = t * m
            var worst = 0.0
            for (x, y) in zip(a, b) where x.isFinite && y.isFinite { worst = Swift.max(worst, Swift.abs(x - y)) }
            if worst > bound {
                fail(path, "max|diff| \(fmt(worst)) > \(t) * max|ref| \(fmt(m))")
            }
            return
        }
        if tainted && (cat == "grad" || cat == "state" || cat == "loss") { return }
        let slack = extra + (hqo ? Tolerance.hqo * m : 0)
        var nFlip = 0, nBad = 0, firstBad = -1
        for i in 0..<a.count {
            let x = a[i], y = b[i]
            if x == y || (x.isNaN && y.isNaN) { continue }
            let diff = Swift.abs(x - y)
            let tol = Tolerance.rtol * Swift.abs(y) + Tolerance.atolRel * m + slack
            if diff <= tol { continue }
            if let step, !diff.isNaN {
                let s = step[i]
                if Swift.abs(diff - s) <= tol + Tolerance.rtol * s {
                    nFlip += 1
                    continue
                }
            }
            nBad += 1
            if firstBad < 0 { firstBad = i }
        }
        if step != nil {
            flips += nFlip
            let budget = Swift.max(1, Int((Double(a.count) * Tolerance.flipFraction).rounded(.up)))
            if nFlip > budget && policyKind != .requantizedInterpolation {
                fail(path, "\(nFlip) of \(a.count) elements one quantization step off (at most \(budget))")
            }
        }
        if nBad > 0 {
            fail(path, "\(nBad) of \(a.count) outside tolerance (first at \(firstBad): ours \(fmt(a[firstBad])) vs reference \(fmt(b[firstBad])), max|ref| \(fmt(m)))")
        }
    }

    /// The QuantTensor kinds the checker compares (README.md, README-formats.md).
    enum QuantKind: String {
        case int = "IntQuantTensor"
        case groupwiseInt = "GroupwiseIntQuantTensor"
        case float = "FloatQuantTensor"
        case groupwiseFloat = "GroupwiseFloatQuantTensor"

        var isFloat: Bool { self == .float || self == .groupwiseFloat }
        var isGroupwise: Bool { self == .groupwiseInt || self == .groupwiseFloat }
        /// Fields compared exactly as JSON values.
        var exactFields: [String] {
            ["signed", "training", "is_valid"] + (isFloat ? ["saturating", "inf_values", "nan_values"] : [])
                + (isGroupwise ? ["group_size", "group_dim"] : [])
        }
        /// Tensor metadata compared exactly.
        var exactTensors: [String] { isFloat ? ["exponent_bit_width", "mantissa_bit_width", "exponent_bias"] : ["bit_width"] }
    }

    /// A recorded QuantTensor of a known kind: exact metadata, scale and zero point by
    /// tolerance, the value with flips of one grid step (integer step `|scale|`; minifloat step
    /// `|s|·2^(max(floor(log2|v/s|), 1−bias) − mantissa bits)`), then `int_value` (at most one
    /// step off) or `minifloat_value` (flips of the unscaled grid).
    func quantTensor(_ path: String, _ got: JSON, _ ref: JSON, _ cat: String) {
        let kind = QuantKind(rawValue: ref.quantKind!)!
        guard got.quantKind == kind.rawValue else {
            let what = got.quantKind ?? (got.isTensor ? "a plain tensor" : got.description)
            fail(path, "expected \(kind == .int ? "an" : "a") \(kind.rawValue), got \(what)")
            return
        }
        for k in kind.exactFields where got[k] != ref[k] {
            fail("\(path)/\(k)", "ours \(got[k] ?? .null) != reference \(ref[k] ?? .null)")
        }
        for k in kind.exactTensors {
            guard let g = got[k], let r = ref[k] else {
                fail("\(path)/\(k)", "missing in \(got[k] == nil ? "ours" : "the reference")")
                continue
            }
            if let (a, b) = arrays("\(path)/\(k)", g, r), a != b {
                fail("\(path)/\(k)", "ours [\(a.map(fmt).joined(separator: ", "))] != reference [\(b.map(fmt).joined(separator: ", "))]")
            }
        }
        for k in ["scale", "zero_point", "value"] where got[k] == nil || ref[k] == nil {
            fail("\(path)/\(k)", "missing in \(got[k] == nil ? "ours" : "the reference")")
            return
        }
        tensor("\(path)/scale", got["scale"]!, ref["scale"]!, "qmeta")
        tensor("\(path)/zero_point", got["zero_point"]!, ref["zero_point"]!, "qmeta")
        let shape = (ref["value"]?["shape"]?.doubles ?? []).map { Int($0) }
        let scaleShape = (ref["scale"]?["shape"]?.doubles ?? []).map { Int($0) }
        guard let scale = broadcast((ref["scale"]?["data"]?.doubles ?? []).map { Swift.abs($0) }, from: scaleShape, to: shape) else {
            fail("\(path)/scale", "reference scale of shape \(scaleShape) does not broadcast to \(shape)")
            return
        }
        if kind.isFloat {
            let m = ref["mantissa_bit_width"]?["data"]?.doubles?.first ?? 0
            let bias = ref["exponent_bias"]?["data"]?.doubles?.first ?? 0
            let v = (ref["value"]?["data"]?.doubles ?? []).map { $0.isFinite ? $0 : 0 }
            let step = zip(v, scale).map { Self.minifloatStep($0, scale: $1, mantissaBits: m, exponentBias: bias) }
            tensor("\(path)/value", got["value"]!, ref["value"]!, "qvalue", step: step)
            if let rm = ref["minifloat_value"] {
                let unscaled = zip(v, scale).map { Self.minifloatStep($1 != 0 ? $0 / $1 : $0, scale: 1, mantissaBits: m, exponentBias: bias) }
                tensor("\(path)/minifloat_value", got["minifloat_value"] ?? .object(JSONObject()), rm, "qvalue", step: unscaled)
            }
            return
        }
        tensor("\(path)/value", got["value"]!, ref["value"]!, "qvalue", step: scale)
        if let ri = ref["int_value"], policyKind != .recurrent {
            if let (gi, rv) = arrays("\(path)/int_value", got["int_value"] ?? .object(JSONObject()), ri) {
                var worst = 0.0
                for (x, y) in zip(gi, rv) { worst = Swift.max(worst, Swift.abs(x - y).isNaN ? .infinity : Swift.abs(x - y)) }
                if worst > 1 { fail("\(path)/int_value", "integer values differ by more than one step (by \(fmt(worst)))") }
            }
        }
    }

    /// One step of the minifloat grid at reference value `v` (`replay_formats.minifloat_ulp`):
    /// `|s|·2^(max(floor(log2|v/s|), 1 − bias) − m)`, the subnormal step at 0.
    static func minifloatStep(_ v: Double, scale: Double, mantissaBits m: Double, exponentBias bias: Double) -> Double {
        let s = Swift.abs(scale)
        let u = Swift.abs(v) / (s > 0 ? s : 1)
        let e = u > 0 ? Swift.max(Foundation.floor(Foundation.log2(u)), 1 - bias) : 1 - bias
        return s * Foundation.exp2(e - m)
    }

    func fmt(_ d: Double) -> String {
        if d.isNaN || d.isInfinite { return "\(d)" }
        if d == d.rounded(), Swift.abs(d) < 1e15 { return String(Int(d)) }
        return String(format: "%.9g", d)
    }
}

/// NumPy broadcasting of `data` of `shape` to `target` (row-major), `nil` if it does not broadcast.
func broadcast(_ data: [Double], from shape: [Int], to target: [Int]) -> [Double]? {
    let n = target.reduce(1, *)
    if shape == target { return data }
    if data.count == 1 { return [Double](repeating: data[0], count: n) }
    guard shape.count <= target.count else { return nil }
    let padded = [Int](repeating: 1, count: target.count - shape.count) + shape
    for (s, t) in zip(padded, target) where s != 1 && s != t { return nil }
    var srcStrides = [Int](repeating: 0, count: padded.count)
    var acc = 1
    for i in stride(from: padded.count - 1, through: 0, by: -1) {
        srcStrides[i] = padded[i] == 1 ? 0 : acc
        acc *= padded[i]
    }
    var out = [Double](repeating: 0, count: n)
    var index = [Int](repeating: 0, count: target.count)
    for k in 0..<n {
        var off = 0
        for d in 0..<target.count { off += index[d] * srcStrides[d] }
        out[k] = data[off]
        var d = target.count - 1
        while d >= 0 {
            index[d] += 1
            if index[d] < target[d] { break }
            index[d] = 0
            d -= 1
        }
    }
    return out
}
