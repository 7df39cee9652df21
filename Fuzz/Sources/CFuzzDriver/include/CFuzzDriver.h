#ifndef SWITCHBOARD_CFUZZDRIVER_H
#define SWITCHBOARD_CFUZZDRIVER_H

/// Runs libFuzzer on the target's `LLVMFuzzerTestOneInput` and exits with its status.
///
/// SwiftPM renames an executable's Swift entry point and links `main` to it, so libFuzzer's own
/// `main` is never used: each target's `@main` calls this instead, which hands the command line to
/// libFuzzer's driver (`LLVMFuzzerRunDriver`).
__attribute__((noreturn)) void switchboard_fuzz_main(int argc, char **argv);

#endif
