import Foundation

/// The check that this CPU runs the instructions the forest evaluator was built with.
///
/// Package.swift builds VerdictForest for Haswell-class x86-64 (AVX2, FMA, BMI, F16C, MOVBE,
/// LZCNT) unless `VERDICT_TARGET_CPU=x86-64`. On an older CPU its first SIMD instruction would
/// kill the process with SIGILL, in the middle of a stream and without a word. The check is built
/// for baseline x86-64 like everything but VerdictForest, and `verdict` runs it before any command.
public enum CPUSupport {
    /// `/proc/cpuinfo` flags of the instructions `-target-cpu haswell` lets the compiler use
    /// (`abm` is how Linux names LZCNT).
    public static let haswellFlags = ["avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "abm", "popcnt"]

    /// What is missing of `required`, with what to do; nil when this CPU has it all or when its
    /// flags cannot be read (no /proc: macOS, where no Mac older than Haswell runs macOS 15).
    public static func problem(required: [String], cpuinfo: String?) -> String? {
        guard !required.isEmpty, let cpuinfo else { return nil }
        guard let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
        let flags = Set(line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" }).map(String.init))
        let missing = required.filter { !flags.contains($0) }
        guard !missing.isEmpty else { return nil }
        return
            "verdict: this build's forest evaluator uses AVX2 and FMA (Haswell-class x86-64), and this CPU lacks \(missing.joined(separator: ", ")). Rebuild for any x86-64 CPU with VERDICT_TARGET_CPU=x86-64 make build (docs/operations.md, \"CPU\")."
    }

    /// This machine's `/proc/cpuinfo`, nil where there is none.
    public static func cpuinfo() -> String? { try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) }
}
