import Foundation
import SwiftProtobuf
import Tracing
import TracingSDK

/// Maps finished spans to OTLP's `ExportTraceServiceRequest`, grouped by resource and then by
/// instrumentation scope.
enum OTLPEncoding {
    typealias Request = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest

    /// The spans of one resource and scope, as indices into the batch.
    typealias ScopeGroup = (scope: InstrumentationScope, spans: [Int])
    /// Spans grouped by resource, then by instrumentation scope, in first-seen order; spans are
    /// named by their index in the batch (copying a finished span retains each of its fields).
    typealias Groups = [(resource: Resource, scopes: [ScopeGroup])]

    static func group(_ spans: [FinishedSpan]) -> Groups {
        var groups: Groups = []
        // Where the previous span went: a span of the same tracer goes there too, known by
        // reference (no span copied, no resource or scope compared by value).
        var previous: (resource: Int, scope: Int)?
        for index in spans.indices {
            if let previous, spans[index].origin === spans[index - 1].origin {
                groups[previous.resource].scopes[previous.scope].spans.append(index)
                continue
            }
            let resource = spans[index].resource
            let resourceIndex: Int
            // Spans of one tracer share their resource: check the last one first.
            if let last = groups.indices.last, groups[last].resource == resource {
                resourceIndex = last
            } else if let found = groups.firstIndex(where: { $0.resource == resource }) {
                resourceIndex = found
            } else {
                groups.append((resource, []))
                resourceIndex = groups.count - 1
            }
            let scope = spans[index].instrumentationScope
            let scopeIndex: Int
            if let last = groups[resourceIndex].scopes.indices.last, groups[resourceIndex].scopes[last].scope == scope {
                scopeIndex = last
            } else if let found = groups[resourceIndex].scopes.firstIndex(where: { $0.scope == scope }) {
                scopeIndex = found
            } else {
                groups[resourceIndex].scopes.append((scope, []))
                scopeIndex = groups[resourceIndex].scopes.count - 1
            }
            groups[resourceIndex].scopes[scopeIndex].spans.append(index)
            previous = (resourceIndex, scopeIndex)
        }
        return groups
    }

    /// The request as swift-protobuf values (used for OTLP/JSON).
    static func request(_ spans: [FinishedSpan]) -> Request {
        var request = Request()
        request.resourceSpans = self.group(spans).map { resource, scopes in
            var resourceSpans = Opentelemetry_Proto_Trace_V1_ResourceSpans()
            resourceSpans.resource.attributes = self.keyValues(resource.attributes)
            resourceSpans.scopeSpans = scopes.map { scope, indices in
                var scopeSpans = Opentelemetry_Proto_Trace_V1_ScopeSpans()
                scopeSpans.scope.name = scope.name
                if let version = scope.version { scopeSpans.scope.version = version }
                scopeSpans.spans = indices.map { self.span(spans[$0]) }
                return scopeSpans
            }
            return resourceSpans
        }
        return request
    }

    static func span(_ span: FinishedSpan) -> Opentelemetry_Proto_Trace_V1_Span {
        var result = Opentelemetry_Proto_Trace_V1_Span()
        result.traceID = self.bytes(span.spanContext.traceID)
        result.spanID = self.bytes(span.spanContext.spanID)
        result.traceState = span.spanContext.traceState.headerValue
        if let parent = span.parentSpanID { result.parentSpanID = self.bytes(parent) }
        result.flags = self.flags(span.spanContext.flags, isRemote: span.hasRemoteParent)
        result.name = span.name
        result.kind = self.kind(span.kind)
        result.startTimeUnixNano = span.startNanosecondsSinceEpoch
        result.endTimeUnixNano = span.endNanosecondsSinceEpoch
        result.attributes = self.keyValues(span.attributes)
        result.droppedAttributesCount = UInt32(clamping: span.droppedAttributeCount)
        result.events = span.events.map { event in
            var result = Opentelemetry_Proto_Trace_V1_Span.Event()
            result.timeUnixNano = event.nanosecondsSinceEpoch
            result.name = event.name
            result.attributes = self.keyValues(event.attributes)
            return result
        }
        result.droppedEventsCount = UInt32(clamping: span.droppedEventCount)
        result.links = span.links.map { link in
            var result = Opentelemetry_Proto_Trace_V1_Span.Link()
            result.traceID = self.bytes(link.spanContext.traceID)
            result.spanID = self.bytes(link.spanContext.spanID)
            result.traceState = link.spanContext.traceState.headerValue
            result.attributes = self.keyValues(link.attributes)
            result.droppedAttributesCount = UInt32(clamping: link.droppedAttributeCount)
            result.flags = self.flags(link.spanContext.flags, isRemote: link.spanContext.isRemote)
            return result
        }
        result.droppedLinksCount = UInt32(clamping: span.droppedLinkCount)
        if let status = span.status {
            result.status.code = status.code == .ok ? .ok : .error
            if status.code == .error, let message = status.message { result.status.message = message }
        }
        return result
    }

    /// W3C trace flags in the low byte, plus whether the parent (or linked) context is remote.
    static func flags(_ flags: TraceFlags, isRemote: Bool) -> UInt32 {
        UInt32(flags.rawValue) | 0x100 | (isRemote ? 0x200 : 0)
    }

    static func kind(_ kind: SpanKind) -> Opentelemetry_Proto_Trace_V1_Span.SpanKind {
        switch kind {
        case .internal: .internal
        case .server: .server
        case .client: .client
        case .producer: .producer
        case .consumer: .consumer
        }
    }

    static func bytes(_ id: TraceID) -> Data {
        var data = Data(count: 16)
        data.withUnsafeMutableBytes { buffer in
            buffer.storeBytes(of: id.high.bigEndian, toByteOffset: 0, as: UInt64.self)
            buffer.storeBytes(of: id.low.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        return data
    }

    static func bytes(_ id: SpanID) -> Data {
        var data = Data(count: 8)
        data.withUnsafeMutableBytes { $0.storeBytes(of: id.value.bigEndian, as: UInt64.self) }
        return data
    }

    static func keyValues(_ attributes: SpanAttributes) -> [Opentelemetry_Proto_Common_V1_KeyValue] {
        var result: [Opentelemetry_Proto_Common_V1_KeyValue] = []
        result.reserveCapacity(attributes.count)
        attributes.forEach { key, value in
            var keyValue = Opentelemetry_Proto_Common_V1_KeyValue()
            keyValue.key = key
            keyValue.value = self.anyValue(value)
            result.append(keyValue)
        }
        return result
    }

    static func anyValue(_ attribute: SpanAttribute) -> Opentelemetry_Proto_Common_V1_AnyValue {
        var value = Opentelemetry_Proto_Common_V1_AnyValue()
        func array(_ values: [Opentelemetry_Proto_Common_V1_AnyValue]) -> Opentelemetry_Proto_Common_V1_AnyValue.OneOf_Value {
            var array = Opentelemetry_Proto_Common_V1_ArrayValue()
            array.values = values
            return .arrayValue(array)
        }
        func scalar(_ set: (inout Opentelemetry_Proto_Common_V1_AnyValue) -> Void) -> Opentelemetry_Proto_Common_V1_AnyValue {
            var element = Opentelemetry_Proto_Common_V1_AnyValue()
            set(&element)
            return element
        }
        switch attribute {
        case .string(let string): value.stringValue = string
        case .bool(let bool): value.boolValue = bool
        case .int32(let int): value.intValue = Int64(int)
        case .int64(let int): value.intValue = int
        case .double(let double): value.doubleValue = double
        case .stringArray(let strings): value.value = array(strings.map { string in scalar { $0.stringValue = string } })
        case .boolArray(let bools): value.value = array(bools.map { bool in scalar { $0.boolValue = bool } })
        case .int32Array(let ints): value.value = array(ints.map { int in scalar { $0.intValue = Int64(int) } })
        case .int64Array(let ints): value.value = array(ints.map { int in scalar { $0.intValue = int } })
        case .doubleArray(let doubles): value.value = array(doubles.map { double in scalar { $0.doubleValue = double } })
        case .stringConvertible(let convertible): value.stringValue = String(describing: convertible)
        case .stringConvertibleArray(let convertibles):
            value.value = array(convertibles.map { item in scalar { $0.stringValue = String(describing: item) } })
        default: value.stringValue = "\(attribute)"
        }
        return value
    }
}
