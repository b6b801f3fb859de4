/// Matrix products through BLAS, with gradients.
extension Tensor {
    /// Matrix product with PyTorch semantics for rank ≥ 2: `[..., m, k] @ [..., k, n] -> [..., m, n]`,
    /// batch dimensions broadcast. A rank-1 right operand is treated as a column vector.
    public func matmul(_ other: Tensor) -> Tensor {
        if other.rank == 1 {
            return matmul(other.reshape([other.count, 1])).squeeze(-1)
        }
        precondition(rank >= 2 && other.rank >= 2, "matmul: needs rank >= 2, got \(shape) and \(other.shape)")
        let m = shape[rank - 2], k = shape[rank - 1]
        let k2 = other.shape[other.rank - 2], n = other.shape[other.rank - 1]
        precondition(k == k2, "matmul: inner dimensions differ: \(shape) @ \(other.shape)")
        let batchA = Array(shape.dropLast(2)), batchB = Array(other.shape.dropLast(2))
        let batch = ShapeMath.broadcast(batchA, batchB)
        let a = Kernels.broadcast(self.detach(), to: batch + [m, k])
        let b = Kernels.broadcast(other.detach(), to: batch + [k, n])
        let out = Tensor.empty(batch + [m, n])
        let nb = ShapeMath.count(batch)
        for i in 0..<nb {
            BLAS.sgemm(
                transA: false, transB: false, m: m, n: n, k: k,
                a: a.storage.pointer + i * m * k, lda: k, b: b.storage.pointer + i * k * n, ldb: n,
                c: out.storage.pointer + i * m * n, ldc: n)
        }
        let sa = shape, sb = other.shape
        let needA = requiresGrad, needB = other.requiresGrad
        return Autograd.record("matmul", output: out, inputs: [self, other]) { g in
            [
                needA ? g.matmul(b.transpose(-1, -2)).sum(toShape: sa) : nil,
                needB ? a.transpose(-1, -2).matmul(g).sum(toShape: sb) : nil,
            ]
        }
    }

    /// `x · Wᵀ + b` for `x: [..., in]`, `weight: [out, in]`, `bias: [out]` (`torch.nn.functional.linear`).
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
        precondition(weight.rank == 2, "linear: weight must be [out, in], got \(weight.shape)")
        let inF = weight.shape[1], outF = weight.shape[0]
        precondition(x.rank >= 1 && x.shape.last == inF, "linear: input \(x.shape) does not end in in_features \(inF) of weight \(weight.shape)")
        if let bias { precondition(bias.shape == [outF], "linear: bias \(bias.shape) must be [\(outF)]") }
        let rows = x.count / Swift.max(inF, 1)
        let outShape = Array(x.shape.dropLast()) + [outF]
        let out = Tensor.empty(outShape)
        let po = out.storage.pointer
        if let bias {
            for r in 0..<rows { (po + r * outF).update(from: bias.storage.pointer, count: outF) }
        }
        BLAS.sgemm(
            transA: false, transB: true, m: rows, n: outF, k: inF,
            a: x.storage.pointer, lda: inF, b: weight.storage.pointer, ldb: inF,
            beta: bias == nil ? 0 : 1, c: po, ldc: outF)
        let dx = x.detach(), dw = weight.detach()
        let needX = x.requiresGrad, needW = weight.requiresGrad
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return Autograd.record("linear", output: out, inputs: inputs) { g in
            var grads: [Tensor?] = []
            if needX {
                let gx = Tensor.empty(dx.shape)
                BLAS.sgemm(transA: false, transB: false, m: rows, n: inF, k: outF,
                           a: g.storage.pointer, lda: outF, b: dw.storage.pointer, ldb: inF,
                           c: gx.storage.pointer, ldc: inF)
                grads.append(gx)
            } else { grads.append(nil) }
            if needW {
                let gw = Tensor.empty(dw.shape)
                BLAS.sgemm(transA: true, transB: false, m: outF, n: inF, k: rows,
                           a: g.storage.pointer, lda: outF, b: dx.storage.pointer, ldb: inF,
                           c: gw.storage.pointer, ldc: inF)
                grads.append(gw)
            } else { grads.append(nil) }
            if bias != nil { grads.append(g.reshape([rows, outF]).sum(dims: [0])) }
            return grads
        }
    }
}
