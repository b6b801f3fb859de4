/// The header dictionary of a `.npy` file, a Python literal such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
///
/// The parser accepts exactly this form: a dictionary of the three keys (each once, any order)
/// whose values are a string, a boolean and a tuple of non-negative integers; anything else is an
/// `invalidHeader` problem naming what was found. Nothing is evaluated.
struct NumPyHeader {
    var descr: String
    var fortranOrder: Bool
    var shape: [Int]

    enum Value {
        case string(String)
        case bool(Bool)
        case tuple([Int])
    }

    static func parse(_ text: String) throws(NumPyError.Problem) -> NumPyHeader {
        var scanner = Scanner(Array(text.utf8))
        var entries: [String: Value] = [:]
        scanner.skipSpaces()
        try scanner.expect(UInt8(ascii: "{"))
        while true {
            scanner.skipSpaces()
            if scanner.peek == UInt8(ascii: "}") { scanner.index += 1; break }
            let key = try scanner.string()
            scanner.skipSpaces()
            try scanner.expect(UInt8(ascii: ":"))
            scanner.skipSpaces()
            let value = try scanner.value(for: key)
            guard entries.updateValue(value, forKey: key) == nil else { throw .invalidHeader("the key '\(key)' appears twice") }
            scanner.skipSpaces()
            if scanner.peek == UInt8(ascii: ",") { scanner.index += 1; continue }
            try scanner.expect(UInt8(ascii: "}"))
            break
        }
        scanner.skipSpaces()
        guard scanner.index == scanner.bytes.count else { throw .invalidHeader("text after the dictionary") }
        let known: Set = ["descr", "fortran_order", "shape"]
        if let extra = entries.keys.sorted().first(where: { !known.contains($0) }) {
            throw .invalidHeader("unknown key '\(extra)' (expected descr, fortran_order, shape)")
        }
        guard case .string(let descr)? = entries["descr"] else { throw .invalidHeader("'descr' must be a dtype string") }
        guard case .bool(let fortran)? = entries["fortran_order"] else { throw .invalidHeader("'fortran_order' must be True or False") }
        guard case .tuple(let shape)? = entries["shape"] else { throw .invalidHeader("'shape' must be a tuple of integers") }
        return NumPyHeader(descr: descr, fortranOrder: fortran, shape: shape)
    }

    /// The header text NumPy writes (without padding).
    static func render(descr: String, shape: [Int]) -> String {
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        return "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(dims), }"
    }

    struct Scanner {
        let bytes: [UInt8]
        var index = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipSpaces() {
            while let c = peek, c == 0x20 || c == 0x0A || c == 0x09 || c == 0x0D { index += 1 }
        }

        mutating func expect(_ c: UInt8) throws(NumPyError.Problem) {
            guard peek == c else {
                let found = peek.map { "'\(Character(Unicode.Scalar($0)))'" } ?? "the end"
                throw .invalidHeader("expected '\(Character(Unicode.Scalar(c)))' at offset \(index), found \(found)")
            }
            index += 1
        }

        mutating func string() throws(NumPyError.Problem) -> String {
            guard let quote = peek, quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") else {
                throw .invalidHeader("expected a quoted string at offset \(index)")
            }
            index += 1
            let start = index
            while let c = peek, c != quote {
                guard c != UInt8(ascii: "\\") else { throw .invalidHeader("escapes in strings are not supported (offset \(index))") }
                index += 1
            }
            guard peek == quote else { throw .invalidHeader("unterminated string at offset \(start - 1)") }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            index += 1
            return text
        }

        mutating func value(for key: String) throws(NumPyError.Problem) -> Value {
            switch peek {
            case UInt8(ascii: "'"), UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "("): return .tuple(try tuple())
            case UInt8(ascii: "["):
                throw .invalidHeader("'\(key)' is a list: structured dtypes are not supported")
            default:
                for (word, value) in [("True", true), ("False", false)] where bytes[index...].starts(with: word.utf8) {
                    index += word.utf8.count
                    return .bool(value)
                }
                throw .invalidHeader("unexpected value for '\(key)' at offset \(index)")
            }
        }

        mutating func tuple() throws(NumPyError.Problem) -> [Int] {
            try expect(UInt8(ascii: "("))
            var dims: [Int] = []
            while true {
                skipSpaces()
                if peek == UInt8(ascii: ")") { index += 1; return dims }
                dims.append(try integer())
                skipSpaces()
                if peek == UInt8(ascii: ",") { index += 1; continue }
                try expect(UInt8(ascii: ")"))
                return dims
            }
        }

        mutating func integer() throws(NumPyError.Problem) -> Int {
            let start = index
            var negative = false
            if peek == UInt8(ascii: "-") { negative = true; index += 1 }
            var value = 0
            var digits = 0
            while let c = peek, c >= 0x30, c <= 0x39 {
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(Int(c - 0x30))
                guard !o1, !o2 else { throw .invalidHeader("dimension at offset \(start) does not fit a 64-bit integer") }
                value = s
                digits += 1
                index += 1
            }
            if peek == UInt8(ascii: "L") { index += 1 }
            guard digits > 0 else { throw .invalidHeader("expected an integer at offset \(start)") }
            return negative ? -value : value
        }
    }
}
