/// A message's key, value and headers made in Swift (``KafkaConsumerMessage``'s public
/// initializer, or a setter), in one immutable allocation, read in place. (A consumed message
/// reads librdkafka's own buffers instead: ``RDKafkaBorrowedMessage``.)
///
/// Layout of the bytes: the key, the value, then per header its key's length and value's length
/// (`Int32`, -1 for a null value, unaligned), its key and its value.
final class KafkaMessagePayload: ManagedBuffer<KafkaMessagePayload.Layout, UInt8> {
    struct Layout {
        /// -1 for a null key or value.
        var keyCount: Int
        var valueCount: Int
        var headerCount: Int
        /// Where the headers start in the bytes.
        var headersStart: Int
    }

    /// A header as it lies in the payload.
    struct RawHeader {
        var key: UnsafeRawBufferPointer
        var value: UnsafeRawBufferPointer?
    }

    /// Writes the headers into a payload being made.
    struct HeaderWriter {
        fileprivate let bytes: UnsafeMutableRawPointer
        fileprivate var offset: Int

        mutating func append(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?) {
            (self.bytes + self.offset).storeBytes(of: Int32(key.count), as: Int32.self)
            (self.bytes + self.offset + 4).storeBytes(of: Int32(value?.count ?? -1), as: Int32.self)
            self.offset += 8
            self.write(key)
            self.write(value)
        }

        fileprivate mutating func write(_ source: UnsafeRawBufferPointer?) {
            guard let source, let base = source.baseAddress, source.count > 0 else { return }
            (self.bytes + self.offset).copyMemory(from: base, byteCount: source.count)
            self.offset += source.count
        }
    }

    /// The room one header takes.
    static func size(ofHeaderKey keyCount: Int, valueCount: Int?) -> Int { 8 + keyCount + (valueCount ?? 0) }

    /// A payload holding copies of `key`, `value`, and the `headerCount` headers that
    /// `writeHeaders` appends (taking `headersSize` bytes in all, from ``size(ofHeaderKey:valueCount:)``).
    static func make(
        key: UnsafeRawBufferPointer?,
        value: UnsafeRawBufferPointer?,
        headerCount: Int,
        headersSize: Int,
        writeHeaders: (inout HeaderWriter) -> Void
    ) -> KafkaMessagePayload {
        let headersStart = (key?.count ?? 0) + (value?.count ?? 0)
        let byteCount = headersStart + headersSize
        let buffer = self.create(minimumCapacity: max(byteCount, 1)) { _ in
            Layout(
                keyCount: key?.count ?? -1,
                valueCount: value?.count ?? -1,
                headerCount: headerCount,
                headersStart: headersStart
            )
        }
        buffer.withUnsafeMutablePointerToElements { start in
            var writer = HeaderWriter(bytes: UnsafeMutableRawPointer(start), offset: 0)
            writer.write(key)
            writer.write(value)
            writeHeaders(&writer)
            precondition(writer.offset == byteCount, "headers larger or smaller than announced")
        }
        return unsafeDowncast(buffer, to: KafkaMessagePayload.self)
    }

    /// A payload holding copies of Swift values.
    static func make(key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader]) -> KafkaMessagePayload {
        func lend<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
            guard let bytes else { return body(nil) }
            return bytes.withUnsafeBytes(body)
        }
        let headersSize = headers.reduce(0) { $0 + self.size(ofHeaderKey: $1.key.utf8.count, valueCount: $1.valueCount) }
        return lend(key) { key in
            lend(value) { value in
                self.make(key: key, value: value, headerCount: headers.count, headersSize: headersSize) { writer in
                    for header in headers {
                        var name = header.key
                        name.withUTF8 { name in
                            header.withValueBytes { writer.append(key: UnsafeRawBufferPointer(name), value: $0) }
                        }
                    }
                }
            }
        }
    }

    var layout: Layout { self.header }

    func withKey<R>(_ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        try self.withUnsafeMutablePointerToElements { start in
            guard self.header.keyCount >= 0 else { return try body(nil) }
            return try body(UnsafeRawBufferPointer(start: start, count: self.header.keyCount))
        }
    }

    func withValue<R>(_ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        try self.withUnsafeMutablePointerToElements { start in
            guard self.header.valueCount >= 0 else { return try body(nil) }
            return try body(UnsafeRawBufferPointer(start: start + max(self.header.keyCount, 0), count: self.header.valueCount))
        }
    }

    /// Calls `body` with each header in order, in place; stops when it returns `false`.
    func forEachHeader(_ body: (RawHeader) throws -> Bool) rethrows {
        try self.withUnsafeMutablePointerToElements { start in
            let bytes = UnsafeRawPointer(start)
            var offset = self.header.headersStart
            for _ in 0..<self.header.headerCount {
                let keyCount = Int(bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self))
                let valueCount = Int(bytes.loadUnaligned(fromByteOffset: offset + 4, as: Int32.self))
                offset += 8
                let key = UnsafeRawBufferPointer(start: bytes + offset, count: keyCount)
                offset += keyCount
                let value = valueCount >= 0 ? UnsafeRawBufferPointer(start: bytes + offset, count: valueCount) : nil
                offset += max(valueCount, 0)
                guard try body(RawHeader(key: key, value: value)) else { return }
            }
        }
    }

}

/// Where a ``KafkaConsumerMessage``'s key, value and headers are: librdkafka's buffers for a
/// consumed message, or a payload made in Swift. Both are immutable once shared (a payload's bytes
/// are all written before it is; librdkafka's header list is parsed once, under
/// ``RDKafkaBorrowedMessage``'s own guard), so sharing them between threads is safe;
/// `ManagedBuffer` itself is not `Sendable`.
enum KafkaMessageBytes: @unchecked Sendable {
    case borrowed(RDKafkaBorrowedMessage)
    case copied(KafkaMessagePayload)

    /// -1 for a null key.
    var keyCount: Int {
        switch self {
        case .borrowed(let message): message.keyCount
        case .copied(let payload): payload.layout.keyCount
        }
    }

    /// -1 for a null value.
    var valueCount: Int {
        switch self {
        case .borrowed(let message): message.valueCount
        case .copied(let payload): payload.layout.valueCount
        }
    }

    var headerCount: Int {
        switch self {
        case .borrowed(let message): message.headerCount
        case .copied(let payload): payload.layout.headerCount
        }
    }

    func withKey<R>(_ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        switch self {
        case .borrowed(let message): try message.withKey(body)
        case .copied(let payload): try payload.withKey(body)
        }
    }

    func withValue<R>(_ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        switch self {
        case .borrowed(let message): try message.withValue(body)
        case .copied(let payload): try payload.withValue(body)
        }
    }

    /// Calls `body` with each header in order, in place; stops when it returns `false`.
    func forEachHeader(_ body: (KafkaMessagePayload.RawHeader) throws -> Bool) rethrows {
        switch self {
        case .borrowed(let message): try message.forEachHeader(body)
        case .copied(let payload): try payload.forEachHeader(body)
        }
    }

    /// Every byte and length equal, wherever each side's bytes are.
    func isEqual(to other: KafkaMessageBytes) -> Bool {
        switch (self, other) {
        case (.borrowed(let a), .borrowed(let b)) where a === b: return true
        case (.copied(let a), .copied(let b)) where a === b: return true
        default: break
        }
        func same(_ a: UnsafeRawBufferPointer?, _ b: UnsafeRawBufferPointer?) -> Bool {
            guard let a, let b else { return a == nil && b == nil }
            return a.elementsEqual(b)
        }
        guard self.keyCount == other.keyCount, self.valueCount == other.valueCount, self.headerCount == other.headerCount,
            self.withKey({ a in other.withKey { b in same(a, b) } }),
            self.withValue({ a in other.withValue { b in same(a, b) } })
        else { return false }
        // Both sides' header bytes stay where they are while `self` and `other` live.
        var mine: [KafkaMessagePayload.RawHeader] = []
        self.forEachHeader { mine.append($0); return true }
        var index = 0
        var equal = true
        other.forEachHeader { header in
            equal = index < mine.count && same(mine[index].key, header.key) && same(mine[index].value, header.value)
            index += 1
            return equal
        }
        return equal && index == mine.count
    }

    /// Hashes what ``isEqual(to:)`` compares, alike for both kinds.
    func hash(into hasher: inout Hasher) {
        func combine(_ bytes: UnsafeRawBufferPointer?) {
            hasher.combine(bytes?.count ?? -1)
            if let bytes { hasher.combine(bytes: bytes) }
        }
        self.withKey { combine($0) }
        self.withValue { combine($0) }
        hasher.combine(self.headerCount)
        self.forEachHeader { header in
            combine(header.key)
            combine(header.value)
            return true
        }
    }
}
