import Locking

/// Values made once per topic and read without a lock: a fixed set of slots, each set once (the
/// first topic to hash there keeps it for the client's life); a topic that finds its slot taken by
/// another is not in the table, and its caller makes its value as it would without one.
///
/// Memory is bounded, and a lookup is a hash of the topic's bytes, one atomic load and a string
/// comparison (by reference when the caller passes the same string each time).
@usableFromInline
final class TopicTable<Value: Sendable>: Sendable {
    private final class Entry: Sendable {
        let topic: String
        let value: Value
        init(topic: String, value: Value) {
            self.topic = topic
            self.value = value
        }
    }

    static var slotCount: Int { 64 }

    // (Allocated and initialized in init, deinitialized in deinit: only this class touches it.)
    private nonisolated(unsafe) let slots: UnsafeMutablePointer<SetOnceReference<Entry>>

    init() {
        self.slots = .allocate(capacity: Self.slotCount)
        for index in 0..<Self.slotCount { (self.slots + index).initialize(to: SetOnceReference()) }
    }

    deinit {
        self.slots.deinitialize(count: Self.slotCount)
        self.slots.deallocate()
    }

    private func slot(_ topic: String) -> UnsafeMutablePointer<SetOnceReference<Entry>> {
        self.slots + (Int(truncatingIfNeeded: mix(hashBytes(topic))) & (Self.slotCount - 1))
    }

    /// The value kept for `topic`, if its slot holds it.
    func value(for topic: String) -> Value? {
        guard let entry = self.slot(topic).pointee.load(), entry.topic == topic else { return nil }
        return entry.value
    }

    /// Keeps `value` for `topic` if its slot is free. (Racing first uses store equal values, or
    /// another topic's: either way the caller's value is right.)
    func keep(_ value: Value, for topic: String) {
        _ = self.slot(topic).pointee.storeIfNil(Entry(topic: topic, value: value))
    }
}

/// Span names made from a prefix and a topic (`send orders.created`), made once per topic and
/// read without a lock: a name longer than 15 bytes is not a small string, so concatenating it
/// for every message allocated. A topic whose slot another took gets its name concatenated.
@usableFromInline
final class TopicSpanNames: Sendable {
    private let prefix: String
    private let names = TopicTable<String>()

    init(prefix: String) {
        self.prefix = prefix
    }

    @usableFromInline
    func name(for topic: String) -> String {
        if let name = self.names.value(for: topic) { return name }
        let name = self.prefix + topic
        self.names.keep(name, for: topic)
        return name
    }
}
