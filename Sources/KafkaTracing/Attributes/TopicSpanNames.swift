import Locking

/// Span names made from a prefix and a topic (`send orders.created`), made once per topic and
/// read without a lock: a name longer than 15 bytes is not a small string, so concatenating it
/// for every message allocated.
///
/// A fixed set of slots, each set once (the first topic to hash there keeps it for the client's
/// life); a topic that finds its slot taken by another gets its name concatenated, as before.
/// Memory is bounded, and a lookup is a hash of the topic's bytes, one atomic load and a string
/// comparison (by reference when the caller passes the same string each time).
@usableFromInline
final class TopicSpanNames: Sendable {
    private final class Entry: Sendable {
        let topic: String
        let name: String
        init(topic: String, name: String) {
            self.topic = topic
            self.name = name
        }
    }

    static let slotCount = 64

    private let prefix: String
    // (Allocated and initialized in init, deinitialized in deinit: only this class touches it.)
    private nonisolated(unsafe) let slots: UnsafeMutablePointer<SetOnceReference<Entry>>

    init(prefix: String) {
        self.prefix = prefix
        self.slots = .allocate(capacity: Self.slotCount)
        for index in 0..<Self.slotCount { (self.slots + index).initialize(to: SetOnceReference()) }
    }

    deinit {
        self.slots.deinitialize(count: Self.slotCount)
        self.slots.deallocate()
    }

    @usableFromInline
    func name(for topic: String) -> String {
        let slot = self.slots + (Int(truncatingIfNeeded: mix(hashBytes(topic))) & (Self.slotCount - 1))
        if let entry = slot.pointee.load() {
            return entry.topic == topic ? entry.name : self.prefix + topic
        }
        let name = self.prefix + topic
        // (Racing first uses store equal entries, or another topic's: either way this name is right.)
        _ = slot.pointee.storeIfNil(Entry(topic: topic, name: name))
        return name
    }
}
