import CRDKafka
import Locking
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Headers to and from librdkafka's `rd_kafka_headers_t`.
enum RDKafkaHeaders {
    /// A new `rd_kafka_headers_t` holding copies of `headers`, or `nil` when there are none.
    /// The caller owns it until `rd_kafka_produceva` succeeds.
    static func make(_ headers: [KafkaHeader]) -> OpaquePointer? {
        guard !headers.isEmpty else { return nil }
        let list = rd_kafka_headers_new(headers.count)!
        for header in headers {
            // The name through `withCString`, which reads a native string in place: passed as a
            // `String` argument, it was converted with `utf8CString`, an array allocated per header.
            header.key.withCString { name in
                header.withValueBytes { bytes in
                    if let bytes {
                        _ = rd_kafka_header_add(list, name, -1, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1), bytes.count)
                    } else {
                        _ = rd_kafka_header_add(list, name, -1, nil, 0)
                    }
                }
            }
        }
        return list
    }
}

/// A message the poll thread fetched, still librdkafka's: buffered as is, and wrapped in an
/// ``RDKafkaBorrowedMessage`` by the thread that takes it (the application's), so the one object
/// made per message is allocated there, never on the poll thread and freed on another (the two
/// contended for malloc's arena lock on every message when the poll thread made them). Until
/// then it has one owner at a time: the consumer's buffer, or whoever the state machine handed it
/// to; those never handed out are destroyed before the consumer closes.
struct RDKafkaFetchedMessage: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<rd_kafka_message_t>

    var topicPartition: KafkaTopicPartition {
        KafkaTopicPartition(topic: String(cString: rd_kafka_topic_name(self.pointer.pointee.rkt)), partition: self.pointer.pointee.partition)
    }

    func destroy() { rd_kafka_message_destroy(self.pointer) }
}

/// A message the application holds, still librdkafka's: its key, value and headers are read in
/// place from librdkafka's fetch buffer (no copy), and its headers are parsed only when first read
/// (`rd_kafka_message_headers` allocates a header list, even for a record without headers). One
/// object per message; librdkafka's message is destroyed when the last copy of the
/// ``KafkaConsumerMessage`` holding it goes.
///
/// It keeps the consumer's handle alive (``RDKafkaHandleKeeper``): librdkafka's `rd_kafka_destroy`
/// waits for every message to be destroyed, so the handle is destroyed when the consumer has
/// closed *and* the last held message is released. A held message also keeps the fetch buffer it
/// came in alive (shared by the messages of one fetch response).
final class RDKafkaBorrowedMessage: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<rd_kafka_message_t>
    /// Held only to keep the handle alive as long as this message.
    private let keeper: RDKafkaHandleKeeper
    /// 0: headers not parsed yet; 1: one thread is parsing them; 2: parsed (``parsedHeaders`` is
    /// written, and never again). librdkafka caches the list in its message, but its first call
    /// writes it there without a lock, so two threads reading one message's headers for the first
    /// time must not both call it.
    private let headerState = Atomic<Int>(0)
    @exclusivity(unchecked) private nonisolated(unsafe) var parsedHeaders: OpaquePointer?

    init(_ fetched: RDKafkaFetchedMessage, keeper: RDKafkaHandleKeeper) {
        self.pointer = fetched.pointer
        self.keeper = keeper
    }

    deinit {
        // The header list was allocated by the thread that read the headers (usually this one):
        // freed here, not with the message on the poll thread, where glibc would take this
        // thread's arena lock for each of its blocks while this thread allocates from it.
        if self.headerState.load(ordering: .acquiring) == 2, self.parsedHeaders != nil {
            var list: OpaquePointer?
            if rd_kafka_message_detach_headers(self.pointer, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list {
                rd_kafka_headers_destroy(list)
            }
        }
        // Destroyed by the consumer's poll thread (see ``RDKafkaHandleKeeper/release(_:)``).
        self.keeper.release(self.pointer)
    }

    var keyCount: Int { self.pointer.pointee.key == nil ? -1 : self.pointer.pointee.key_len }
    var valueCount: Int { self.pointer.pointee.payload == nil ? -1 : self.pointer.pointee.len }

    func withKey<R>(_ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        let m = self.pointer.pointee
        return try body(m.key.map { UnsafeRawBufferPointer(start: $0, count: m.key_len) })
    }

    func withValue<R>(_ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        let m = self.pointer.pointee
        return try body(m.payload.map { UnsafeRawBufferPointer(start: $0, count: m.len) })
    }

    /// librdkafka's parsed header list, parsed on the first call; `nil` when there are none.
    private var headerList: OpaquePointer? {
        if self.headerState.load(ordering: .acquiring) == 2 { return self.parsedHeaders }
        if self.headerState.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged {
            var list: OpaquePointer?
            if rd_kafka_message_headers(self.pointer, &list) == RD_KAFKA_RESP_ERR_NO_ERROR { self.parsedHeaders = list }
            self.headerState.store(2, ordering: .releasing)
            return self.parsedHeaders
        }
        // Another thread is parsing (a few hundred nanoseconds).
        while self.headerState.load(ordering: .acquiring) != 2 { sched_yield() }
        return self.parsedHeaders
    }

    var headerCount: Int {
        guard let list = self.headerList else { return 0 }
        return rd_kafka_header_cnt(list)
    }

    /// Calls `body` with each header in order, in place; stops when it returns `false`.
    func forEachHeader(_ body: (KafkaMessagePayload.RawHeader) throws -> Bool) rethrows {
        guard let list = self.headerList else { return }
        for index in 0..<rd_kafka_header_cnt(list) {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            guard rd_kafka_header_get_all(list, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR, let name
            else { continue }
            let header = KafkaMessagePayload.RawHeader(
                key: UnsafeRawBufferPointer(start: name, count: strlen(name)),
                value: value.map { UnsafeRawBufferPointer(start: $0, count: size) }
            )
            guard try body(header) else { return }
        }
    }
}

/// Keeps a consumer's librdkafka handle alive while the application holds messages of it: the
/// consumer holds one reference until it has closed, and each ``RDKafkaBorrowedMessage`` one.
/// When the consumer is the last holder it destroys the handle itself, on its poll thread;
/// otherwise the last message released drops the last reference, and the handle is destroyed on
/// a thread of its own (`rd_kafka_destroy` blocks until librdkafka's threads end, which must
/// never happen on Swift's cooperative pool nor on one of librdkafka's own threads).
///
/// It also collects the messages the application is done with, for the poll thread to destroy
/// (``destroyReleased()``): librdkafka's messages are allocated on its threads and the poll thread,
/// and freeing them on the application's threads made those threads contend for the allocator's
/// arena locks (perf of the raw consumer), besides costing the application's thread the destroy.
final class RDKafkaHandleKeeper: Sendable {
    let client: RDKafkaClient
    private let released = Locked(Released())

    private struct Released: @unchecked Sendable {
        // (Pointers to librdkafka's messages, only destroyed once taken out under the lock.)
        var messages: [UnsafeMutablePointer<rd_kafka_message_t>] = []
    }

    init(client: RDKafkaClient) {
        self.client = client
    }

    /// Takes a message the application is done with, to be destroyed by ``destroyReleased()``.
    func release(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
        self.released.withLock { $0.messages.append(message) }
    }

    /// Destroys the messages released so far (the poll thread, once per loop; the handle's
    /// destroy waits for every message, so also before it).
    func destroyReleased() {
        let messages = self.released.withLock { released -> [UnsafeMutablePointer<rd_kafka_message_t>] in
            guard !released.messages.isEmpty else { return [] }
            // Swapped for an array of the same capacity: appending never grows it in steady state.
            var taken: [UnsafeMutablePointer<rd_kafka_message_t>] = []
            taken.reserveCapacity(released.messages.capacity)
            swap(&taken, &released.messages)
            return taken
        }
        for message in messages { rd_kafka_message_destroy(message) }
    }

    deinit {
        self.destroyReleased()
        guard !self.client.isDestroyed else { return }
        let client = self.client
        startPollThread(name: "\(client.name) destroy") { client.destroy() }
    }
}

/// A topic-partition list built from Swift and freed when the closure returns.
enum RDKafkaTopicPartitionList {
    static func with<R>(
        _ entries: [(topic: String, partition: Int32, offset: Int64)],
        _ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) throws -> R
    ) rethrows -> R {
        let list = rd_kafka_topic_partition_list_new(Int32(entries.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for entry in entries {
            rd_kafka_topic_partition_list_add(list, entry.topic, entry.partition)!.pointee.offset = entry.offset
        }
        return try body(list)
    }

    /// The (topic, partition) pairs of a librdkafka list.
    static func read(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) -> [KafkaTopicPartition] {
        guard let list else { return [] }
        return (0..<Int(list.pointee.cnt)).map { index in
            let element = list.pointee.elems[index]
            return KafkaTopicPartition(topic: String(cString: element.topic), partition: element.partition)
        }
    }
}

/// A partition of a topic.
public struct KafkaTopicPartition: Sendable, Hashable, CustomStringConvertible, Comparable {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(self.topic)[\(self.partition)]" }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }
}

/// A rebalance as librdkafka reports it to the consumer.
struct RDKafkaRebalanceEvent {
    enum Kind { case assign, revoke, error(KafkaError) }
    var kind: Kind
    var partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
    var handle: OpaquePointer
}

extension KafkaTimestamp {
    /// Reads the timestamp of a librdkafka message; `nil` when it has none.
    init?(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let value = rd_kafka_message_timestamp(message, &type)
        switch type {
        case RD_KAFKA_TIMESTAMP_CREATE_TIME: self.init(milliseconds: value, kind: .createTime)
        case RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME: self.init(milliseconds: value, kind: .logAppendTime)
        default: return nil
        }
    }
}
