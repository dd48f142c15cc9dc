extension String {
    /// `String(validating: bytes, as: UTF8.self)`: `nil` when `bytes` are not valid UTF-8.
    ///
    /// The standard library's validating initialiser runs its validation as unspecialised generic
    /// code (run-time metadata lookups on every call: ~2 % of a traced consumer's samples, for the
    /// traceparent of each message). ASCII — every W3C trace header, most keys — is checked here
    /// eight bytes at a time, then decoded by `String(decoding:as:)`, which reads contiguous bytes
    /// in specialised code (and, the bytes being valid, repairs nothing); anything else goes the
    /// standard way.
    package init?(validatingUTF8 bytes: UnsafeRawBufferPointer) {
        guard Self.isASCII(bytes) else {
            guard let string = String(validating: bytes, as: UTF8.self) else { return nil }
            self = string
            return
        }
        self = String(decoding: bytes, as: UTF8.self)
    }

    private static func isASCII(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let count = bytes.count
        var index = 0
        var high: UInt64 = 0
        while index + 8 <= count {
            high |= base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            index += 8
        }
        while index < count {
            high |= UInt64(base.load(fromByteOffset: index, as: UInt8.self))
            index += 1
        }
        return high & 0x8080_8080_8080_8080 == 0
    }
}
