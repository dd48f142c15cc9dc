@testable import Kafka
import Testing

@Suite("Messages and errors")
struct KafkaMessageTests {
    @Test(
        "topic names follow Kafka's rules",
        arguments: [
            ("orders", true), ("a.b_c-D9", true), (String(repeating: "x", count: 249), true),
            ("", false), (".", false), ("..", false), ("with space", false), ("ünï", false),
            (String(repeating: "x", count: 250), false), ("slash/topic", false),
        ]
    )
    func topicNames(name: String, valid: Bool) {
        #expect(((try? KafkaTopicName.validate(name)) != nil) == valid)
    }

    @Test(
        "UTF-8 validation of bytes read in place agrees with the standard library's: ASCII of every length, multi-byte text, and invalid bytes anywhere",
        arguments: [
            Array("".utf8), Array("abcdefg".utf8), Array("abcdefgh".utf8), Array("abcdefghi".utf8),
            Array("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".utf8), Array("héllo wörld, ünïcode".utf8),
            Array("🙂 emoji".utf8), [0xFF], [0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0xC3],
            [0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x80, 0x61], [0xED, 0xA0, 0x80],  // a surrogate
            Array(repeating: 0x7F, count: 17),
        ] as [[UInt8]]
    )
    func utf8Validation(bytes: [UInt8]) {
        let ours = bytes.withUnsafeBytes { String(validatingUTF8: $0) }
        let standard = String(validating: bytes, as: UTF8.self)
        #expect(ours == standard)
        #expect(ours.map { Array($0.utf8) } == standard.map { Array($0.utf8) })
        // Through a consumed message's header, as the extractor reads it.
        let message = KafkaConsumerMessage(topic: "t", partition: 0, offset: 0, key: bytes, value: nil, headers: [KafkaHeader(key: "h", value: bytes)])
        #expect(message.headerValue(forKey: "h") == standard)
        #expect(message.keyString == standard)
        #expect(message.headers.first?.stringValue == standard)
    }

    @Test("headers keep null and empty values apart")
    func headers() {
        #expect(KafkaHeader(key: "a", value: nil).description == "a=null")
        #expect(KafkaHeader(key: "a", value: "").value == [])
        #expect(KafkaHeader(key: "a", value: [0xff]).stringValue == nil)
        #expect(KafkaHeader(key: "a", value: "é").stringValue == "é")
    }

    @Test("a header made from a string equals, and hashes as, the header of its bytes")
    func stringAndByteHeadersAgree() {
        let text = KafkaHeader(key: "traceparent", value: "00-abc-é")
        let bytes = KafkaHeader(key: "traceparent", value: Array("00-abc-é".utf8))
        #expect(text == bytes)
        #expect(text.hashValue == bytes.hashValue)
        #expect(text.value == Array("00-abc-é".utf8))
        #expect(text.valueCount == 9)
        #expect(Set([text, bytes]).count == 1)
        #expect(KafkaHeader(key: "a", value: "") != KafkaHeader(key: "a", value: nil))
        #expect(KafkaHeader(key: "a", value: "x") != KafkaHeader(key: "b", value: "x"))
        #expect(KafkaHeader(key: "a", value: "xy") != KafkaHeader(key: "a", value: [0x78]))
        #expect(text.withValueBytes { Array($0!) } == Array("00-abc-é".utf8))
        #expect(KafkaHeader(key: "a", value: nil).withValueBytes { $0 == nil })
        var changed = text
        changed.value = [0xff]
        #expect(changed.stringValue == nil && changed.valueCount == 1)
    }

    @Test("consumer messages expose keys, values and repeated headers")
    func consumerMessage() {
        let message = KafkaConsumerMessage(
            topic: "t",
            partition: 1,
            offset: 7,
            key: Array("k".utf8),
            value: nil,
            headers: [.init(key: "h", value: "1"), .init(key: "x", value: nil), .init(key: "h", value: "2")]
        )
        #expect(message.isTombstone)
        #expect(message.keyString == "k")
        #expect(message.headerValues(forKey: "h") == [Array("1".utf8), Array("2".utf8)])
        #expect(message.description == "t[1]@7")
    }

    @Test("a consumer message's one buffer gives back every key, value and header exactly: null ≠ empty, order and duplicates kept")
    func consumerMessagePayload() {
        let headers: [KafkaHeader] = [
            .init(key: "traceparent", value: "00-a-b-01"), .init(key: "n", value: nil), .init(key: "e", value: []),
            .init(key: "", value: [0xff, 0x00]), .init(key: "traceparent", value: "00-c-d-01"),
        ]
        let message = KafkaConsumerMessage(topic: "t", partition: 0, offset: 1, key: [], value: [1, 2, 3], headers: headers)
        #expect(message.key == [] && message.keyCount == 0 && message.keyString == "")
        #expect(message.value == [1, 2, 3] && message.valueCount == 3 && !message.isTombstone)
        #expect(message.headers == headers)
        #expect(message.headerCount == 5)
        #expect(message.withValueBytes { Array($0!) } == [1, 2, 3])
        // The last of a repeated key wins; null, non-UTF-8 and too long values are absent.
        #expect(message.headerValue(forKey: "traceparent") == "00-c-d-01")
        #expect(message.headerValue(forKey: "traceparent", maxBytes: 8) == nil)
        #expect(message.headerValue(forKey: "n") == nil)
        #expect(message.headerValue(forKey: "e") == "")
        #expect(message.headerValue(forKey: "") == nil)
        #expect(message.headerValue(forKey: "missing") == nil)
        #expect(message.headerValues(forKey: "traceparent") == [Array("00-a-b-01".utf8), Array("00-c-d-01".utf8)])
        var seen: [String] = []
        message.forEachHeader { key, _ in
            seen.append(String(decoding: key, as: UTF8.self))
            return seen.count < 2
        }
        #expect(seen == ["traceparent", "n"])

        let null = KafkaConsumerMessage(topic: "t", partition: 0, offset: 2, key: nil, value: nil)
        #expect(null.key == nil && null.keyCount == nil && null.value == nil && null.valueCount == nil && null.isTombstone)
        #expect(null.headers.isEmpty && null.withKeyBytes { $0 == nil })
    }

    @Test("setting a consumer message's key, value or headers replaces only that; equality and hashing follow the bytes")
    func consumerMessageEdits() {
        let original = KafkaConsumerMessage(topic: "t", partition: 0, offset: 1, key: [1], value: [2], headers: [.init(key: "h", value: "v")])
        var edited = original
        edited.value = nil
        #expect(edited.key == [1] && edited.value == nil && edited.headers == [.init(key: "h", value: "v")])
        #expect(original.value == [2])  // the original's buffer is untouched
        #expect(edited != original)
        edited.value = [2]
        #expect(edited == original && edited.hashValue == original.hashValue)
        edited.headers.append(.init(key: "x", value: nil))
        #expect(edited.headers.count == 2 && edited != original)
        edited.key = nil
        #expect(edited.key == nil && edited.value == [2] && edited.headers.count == 2)
        let many = KafkaConsumerMessage(
            topic: "t", partition: 0, offset: 0, key: nil, value: nil,
            headers: (0..<1_000).map { KafkaHeader(key: "k\($0)", value: String($0)) }
        )
        #expect(many.headerValue(forKey: "k999") == "999" && many.headers.count == 1_000)
        #expect(Set([original, original, edited]).count == 2)
    }

    @Test("errors carry librdkafka's code, name and retriability")
    func errors() {
        let timedOut = KafkaError.rdKafka(KafkaError.Code.messageTimedOut.rd)
        #expect(timedOut.name == "_MSG_TIMED_OUT")
        #expect(timedOut.isRetriable)
        #expect(!timedOut.isFatal)
        #expect(timedOut.message == "Local: Message timed out")
        #expect(timedOut.file.hasSuffix("KafkaMessageTests.swift"))
        let tooLarge = KafkaError(code: .messageSizeTooLarge, message: "m")
        #expect(!tooLarge.isRetriable)
        #expect(tooLarge.description == "KafkaError(MSG_SIZE_TOO_LARGE): m")
        #expect(KafkaError.Code.invalidTopic.name == "TOPIC_EXCEPTION")
    }

    @Test("durations round up to whole milliseconds")
    func durations() {
        #expect(Duration.milliseconds(5).milliseconds == 5)
        #expect(Duration.microseconds(1).milliseconds == 1)
        #expect(Duration.seconds(2).milliseconds == 2000)
        #expect(Duration.zero.milliseconds == 0)
    }
}
