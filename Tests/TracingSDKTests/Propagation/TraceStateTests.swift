import Testing
@testable import TracingSDK

@Suite("tracestate")
struct TraceStateTests {
    @Test(
        "W3C tracestate grammar",
        arguments: [
            ("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", ["rojo", "congo"]),
            ("rojo=00f067aa0ba902b7 , , congo=t61rcWkgMzE", ["rojo", "congo"]),  // OWS and empty members
            ("tenant1@vendor=x,a_-*/9=y", ["tenant1@vendor", "a_-*/9"]),
            ("9tenant@v=x", ["9tenant@v"]),
            ("k=value with spaces", ["k"]),
            ("", []),
        ]
    )
    func valid(header: String, keys: [String]) throws {
        let state = try #require(TraceState(header: header))
        #expect(state.entries.map(\.key) == keys)
    }

    @Test(
        "invalid tracestate headers are dropped whole",
        arguments: [
            "Rojo=1",  // uppercase key
            "rojo=1,rojo=2",  // duplicate key
            "rojo",  // no value
            "rojo=",  // empty value
            "rojo=a\tb",  // a tab inside a value
            "rojo=a,b",  // member without "="
            "9abc=1",  // simple key must start with a letter
            "t@Vendor=1",  // system id must be lowercase
            "t@vendor1234567890=1",  // system id too long
            "k=a=b",  // "=" in a value
            "k=\u{7f}",  // control character
            (0..<33).map { "k\($0)=v" }.joined(separator: ","),  // 33 members
        ]
    )
    func invalid(header: String) {
        #expect(TraceState(header: header) == nil)
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
