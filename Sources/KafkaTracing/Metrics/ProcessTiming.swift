import Kafka
import Tracing
import TracingCapabilities

/// The process span's start and end, read once for both the span and the metrics.
///
/// With metrics on, the instrumentation reads the monotonic clock at the start and end of a
/// handler call anyway (for `messaging.process.duration`); handing the same readings to the
/// tracer as the span's instants (``MonotonicWallInstant``) spares the tracer its own two
/// wall-clock reads, so the metrics add no clock read to the sampled traced path, and the span's
/// duration *is* the recorded process duration. Without metrics the tracer keeps its own clock.
/// Any tracer takes instants through swift-distributed-tracing's `at:` parameters.
enum ProcessTiming {
    /// Starts the span; at `monotonic` (``monotonicNanoseconds()``) when the metrics timed it.
    static func startSpan(
        _ name: String,
        context: InstrumentationContext,
        tracer: any Tracer,
        at monotonic: UInt64?
    ) -> any Span {
        guard let monotonic else { return tracer.startAnySpan(name, context: context, ofKind: .consumer) }
        return tracer.startAnySpan(
            name,
            context: context,
            ofKind: .consumer,
            at: MonotonicWallInstant(monotonic: monotonic),
            function: #function,
            file: #fileID,
            line: #line
        )
    }

    /// Starts the span on the remote parent in `message`'s headers (and links it), as
    /// ``startSpan(_:context:tracer:at:)`` would with the extracted context as `context`; `nil`
    /// when the headers hold no context.
    static func startSpan(
        _ name: String,
        continuing message: KafkaConsumerMessage,
        tracer: any RemoteParentTracer,
        at monotonic: UInt64?
    ) -> (any Span)? {
        func start<Instant: TracerInstant>(at instant: Instant) -> (any Span)? {
            tracer.startSpan(
                name,
                continuingFrom: message,
                using: KafkaConsumerMessageExtractor(),
                ofKind: .consumer,
                at: instant,
                linkingParent: true,
                function: #function,
                file: #fileID,
                line: #line
            )
        }
        guard let monotonic else { return start(at: DefaultTracerClock.now) }
        return start(at: MonotonicWallInstant(monotonic: monotonic))
    }

    /// Ends the span; when `timed`, at a monotonic reading it returns (else 0, no clock read).
    static func end(_ span: any Span, timed: Bool) -> UInt64 {
        guard timed else {
            span.end()
            return 0
        }
        let ended = monotonicNanoseconds()
        span.end(at: MonotonicWallInstant(monotonic: ended))
        return ended
    }
}

/// A wall-clock instant (nanoseconds since the epoch, as every tracer expects) made from a
/// monotonic reading and ``WallClock``'s offset, refreshed at most once a second: within the
/// clock's slew over that second (microseconds with NTP) of what `DefaultTracerClock` reads.
struct MonotonicWallInstant: TracerInstant {
    let nanosecondsSinceEpoch: UInt64

    init(monotonic: UInt64) {
        self.nanosecondsSinceEpoch = UInt64(max(WallClock.nanoseconds(atMonotonic: monotonic), 0))
    }

    static func < (lhs: Self, rhs: Self) -> Bool { lhs.nanosecondsSinceEpoch < rhs.nanosecondsSinceEpoch }
}
