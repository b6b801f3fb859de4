import Foundation
import Testing
import TensorEngine

@testable import Conformance

/// Case files from outside: the JSON parser's nesting limit, and inputs the fuzzer
/// (`scripts/fuzz.sh`, target FuzzConformanceCase) found crashing, kept as regressions.
@Suite struct HostileCaseTests {
    @Test func nestingPastTheLimitIsAnErrorNotAStackOverflow() throws {
        let ok = String(repeating: "[", count: 128) + String(repeating: "]", count: 128)
        _ = try JSON.parse(Data(ok.utf8))
        for deep in [String(repeating: "[", count: 129), String(repeating: "{\"a\":", count: 100_000), String(repeating: "[{\"k\":", count: 200)] {
            do {
                _ = try JSON.parse(Data(deep.utf8))
                Issue.record("nesting of \(deep.count) bytes parsed")
            } catch let error as JSONParseError {
                #expect(error.message == "arrays and objects nested deeper than the limit of 128")
            }
        }
    }

    /// `\uD800` followed by an escape that is not a low surrogate used to overflow `UInt32`.
    @Test func loneHighSurrogates() throws {
        #expect(try JSON.parse(Data(#""\uD800\u0000""#.utf8)) == .string("\u{FFFD}"))
        #expect(try JSON.parse(Data(#""\ud83d\ude00""#.utf8)) == .string("😀"))
        #expect(try JSON.parse(Data(#""\uDBFF\uFFFF""#.utf8)) == .string("\u{FFFD}"))
    }

    /// Recorded tensors whose shapes are not dimensions: a typed error, never a trap.
    @Test func recordedTensorsWithHostileShapes() throws {
        let cases: [(String, String)] = [
            (#"{"shape": [1e300], "data": [1]}"#, "tensor shape [1e+300] is not a list of dimensions in 0...268435456"),
            (#"{"shape": [NaN], "data": [1]}"#, "tensor shape [nan] is not a list of dimensions in 0...268435456"),
            (#"{"shape": [-1, -1], "data": [1]}"#, "tensor shape [-1, -1] is not a list of dimensions in 0...268435456"),
            (#"{"shape": [2.5], "data": [1, 2]}"#, "tensor shape [2.5] is not a list of dimensions in 0...268435456"),
            (#"{"shape": [65536, 65536], "data": [1]}"#,
             "tensor exceeds the limit on elements per tensor (268435456): the shape [65536, 65536] has 4294967296"),
            (#"{"shape": [268435456, 268435456, 268435456], "data": [1]}"#,
             "tensor exceeds the limit on elements per tensor (268435456): the shape [268435456, 268435456, 268435456] has more than 9223372036854775807"),
        ]
        for (text, message) in cases {
            let json = try JSON.parse(Data(text.utf8))
            #expect(json.description.hasPrefix("tensor["))
            do {
                _ = try Records.tensor(json)
                Issue.record("\(text) was read")
            } catch ReplayError.malformed(let m) {
                #expect(m == message)
            }
        }
    }
}
