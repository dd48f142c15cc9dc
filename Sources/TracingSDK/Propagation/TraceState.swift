/// The W3C `tracestate`: vendor-specific key/value pairs, in order, at most 32.
///
/// Parsing is strict to the W3C Trace Context grammar: a header with an invalid member, a
/// duplicate key or more than 32 members is dropped whole (the `traceparent` stays valid).
public struct TraceState: Sendable, Hashable, CustomStringConvertible {
    /// The members, most recently updated first.
    public private(set) var entries: [(key: String, value: String)]

    public static let maxMembers = 32
    /// The header length we guarantee to propagate; longer states are truncated by whole entries.
    public static let maxPropagatedLength = 512
    /// Entries longer than this go first when truncating.
    public static let largeEntryLength = 128

    public init() { self.entries = [] }

    /// Creates a trace state from members; `nil` when one is invalid, a key repeats, or there are
    /// more than 32.
    public init?(_ entries: [(key: String, value: String)]) {
        guard entries.count <= Self.maxMembers else { return nil }
        var seen = Set<String>()
        for entry in entries {
            guard Self.isValidKey(entry.key), Self.isValidValue(entry.value), seen.insert(entry.key).inserted else {
                return nil
            }
        }
        self.entries = entries
    }

    /// Parses a `tracestate` header value; `nil` when it is invalid.
    public init?(header: String) {
        var entries: [(key: String, value: String)] = []
        for rawMember in header.split(separator: ",", omittingEmptySubsequences: false) {
            let member = rawMember.trimmingOWS()
            if member.isEmpty { continue }  // empty list members are allowed
            guard let equals = member.firstIndex(of: "=") else { return nil }
            let key = String(member[..<equals])
            let value = String(member[member.index(after: equals)...])
            entries.append((key, value))
            if entries.count > Self.maxMembers { return nil }
        }
        self.init(entries)
    }

    public var isEmpty: Bool { self.entries.isEmpty }

    public subscript(key: String) -> String? {
        self.entries.first(where: { $0.key == key })?.value
    }

    /// Sets a member and moves it to the front, as W3C asks of a vendor updating its entry.
    /// - Returns: `false` (and changes nothing) when the key or value is invalid.
    @discardableResult
    public mutating func set(_ key: String, _ value: String) -> Bool {
        guard Self.isValidKey(key), Self.isValidValue(value) else { return false }
        self.entries.removeAll { $0.key == key }
        self.entries.insert((key, value), at: 0)
        if self.entries.count > Self.maxMembers { self.entries.removeLast() }
        return true
    }

    public mutating func remove(_ key: String) {
        self.entries.removeAll { $0.key == key }
    }

    /// The header value to send: at most ``maxPropagatedLength`` characters, truncated by whole
    /// entries (first those over ``largeEntryLength`` characters, longest first; then from the end).
    public var headerValue: String {
        var members = self.entries.map { "\($0.key)=\($0.value)" }
        func length() -> Int { members.reduce(0) { $0 + $1.utf8.count } + max(members.count - 1, 0) }
        while length() > Self.maxPropagatedLength,
            let longest = members.indices.filter({ members[$0].utf8.count > Self.largeEntryLength })
                .max(by: { members[$0].utf8.count < members[$1].utf8.count })
        {
            members.remove(at: longest)
        }
        while length() > Self.maxPropagatedLength { members.removeLast() }
        return members.joined(separator: ",")
    }

    public var description: String { self.headerValue }

    public static func == (lhs: TraceState, rhs: TraceState) -> Bool {
        lhs.entries.elementsEqual(rhs.entries) { $0.key == $1.key && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for entry in self.entries {
            hasher.combine(entry.key)
            hasher.combine(entry.value)
        }
    }

    // MARK: Grammar (W3C Trace Context §3.3.1)

    private static func isKeyChar(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "*"), UInt8(ascii: "/"):
            true
        default: false
        }
    }

    private static func isLowerAlpha(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// `simple-key` or `tenant-id "@" system-id`.
    static func isValidKey(_ key: String) -> Bool {
        let bytes = Array(key.utf8)
        if let at = bytes.firstIndex(of: UInt8(ascii: "@")) {
            let tenant = bytes[..<at]
            let system = bytes[(at + 1)...]
            guard let tenantFirst = tenant.first, let systemFirst = system.first else { return false }
            return tenant.count <= 241 && (isLowerAlpha(tenantFirst) || isDigit(tenantFirst))
                && tenant.allSatisfy(isKeyChar)
                && system.count <= 14 && isLowerAlpha(systemFirst) && system.allSatisfy(isKeyChar)
        }
        guard let first = bytes.first else { return false }
        return bytes.count <= 256 && isLowerAlpha(first) && bytes.allSatisfy(isKeyChar)
    }

    /// `0*255(chr) nblk-chr`: 1 to 256 printable ASCII characters except `,` and `=`, not ending
    /// in a space.
    static func isValidValue(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard let last = bytes.last, bytes.count <= 256, last != 0x20 else { return false }
        return bytes.allSatisfy { byte in
            (byte == 0x20 || (0x21...0x7E).contains(byte)) && byte != UInt8(ascii: ",") && byte != UInt8(ascii: "=")
        }
    }
}

extension StringProtocol {
    /// Drops HTTP optional white space (spaces and tabs) from both ends, looking at UTF-8 bytes only.
    func trimmingOWS() -> Substring {
        let text = Substring(self)
        let utf8 = text.utf8
        var start = utf8.startIndex
        var end = utf8.endIndex
        while start < end, isOWS(utf8[start]) { utf8.formIndex(after: &start) }
        while start < end {
            let last = utf8.index(before: end)
            guard isOWS(utf8[last]) else { break }
            end = last
        }
        return text[start..<end]
    }
}

/// HTTP optional white space: a space or a tab.
@inline(__always)
func isOWS(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
