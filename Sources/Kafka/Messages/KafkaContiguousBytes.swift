/// Bytes that can be handed to librdkafka without conversion: message keys and values.
///
/// Conforming types lend their storage for the duration of the closure; librdkafka copies it.
public protocol KafkaContiguousBytes: Sendable {
    /// Calls `body` with the bytes of this value.
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

extension Array: KafkaContiguousBytes where Element == UInt8 {}
extension ArraySlice: KafkaContiguousBytes where Element == UInt8 {}
extension ContiguousArray: KafkaContiguousBytes where Element == UInt8 {}

extension String: KafkaContiguousBytes {
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if let result = try self.utf8.withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        var copy = self
        return try copy.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
    }
}

extension Substring: KafkaContiguousBytes {
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try String(self).withUnsafeBytes(body)
    }
}

/// The absence of a key or value: a null key, or a null value (a tombstone).
public struct KafkaNull: KafkaContiguousBytes, Hashable {
    public init() {}
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: nil, count: 0))
    }
}
