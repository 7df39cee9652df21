import Foundation
import NIOCore

/// The CPUs this process may run on.
enum AvailableCPUs {
    /// NIO's count (the machine's cores, or fewer under a cgroup CPU limit), lowered to the size of
    /// the process's affinity mask, which `taskset` and `docker --cpuset-cpus` set and NIO does not read.
    static var count: Int {
        max(1, min(System.coreCount, self.affinityCount ?? System.coreCount))
    }

    /// The number of CPUs in this process's affinity mask (`Cpus_allowed_list` of
    /// `/proc/self/status`), or `nil` where it cannot be read.
    static var affinityCount: Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") })
        else { return nil }
        return self.count(ofList: line.dropFirst("Cpus_allowed_list:".count))
    }

    /// The number of CPUs in a Linux CPU list such as `0-3,8,10-11`, or `nil` if it is not one.
    static func count(ofList list: Substring) -> Int? {
        var total = 0
        for range in list.split(separator: ",") {
            let bounds = range.split(separator: "-").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            switch bounds.count {
            case 1:
                guard bounds[0] != nil else { return nil }
                total += 1
            case 2:
                guard let low = bounds[0], let high = bounds[1], low <= high else { return nil }
                total += high - low + 1
            default:
                return nil
            }
        }
        return total > 0 ? total : nil
    }
}
