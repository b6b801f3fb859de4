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
func time(reps: Int, warmup: Int = 2, _ body: () -> Void) -> Double {
    for _ in 0..<warmup { body() }
    var ts: [Double] = []
    for _ in 0..<reps {
        let t0 = now()
        body()
        ts.append(now() - t0)
    }
    ts.sort()
    return ts[ts.count / 2]
}

func fmt(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }

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
var tFwd = 0.0, tFwdBwd = 0.0, tSmallFwd = 0.0, tSmallFwdBwd = 0.0, tDwFwd = 0.0, tDwFwdBwd = 0.0
if !onlyElementwise {
print("GEMM (sgemm, median):")
gemmRate("1024 x 1024 x 1024", m: 1024, n: 1024, k: 1024, reps: quick ? 5 : 20)
gemmRate("conv fwd batched: 64 x 25088, K 576", m: 64, n: 25088, k: 576, reps: quick ? 3 : 10)
gemmRate("conv fwd per image: 64 x 3136, K 576", m: 64, n: 3136, k: 576, reps: quick ? 10 : 40)
gemmRate("conv dW per image: 64 x 576, K 3136 (B^T)", m: 64, n: 576, k: 3136, transB: true, reps: quick ? 10 : 40)
gemmRate("conv dX per image: 576 x 3136, K 64 (A^T)", m: 576, n: 3136, k: 64, transA: true, reps: quick ? 10 : 40)

// MARK: conv2d

/// Median forward and forward+backward times of a padded 3x3 convolution with bias.
func convTimes(_ xs: [Int], outC: Int, groups: Int = 1, reps: Int) -> (Double, Double) {
    let rng = RandomGenerator(seed: 2)
    let x = rng.normal(xs)
    let w = rng.kaimingUniform([outC, xs[1] / groups, 3, 3])
    let bias = rng.uniform([outC], low: -0.1, high: 0.1)
    let g = rng.normal([xs[0], outC, xs[2], xs[3]])
    let f = time(reps: reps) {
        _ = Autograd.noGrad { Tensor.conv2d(x, weight: w, bias: bias, padding: (1, 1), groups: groups) }
    }
    x.requiresGrad = true; w.requiresGrad = true; bias.requiresGrad = true
    let fb = time(reps: reps) {
        x.grad = nil; w.grad = nil; bias.grad = nil
        let y = Tensor.conv2d(x, weight: w, bias: bias, padding: (1, 1), groups: groups)
        y.backward(g)
    }
    return (f, fb)
}

print("conv2d 3x3 64->64, x 8x64x56x56, padding 1, bias (median):")
(tFwd, tFwdBwd) = convTimes([8, 64, 56, 56], outC: 64, reps: quick ? 5 : 20)
let convFlops = 2.0 * 64 * 576 * 25088
print("  forward           \(fmt(tFwd * 1e3, 2)) ms  (\(fmt(convFlops / tFwd / 1e9)) GFLOP/s)")
print("  forward+backward  \(fmt(tFwdBwd * 1e3, 2)) ms  (\(fmt(3 * convFlops / tFwdBwd / 1e9)) GFLOP/s)")
print("conv2d 3x3 128->128, x 128x128x8x8 (small maps, several images per GEMM), padding 1, bias:")
(tSmallFwd, tSmallFwdBwd) = convTimes([128, 128, 8, 8], outC: 128, reps: quick ? 5 : 20)
print("  forward           \(fmt(tSmallFwd * 1e3, 2)) ms")
print("  forward+backward  \(fmt(tSmallFwdBwd * 1e3, 2)) ms")
print("conv2d depthwise 3x3, x 8x64x56x56, groups 64, padding 1, bias:")
(tDwFwd, tDwFwdBwd) = convTimes([8, 64, 56, 56], outC: 64, groups: 64, reps: quick ? 5 : 20)
print("  forward           \(fmt(tDwFwd * 1e3, 2)) ms")
print("  forward+backward  \(fmt(tDwFwdBwd * 1e3, 2)) ms")
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

var kthTimes: [Int: Double] = [:]
if !onlyElementwise {
    print("kthvalue (AbsPercentile q = 99.999: k = floor(0.99999 N + 0.5) of |randn|; median):")
    for n in [100_000, 1_000_000, 10_000_000] {
        let a = RandomGenerator(seed: 5).normal([n]).abs()
        let k = Int((0.99999 * Double(n) + 0.5).rounded(.down))
        let t = time(reps: quick ? 3 : (n >= 10_000_000 ? 5 : 20)) { _ = a.kthvalue(k) }
        kthTimes[n] = t
        print("  N = \(n)\(String(repeating: " ", count: 9 - String(n).count))  \(fmt(t * 1e3, 2)) ms")
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
        var torchFB: Double? = nil, torchF: Double? = nil, torchSF: Double? = nil, torchSFB: Double? = nil
        var torchDF: Double? = nil, torchDFB: Double? = nil
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.first == "RESULT", parts.count == 3, let v = Double(parts[2]) {
                if parts[1] == "fwd_bwd_ms" { torchFB = v }
                if parts[1] == "fwd_ms" { torchF = v }
                if parts[1] == "small_fwd_ms" { torchSF = v }
                if parts[1] == "small_fwd_bwd_ms" { torchSFB = v }
                if parts[1] == "dw_fwd_ms" { torchDF = v }
                if parts[1] == "dw_fwd_bwd_ms" { torchDFB = v }
            }
        }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.first == "RESULT", parts.count == 3, parts[1].hasPrefix("kthvalue_"),
                let n = Int(parts[1].dropFirst("kthvalue_".count)), let v = Double(parts[2]), let mine = kthTimes[n] {
                print("Swift / PyTorch kthvalue N = \(n): \(fmt(mine * 1e3 / v, 3))x (\(fmt(v / (mine * 1e3), 1))x faster)")
            }
        }
        if let torchFB, let torchF {
            if let torchSF, let torchSFB {
                print("Swift / PyTorch time, 128x128x8x8: forward \(fmt(tSmallFwd * 1e3 / torchSF, 2))x, forward+backward \(fmt(tSmallFwdBwd * 1e3 / torchSFB, 2))x")
            }
            if let torchDF, let torchDFB {
                print("Swift / PyTorch time, depthwise: forward \(fmt(tDwFwd * 1e3 / torchDF, 2))x, forward+backward \(fmt(tDwFwdBwd * 1e3 / torchDFB, 2))x")
            }
            print("Swift / PyTorch time: forward \(fmt(tFwd * 1e3 / torchF, 2))x, forward+backward \(fmt(tFwdBwd * 1e3 / torchFB, 2))x (target <= 1.30x)")
        }
    } else {
        print("(no .venv-ref: PyTorch comparison skipped; run Benchmarks/EngineBench/torch_conv.py yourself)")
    }
}
