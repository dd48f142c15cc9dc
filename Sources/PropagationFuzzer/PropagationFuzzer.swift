// The propagation parsers under libFuzzer. `scripts/fuzz.sh` builds this with
// `-sanitize=fuzzer,address -D FUZZING` and runs it for a fixed time; every input that ever
// crashed is kept in Tests/TracingSDKTests/FuzzCorpus and replayed by the unit tests.
// Built normally, it replays the files given as arguments (to reproduce a crash).
import Foundation
import TracingSDK

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPropagation(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    checkPropagation(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

// SwiftPM links an executable's entry point as `<module>_main`, so libFuzzer's own `main` is not
// used: this one hands over to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("PropagationFuzzer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzPropagation(data, size) }
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
