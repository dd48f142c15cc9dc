// The propagation parsers under libFuzzer. `scripts/fuzz.sh` builds this with
// `-sanitize=fuzzer,address -D FUZZING` and runs it for a fixed time; every input that ever
// crashed is kept in Tests/TracingSDKTests/FuzzCorpus and replayed by the unit tests.
// Built normally, it replays the files given as arguments (to reproduce a crash).
import Foundation
import TracingSDK

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPropagation(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    checkPropagation(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
#else
@main
enum PropagationFuzzer {
    static func main() throws {
        for path in CommandLine.arguments.dropFirst() {
            checkPropagation(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
            print("ok: \(path)")
        }
    }
}
#endif
