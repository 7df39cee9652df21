import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// CPU time and memory of a process, read from /proc.
enum ProcessStats {
    /// User + system CPU time of every thread of `pid`, in microseconds (10 ms resolution).
    static func cpuMicroseconds(pid: Int32) -> Int? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let closing = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: closing)...].split(separator: " ")
        guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        return (user + system) * 1_000_000 / ticks
    }

    /// Resident set size of `pid` in bytes.
    static func residentBytes(pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let kilobytes = line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
            return kilobytes.map { $0 * 1024 }
        }
        return nil
    }

    /// This process's own CPU time in microseconds.
    static func ownCPUMicroseconds() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1_000_000 + Int(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec)
    }
}

/// Latency samples in nanoseconds, summarised as percentiles in microseconds.
struct LatencySamples {
    private(set) var values: [UInt64] = []

    init(capacity: Int = 0) {
        self.values.reserveCapacity(capacity)
    }

    mutating func record(_ nanoseconds: UInt64) {
        self.values.append(nanoseconds)
    }

    var count: Int { self.values.count }

    /// Percentiles (0...100) in microseconds; `nil` without samples.
    func percentiles(_ ps: [Double]) -> [Double]? {
        guard !self.values.isEmpty else { return nil }
        let sorted = self.values.sorted()
        return ps.map { p in
            let index = min(sorted.count - 1, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1)
            return Double(sorted[max(0, index)]) / 1000
        }
    }
}

/// Monotonic nanoseconds.
@inline(__always) func now() -> UInt64 {
    DispatchTime.now().uptimeNanoseconds
}
