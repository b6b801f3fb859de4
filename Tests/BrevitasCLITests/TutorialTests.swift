import Testing
@testable import BrevitasCLI

@Suite struct TutorialTests {
    /// `brevitas tutorial` runs every notebook cell to the end and prints the notebook's results.
    @Test func tutorialRunsToTheEnd() throws {
        var lines: [String] = []
        try Tutorial.run { lines.append($0) }
        let text = lines.joined(separator: "\n")
        for cell in [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24] {
            #expect(text.contains("Cell [\(cell)]"), "cell \(cell) missing")
        }
        // Cell 5 prints the notebook's first quantized values exactly.
        #expect(text.contains("[-0.4566, -0.5707, -0.5517,  0.5897,  1.5409]"))
        // Cells 11 and 18 end in the two expected errors, explained.
        #expect(text.contains("QuantSigmoid cannot return a QuantTensor"))
        #expect(text.contains("'max_val': required"))
        // Cell 13 and 14: the notebook's conv outputs.
        #expect(text.contains("[1.3134, 1.2557, 1.0392]"))
        #expect(text.contains("[1.3078, 1.2555, 1.0397]"))
        // Cells 21 and 24: per-tensor range about 3, per-channel about 3, 1, 1.
        #expect(text.contains("tensor(2.99"))
        #expect(!text.contains("unexpected"))
    }
}
