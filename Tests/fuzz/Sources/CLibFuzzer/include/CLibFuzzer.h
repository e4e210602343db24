// libFuzzer's driver entry point (compiler-rt, FuzzerDriver.cpp; linked by -sanitize=fuzzer).
//
// SwiftPM links every executable target with `main` defined as the module's own entry point
// (`<module>_main`, so that tests can link the executable), and a target without one does not
// link. Each harness therefore has a Swift `@main` that hands its arguments to libFuzzer through
// this documented entry point instead of relying on libFuzzer's own `main`.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));
