import QuantNN
import TensorEngine

/// Conversions between recorded values (`{"shape", "data"}` tensors, `IntQuantTensor` records)
/// and the engine's `Tensor` / `QuantValue`, in both directions (replay.py's `Env.tensor`,
/// `Env.value`, `tj` and `rec`).
enum Records {
    /// A recorded tensor as a `Tensor` (data parsed as float64, then rounded to float32: exact for
    /// the recorded float32 values).
    static func tensor(_ d: JSON) throws -> Tensor {
        guard let dims = d["shape"]?.doubles, let data = d["data"]?.doubles else {
            throw ReplayError.malformed("expected a tensor {shape, data}, got \(d)")
        }
        guard dims.allSatisfy({ $0 >= 0 && $0 <= Double(InputLimits.maxElements) && $0 == $0.rounded() }) else {
            throw ReplayError.malformed("tensor shape \(JSON.shapeText(Array(dims.prefix(8)))) is not a list of dimensions in 0...\(InputLimits.maxElements)")
        }
        let shape = dims.map { Int($0) }
        let n: Int
        do { n = try InputLimits.elementCount(shape) } catch { throw ReplayError.malformed("tensor \(error)") }
        guard n == data.count else {
            throw ReplayError.malformed("tensor of shape \(shape) has \(data.count) elements")
        }
        return Tensor(shape: shape, data.map { Float($0) })
    }

    /// A recorded input: a QuantTensor from its fields, or a plain tensor. The QuantTensor kinds
    /// the product has are read here, one `case` per kind; any other kind is not supported yet.
    static func value(_ d: JSON) throws -> QuantValue {
        switch d.quantKind {
        case nil:
            return .float(try tensor(d))
        case "IntQuantTensor":
            guard let v = d["value"], let s = d["scale"], let z = d["zero_point"], let b = d["bit_width"],
                let signed = d["signed"]?.bool, let training = d["training"]?.bool
            else { throw ReplayError.malformed("incomplete IntQuantTensor record") }
            return .quant(QuantTensor(value: try tensor(v), scale: try tensor(s), zeroPoint: try tensor(z),
                                      bitWidth: try tensor(b), signed: signed, training: training))
        case let kind?:
            throw ReplayError.unsupported("QuantTensor kind \(kind)")
        }
    }

    /// A tensor as a record (`tj`); `nil` is `null`.
    static func record(_ t: Tensor?) -> JSON {
        guard let t else { return .null }
        let o = JSONObject()
        o["shape"] = t.shape.isEmpty ? .array([]) : .numbers(t.shape.map(Double.init))
        let data = t.scalars.map(Double.init)
        o["data"] = data.isEmpty ? .array([]) : .numbers(data)
        return .object(o)
    }

    /// An output as a record (`rec`): a QuantTensor with its metadata, validity and integer
    /// values, or a plain tensor.
    static func record(_ v: QuantValue) -> JSON {
        switch v {
        case .float(let t): return record(t)
        case .quant(let q):
            let o = JSONObject()
            o["kind"] = .string(q.kind.rawValue)
            o["value"] = record(q.value)
            o["scale"] = record(q.scale)
            o["zero_point"] = record(q.zeroPoint)
            if let f = q.minifloat {
                // FloatQuantTensor / GroupwiseFloatQuantTensor (README-formats.md).
                func codes(_ c: [String]?) -> JSON { c.map { .array($0.map(JSON.string)) } ?? .null }
                o["exponent_bit_width"] = record(Tensor(Float(f.exponentBitWidth)))
                o["mantissa_bit_width"] = record(Tensor(Float(f.mantissaBitWidth)))
                o["exponent_bias"] = record(Tensor(Float(f.exponentBias)))
                o["saturating"] = .bool(f.saturating)
                o["inf_values"] = codes(f.infValues)
                o["nan_values"] = codes(f.nanValues)
            } else {
                o["bit_width"] = record(q.bitWidth)
            }
            if let g = q.group {
                o["group_size"] = .number(Double(g.groupSize))
                o["group_dim"] = .number(Double(g.groupDim))
            }
            o["signed"] = .bool(q.signed)
            o["training"] = .bool(q.training)
            let valid = q.isValid
            o["is_valid"] = .bool(valid)
            if valid, q.minifloat != nil, let m = try? q.minifloatValue() { o["minifloat_value"] = record(m) }
            if valid, q.minifloat == nil, let i = try? q.int() { o["int_value"] = record(i) }
            return .object(o)
        }
    }

    /// The values of a recorded tensor or QuantTensor of any kind (its `value`), as float64.
    static func refValue(_ d: JSON) -> [Double] {
        (d.quantKind != nil ? d["value"] : d)?["data"]?.doubles ?? []
    }

    /// `max|x|` of a recorded tensor or QuantTensor (0 for null or empty).
    static func maxAbs(_ d: JSON?) -> Double {
        guard let d, !d.isNull else { return 0 }
        return refValue(d).reduce(0) { Swift.max($0, Swift.abs($1)) }
    }
}
