import Testing

@testable import TensorEngine

/// ``InputLimits``: checked element counts (no trap on overflow) and the JSON depth scan.
@Suite struct InputLimitsTests {
    @Test func elementCountTable() throws {
        #expect(try InputLimits.elementCount([]) == 1)
        #expect(try InputLimits.elementCount([2, 3, 4]) == 24)
        #expect(try InputLimits.elementCount([1 << 20, 0, 1 << 8]) == 0)
        #expect(try InputLimits.elementCount([1 << 28]) == 1 << 28)
        let cases: [([Int], InputLimitExceeded)] = [
            ([(1 << 28) + 1], InputLimitExceeded(limit: "elements per tensor", value: 1 << 28, found: "the shape [268435457] has 268435457")),
            ([1 << 32, 1 << 32], InputLimitExceeded(limit: "elements per tensor", value: 1 << 28,
                                                    found: "the shape [4294967296, 4294967296] has more than 9223372036854775807")),
            ([2, -3], InputLimitExceeded(limit: "the smallest dimension", value: 0, found: "the shape [2, -3] has a negative dimension")),
            ([Int](repeating: 1, count: 65), InputLimitExceeded(limit: "tensor rank", value: 64, found: "a shape of 65 dimensions")),
        ]
        for (shape, expected) in cases {
            #expect(throws: expected) { try InputLimits.elementCount(shape) }
        }
        // A zero dimension makes the count 0, but the others must still multiply within the limit
        // (the strides of the shape are their products). Found by FuzzIDX: an IDX file of
        // dimensions [0x0b0c0600, 0x00030800, 0x000606b7, ..., 0] trapped in `Tensor.empty`.
        #expect(throws: InputLimitExceeded(limit: "elements per tensor", value: 1 << 28,
                                           found: "the nonzero dimensions of the shape [9223372036854775807, 9223372036854775807, 0, 1] multiply to more than 9223372036854775807")) {
            try InputLimits.elementCount([Int.max, Int.max, 0, 1])
        }
    }

    @Test func messagesNameTheLimitAndItsValue() {
        let e = InputLimitExceeded(limit: "graph nodes", value: 100_000, found: "nodes: 100001")
        #expect(e.description == "exceeds the limit on graph nodes (100000): nodes: 100001")
    }

    @Test func jsonDepthIgnoresBracketsInStrings() throws {
        #expect(InputLimits.jsonDepth(Array("{}".utf8)) == 1)
        #expect(InputLimits.jsonDepth(Array(#"{"a": [1, {"b": "[[[[\"]]]"}]}"#.utf8)) == 3)
        #expect(InputLimits.jsonDepth(Array("]]]][[".utf8)) == 2)
        try InputLimits.checkJSONDepth(Array((String(repeating: "[", count: 128) + String(repeating: "]", count: 128)).utf8))
        #expect(throws: InputLimitExceeded(limit: "JSON nesting depth", value: 128, found: "arrays and objects nested 129 deep")) {
            try InputLimits.checkJSONDepth(Array(String(repeating: "[", count: 129).utf8))
        }
    }
}
