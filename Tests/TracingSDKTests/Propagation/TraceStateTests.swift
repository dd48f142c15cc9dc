import Testing
import Tracing
@testable import TracingSDK

@Suite("tracestate")
struct TraceStateTests {
    // The grammar quoted in these test names is W3C Trace Context Level 2,
    // spec/20-http_request_header_format.md, "Key" and "Value" (w3c/trace-context, main).

    @Test(
        "list = list-member 0*31( OWS \",\" OWS list-member ); list-member = OWS",
        arguments: [
            ("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", ["rojo", "congo"]),
            ("rojo=00f067aa0ba902b7 , , congo=t61rcWkgMzE", ["rojo", "congo"]),  // OWS and empty members
            ("k=value with spaces", ["k"]),
            ("", []),
        ]
    )
    func list(header: String, keys: [String]) throws {
        let state = try #require(TraceState(header: header))
        #expect(state.entries.map(\.key) == keys)
    }

    @Test(
        "key = ( lcalpha / DIGIT ) 0*255 ( keychar ); keychar = lcalpha / DIGIT / \"_\" / \"-\" / \"*\" / \"/\" / \"@\"",
        arguments: [
            "tenant1@vendor", "a_-*/9", "9tenant@v", "9abc", "foo@", "foo@@bar", "foo@bar@baz",
            "t@vendor1234567890",  // a system part longer than Level 1's 14 characters
            String(repeating: "t", count: 241) + "@" + String(repeating: "v", count: 14),
            String(repeating: "t", count: 242) + "@v",  // a tenant part longer than Level 1's 241
            String(repeating: "k", count: 256),
            "1", "a", "z@",
        ]
    )
    func validKey(key: String) throws {
        let state = try #require(TraceState(header: "\(key)=1,other=2"), "key \(key)")
        #expect(state.entries.map(\.key) == [key, "other"])
        #expect(state.headerValue == "\(key)=1,other=2")
        var written = TraceState()
        let accepted = written.set(key, "x")
        #expect(accepted)
    }

    @Test(
        "a key MUST begin with a lowercase letter or a digit and contain up to 256 characters",
        arguments: [
            "@foo", "@", "Rojo", "rOjo", "t@Vendor", "_k", "-k", "*k", "/k", "k.k", "k k", "k+",
            String(repeating: "k", count: 257),
        ]
    )
    func invalidKey(key: String) {
        #expect(TraceState(header: "\(key)=1") == nil, "key \(key)")
        #expect(TraceState(header: "ok=1,\(key)=1") == nil, "key \(key)")
        var written = TraceState()
        let accepted = written.set(key, "x")
        #expect(!accepted)
        #expect(written.isEmpty)
    }

    @Test(
        "value = 0*255(chr) nblk-chr; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E; chr = %x20 / nblk-chr",
        arguments: [
            "rojo",  // no value
            "rojo=",  // empty value
            "rojo=a\tb",  // a tab inside a value
            "rojo=a,b",  // member without "="
            "k=a=b",  // "=" in a value
            "k=\u{7f}",  // control character
            "k=" + String(repeating: "v", count: 257),
            (0..<33).map { "k\($0)=v" }.joined(separator: ","),  // "There can be a maximum of 32 list-members"
        ]
    )
    func invalid(header: String) {
        #expect(TraceState(header: header) == nil)
    }

    @Test(
        "Only one entry per key is allowed: a repeated key keeps its first entry, the header is not dropped",
        arguments: [
            ("foo=1,foo=1", "foo=1"),
            ("foo=1,foo=2", "foo=1"),
            ("a=1,foo=1,b=2,foo=2,a=3", "a=1,foo=1,b=2"),
        ]
    )
    func duplicateKeys(header: String, sent: String) throws {
        let state = try #require(TraceState(header: header))
        #expect(state.headerValue == sent)
    }

    @Test("failure to parse tracestate MUST NOT affect the parsing of traceparent")
    func duplicatesKeepTheTraceParent() throws {
        let propagator = W3CTraceContextPropagator()
        for tracestate in ["foo=1,foo=1", "foo=1,foo=2", "@bad=1"] {
            var context = InstrumentationContext.topLevel
            let carrier = ["traceparent": "00-12345678901234567890123456789012-1234567890123456-00", "tracestate": tracestate]
            propagator.extract(carrier, into: &context, using: DictionaryExtractor())
            let spanContext = try #require(context.spanContext, "tracestate \(tracestate)")
            #expect(spanContext.traceID.description == "12345678901234567890123456789012")
            #expect(spanContext.traceState.headerValue == (tracestate == "@bad=1" ? "" : "foo=1"))
        }
    }

    @Test("32 members are fine")
    func thirtyTwo() {
        #expect(TraceState(header: (0..<32).map { "k\($0)=v" }.joined(separator: ","))?.entries.count == 32)
    }

    @Test("propagates at most 512 characters: large entries go first, longest first, then from the end")
    func truncation() throws {
        let large1 = "big1=" + String(repeating: "a", count: 150)  // 155 characters
        let large2 = "big2=" + String(repeating: "b", count: 200)  // 205 characters
        let small = (0..<20).map { "s\($0)=" + String(repeating: "c", count: 20) }  // 23 or 24 each
        let header = ([large1] + small.prefix(10) + [large2] + small.suffix(10)).joined(separator: ",")
        let state = try #require(TraceState(header: header))
        let sent = state.headerValue
        #expect(sent.utf8.count <= 512)
        // Both large entries must go before any small one (the small ones alone fit in 512).
        #expect(!sent.contains("big1=") && !sent.contains("big2="))
        #expect(sent == small.joined(separator: ","))

        let many = (0..<30).map { "k\($0)=" + String(repeating: "x", count: 20) }
        let trimmed = try #require(TraceState(header: many.joined(separator: ","))).headerValue
        #expect(trimmed.utf8.count <= 512)
        #expect(trimmed == many.prefix(trimmed.split(separator: ",").count).joined(separator: ","))
        #expect(trimmed.split(separator: ",").count == 20)
    }

    @Test("set moves an entry to the front")
    func set() throws {
        var state = try #require(TraceState(header: "a=1,b=2"))
        let updated = state.set("b", "3")
        #expect(updated)
        #expect(state.headerValue == "b=3,a=1")
        let rejected = state.set("B", "x")
        #expect(!rejected)
    }
}
