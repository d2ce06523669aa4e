import Testing
import VerdictPipeline

@Suite("The CPU check before any command")
struct CPUSupportTests {
    static let haswell =
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse sse2 ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes avx f16c abm bmi1 avx2 bmi2\n\nprocessor\t: 1\n"
    static let westmere = "processor\t: 0\nflags\t\t: fpu sse sse2 ssse3 cx16 sse4_1 sse4_2 popcnt aes\n"

    @Test("a Haswell-class CPU runs a Haswell build; an older one is refused with what it lacks and how to rebuild")
    func haswellBuild() {
        #expect(CPUSupport.problem(required: CPUSupport.haswellFlags, cpuinfo: Self.haswell) == nil)
        let problem = CPUSupport.problem(required: CPUSupport.haswellFlags, cpuinfo: Self.westmere)
        #expect(problem?.contains("avx, avx2, fma, bmi1, bmi2, f16c, movbe, abm") == true, "\(problem ?? "nil")")
        #expect(problem?.contains("VERDICT_TARGET_CPU=x86-64") == true)
        // A flag is a whole word: "avx" in "avx2" alone does not count.
        #expect(CPUSupport.problem(required: ["avx"], cpuinfo: "flags\t: sse2 avx2\n") != nil)
    }

    @Test("a baseline build, or a machine whose flags cannot be read, is never refused")
    func nothingRequired() {
        #expect(CPUSupport.problem(required: [], cpuinfo: Self.westmere) == nil)
        #expect(CPUSupport.problem(required: CPUSupport.haswellFlags, cpuinfo: nil) == nil)
        #expect(CPUSupport.problem(required: CPUSupport.haswellFlags, cpuinfo: "processor : 0\n") == nil)
    }
}
