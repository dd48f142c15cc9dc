import Testing
@testable import TracingSDK

@Suite("baggage")
struct BaggageTests {
    @Test("parses members with white space, properties and percent-encoding")
    func parse() {
        let baggage = Baggage(header: "userId=alice , serverNode = DF%2028 ;ttl=60;flag, isProduction=false,emoji=%F0%9F%98%80")
        #expect(baggage.entries.map(\.key) == ["userId", "serverNode", "isProduction", "emoji"])
        #expect(baggage["serverNode"] == "DF 28")
        #expect(baggage.entries[1].properties == ["ttl=60", "flag"])
        #expect(baggage["emoji"] == "😀")
    }

    @Test("skips invalid members and keeps the rest", arguments: [
        "bad key=1,good=2", "=1,good=2", "novalue,good=2", "k=a\"b,good=2", "k=%zz,good=2", "k=%FF,good=2",
        "k=v;bad prop,good=2",
    ])
    func skipsInvalid(header: String) {
        #expect(Baggage(header: header).entries.map(\.key) == ["good"])
    }

    @Test("encodes values that are not baggage octets, and round-trips them")
    func encode() {
        var baggage = Baggage()
        baggage["user"] = "Zoë, the 100%"
        baggage.set(.init(key: "k", value: "v", properties: ["ttl=5"]))
        #expect(baggage.headerValue == "user=Zo%C3%AB%2C%20the%20100%25,k=v;ttl=5")
        #expect(Baggage(header: baggage.headerValue) == baggage)
    }

    @Test("reads and sends at least 64 members, and at most 8192 bytes of whole members")
    func limits() {
        let many = (0..<64).map { "key\($0)=value\($0)" }.joined(separator: ",")
        #expect(Baggage(header: many).entries.count == 64)

        var big = Baggage()
        for index in 0..<10 { big["k\(index)"] = String(repeating: "v", count: 1000) }
        let header = big.headerValue
        #expect(header.utf8.count <= 8192)
        #expect(header.split(separator: ",").count == 8)  // 8 whole members of 1003 bytes fit, never part of a 9th
        #expect(header.split(separator: ",").allSatisfy { $0.utf8.count == 1003 })

        let huge = String(repeating: "a=b,", count: 5000)
        #expect(Baggage(header: huge).entries.count == 1)  // duplicate keys collapse; reading stops at 8192 bytes
    }
}
