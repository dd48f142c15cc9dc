/// W3C Baggage: application-defined key/value pairs that travel with a request.
///
/// Values are stored decoded; they are percent-encoded on the wire. Properties (`;k=v` metadata)
/// are kept as written.
public struct Baggage: Sendable, Hashable, CustomStringConvertible {
    public struct Entry: Sendable, Hashable {
        public var key: String
        public var value: String
        /// The entry's properties, as written after its value (without the leading `;`).
        public var properties: [String]

        public init(key: String, value: String, properties: [String] = []) {
            self.key = key
            self.value = value
            self.properties = properties
        }
    }

    /// The entries, in order; keys are unique.
    public private(set) var entries: [Entry]

    /// The number of list members we read and send at most (the grammar's limit; W3C asks for at least 64).
    public static let maxMembers = 180
    /// The header size we read and send at most.
    public static let maxBytes = 8192

    public init(_ entries: [Entry] = []) {
        self.entries = []
        for entry in entries { self.set(entry) }
    }

    public var isEmpty: Bool { self.entries.isEmpty }

    public subscript(key: String) -> String? {
        get { self.entries.first(where: { $0.key == key })?.value }
        set {
            if let newValue { self.set(Entry(key: key, value: newValue)) } else { self.entries.removeAll { $0.key == key } }
        }
    }

    /// Adds or replaces an entry. Keys must be HTTP tokens; others are ignored.
    public mutating func set(_ entry: Entry) {
        guard !entry.key.isEmpty, entry.key.utf8.allSatisfy(isTokenChar) else { return }
        if let index = self.entries.firstIndex(where: { $0.key == entry.key }) {
            self.entries[index] = entry
        } else {
            self.entries.append(entry)
        }
    }

    /// Parses a `baggage` header. Invalid members are skipped; at most ``maxMembers`` members and
    /// the first ``maxBytes`` bytes are read, never a partial member.
    public init(header: String) {
        self.entries = []
        var budget = Self.maxBytes
        for rawMember in header.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            budget -= rawMember.count + 1
            if budget < -1 || self.entries.count >= Self.maxMembers { break }
            let member = Substring(rawMember).trimmingOWS()
            guard !member.isEmpty, let entry = Self.parseMember(member) else { continue }
            self.set(entry)
        }
    }

    private static func parseMember(_ member: Substring) -> Entry? {
        var parts = member.split(separator: ";", omittingEmptySubsequences: false)
        let pair = parts.removeFirst()
        guard let equals = pair.firstIndex(of: "=") else { return nil }
        let key = pair[..<equals].trimmingOWS()
        let rawValue = pair[pair.index(after: equals)...].trimmingOWS()
        guard !key.isEmpty, key.utf8.allSatisfy(isTokenChar),
            rawValue.utf8.allSatisfy({ isBaggageOctet($0) || $0 == UInt8(ascii: "%") }),
            let value = percentDecode(rawValue)
        else { return nil }
        var properties: [String] = []
        for rawProperty in parts {
            let property = rawProperty.trimmingOWS()
            let propertyKey = property.split(separator: "=", maxSplits: 1).first?.trimmingOWS() ?? ""
            guard !propertyKey.isEmpty, propertyKey.utf8.allSatisfy(isTokenChar) else { return nil }
            properties.append(String(property))
        }
        return Entry(key: String(key), value: value, properties: properties)
    }

    /// The header value to send: whole members only, within ``maxMembers`` and ``maxBytes``.
    public var headerValue: String {
        var result = ""
        var count = 0
        for entry in self.entries {
            var member = entry.key + "=" + percentEncode(entry.value)
            for property in entry.properties { member += ";" + property }
            let added = member.utf8.count + (result.isEmpty ? 0 : 1)
            guard count < Self.maxMembers, result.utf8.count + added <= Self.maxBytes else { continue }
            result += result.isEmpty ? member : "," + member
            count += 1
        }
        return result
    }

    public var description: String { self.headerValue }
}

/// RFC 7230 `tchar`.
@inline(__always)
func isTokenChar(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
        true
    default:
        Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
    }
}

/// W3C Baggage `baggage-octet`: printable ASCII except space, `"`, `,`, `;` and `\`.
@inline(__always)
func isBaggageOctet(_ byte: UInt8) -> Bool {
    byte == 0x21 || (0x23...0x2B).contains(byte) || (0x2D...0x3A).contains(byte) || (0x3C...0x5B).contains(byte)
        || (0x5D...0x7E).contains(byte)
}

/// Decodes `%XX` escapes as UTF-8; `nil` for a broken escape or invalid UTF-8.
func percentDecode(_ text: Substring) -> String? {
    guard text.utf8.contains(UInt8(ascii: "%")) else { return String(text) }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.utf8.count)
    var iterator = text.utf8.makeIterator()
    while let byte = iterator.next() {
        if byte == UInt8(ascii: "%") {
            guard let high = iterator.next().flatMap(hexValueAnyCase), let low = iterator.next().flatMap(hexValueAnyCase)
            else { return nil }
            bytes.append(high << 4 | low)
        } else {
            bytes.append(byte)
        }
    }
    return String(validating: bytes, as: UTF8.self)
}

/// Percent-encodes every byte that is not a baggage octet, and `%` itself.
func percentEncode(_ text: String) -> String {
    guard !text.utf8.allSatisfy({ isBaggageOctet($0) && $0 != UInt8(ascii: "%") }) else { return text }
    var bytes: [UInt8] = []
    for byte in text.utf8 {
        if isBaggageOctet(byte) && byte != UInt8(ascii: "%") {
            bytes.append(byte)
        } else {
            let digits = Array("0123456789ABCDEF".utf8)
            bytes += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 0xF)]]
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

private func hexValueAnyCase(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: hexValue(byte)
    }
}
