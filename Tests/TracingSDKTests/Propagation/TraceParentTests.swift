import Testing
@testable import TracingSDK

@Suite("traceparent")
struct TraceParentTests {
    static let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
    static let parentID = "00f067aa0ba902b7"

    @Test(
        "W3C Trace Context parsing cases",
        arguments: [
            // Version 00: exactly 55 characters.
            ("00-\(traceID)-\(parentID)-01", true, TraceFlags.sampled),
            ("00-\(traceID)-\(parentID)-00", true, []),
            ("00-\(traceID)-\(parentID)-03", true, [.sampled, .randomTraceID]),
            ("00-\(traceID)-\(parentID)-ff", true, [.sampled, .randomTraceID]),  // unknown flags ignored
            ("  00-\(traceID)-\(parentID)-01\t", true, .sampled),  // optional white space
            ("00-\(traceID)-\(parentID)-01-", false, []),  // version 00 must end at 55
            ("00-\(traceID)-\(parentID)-01-extra", false, []),
            // Future versions: at least 55 characters, flags followed by the end or "-".
            ("01-\(traceID)-\(parentID)-01", true, .sampled),
            ("cc-\(traceID)-\(parentID)-09-what-the-future-will-be-like", true, .sampled),
            ("cc-\(traceID)-\(parentID)-01x", false, []),
            ("cc-\(traceID)-\(parentID)-0", false, []),
            // Invalid.
            ("ff-\(traceID)-\(parentID)-01", false, []),
            ("00-\(traceID.uppercased())-\(parentID)-01", false, []),
            ("00-\(traceID)-\(parentID.uppercased())-01", false, []),
            ("0A-\(traceID)-\(parentID)-01", false, []),
            ("00-00000000000000000000000000000000-\(parentID)-01", false, []),
            ("00-\(traceID)-0000000000000000-01", false, []),
            ("00-\(traceID)-\(parentID)-0g", false, []),
            ("00_\(traceID)-\(parentID)-01", false, []),
            ("00-\(traceID.dropLast())-\(parentID)0-01", false, []),
            ("00-\(traceID)-\(parentID)", false, []),
            ("", false, []),
            ("00-xyz", false, []),
        ] as [(String, Bool, TraceFlags)]
    )
    func parse(header: String, valid: Bool, flags: TraceFlags) throws {
        let context = TraceParent.parse(header)
        #expect((context != nil) == valid)
        if let context {
            #expect(context.traceID.description == Self.traceID)
            #expect(context.spanID.description == Self.parentID)
            #expect(context.flags == flags)
            #expect(context.isRemote)
        }
    }

    @Test("every byte value in every position of the ids is read as lowercase hex or refused")
    func everyByte() {
        // The parser reads eight digits at once; compare it, byte by byte, with the grammar.
        let valid = Array("0123456789abcdef".utf8)
        let template = Array("00-\(Self.traceID)-\(Self.parentID)-01".utf8)
        let idPositions = Array(3..<35) + Array(36..<52)
        for position in idPositions {
            for byte in UInt8.min...UInt8.max {
                var header = template
                header[position] = byte
                let text = String(decoding: header, as: UTF8.self)
                let context = TraceParent.parse(text)
                guard valid.contains(byte) else {
                    #expect(context == nil, "byte \(byte) at \(position) must be refused")
                    continue
                }
                let expected = String(decoding: header, as: UTF8.self)
                let read = context.map { "00-\($0.traceID)-\($0.spanID)-01" }
                // An all-zero id stays invalid whatever the parser; these ids are never all zero.
                #expect(read == expected, "byte \(byte) at \(position)")
            }
        }
    }

    @Test("re-emits version 00 with the sampled and random flags")
    func format() throws {
        let future = try #require(TraceParent.parse("cc-\(Self.traceID)-\(Self.parentID)-0b-extra"))
        #expect(TraceParent.format(future) == "00-\(Self.traceID)-\(Self.parentID)-03")
        let unsampled = SpanContext(traceID: TraceID(high: 1, low: 2), spanID: SpanID(3))
        #expect(TraceParent.format(unsampled) == "00-00000000000000010000000000000002-0000000000000003-00")
    }

    @Test("ids format as 16 lowercase hex digits, and read back")
    func formatIDs() {
        var generator = SystemRandomNumberGenerator()
        let values: [UInt64] = [0, 1, 0xF, 0x10, 0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210, .max]
            + (0..<1_000).map { _ in generator.next() }
        for value in values {
            let expected = String(repeating: "0", count: 16 - String(value, radix: 16).count) + String(value, radix: 16)
            #expect(SpanID(value).description == expected)
            #expect(SpanID(hexString: expected)?.value == value)
            let context = SpanContext(traceID: TraceID(high: value, low: ~value), spanID: SpanID(value | 1))
            #expect(TraceParent.parse(TraceParent.format(context))?.traceID == context.traceID)
        }
    }

    @Test("ids parse only lowercase hex of the right length")
    func ids() {
        #expect(TraceID(hexString: Self.traceID)?.description == Self.traceID)
        #expect(TraceID(hexString: Self.traceID.uppercased()) == nil)
        #expect(TraceID(hexString: "abc") == nil)
        #expect(SpanID(hexString: Self.parentID)?.description == Self.parentID)
        #expect(SpanID(hexString: "00f067aa0ba902b") == nil)
    }

    @Test("generated ids are never zero and do not repeat")
    func generator() {
        let generator = RandomIDGenerator()
        var traces = Set<TraceID>()
        var spans = Set<SpanID>()
        for _ in 0..<10_000 {
            let traceID = generator.nextTraceID()
            let spanID = generator.nextSpanID()
            #expect(traceID.isValid && spanID.isValid)
            traces.insert(traceID)
            spans.insert(spanID)
        }
        #expect(traces.count == 10_000)
        #expect(spans.count == 10_000)
    }
}
