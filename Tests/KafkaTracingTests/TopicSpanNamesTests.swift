import Synchronization
import Testing
import Tracing

@testable import KafkaTracing

@Suite("span names per topic")
struct TopicSpanNamesTests {
    @Test("every topic gets its own name, also beyond the slots and when slots collide; long names are kept, not rebuilt")
    func namesAreRight() {
        let names = TopicSpanNames(prefix: "send ")
        // Four times as many topics as slots: most share a slot with another.
        let topics = (0..<(TopicTable<String>.slotCount * 4)).map { "orders.created.region-\($0)" }
        for _ in 0..<3 {
            for topic in topics { #expect(names.name(for: topic) == "send " + topic) }
        }
        // A topic that kept its slot hands out the same string each time (one allocation, ever).
        func storage(_ name: String) -> UnsafePointer<UInt8>? { name.utf8.withContiguousStorageIfAvailable { $0.baseAddress } ?? nil }
        let kept = topics.filter { topic in
            // (Both alive at once: a freed name's storage could be reused for the next.)
            let (first, second) = (names.name(for: topic), names.name(for: topic))
            return storage(first) == storage(second)
        }
        #expect(kept.count >= TopicTable<String>.slotCount / 2, "\(kept.count) of \(topics.count) topics kept their name")
        #expect(kept.count <= TopicTable<String>.slotCount)
        #expect(names.name(for: "") == "send ")
    }

    @Test("tasks asking at once get the right names")
    func concurrentUse() async {
        let names = TopicSpanNames(prefix: "process ")
        let topics = (0..<200).map { "payments.settled.\($0)" }
        await withTaskGroup(of: Bool.self) { group in
            for task in 0..<4 {
                group.addTask {
                    var right = true
                    for round in 0..<50 {
                        for index in topics.indices {
                            let topic = topics[(index + task * 7 + round) % topics.count]
                            right = right && names.name(for: topic) == "process " + topic
                        }
                    }
                    return right
                }
            }
            for await right in group { #expect(right) }
        }
    }

    @Test("a topic's attribute template: made again once the cluster id is known, then the same for every span, for any number of topics")
    func templates() {
        let clusterID = Mutex<String?>(nil)
        let templates = AttributeTemplates(
            operationName: "process",
            legacyOperation: nil,
            client: ClientAttributes(bootstrapServers: ["localhost:9092"], clientID: nil),
            clusterID: { clusterID.withLock { $0 } },
            perMessage: 3
        )
        let early = templates.template(for: "orders")
        #expect(early.attributes.get(MessagingAttribute.clusterID) == nil)
        #expect(templates.template(for: "orders") === early, "kept while the cluster id is unknown")
        clusterID.withLock { $0 = "cluster-1" }
        let known = templates.template(for: "orders")
        #expect(known !== early && known.attributes.get(MessagingAttribute.clusterID) == .string("cluster-1"))
        #expect(templates.template(for: "orders") === known && templates.template(for: "orders") === known)
        // More topics than the lock-free table has slots: each still gets its own destination.
        for round in 0..<3 {
            for index in 0..<(TopicTable<String>.slotCount * 3) {
                let topic = "payments.\(index)"
                #expect(templates.template(for: topic).attributes.get(MessagingAttribute.destinationName) == .string(topic), "round \(round)")
            }
        }
        #expect(templates.template(for: nil).attributes.get(MessagingAttribute.destinationName) == nil)
    }
}
