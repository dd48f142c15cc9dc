import Tracing

/// A few attributes in the order they were set, in one array: what a span adds to its
/// ``SpanAttributeTemplate`` (partition, offset, key).
///
/// `SpanAttributes` is a dictionary behind functions that cannot be inlined: each `set` hashes the
/// name into a table allocated for the purpose, and reading it back calls a closure per entry with
/// a copy of it. A span's own attributes are three to six names the instrumentation knows, set
/// once and read once by an exporter: a list does both without hashing and its loops are
/// specialised where they are used. Setting a name already in the list replaces its value (a
/// linear search: meant for a handful of names, not hundreds).
public struct SpanAttributeList: Sendable {
    public typealias Entry = (name: String, value: SpanAttribute)

    @usableFromInline
    var entries: [Entry]

    public init() { self.entries = [] }

    /// An empty list with room for `minimumCapacity` attributes.
    @inlinable
    public init(minimumCapacity: Int) {
        self.entries = []
        self.entries.reserveCapacity(minimumCapacity)
    }

    /// The same attributes, in their dictionary's order.
    public init(_ attributes: SpanAttributes) {
        self.init(minimumCapacity: attributes.count)
        attributes.forEach { name, value in self.entries.append((name, value)) }
    }

    @inlinable
    public var count: Int { self.entries.count }

    @inlinable
    public var isEmpty: Bool { self.entries.isEmpty }

    @inlinable
    public func get(_ name: String) -> SpanAttribute? {
        for entry in self.entries where entry.name == name { return entry.value }
        return nil
    }

    /// Sets, replaces or (with `nil`) removes the attribute `name`.
    @inlinable
    public mutating func set(_ name: String, value: SpanAttribute?) {
        if let index = self.entries.firstIndex(where: { $0.name == name }) {
            if let value { self.entries[index].value = value } else { self.entries.remove(at: index) }
        } else if let value {
            self.entries.append((name, value))
        }
    }

    @inlinable
    public subscript(_ name: String) -> SpanAttribute? {
        get { self.get(name) }
        set { self.set(name, value: newValue) }
    }

    /// Calls `body` with each attribute, in the order they were first set.
    @inlinable
    public func forEach(_ body: (String, SpanAttribute) throws -> Void) rethrows {
        for entry in self.entries { try body(entry.name, entry.value) }
    }

    /// The attributes as `SpanAttributes`.
    public var attributes: SpanAttributes {
        var attributes = SpanAttributes([String: SpanAttribute](minimumCapacity: self.entries.count))
        for entry in self.entries { attributes.set(entry.name, value: entry.value) }
        return attributes
    }
}

extension SpanAttributeList: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, SpanAttribute)...) {
        self.init(minimumCapacity: elements.count)
        for (name, value) in elements { self.set(name, value: value) }
    }
}

extension SpanAttributeList: Equatable {
    /// The same names with the same values, in any order.
    public static func == (lhs: SpanAttributeList, rhs: SpanAttributeList) -> Bool {
        lhs.count == rhs.count && lhs.entries.allSatisfy { rhs.get($0.name) == $0.value }
    }
}

extension SpanAttributes {
    /// Sets each of `list`'s attributes (replacing values of the same names).
    @inlinable
    public mutating func set(contentsOf list: SpanAttributeList) {
        for entry in list.entries { self.set(entry.name, value: entry.value) }
    }

    /// These attributes with `list`'s set over them.
    @inlinable
    public func merging(_ list: SpanAttributeList) -> SpanAttributes {
        var merged = self
        merged.set(contentsOf: list)
        return merged
    }
}
