/// The W3C `tracestate`: vendor-specific key/value pairs, in order, at most 32.
///
/// Parsing follows the W3C Trace Context Level 2 grammar (`spec/20-http_request_header_format.md`):
///
///     key     = ( lcalpha / DIGIT ) 0*255 ( keychar )
///     keychar = lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"
///
/// A header with an invalid member or more than 32 members is dropped whole (the `traceparent`
/// stays valid: "failure to parse `tracestate` MUST NOT affect the parsing of `traceparent`").
/// A key that repeats keeps its first entry ("Only one entry per key is allowed"): the header is
/// not dropped for it, and what is sent on has one entry per key.
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

    /// Parses a `tracestate` header value; `nil` when a member is invalid or there are more than
    /// 32. When a key repeats, its first entry is kept and the later ones are left out.
    public init?(header: String) {
        var entries: [(key: String, value: String)] = []
        var members = 0
        for rawMember in header.split(separator: ",", omittingEmptySubsequences: false) {
            let member = rawMember.trimmingOWS()
            if member.isEmpty { continue }  // empty list members are allowed
            guard let equals = member.firstIndex(of: "=") else { return nil }
            let key = String(member[..<equals])
            let value = String(member[member.index(after: equals)...])
            guard Self.isValidKey(key), Self.isValidValue(value) else { return nil }
            members += 1
            if members > Self.maxMembers { return nil }
            // (At most 32 members: a linear search is cheaper than hashing.)
            if entries.contains(where: { $0.key == key }) { continue }
            entries.append((key, value))
        }
        self.entries = entries
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

    // MARK: Grammar (W3C Trace Context Level 2, "Key" and "Value")

    /// `keychar = lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"`
    private static func isKeyChar(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "*"), UInt8(ascii: "/"), UInt8(ascii: "@"):
            true
        default: false
        }
    }

    /// `key = ( lcalpha / DIGIT ) 0*255 ( keychar )`: 1 to 256 characters, the first a lowercase
    /// letter or a digit. (Level 1's `tenant-id "@" system-id` split, with its 241 and 14
    /// character limits, is gone: any number of `@` may appear after the first character.)
    static func isValidKey(_ key: String) -> Bool {
        let bytes = key.utf8
        guard let first = bytes.first, bytes.count <= 256 else { return false }
        let firstIsLowerAlphaOrDigit =
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first)
        return firstIsLowerAlphaOrDigit && bytes.allSatisfy(isKeyChar)
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
