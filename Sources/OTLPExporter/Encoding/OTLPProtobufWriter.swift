#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Locking
import NIOCore
import Tracing
import TracingCapabilities
import TracingSDK

/// Writes `ExportTraceServiceRequest` straight to protobuf wire format, field numbers as in the
/// generated code (opentelemetry-proto v1.11.0), without building intermediate messages.
///
/// Building swift-protobuf message values costs about 8 µs per span with 8 attributes (mostly
/// copies and generic visitor traversal); this writer does the same in a fraction of that. The
/// generated types stay the reference: tests decode what this writes with them, field by field.
///
/// It writes into one raw buffer, reused from batch to batch (a fresh 200 kB buffer per batch
/// costs its page faults every time), and leaves room for each nested message's length before
/// writing the message: one byte for attributes, two for spans, moving the body only when the
/// guess was wrong.
package struct OTLPProtobufWriter: ~Copyable {
    private var base: UnsafeMutableRawPointer
    private var capacity: Int
    private var count = 0

    /// One buffer kept for the next request; exports are one at a time per processor.
    private static let spare = Locked<Scratch?>(nil)

    /// A buffer between two requests.
    private struct Scratch: @unchecked Sendable {
        var base: UnsafeMutableRawPointer
        var capacity: Int
    }

    private init(capacity: Int) {
        if let scratch = Self.spare.withLock({ spare in spare.take() }) {
            self.base = scratch.base
            self.capacity = scratch.capacity
        } else {
            self.capacity = max(capacity, 4096)
            self.base = malloc(self.capacity)!
        }
    }

    deinit {
        let scratch = Scratch(base: self.base, capacity: self.capacity)
        let kept = Self.spare.withLock { spare -> Bool in
            // Keep the larger buffer; buffers beyond 16 MB (rare, huge batches) are not kept.
            guard scratch.capacity <= 16 << 20, (spare?.capacity ?? 0) < scratch.capacity else { return false }
            if let old = spare { free(old.base) }
            spare = scratch
            return true
        }
        if !kept { free(scratch.base) }
    }

    // MARK: Request

    /// The request for a batch grouped as ``OTLPEncoding/group(_:)`` groups it.
    /// An `ExportTraceServiceRequest` for the spans, grouped by resource and scope.
    package static func request(_ spans: [FinishedSpan]) -> ByteBuffer {
        self.request(spans, OTLPEncoding.group(spans))
    }

    static func request(_ spans: [FinishedSpan], _ groups: OTLPEncoding.Groups) -> ByteBuffer {
        self.request(spans, groups) { bytes in
            var buffer = ByteBufferAllocator().buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
            return buffer
        }
    }

    /// The request's bytes (for tests).
    static func requestBytes(_ spans: [FinishedSpan]) -> [UInt8] {
        self.request(spans, OTLPEncoding.group(spans)) { Array($0) }
    }

    private static func request<Output>(
        _ spans: [FinishedSpan],
        _ groups: OTLPEncoding.Groups,
        output: (UnsafeRawBufferPointer) -> Output
    ) -> Output {
        var writer = OTLPProtobufWriter(capacity: 256 + spans.count * 400)
        for (resource, scopes) in groups {
            writer.message(1, reserving: 3) { resourceSpans in  // ExportTraceServiceRequest.resource_spans
                resourceSpans.message(1, reserving: 2) { $0.attributes(1, resource.attributes) }  // ResourceSpans.resource
                for (scope, indices) in scopes {
                    resourceSpans.message(2, reserving: 3) { scopeSpans in  // ResourceSpans.scope_spans
                        scopeSpans.message(1) { scopeWriter in  // ScopeSpans.scope
                            scopeWriter.string(1, scope.name)
                            if let version = scope.version { scopeWriter.string(2, version) }
                        }
                        for index in indices {
                            scopeSpans.message(2, reserving: 2) { $0.span(spans[index]) }  // ScopeSpans.spans
                        }
                    }
                }
            }
        }
        return output(UnsafeRawBufferPointer(start: writer.base, count: writer.count))
    }

    private mutating func span(_ span: FinishedSpan) {
        self.traceID(1, span.spanContext.traceID)
        self.spanID(2, span.spanContext.spanID)
        if !span.spanContext.traceState.isEmpty { self.string(3, span.spanContext.traceState.headerValue) }
        if let parent = span.parentSpanID { self.spanID(4, parent) }
        self.string(5, span.name)
        self.varint(6, UInt64(Self.kind(span.kind)))
        self.fixed64(7, span.startNanosecondsSinceEpoch)
        self.fixed64(8, span.endNanosecondsSinceEpoch)
        if let template = span.attributeTemplate {
            self.spanAttributes(template, own: span.templateAdditions)
        } else {
            self.attributes(9, span.ownAttributes)
        }
        self.varint(10, UInt64(span.droppedAttributeCount))
        for event in span.events {
            self.message(11) { writer in
                writer.fixed64(1, event.nanosecondsSinceEpoch)
                writer.string(2, event.name)
                writer.attributes(3, event.attributes)
            }
        }
        self.varint(12, UInt64(span.droppedEventCount))
        for link in span.links {
            self.message(13) { writer in
                writer.traceID(1, link.spanContext.traceID)
                writer.spanID(2, link.spanContext.spanID)
                if !link.spanContext.traceState.isEmpty { writer.string(3, link.spanContext.traceState.headerValue) }
                writer.attributes(4, link.attributes)
                writer.varint(5, UInt64(link.droppedAttributeCount))
                writer.fixed32(6, OTLPEncoding.flags(link.spanContext.flags, isRemote: link.spanContext.isRemote))
            }
        }
        self.varint(14, UInt64(span.droppedLinkCount))
        if let status = span.status {
            self.message(15) { writer in
                if status.code == .error, let message = status.message { writer.string(2, message) }
                writer.varint(3, status.code == .ok ? 1 : 2)
            }
        }
        self.fixed32(16, OTLPEncoding.flags(span.spanContext.flags, isRemote: span.hasRemoteParent))
    }

    static func kind(_ kind: SpanKind) -> Int {
        switch kind {
        case .internal: 1
        case .server: 2
        case .client: 3
        case .producer: 4
        case .consumer: 5
        }
    }

    // MARK: Attributes

    /// A template's attributes as a span's `attributes` entries (field 9), encoded once per
    /// template and copied into every span that has it.
    final class EncodedTemplate: Sendable {
        /// Every entry, in the template's order.
        let bytes: [UInt8]
        /// Where each entry is in ``bytes``, for a span whose own attributes replace some.
        let entries: [(key: String, range: Range<Int>)]
        /// Bit `n` set when a name of `n` UTF-8 bytes is in the template (bit 63: 63 or more).
        /// Most names a span adds have a length no template name has: no lookup (a string hashed)
        /// is needed to know they replace nothing.
        let nameLengths: UInt64

        init(_ attributes: SpanAttributes) {
            var writer = OTLPProtobufWriter(capacity: 64 * max(attributes.count, 1))
            var entries: [(key: String, range: Range<Int>)] = []
            var nameLengths: UInt64 = 0
            attributes.forEach { key, value in
                let start = writer.count
                writer.keyValue(9, key, value)
                entries.append((key, start..<writer.count))
                nameLengths |= Self.lengthBit(key)
            }
            self.nameLengths = nameLengths
            self.bytes = Array(UnsafeRawBufferPointer(start: writer.base, count: writer.count))
            self.entries = entries
        }

        @inline(__always)
        static func lengthBit(_ name: String) -> UInt64 { 1 << min(name.utf8.count, 63) }

        /// Whether `name` may be one of the template's (a lookup tells for sure).
        @inline(__always)
        func mayHave(_ name: String) -> Bool { self.nameLengths & Self.lengthBit(name) != 0 }
    }

    /// A span's attributes: its template's (but those its own replace), then its own.
    private mutating func spanAttributes(_ template: SpanAttributeTemplate, own: SpanAttributeList) {
        let encoded = template.prepared(EncodedTemplate.init)
        var replaces = false
        own.forEach { key, _ in replaces = replaces || (encoded.mayHave(key) && template.attributes.get(key) != nil) }
        if replaces {
            encoded.bytes.withUnsafeBytes { bytes in
                for (key, range) in encoded.entries where own.get(key) == nil { self.raw(UnsafeRawBufferPointer(rebasing: bytes[range])) }
            }
        } else {
            encoded.bytes.withUnsafeBytes { self.raw($0) }
        }
        own.forEach { key, value in self.keyValue(9, key, value) }
    }

    private mutating func attributes(_ field: Int, _ attributes: SpanAttributes) {
        attributes.forEach { key, value in self.keyValue(field, key, value) }
    }

    private mutating func keyValue(_ field: Int, _ key: String, _ value: SpanAttribute) {
        self.message(field) { keyValue in  // KeyValue
            keyValue.string(1, key, always: true)
            keyValue.message(2) { $0.anyValue(value) }
        }
    }

    /// An `AnyValue`: its oneof field is written even when it holds a default value.
    private mutating func anyValue(_ attribute: SpanAttribute) {
        switch attribute {
        case .string(let string): self.string(1, string, always: true)
        case .bool(let bool): self.varint(2, bool ? 1 : 0, always: true)
        case .int32(let int): self.varint(3, UInt64(bitPattern: Int64(int)), always: true)
        case .int64(let int): self.varint(3, UInt64(bitPattern: int), always: true)
        case .double(let double): self.fixed64(4, double.bitPattern, always: true)
        case .stringArray(let values): self.array { for value in values { $0.message(1) { $0.string(1, value, always: true) } } }
        case .boolArray(let values): self.array { for value in values { $0.message(1) { $0.varint(2, value ? 1 : 0, always: true) } } }
        case .int32Array(let values):
            self.array { for value in values { $0.message(1) { $0.varint(3, UInt64(bitPattern: Int64(value)), always: true) } } }
        case .int64Array(let values):
            self.array { for value in values { $0.message(1) { $0.varint(3, UInt64(bitPattern: value), always: true) } } }
        case .doubleArray(let values):
            self.array { for value in values { $0.message(1) { $0.fixed64(4, value.bitPattern, always: true) } } }
        case .stringConvertible(let value): self.string(1, String(describing: value), always: true)
        case .stringConvertibleArray(let values):
            self.array { for value in values { $0.message(1) { $0.string(1, String(describing: value), always: true) } } }
        default: self.string(1, "\(attribute)", always: true)
        }
    }

    private mutating func array(_ body: (inout OTLPProtobufWriter) -> Void) {
        self.message(5, body)  // AnyValue.array_value → ArrayValue.values (field 1)
    }

    // MARK: Wire format

    @inline(__always)
    private mutating func reserve(_ extra: Int) {
        if self.count + extra > self.capacity { self.grow(extra) }
    }

    private mutating func grow(_ extra: Int) {
        self.capacity = max(self.capacity * 2, self.count + extra)
        self.base = realloc(self.base, self.capacity)!
    }

    @inline(__always)
    private mutating func byte(_ value: UInt8) {
        self.reserve(1)
        self.base.storeBytes(of: value, toByteOffset: self.count, as: UInt8.self)
        self.count += 1
    }

    @inline(__always)
    private mutating func raw(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        self.reserve(bytes.count)
        (self.base + self.count).copyMemory(from: source, byteCount: bytes.count)
        self.count += bytes.count
    }

    @inline(__always)
    private static func varintSize(_ value: UInt64) -> Int {
        // 1 byte per 7 bits, at least one.
        (63 - (value | 1).leadingZeroBitCount) / 7 + 1
    }

    /// A length-delimited nested message. `reserving` bytes are left for its length before the
    /// body is written; the body moves only when its length takes another number of bytes.
    private mutating func message(_ field: Int, reserving reserved: Int = 1, _ body: (inout OTLPProtobufWriter) -> Void) {
        self.tag(field, wireType: 2)
        self.reserve(reserved)
        let lengthAt = self.count
        self.count += reserved
        body(&self)
        let length = self.count - lengthAt - reserved
        let needed = Self.varintSize(UInt64(length))
        if needed != reserved {
            self.reserve(needed - reserved)
            (self.base + lengthAt + needed).copyMemory(from: self.base + lengthAt + reserved, byteCount: length)
            self.count += needed - reserved
        }
        var value = UInt64(length)
        var at = lengthAt
        while value >= 0x80 {
            self.base.storeBytes(of: UInt8(truncatingIfNeeded: value) | 0x80, toByteOffset: at, as: UInt8.self)
            value >>= 7
            at += 1
        }
        self.base.storeBytes(of: UInt8(value), toByteOffset: at, as: UInt8.self)
    }

    @inline(__always)
    private mutating func tag(_ field: Int, wireType: Int) {
        self.rawVarint(UInt64(field << 3 | wireType))
    }

    @inline(__always)
    private mutating func rawVarint(_ value: UInt64) {
        self.reserve(10)
        var value = value
        while value >= 0x80 {
            self.base.storeBytes(of: UInt8(truncatingIfNeeded: value) | 0x80, toByteOffset: self.count, as: UInt8.self)
            self.count += 1
            value >>= 7
        }
        self.base.storeBytes(of: UInt8(value), toByteOffset: self.count, as: UInt8.self)
        self.count += 1
    }

    /// proto3: a zero is not written unless `always` (oneof members).
    private mutating func varint(_ field: Int, _ value: UInt64, always: Bool = false) {
        guard value != 0 || always else { return }
        self.tag(field, wireType: 0)
        self.rawVarint(value)
    }

    private mutating func fixed64(_ field: Int, _ value: UInt64, always: Bool = false) {
        guard value != 0 || always else { return }
        self.tag(field, wireType: 1)
        self.reserve(8)
        (self.base + self.count).storeBytes(of: value.littleEndian, as: UInt64.self)
        self.count += 8
    }

    private mutating func fixed32(_ field: Int, _ value: UInt32) {
        guard value != 0 else { return }
        self.tag(field, wireType: 5)
        self.reserve(4)
        (self.base + self.count).storeBytes(of: value.littleEndian, as: UInt32.self)
        self.count += 4
    }

    private mutating func string(_ field: Int, _ value: String, always: Bool = false) {
        guard !value.isEmpty || always else { return }
        self.tag(field, wireType: 2)
        var value = value
        value.withUTF8 { utf8 in
            self.rawVarint(UInt64(utf8.count))
            self.raw(UnsafeRawBufferPointer(utf8))
        }
    }

    private mutating func traceID(_ field: Int, _ id: TraceID) {
        self.tag(field, wireType: 2)
        self.reserve(17)
        self.base.storeBytes(of: 16, toByteOffset: self.count, as: UInt8.self)
        (self.base + self.count + 1).storeBytes(of: id.high.bigEndian, as: UInt64.self)
        (self.base + self.count + 9).storeBytes(of: id.low.bigEndian, as: UInt64.self)
        self.count += 17
    }

    private mutating func spanID(_ field: Int, _ id: SpanID) {
        self.tag(field, wireType: 2)
        self.reserve(9)
        self.base.storeBytes(of: 8, toByteOffset: self.count, as: UInt8.self)
        (self.base + self.count + 1).storeBytes(of: id.value.bigEndian, as: UInt64.self)
        self.count += 9
    }
}
