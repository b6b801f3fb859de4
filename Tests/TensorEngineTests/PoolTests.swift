import Testing
import TestSupport
@testable import TensorEngine

@Suite struct PoolTests {
    @Test func maxPoolMatchesPyTorch() throws {
        for c in (try Fixture("engine", "maxpool2d")).cases() {
            let name = c.string("name")
            let k = c.ints("kernel"), s = c.ints("stride"), p = c.ints("padding")
            let x = Tensor(shape: c.t("x").shape, c.t("x").scalars, requiresGrad: true)
            let (y, idx) = Tensor.maxPool2dWithIndices(x, kernelSize: (k[0], k[1]), stride: (s[0], s[1]), padding: (p[0], p[1]))
            expectClose(y, c.t("out"), rtol: 0, atol: 0, "\(name) out")
            #expect(idx.scalars.map { Int($0) } == c.ints("indices"), "\(name) indices")
            y.backward(c.t("g"))
            expectClose(x.grad, c.t("grad_x"), "\(name) grad_x")
        }
    }

    @Test func avgPoolMatchesPyTorch() throws {
        for c in (try Fixture("engine", "avgpool2d")).cases() {
            let name = c.string("name")
            let k = c.ints("kernel"), s = c.ints("stride"), p = c.ints("padding")
            let (y, grads) = forwardBackward([c.t("x")], g: c.t("g")) { t in
                Tensor.avgPool2d(t[0]!, kernelSize: (k[0], k[1]), stride: (s[0], s[1]), padding: (p[0], p[1]),
                                 countIncludePad: c.bool("count_include_pad"))
            }
            expectClose(y, c.t("out"), "\(name) out")
            expectClose(grads[0], c.t("grad_x"), "\(name) grad_x")
        }
    }

    @Test func adaptiveAvgPoolMatchesPyTorch() throws {
        for c in (try Fixture("engine", "adaptive_avgpool2d")).cases() {
            let name = c.string("name")
            let o = c.ints("output_size")
            let (y, grads) = forwardBackward([c.t("x")], g: c.t("g")) { t in
                Tensor.adaptiveAvgPool2d(t[0]!, outputSize: (o[0], o[1]))
            }
            expectClose(y, c.t("out"), "\(name) out")
            expectClose(grads[0], c.t("grad_x"), "\(name) grad_x")
        }
    }

    @Test func gradChecks() {
        let x = randn([2, 3, 7, 6], seed: 50)
        let gm = randn([2, 3, 4, 4], seed: 51)
        gradCheck([x], eps: 1e-3) { t in
            (Tensor.maxPool2d(t[0], kernelSize: (3, 2), stride: (2, 2), padding: (1, 1)) * gm).sum()
        }
        let gd = randn([2, 3, 3, 2], seed: 52)
        gradCheck([x], eps: 1e-3) { t in
            (Tensor.maxPool2d(t[0], kernelSize: (2, 2), stride: (2, 2), dilation: (2, 2)) * gd).sum()
        }
        let ga = randn([2, 3, 4, 3], seed: 53)
        for cip in [true, false] {
            gradCheck([x]) { t in
                (Tensor.avgPool2d(t[0], kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), countIncludePad: cip) * ga).sum()
            }
        }
        let gaa = randn([2, 3, 4, 5], seed: 54)
        gradCheck([x]) { t in (Tensor.adaptiveAvgPool2d(t[0], outputSize: (4, 5)) * gaa).sum() }
    }

    @Test func dilatedMaxPoolAndNaN() {
        // 1x1x4x4 = 0...15, kernel 2 dilation 2: windows pick {0,2,8,10} -> 10, etc.
        let x = Tensor(shape: [1, 1, 4, 4], (0..<16).map(Float.init))
        let y = Tensor.maxPool2d(x, kernelSize: (2, 2), stride: (1, 1), dilation: (2, 2))
        #expect(y.shape == [1, 1, 2, 2] && y.scalars == [10, 11, 14, 15])
        x[0, 0, 0, 0] = .nan
        let z = Tensor.maxPool2d(x, kernelSize: (2, 2))
        #expect(z[0, 0, 0, 0].isNaN && z[0, 0, 1, 1] == 15)
        #expect(Tensor.maxPool2d(Tensor.zeros([0, 2, 4, 4]), kernelSize: (2, 2)).shape == [0, 2, 2, 2])
    }

    /// Window-by-window max pooling with PyTorch's rule (a later element wins when it is greater
    /// or NaN), the oracle for the unpadded and 2x2 fast paths.
    static func naiveMaxPool(_ x: Tensor, k: (Int, Int), s: (Int, Int)) -> (values: [Float], indices: [Float]) {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let oh = (h - k.0) / s.0 + 1, ow = (w - k.1) / s.1 + 1
        var values: [Float] = [], indices: [Float] = []
        for plane in 0..<(n * c) {
            for i in 0..<oh {
                for j in 0..<ow {
                    var best = -Float.infinity, at = -1
                    for a in 0..<k.0 {
                        for b in 0..<k.1 {
                            let idx = (i * s.0 + a) * w + j * s.1 + b
                            let v = x.storage.pointer[plane * h * w + idx]
                            if at < 0 || v > best || v.isNaN { best = v; at = idx }
                        }
                    }
                    values.append(best)
                    indices.append(Float(at))
                }
            }
        }
        return (values, indices)
    }

    @Test(arguments: [(2, 2, 2, 2), (3, 3, 2, 2), (2, 3, 1, 2), (2, 2, 1, 1)])
    func unpaddedMaxPoolMatchesWindowByWindow(_ kh: Int, _ kw: Int, _ sh: Int, _ sw: Int) {
        // Odd widths (a 2x2 row leaves 1-3 outputs to the scalar tail), ties, NaN, -inf, -0.
        let x = randn([2, 3, 9, 13], seed: 77)
        let p = x.storage.pointer
        for i in stride(from: 0, to: x.count, by: 7) { p[i] = p[i + 1] }  // ties within windows
        p[5] = .nan; p[40] = .nan; p[41] = .nan; p[100] = -.infinity; p[200] = -0.0; p[201] = 0.0
        let (v, idx) = Tensor.maxPool2dWithIndices(x, kernelSize: (kh, kw), stride: (sh, sw))
        let ref = Self.naiveMaxPool(x, k: (kh, kw), s: (sh, sw))
        #expect(v.count == ref.values.count)
        for i in 0..<v.count {
            let a = v.storage.pointer[i], b = ref.values[i]
            #expect((a.isNaN && b.isNaN) || a.bitPattern == b.bitPattern, "value \(i): \(a) vs \(b)")
        }
        #expect(idx.scalars == ref.indices)
        // the gradient goes to the selected element
        let xg = x.copy()
        xg.requiresGrad = true
        Tensor.maxPool2d(xg, kernelSize: (kh, kw), stride: (sh, sw)).sum().backward()
        var expected = [Float](repeating: 0, count: x.count)
        let plane = x.shape[2] * x.shape[3], perPlane = v.count / (x.shape[0] * x.shape[1])
        for (o, at) in ref.indices.enumerated() { expected[(o / perPlane) * plane + Int(at)] += 1 }
        #expect(xg.grad!.scalars == expected)
    }
}
