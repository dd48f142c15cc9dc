import Foundation
import Kafka
import Metrics
import Synchronization

/// The metric names, in one table: the OpenTelemetry messaging metrics (semantic conventions
/// v1.44.0, `model/messaging/metrics.yaml`) and ours, which are not OpenTelemetry's.
public enum MessagingMetricName {
    /// Counter, `{message}`: each send attempt, with `error.type` when it failed.
    public static let sentMessages = "messaging.client.sent.messages"
    /// Counter, `{message}`: each message handed to a handler.
    public static let consumedMessages = "messaging.client.consumed.messages"
    /// Histogram (a swift-metrics `Timer`), `s`: a send from enqueue to its delivery report.
    public static let operationDuration = "messaging.client.operation.duration"
    /// Histogram (`Timer`), `s`: a handler's run, as long as its process span.
    public static let processDuration = "messaging.process.duration"
    /// Ours. Histogram (`Timer`), `s`: from a message's timestamp to the start of its
    /// processing — how long it waited in Kafka.
    public static let queueTime = "messaging.kafka.message.queue_time"
    /// Ours. Gauge, `s`: the age of the last message handled, per partition — the lag in time.
    public static let consumerLagSeconds = "messaging.kafka.consumer.lag.seconds"

    // From librdkafka's statistics (`KafkaTracingOptions.clientStatisticsInterval`): ours.

    /// Gauge, `{message}`, per topic, partition and group: the high watermark − the offset the
    /// application finished with (librdkafka's `consumer_lag_stored`) — the lag in messages.
    public static let consumerLag = "messaging.kafka.consumer.lag"
    /// Gauge, `{message}`, per topic and partition: messages fetched and waiting in librdkafka.
    public static let fetchQueueMessages = "messaging.kafka.consumer.fetch_queue.messages"
    /// Gauge, `{message}`: messages a producer holds that are not yet delivered (`msg_cnt`).
    public static let producerQueueMessages = "messaging.kafka.producer.queue.messages"
    /// Gauge, `By`: their size (`msg_size`).
    public static let producerQueueBytes = "messaging.kafka.producer.queue.bytes"
    /// Gauge, `s`, per broker (`server.address`, `server.port`, `messaging.kafka.broker.id`):
    /// the average round-trip time of its requests over the last statistics interval.
    public static let brokerRoundTripAverage = "messaging.kafka.broker.rtt.average"
    /// Gauge, `s`, per broker: the 99th percentile of the same.
    public static let brokerRoundTripP99 = "messaging.kafka.broker.rtt.p99"
}

/// The messaging metrics of one traced client, reported through swift-metrics, never through our
/// SDK, to the factory in force when the client was made (the task-local one from
/// `withMetricsFactory`, else the bootstrapped one), as swift-metrics' own instruments do. Made
/// only when that factory is not swift-metrics' no-op one: otherwise nothing is measured at all.
///
/// Instruments are made once per attribute set and kept in lock-free tables (at most
/// ``maxSeries`` per table; beyond that they are made per use, which is slow but loses nothing).
final class MessagingMetrics: Sendable {
    static let maxSeries = 2000

    /// A client's instruments for one attribute set.
    struct Instruments: @unchecked Sendable {  // (swift-metrics' handles are thread-safe classes)
        /// `nil` for a consumer's failed attempt: consumed messages are counted once, without an
        /// outcome, so no empty `error.type` series is made for them.
        let count: Counter?
        let duration: Metrics.Timer
        let queueTime: Metrics.Timer?
        let age: Gauge?
    }

    /// A delivery report's attribute set, without making the topic's name.
    private struct DeliveryKey: TableKey {
        var topic: UInt
        var partition: Int32
        var errorCode: Int32?

        var tableHash: UInt64 {
            mix(UInt64(self.topic) ^ (UInt64(UInt32(bitPattern: self.partition)) << 3) ^ (UInt64(UInt32(bitPattern: self.errorCode ?? -1)) << 35))
        }
    }

    /// An attribute set by name (consumers, and sends that failed before librdkafka had them).
    private struct NamedKey: TableKey {
        /// `nil` for an operation on several topics.
        var topic: String?
        var partition: Int32?
        var errorType: String?

        var tableHash: UInt64 {
            var hash = hashBytes(self.topic) ^ UInt64(UInt32(bitPattern: self.partition ?? -1))
            if let errorType = self.errorType { hash ^= hashBytes(errorType) &* 31 }
            return mix(hash)
        }
    }

    let factory: any MetricsFactory
    private let operation: String
    private let common: [(String, String)]
    /// The client's own dimensions for the statistics gauges: system and group.
    let client: [(String, String)]
    private let deliveries = InstrumentTable<DeliveryKey>(capacity: 4096, maxEntries: MessagingMetrics.maxSeries)
    private let named = InstrumentTable<NamedKey>(capacity: 4096, maxEntries: MessagingMetrics.maxSeries)

    /// `nil` when no metrics backend is in force.
    /// - Parameter operation: `send` (a producer) or `process` (a consumer).
    init?(operation: String, client: ClientAttributes) {
        let factory = MetricsSystem.factory
        if factory is NOOPMetricsHandler { return nil }
        self.factory = factory
        self.operation = operation
        var common = [(MessagingAttribute.system, "kafka"), (MessagingAttribute.operationName, operation)]
        if let group = client.consumerGroup { common.append((MessagingAttribute.consumerGroup, group)) }
        self.client = common.filter { $0.0 != MessagingAttribute.operationName }
        if let address = client.serverAddress { common.append((MessagingAttribute.serverAddress, address)) }
        if let port = client.serverPort { common.append((MessagingAttribute.serverPort, String(port))) }
        self.common = common
    }

    /// A producer's delivery report: counted, and its latency (librdkafka's, from the send)
    /// recorded. Runs where reports are served: a hash of three integers and two instrument calls.
    func delivered(_ report: KafkaDeliveryObservation) {
        self.delivered(
            topicIdentity: report.topicIdentity,
            partition: report.partition,
            errorCode: report.errorCode,
            latencyMicroseconds: report.latencyMicroseconds,
            topic: report.topic
        )
    }

    /// The same, from a report's fields (`topic` is made only for a new attribute set).
    func delivered(
        topicIdentity: UInt,
        partition: Int32,
        errorCode: KafkaError.Code?,
        latencyMicroseconds: Int64?,
        topic: @autoclosure () -> String
    ) {
        let key = DeliveryKey(topic: topicIdentity, partition: partition, errorCode: errorCode?.rawValue)
        let instruments = self.deliveries.instruments(for: key) {
            self.make(topic: topic(), partition: partition >= 0 ? partition : nil, errorType: errorCode?.name)
        }
        instruments.with { instruments in
            instruments.count?.increment()
            if let latencyMicroseconds { instruments.duration.recordNanoseconds(latencyMicroseconds &* 1000) }
        }
    }

    /// What ``received(_:)`` found for a handler call, for ``processed(_:_:topic:partition:started:errorType:)``:
    /// each message's instruments (the first inline: one message, no array), and the clocks then.
    struct Received {
        fileprivate let first: InstrumentsRef?
        fileprivate let rest: [InstrumentsRef]
        /// ``monotonicNanoseconds()`` and the wall clock (ms), read together: the first attempt's
        /// start (one clock read fewer per message).
        let monotonic: UInt64
        fileprivate let wall: Int64

        static let none = Received(first: nil, rest: [], monotonic: 0, wall: 0)
    }

    /// The instruments a handling loop used last, with their topic and partition. A loop mostly
    /// handles one partition's messages in a row (a lane always does), which then skip the table:
    /// no hash of the topic's name, no probe. Valid while the ``MessagingMetrics`` lives.
    struct LastInstruments: @unchecked Sendable {  // (the instruments it points to are Sendable)
        fileprivate var topic = ""
        fileprivate var partition: Int32 = -1
        fileprivate var instruments: InstrumentsRef?
    }

    /// Messages handed to a handler: each counted once, and how long it waited in Kafka recorded.
    /// - Parameter last: the calling loop's own, kept between its calls.
    func received<Messages: RandomAccessCollection<KafkaConsumerMessage>>(
        _ messages: Messages,
        last: inout LastInstruments
    ) -> Received where Messages.Index == Int {
        let monotonic = monotonicNanoseconds()
        let now = WallClock.milliseconds(atMonotonic: monotonic)
        // (By index: iterating would copy each message, retaining its four buffers.)
        func receive(_ index: Int) -> InstrumentsRef {
            let partition = messages[index].partition
            let perMessage: InstrumentsRef
            // (A topic's name comes from the consumer's cache: the same string, compared by reference.)
            if let cached = last.instruments, last.partition == partition, last.topic == messages[index].topic {
                perMessage = cached
            } else {
                let topic = messages[index].topic
                perMessage = self.instrumentsRef(topic: topic, partition: partition, errorType: nil)
                last = LastInstruments(topic: topic, partition: partition, instruments: perMessage)
            }
            let timestamp = messages[index].timestamp
            perMessage.with { instruments in
                instruments.count?.increment()
                if let timestamp {
                    instruments.queueTime?.recordNanoseconds(max(now - timestamp.milliseconds, 0) * 1_000_000)
                }
            }
            return perMessage
        }
        var rest: [InstrumentsRef] = []
        if messages.count > 1 {
            rest.reserveCapacity(messages.count - 1)
            for index in messages.indices.dropFirst() { rest.append(receive(index)) }
        }
        return Received(first: messages.isEmpty ? nil : receive(0), rest: rest, monotonic: monotonic, wall: now)
    }

    /// A send that failed before librdkafka took the message (no report will come).
    func failedToEnqueue(topic: String, partition: Int32?, _ error: any Error) {
        self.instruments(topic: topic, partition: partition, errorType: KafkaTracing.errorType(error)).count?.increment()
    }

    /// The instruments for one topic, partition and outcome, found without a lock.
    func instruments(topic: String?, partition: Int32?, errorType: String?) -> Instruments {
        self.instrumentsRef(topic: topic, partition: partition, errorType: errorType).with { $0 }
    }

    private func instrumentsRef(topic: String?, partition: Int32?, errorType: String?) -> InstrumentsRef {
        self.named.instruments(for: NamedKey(topic: topic, partition: partition, errorType: errorType)) {
            self.make(topic: topic, partition: partition, errorType: errorType)
        }
    }

    /// `messaging.process.duration` for one attempt; after a success, the age of each message.
    /// - Parameters:
    ///   - received: what ``received(_:)`` found for these messages.
    ///   - started: ``monotonicNanoseconds()`` when the attempt started.
    func processed<Messages: RandomAccessCollection<KafkaConsumerMessage>>(
        _ messages: Messages,
        _ received: Received,
        topic: String?,
        partition: Int32?,
        started: UInt64,
        ended: UInt64,
        errorType: String?
    ) where Messages.Index == Int {
        let elapsed = ended &- started
        // One message that succeeded has the attribute set it was counted with; otherwise look
        // up the batch's (or the failure's).
        if messages.count == 1 && errorType == nil, let first = received.first {
            first.with { $0.duration.recordNanoseconds(Int64(elapsed)) }
        } else {
            self.instrumentsRef(topic: topic, partition: partition, errorType: errorType).with {
                $0.duration.recordNanoseconds(Int64(elapsed))
            }
        }
        guard errorType == nil else { return }
        // The wall clock now, without reading it again.
        let now = received.wall + Int64((ended &- received.monotonic) / 1_000_000)
        for index in messages.indices {
            guard let timestamp = messages[index].timestamp, let perMessage = index == 0 ? received.first : received.rest[index - 1]
            else { continue }
            perMessage.recordAge(milliseconds: max(now - timestamp.milliseconds, 0))
        }
    }

    private func make(topic: String?, partition: Int32?, errorType: String?) -> Instruments {
        let factory = self.factory
        var dimensions = self.common
        if let topic { dimensions.append((MessagingAttribute.destinationName, topic)) }
        if let partition { dimensions.append((MessagingAttribute.partitionID, String(partition))) }
        if let errorType { dimensions.append((MessagingAttribute.errorType, errorType)) }
        if self.operation == "send" {
            return Instruments(
                count: Counter(label: MessagingMetricName.sentMessages, dimensions: dimensions, factory: factory),
                duration: Metrics.Timer(
                    label: MessagingMetricName.operationDuration,
                    dimensions: dimensions + [(MessagingAttribute.operationType, "send")],
                    factory: factory
                ),
                queueTime: nil,
                age: nil
            )
        }
        if errorType != nil {
            // A failed attempt: only its duration, with the error.
            return Instruments(
                count: nil,
                duration: Metrics.Timer(label: MessagingMetricName.processDuration, dimensions: dimensions, factory: factory),
                queueTime: nil,
                age: nil
            )
        }
        return Instruments(
            count: Counter(label: MessagingMetricName.consumedMessages, dimensions: dimensions, factory: factory),
            duration: Metrics.Timer(label: MessagingMetricName.processDuration, dimensions: dimensions, factory: factory),
            queueTime: Metrics.Timer(
                label: MessagingMetricName.queueTime,
                // Per topic and group, as the operator asks "how long do messages wait".
                dimensions: self.common + (topic.map { [(MessagingAttribute.destinationName, $0)] } ?? []),
                factory: factory
            ),
            // (No error here: these are the partition's own dimensions.)
            age: Gauge(label: MessagingMetricName.consumerLagSeconds, dimensions: dimensions, factory: factory)
        )
    }
}

/// CLOCK_MONOTONIC in nanoseconds: durations only.
func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// The wall clock in milliseconds (as Kafka timestamps are), derived from a monotonic reading and an offset read at most once a second:
/// one clock read per handled message instead of two (each is about 23 ns here). Queue time and
/// lag are in Kafka's milliseconds, far coarser than the offset's drift over a second; a clock
/// step shows within a second.
enum WallClock {
    /// (wall − monotonic) in ns, and the monotonic time it was read at.
    private static let offset = Atomic<Int64>(0)
    private static let readAt = Atomic<UInt64>(0)

    static func milliseconds(atMonotonic monotonic: UInt64) -> Int64 {
        self.nanoseconds(atMonotonic: monotonic) / 1_000_000
    }

    /// The wall clock in nanoseconds since the epoch at a ``monotonicNanoseconds()`` reading.
    static func nanoseconds(atMonotonic monotonic: UInt64) -> Int64 {
        // Acquire/release on `readAt` (free on x86): a reader that sees a refresh's time sees at
        // least its offset, never the initial 0.
        let last = self.readAt.load(ordering: .acquiring)
        var offset = self.offset.load(ordering: .relaxed)
        if last == 0 || monotonic &- last > 1_000_000_000 {
            // (Racing refreshes store equally good values; a reader may pair one refresh's offset
            // with another's time: a difference of nanoseconds.)
            offset = Self.measureOffset()
            self.offset.store(offset, ordering: .relaxed)
            self.readAt.store(monotonic == 0 ? 1 : monotonic, ordering: .releasing)
        }
        return Int64(monotonic) + offset
    }

    /// The wall clock read between two monotonic readings, kept from the tightest of three tries:
    /// a thread preempted between the reads would skew every instant until the next refresh.
    private static func measureOffset() -> Int64 {
        var best: (window: UInt64, offset: Int64) = (.max, 0)
        for _ in 0..<3 {
            let before = monotonicNanoseconds()
            let wall = Int64(wallClockNanoseconds())
            let after = monotonicNanoseconds()
            let window = after &- before
            if window < best.window { best = (window, wall - Int64(before + window / 2)) }
            if window < 2_000 { break }
        }
        return best.offset
    }
}

/// A key of an ``InstrumentTable``, with a cheap hash of its own (SipHash, `hashValue`, would
/// cost more than the rest of a lookup).
private protocol TableKey: Equatable, Sendable {
    var tableHash: UInt64 { get }
}

/// A table entry's instruments, held by the table for the client's life.
private final class InstrumentsBox: Sendable {
    let instruments: MessagingMetrics.Instruments
    /// The last age (ms) its lag gauge was set to.
    let lastAge = Atomic<Int64>(.min)
    init(_ instruments: MessagingMetrics.Instruments) { self.instruments = instruments }
}

/// Instruments found in a table: a pointer the table keeps alive, so passing it costs no
/// reference counting (at two cores' rates, retains on shared objects were most of a lookup);
/// or, when the table is full, instruments made for this use and owned here.
struct InstrumentsRef {
    private let entry: Unmanaged<InstrumentsBox>
    /// Only for instruments made per use: keeps them alive.
    private let owned: InstrumentsBox?

    fileprivate init(table entry: Unmanaged<InstrumentsBox>) {
        self.entry = entry
        self.owned = nil
    }

    fileprivate init(owning box: InstrumentsBox) {
        self.entry = Unmanaged.passUnretained(box)
        self.owned = box
    }

    /// Valid while the ``MessagingMetrics`` it came from lives (its tables keep the entries).
    func with<Result>(_ body: (borrowing MessagingMetrics.Instruments) -> Result) -> Result {
        self.entry._withUnsafeGuaranteedRef { body($0.instruments) }
    }

    /// Sets the lag gauge (`consumerLagSeconds`) to an age, unless it holds that age already: a
    /// gauge reports its last value, and at high rates most messages of a partition are handled
    /// at the same lag to the millisecond, so most sets would change nothing. (Threads racing
    /// here set the gauge in some order, as they would without the check.)
    func recordAge(milliseconds: Int64) {
        self.entry._withUnsafeGuaranteedRef { box in
            guard box.lastAge.load(ordering: .relaxed) != milliseconds else { return }
            box.lastAge.store(milliseconds, ordering: .relaxed)
            box.instruments.age?.record(Double(milliseconds) / 1000)
        }
    }
}

/// An insert-only open-addressing hash table whose slots are written once (a compare-and-exchange
/// from empty): a lookup is a few atomic loads, never a lock and no reference counting, so
/// threads recording at once do not contend. Entries are never removed (they are released with
/// the table); when ``maxEntries`` are in, or a probe finds no room, instruments are made per use
/// instead.
private final class InstrumentTable<Key: TableKey>: @unchecked Sendable {
    final class Entry {
        let key: Key
        let box: InstrumentsBox
        init(key: Key, box: InstrumentsBox) {
            self.key = key
            self.box = box
        }
    }

    private var maxProbes: Int { 32 }
    // (Allocated once, initialized in init, deinitialized in deinit: only this class touches it.
    // Each slot holds a retained `Entry`, released in deinit.)
    private let slots: UnsafeMutablePointer<Atomic<UnsafeRawPointer?>>
    private let mask: Int
    private let maxEntries: Int
    private let entries = Atomic<Int>(0)

    /// - Parameter capacity: a power of two.
    init(capacity: Int, maxEntries: Int) {
        precondition(capacity > 0 && capacity & (capacity - 1) == 0)
        self.slots = .allocate(capacity: capacity)
        for index in 0..<capacity { (self.slots + index).initialize(to: Atomic(nil)) }
        self.mask = capacity - 1
        self.maxEntries = maxEntries
    }

    deinit {
        for index in 0...self.mask {
            if let raw = self.slots[index].load(ordering: .acquiring) { Unmanaged<Entry>.fromOpaque(raw).release() }
        }
        self.slots.deinitialize(count: self.mask + 1)
        self.slots.deallocate()
    }

    func instruments(for key: Key, make: () -> MessagingMetrics.Instruments) -> InstrumentsRef {
        var index = Int(truncatingIfNeeded: key.tableHash) & self.mask
        for _ in 0..<self.maxProbes {
            if let raw = self.slots[index].load(ordering: .acquiring) {
                let entry = Unmanaged<Entry>.fromOpaque(raw)
                if let found = entry._withUnsafeGuaranteedRef({ $0.key == key ? Unmanaged.passUnretained($0.box) : nil }) {
                    return InstrumentsRef(table: found)
                }
            } else {
                // (Relaxed: the bound is a limit on memory, not a synchronisation point.)
                guard self.entries.load(ordering: .relaxed) < self.maxEntries else { break }
                let made = Unmanaged.passRetained(Entry(key: key, box: InstrumentsBox(make())))
                let (stored, winner) = self.slots[index].compareExchange(
                    expected: nil,
                    desired: UnsafeRawPointer(made.toOpaque()),
                    ordering: .acquiringAndReleasing
                )
                if stored {
                    self.entries.add(1, ordering: .relaxed)
                    return InstrumentsRef(table: made._withUnsafeGuaranteedRef { Unmanaged.passUnretained($0.box) })
                }
                made.release()
                let other = Unmanaged<Entry>.fromOpaque(winner!)
                if let found = other._withUnsafeGuaranteedRef({ $0.key == key ? Unmanaged.passUnretained($0.box) : nil }) {
                    return InstrumentsRef(table: found)
                }
            }
            index = (index + 1) & self.mask
        }
        return InstrumentsRef(owning: InstrumentsBox(make()))
    }
}
