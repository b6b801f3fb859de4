import Graph
import NN
import TensorEngine

/// Gemm and MatMul. A product by a constant matrix becomes a `Linear` module (weight
/// `[out, in]`), absorbing the bias: Gemm's `C`, or the `Add` of a 1-D initializer that is the
/// product's only reader (how TorchScript exports `nn.Linear` on inputs of rank 3 and more:
/// `MatMul(x, Transpose(weight)) + bias`, the module named after the bias).
extension GraphImporter {
    mutating func gemm(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow(["alpha", "beta", "transA", "transB"])
        try c.expectInputs(2...3)
        guard try c.int("transA", 0) == 0 else { throw c.attributeError("transA", "only 0 is supported") }
        let transB = try c.int("transB", 0)
        guard transB == 0 || transB == 1 else { throw c.attributeError("transB", "\(transB) must be 0 or 1") }
        let alpha = try c.float("alpha", 1), beta = try c.float("beta", 1)
        let (vx, xs) = try runtime(c, 0)
        let b = try constant(c, 1, "B")
        guard xs.count == 2, b.shape.count == 2, b.isFloat else { throw c.shapeError("A \(xs) and B \(b.shape) must be 2-D float matrices") }
        var weight = b.tensor
        if transB == 0 { weight = weight.t.contiguous() * 1 }
        let (n, k) = (weight.shape[0], weight.shape[1])
        guard xs[1] == k else { throw c.shapeError("A \(xs) and B \(b.shape) (transB=\(transB)) have different inner dimensions") }
        if alpha != 1 { weight = weight * alpha }
        var bias: Tensor?
        if c.inputName(2) != nil {
            let cv = try constant(c, 2, "C")
            guard cv.isFloat, cv.count == n || cv.count == 1, cv.shape.reduce(1, *) == cv.count,
                  (try? broadcast(c, [xs[0], n], cv.shape)) == [xs[0], n], cv.shape.last == n || cv.count == 1 else {
                throw c.shapeError("C \(cv.shape) must be [\(n)], [1, \(n)] or a scalar for output [\(xs[0]), \(n)]")
            }
            let values = cv.count == 1 ? [Float](repeating: cv.tensor.scalars[0], count: n) : cv.tensor.scalars
            bias = Tensor(shape: [n], values) * beta
        }
        let layer = Linear(inFeatures: k, outFeatures: n, bias: bias != nil)
        layer.weight.assign(weight)
        if let bias { layer.bias!.assign(bias) }
        let path = modulePath(c, weight: c.inputName(1), opName: "linear")
        return [call(path, layer, vx, shape: [xs[0], n])]
    }

    /// The shape of `a @ b` (NumPy `matmul` rules), or a shape error naming both.
    func matmulShape(_ c: NodeContext, _ a: [Int], _ b: [Int]) throws -> [Int] {
        guard !a.isEmpty, !b.isEmpty else { throw c.shapeError("matmul of a scalar: shapes \(a) and \(b)") }
        let a2 = a.count == 1 ? [1] + a : a, b2 = b.count == 1 ? b + [1] : b
        guard a2[a2.count - 1] == b2[b2.count - 2] else { throw c.shapeError("inner dimensions differ: \(a) @ \(b)") }
        var shape = try broadcast(c, Array(a2.dropLast(2)), Array(b2.dropLast(2))) + [a2[a2.count - 2], b2[b2.count - 1]]
        if a.count == 1 { shape.remove(at: shape.count - 2) }
        if b.count == 1 { shape.removeLast() }
        return shape
    }

    mutating func matMul(_ c: NodeContext) throws -> [ImportValue] {
        try c.allow([])
        try c.expectInputs(2...2)
        let a = try input(c, 0), b = try input(c, 1)
        let shape = try matmulShape(c, a.shape, b.shape)
        if case .const(let x, _) = a, case .const(let y, _) = b {
            return [.const(ConstValue(x.tensor.matmul(y.tensor)), initializer: nil)]
        }
        if case .const(let w, let name) = b, w.isFloat, w.shape.count == 2, a.shape.count >= 2, !a.isConst {
            let (vx, _) = try runtime(c, 0)
            let (k, n) = (w.shape[0], w.shape[1])
            let fusedBias = biasAddAfter(c)
            let layer = Linear(inFeatures: k, outFeatures: n, bias: fusedBias != nil)
            layer.weight.assign(w.tensor.t.contiguous() * 1)
            if let (_, bias) = fusedBias { layer.bias!.assign(bias.tensor) }
            let path = modulePath(c, weight: fusedBias?.0 ?? name, opName: "linear")
            let result = call(path, layer, vx, shape: shape)
            if fusedBias != nil, let output = c.node.output.first { fusedMatMuls[output] = result }
            return [result]
        }
        let (va, _) = try runtime(c, 0), (vb, _) = try runtime(c, 1)
        return [emit(.matmul, [va, vb], shape: shape)]
    }

    /// The bias of `Add(matmul, b)` when that Add is the only reader of this MatMul's output and
    /// `b` is a 1-D float initializer of the output width: `(name, value)`.
    func biasAddAfter(_ c: NodeContext) -> (String, ConstValue)? {
        guard let out = c.node.output.first, !out.isEmpty else { return nil }
        let readers = model.graph.node.filter { $0.input.contains(out) }
        guard readers.count == 1, readers[0].opType == "Add", readers[0].input.count == 2,
              readers[0].attribute.isEmpty, !model.graph.output.contains(where: { $0.name == out }) else { return nil }
        let other = readers[0].input[0] == out ? readers[0].input[1] : readers[0].input[0]
        guard other != out, case .const(let b, let name?)? = values[other], b.isFloat, b.shape.count == 1,
              case .const(let w, _)? = values[c.node.input[1]], b.shape[0] == w.shape.last else { return nil }
        return (name, b)
    }
}
