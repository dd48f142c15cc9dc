import Locking

/// Hands a delivery result from the delivery thread to the awaiting task, whichever comes first:
/// what ``KafkaProducer/sendAndWait(_:)`` waits on, and the traced producer too (package access).
@usableFromInline
package final class DeliveryOutcome: Sendable {
    private enum State {
        case pending
        case waiting(CheckedContinuation<KafkaDeliveryReport, any Error>)
        case resolved(Result<KafkaDeliveryReport, KafkaError>)
    }

    private let state = Locked(State.pending)

    @usableFromInline
    package init() {}

    @usableFromInline
    package func resolve(_ result: Result<KafkaDeliveryReport, KafkaError>) {
        let continuation: CheckedContinuation<KafkaDeliveryReport, any Error>? = self.state.withLock { state in
            switch state {
            case .waiting(let continuation):
                state = .resolved(result)
                return continuation
            case .pending:
                state = .resolved(result)
                return nil
            case .resolved:
                return nil
            }
        }
        continuation?.resume(with: result)
    }

    /// The report, or the delivery's ``KafkaError``.
    @usableFromInline
    package var value: KafkaDeliveryReport {
        get async throws {
            try await withCheckedThrowingContinuation { continuation in
                let result: Result<KafkaDeliveryReport, KafkaError>? = self.state.withLock { state in
                    if case .resolved(let result) = state { return result }
                    state = .waiting(continuation)
                    return nil
                }
                if let result { continuation.resume(with: result) }
            }
        }
    }
}
