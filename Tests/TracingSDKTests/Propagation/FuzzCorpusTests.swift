import Foundation
import Testing

@testable import TracingSDK

@Suite("Fuzz corpus")
struct FuzzCorpusTests {
    /// The seeds of `scripts/fuzz.sh`, and every input the fuzzer ever crashed on (`crash-*`).
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("FuzzCorpus")

    @Test("every input in the fuzz corpus is read within the specs (no crash, no invalid context)")
    func replayCorpus() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path).filter { !$0.hasPrefix(".") }.sorted()
        #expect(files.count >= 10, "the corpus has lost its seeds: \(files)")
        for file in files {
            checkPropagation(Array(try Data(contentsOf: Self.corpus.appendingPathComponent(file))))
        }
    }

    @Test("the self-check accepts a valid context and reads what it holds")
    func selfCheckReads() {
        // A valid traceparent survives the round trip (checkPropagation would trap otherwise).
        checkPropagation([0] + Array("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".utf8))
        #expect(TraceParent.parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") != nil)
    }
}
