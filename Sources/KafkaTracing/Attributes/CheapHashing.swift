// Cheap hashes for the instrumentation's lock-free tables (SipHash, `hashValue`, would cost more
// than the rest of a lookup): not for hostile input, only for spreading a client's few topics.

/// MurmurHash3's finalizer: every input bit moves the low bits the table's mask keeps.
func mix(_ value: UInt64) -> UInt64 {
    var x = value
    x ^= x >> 33
    x = x &* 0xff51_afd7_ed55_8ccd
    x ^= x >> 33
    x = x &* 0xc4ce_b9fe_1a85_ec53
    x ^= x >> 33
    return x
}

/// A string's UTF-8 bytes hashed 8 at a time (multiply and xor-shift), in place: native strings
/// are contiguous. Byte by byte, a topic's name cost more than the lookup. Its low bits are poorly
/// spread for names that differ only at the end: finish it with ``mix(_:)`` before masking.
func hashBytes(_ string: String?) -> UInt64 {
    guard let string else { return 0 }
    func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hash = UInt64(bytes.count) &* 0x9e37_79b9_7f4a_7c15
        let raw = UnsafeRawBufferPointer(bytes)
        var index = 0
        while index + 8 <= raw.count {
            hash = (hash ^ raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)) &* 0x0000_0100_0000_01b3
            hash ^= hash >> 29
            index += 8
        }
        var tail: UInt64 = 0
        while index < raw.count {
            tail = (tail << 8) | UInt64(raw[index])
            index += 1
        }
        return (hash ^ tail) &* 0x0000_0100_0000_01b3
    }
    if let hashed = string.utf8.withContiguousStorageIfAvailable(hash) { return hashed }
    return Array(string.utf8).withUnsafeBufferPointer(hash)
}
