// Tensor engine benchmark: GEMM GFLOP/s, conv2d 3x3 64->64 on 8x64x56x56 (forward and
// forward+backward), elementwise GB/s, and, when the reference venv exists, PyTorch's time for the
// same convolution measured in the same run.
//
//     swift run -c release EngineBench            # env as set
//     env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE swift run -c release EngineBench
//
// Options: --quick (fewer repetitions), --no-torch (skip the PyTorch comparison).
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

let onlyElementwise = args.contains("--elementwise")
var zero = (median: 0.0, best: 0.0)
var (tFwd, tFwdBwd, tSmallFwd, tSmallFwdBwd, tDwFwd, tDwFwdBwd) = (zero, zero, zero, zero, zero, zero)
if !onlyElementwise {
print("GEMM (sgemm, median):")
gemmRate("1024 x 1024 x 1024", m: 1024, n: 1024, k: 1024, reps: quick ? 5 : 20)
gemmRate("conv fwd batched: 64 x 25088, K 576", m: 64, n: 25088, k: 576, reps: quick ? 3 : 10)
gemmRate("conv fwd per image: 64 x 3136, K 576", m: 64, n: 3136, k: 576, reps: quick ? 10 : 40)
gemmRate("conv dW per image: 64 x 576, K 3136 (B^T)", m: 64, n: 576, k: 3136, transB: true, reps: quick ? 10 : 40)
gemmRate("conv dX per image: 576 x 3136, K 64 (A^T)", m: 576, n: 3136, k: 64, transA: true, reps: quick ? 10 : 40)

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
print("conv2d 3x3 64->64, x 8x64x56x56, padding 1, bias (median, best):")
(tFwd, tFwdBwd) = convTimes([8, 64, 56, 56], outC: 64, reps: quick ? 5 : 20)
print("  forward           \(ms(tFwd))  (\(fmt(convFlops / tFwd.median / 1e9)) GFLOP/s at the median)")
print("  forward+backward  \(ms(tFwdBwd))  (\(fmt(3 * convFlops / tFwdBwd.median / 1e9)) GFLOP/s)")
print("conv2d 3x3 128->128, x 128x128x8x8 (small maps, several images per GEMM), padding 1, bias:")
(tSmallFwd, tSmallFwdBwd) = convTimes([128, 128, 8, 8], outC: 128, reps: quick ? 5 : 20)
print("  forward           \(ms(tSmallFwd))")
print("  forward+backward  \(ms(tSmallFwdBwd))")
print("conv2d depthwise 3x3, x 8x64x56x56, groups 64, padding 1, bias:")
(tDwFwd, tDwFwdBwd) = convTimes([8, 64, 56, 56], outC: 64, groups: 64, reps: quick ? 5 : 20)
print("  forward           \(ms(tDwFwd))")
print("  forward+backward  \(ms(tDwFwdBwd))")
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

// MARK: kthvalue

var kthTimes: [Int: (median: Double, best: Double)] = [:]
if !onlyElementwise {
    print("kthvalue (AbsPercentile q = 99.999: k = floor(0.99999 N + 0.5) of |randn|; median):")
    for n in [100_000, 1_000_000, 10_000_000] {
        let a = RandomGenerator(seed: 5).normal([n]).abs()
        let k = Int((0.99999 * Double(n) + 0.5).rounded(.down))
        let t = timeBoth(reps: quick ? 3 : (n >= 10_000_000 ? 5 : 20)) { _ = a.kthvalue(k) }
        kthTimes[n] = t
        print("  N = \(n)\(String(repeating: " ", count: 9 - String(n).count))  \(ms(t))")
    }
}

// MARK: PyTorch reference

if !args.contains("--no-torch") && !onlyElementwise {
    let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    let root = here.deletingLastPathComponent().deletingLastPathComponent()
    let python = root.appendingPathComponent(".venv-ref/bin/python").path
    if FileManager.default.isExecutableFile(atPath: python) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [here.appendingPathComponent("torch_conv.py").path] + (quick ? ["--quick"] : [])
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        print(text, terminator: "")
        var torch: [String: Double] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.first == "RESULT", parts.count == 3, let v = Double(parts[2]) { torch[String(parts[1])] = v / 1e3 }
        }
        func ratio(_ label: String, _ key: String, _ mine: (median: Double, best: Double)) {
            guard let med = torch[key + "_ms"], let best = torch[key + "_best_ms"] else { return }
            print("  \(label.padding(toLength: 34, withPad: " ", startingAt: 0)) median \(fmt(mine.median / med, 2))x, best \(fmt(mine.best / best, 2))x")
        }
        print("Swift time / PyTorch time (lower is better; conv target <= 1.30):")
        ratio("conv 8x64x56x56 forward", "fwd", tFwd)
        ratio("conv 8x64x56x56 forward+backward", "fwd_bwd", tFwdBwd)
        ratio("conv 128x128x8x8 forward", "small_fwd", tSmallFwd)
        ratio("conv 128x128x8x8 forward+backward", "small_fwd_bwd", tSmallFwdBwd)
        ratio("depthwise forward", "dw_fwd", tDwFwd)
        ratio("depthwise forward+backward", "dw_fwd_bwd", tDwFwdBwd)
        for n in kthTimes.keys.sorted() { ratio("kthvalue N = \(n)", "kthvalue_\(n)", kthTimes[n]!) }
    } else {
        print("(no .venv-ref: PyTorch comparison skipped; run Benchmarks/EngineBench/torch_conv.py yourself)")
    }
}
