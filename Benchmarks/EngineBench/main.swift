// Tensor engine benchmark: GEMM GFLOP/s (1024^2 and the conv shapes), elementwise GB/s, and
// conv2d (3x3 64->64 on 8x64x56x56, a small-map and a depthwise case) and kthvalue times next to
// PyTorch's for the same cases (torch_conv.py with the reference venv .venv-ref, 2 threads),
// measured in alternating rounds of the same run.
//
//     swift run -c release EngineBench            # env as set
//     env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE swift run -c release EngineBench
//
// Options: --quick (fewer repetitions, one round), --no-torch (skip PyTorch), --elementwise (only
// the elementwise section). Environment: BENCH_ROUNDS (default 3), ENGINE_THREADS.
import Foundation
import TensorEngine

let args = Set(CommandLine.arguments.dropFirst())
let quick = args.contains("--quick")
if let t = ProcessInfo.processInfo.environment["ENGINE_THREADS"], let n = Int(t) { Parallel.threadCount = n }

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Median seconds of `reps` timed calls after `warmup` untimed ones.
func time(reps: Int, warmup: Int = 2, _ body: () -> Void) -> Double { timeBoth(reps: reps, warmup: warmup, body).median }

/// Median and best seconds of `reps` timed calls (the best is the least disturbed by other
/// processes on a shared machine).
func timeBoth(reps: Int, warmup: Int = 2, _ body: () -> Void) -> (median: Double, best: Double) {
    for _ in 0..<warmup { body() }
    var ts: [Double] = []
    for _ in 0..<reps {
        let t0 = now()
        body()
        ts.append(now() - t0)
    }
    ts.sort()
    return (ts[ts.count / 2], ts[0])
}

func fmt(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }
func ms(_ t: (median: Double, best: Double)) -> String { "\(fmt(t.median * 1e3, 2)) ms (best \(fmt(t.best * 1e3, 2)))" }

let env = ProcessInfo.processInfo.environment
print("EngineBench: \(BLAS.info); Parallel.threadCount \(Parallel.threadCount)")
print("  OPENBLAS_CORETYPE=\(env["OPENBLAS_CORETYPE"] ?? "(unset)") OPENBLAS_L2_SIZE=\(env["OPENBLAS_L2_SIZE"] ?? "(unset)")")

// MARK: GEMM

func gemmRate(_ label: String, m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool = false, reps: Int) {
    let rng = RandomGenerator(seed: 1)
    let a = rng.uniform([m * k]), b = rng.uniform([k * n]), c = Tensor.zeros([m * n])
    let t = time(reps: reps) {
        BLAS.sgemm(
            transA: transA, transB: transB, m: m, n: n, k: k, a: a.storage.pointer, lda: transA ? m : k,
            b: b.storage.pointer, ldb: transB ? k : n, c: c.storage.pointer, ldc: n)
    }
    let gflops = 2 * Double(m) * Double(n) * Double(k) / t / 1e9
    print("  \(label.padding(toLength: 44, withPad: " ", startingAt: 0)) \(fmt(t * 1e3, 2)) ms  \(fmt(gflops)) GFLOP/s")
}

// MARK: conv2d

/// Median forward and forward+backward times of a padded 3x3 convolution with bias.
func convTimes(_ xs: [Int], outC: Int, groups: Int = 1, reps: Int) -> ((median: Double, best: Double), (median: Double, best: Double)) {
    let rng = RandomGenerator(seed: 2)
    let x = rng.normal(xs)
    let w = rng.kaimingUniform([outC, xs[1] / groups, 3, 3])
    let bias = rng.uniform([outC], low: -0.1, high: 0.1)
    let g = rng.normal([xs[0], outC, xs[2], xs[3]])
    let f = timeBoth(reps: reps) {
        _ = Autograd.noGrad { Tensor.conv2d(x, weight: w, bias: bias, padding: (1, 1), groups: groups) }
    }
    x.requiresGrad = true; w.requiresGrad = true; bias.requiresGrad = true
    let fb = timeBoth(reps: reps) {
        x.grad = nil; w.grad = nil; bias.grad = nil
        let y = Tensor.conv2d(x, weight: w, bias: bias, padding: (1, 1), groups: groups)
        y.backward(g)
    }
    return (f, fb)
}

let convFlops = 2.0 * 64 * 576 * 25088

let onlyElementwise = args.contains("--elementwise")
if !onlyElementwise {
print("GEMM (sgemm, median):")
gemmRate("1024 x 1024 x 1024", m: 1024, n: 1024, k: 1024, reps: quick ? 5 : 20)
gemmRate("conv fwd batched: 64 x 25088, K 576", m: 64, n: 25088, k: 576, reps: quick ? 3 : 10)
gemmRate("conv fwd per image: 64 x 3136, K 576", m: 64, n: 3136, k: 576, reps: quick ? 10 : 40)
gemmRate("conv dW per image: 64 x 576, K 3136 (B^T)", m: 64, n: 576, k: 3136, transB: true, reps: quick ? 10 : 40)
gemmRate("conv dX per image: 576 x 3136, K 64 (A^T)", m: 576, n: 3136, k: 64, transA: true, reps: quick ? 10 : 40)

}
// MARK: elementwise

/// The fused fake-quant pass `(clamp(round(x/s) + z, qmin, qmax) - z) * s`.
struct FakeQuant: UnaryScalarFunction {
    let scale: Float, zeroPoint: Float, qmin: Float, qmax: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float {
        // Clamping before rounding keeps |v| < 2^22, so the 1.5·2^23 trick needs no range check
        // and the loop vectorises (same result: qmin, qmax and the zero point are integers).
        let v = x / scale
        let c = v < qmin - zeroPoint ? qmin - zeroPoint : (v > qmax - zeroPoint ? qmax - zeroPoint : v)
        return ((c + 12_582_912) - 12_582_912) * scale
    }
}

func elementwise(_ label: String, floats: Int, reps: Int) {
    print("Elementwise, \(label) (GB/s counts one read and one write, 8 B/element; median):")
    let x = RandomGenerator(seed: 3).normal([floats])
    let dst = Tensor.empty(x.shape)
    let bytes = Double(floats) * 8
    func report(_ what: String, _ t: Double, bytesPerElement: Double = 8) {
        let gbs = Double(floats) * bytesPerElement / t / 1e9
        print("  \(what.padding(toLength: 44, withPad: " ", startingAt: 0)) \(fmt(gbs)) GB/s  (\(fmt(t * 1e6, 0)) us)")
    }
    let fq = FakeQuant(scale: 0.05, zeroPoint: 3, qmin: -128, qmax: 127)
    let tCopy = time(reps: reps) { dst.storage.pointer.update(from: x.storage.pointer, count: floats) }
    report("memcpy (1 thread, preallocated)", tCopy)
    report("fused fake-quant map(into:), preallocated", time(reps: reps) { x.map(fq, into: dst) })
    report("fused fake-quant map(_:), new tensor", time(reps: reps) { _ = x.map(fq) })
    report("fused fake-quant mapScalars (1 thread)", time(reps: reps) { x.mapScalars(into: dst) { fq($0) } })
    report("relu()", time(reps: reps) { _ = x.relu() })
    report("x * 1.5", time(reps: reps) { _ = x * 1.5 })
    report("x + x (12 B/element)", time(reps: reps) { _ = x + x }, bytesPerElement: 12)
    report("sum() (4 B/element)", time(reps: reps) { _ = x.sum() }, bytesPerElement: 4)
    _ = bytes
}
elementwise("64M floats (256 MB)", floats: 64 << 20, reps: quick ? 3 : 10)
elementwise("4M floats (16 MB, in L3)", floats: 4 << 20, reps: quick ? 20 : 100)
elementwise("256K floats (1 MB)", floats: 256 << 10, reps: quick ? 100 : 1000)

// MARK: conv2d, kthvalue and PyTorch, in alternating rounds

typealias Timing = (median: Double, best: Double)

/// Best-of-rounds merge: the lowest median and the lowest best time.
func merge(_ a: Timing?, _ b: Timing) -> Timing {
    guard let a else { return b }
    return (Swift.min(a.median, b.median), Swift.min(a.best, b.best))
}

let cases: [(key: String, label: String)] = [
    ("fwd", "conv 3x3 64->64, 8x64x56x56, forward"),
    ("fwd_bwd", "conv 3x3 64->64, 8x64x56x56, forward+backward"),
    ("small_fwd", "conv 3x3 128->128, 128x128x8x8, forward"),
    ("small_fwd_bwd", "conv 3x3 128->128, 128x128x8x8, forward+backward"),
    ("dw_fwd", "conv depthwise 3x3, 8x64x56x56, forward"),
    ("dw_fwd_bwd", "conv depthwise 3x3, 8x64x56x56, forward+backward"),
    ("kthvalue_100000", "kthvalue N = 10^5 (k = 0.99999 N)"),
    ("kthvalue_1000000", "kthvalue N = 10^6"),
    ("kthvalue_10000000", "kthvalue N = 10^7"),
]

func measureSwift(reps: Int) -> [String: Timing] {
    var r: [String: Timing] = [:]
    (r["fwd"], r["fwd_bwd"]) = convTimes([8, 64, 56, 56], outC: 64, reps: reps)
    (r["small_fwd"], r["small_fwd_bwd"]) = convTimes([128, 128, 8, 8], outC: 128, reps: reps)
    (r["dw_fwd"], r["dw_fwd_bwd"]) = convTimes([8, 64, 56, 56], outC: 64, groups: 64, reps: reps)
    for n in [100_000, 1_000_000, 10_000_000] {
        let a = RandomGenerator(seed: 5).normal([n]).abs()
        let k = Int((0.99999 * Double(n) + 0.5).rounded(.down))
        r["kthvalue_\(n)"] = timeBoth(reps: n >= 10_000_000 ? Swift.max(3, reps / 4) : reps) { _ = a.kthvalue(k) }
    }
    return r
}

/// Runs torch_conv.py (same cases, torch on 2 threads) and parses its RESULT lines.
func measureTorch(quick: Bool) -> [String: Timing]? {
    let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    let root = here.deletingLastPathComponent().deletingLastPathComponent()
    let python = root.appendingPathComponent(".venv-ref/bin/python").path
    guard FileManager.default.isExecutableFile(atPath: python) else { return nil }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: python)
    p.arguments = [here.appendingPathComponent("torch_conv.py").path] + (quick ? ["--quick"] : [])
    let pipe = Pipe()
    p.standardOutput = pipe
    guard (try? p.run()) != nil else { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    var raw: [String: Double] = [:]
    for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
        let parts = line.split(separator: " ")
        if parts.first == "RESULT", parts.count == 3, let v = Double(parts[2]) { raw[String(parts[1])] = v / 1e3 }
    }
    var r: [String: Timing] = [:]
    for (key, _) in cases {
        if let m = raw[key + "_ms"], let b = raw[key + "_best_ms"] { r[key] = (m, b) }
    }
    return r
}

if !onlyElementwise {
    let rounds = Int(ProcessInfo.processInfo.environment["BENCH_ROUNDS"] ?? "") ?? (quick ? 1 : 3)
    let withTorch = !args.contains("--no-torch")
    var mine: [String: Timing] = [:], theirs: [String: Timing] = [:]
    var torchMissing = false
    print("Convolutions and kthvalue: \(rounds) alternating rounds of Swift and PyTorch (2 threads); per case the lowest median and the lowest single time over the rounds")
    for _ in 0..<rounds {
        for (k, v) in measureSwift(reps: quick ? 5 : 10) { mine[k] = merge(mine[k], v) }
        if withTorch {
            if let t = measureTorch(quick: quick) {
                for (k, v) in t { theirs[k] = merge(theirs[k], v) }
            } else {
                torchMissing = true
            }
        }
    }
    print("  \("case".padding(toLength: 50, withPad: " ", startingAt: 0)) \("Swift ms".padding(toLength: 22, withPad: " ", startingAt: 0)) \("PyTorch ms".padding(toLength: 22, withPad: " ", startingAt: 0)) Swift/PyTorch")
    for (key, label) in cases {
        guard let m = mine[key] else { continue }
        let ms = "\(fmt(m.median * 1e3, 2)) (best \(fmt(m.best * 1e3, 2)))"
        var line = "  \(label.padding(toLength: 50, withPad: " ", startingAt: 0)) \(ms.padding(toLength: 22, withPad: " ", startingAt: 0))"
        if let t = theirs[key] {
            let ts = "\(fmt(t.median * 1e3, 2)) (best \(fmt(t.best * 1e3, 2)))"
            line += " \(ts.padding(toLength: 22, withPad: " ", startingAt: 0)) \(fmt(m.median / t.median, 2))x (best \(fmt(m.best / t.best, 2))x)"
        }
        print(line)
    }
    if let f = mine["fwd"], let fb = mine["fwd_bwd"] {
        let convFlops = 2.0 * 64 * 576 * 25088
        print("  conv 64->64 rate: forward \(fmt(convFlops / f.best / 1e9)) GFLOP/s, forward+backward \(fmt(3 * convFlops / fb.best / 1e9)) GFLOP/s (best times)")
    }
    if torchMissing { print("  (no .venv-ref: PyTorch comparison skipped; run Benchmarks/EngineBench/torch_conv.py yourself)") }
    print("  targets: conv forward+backward <= 1.30x PyTorch; kthvalue >= 5x faster (<= 0.20x)")
}
