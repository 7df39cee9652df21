#if canImport(Glibc)
import Glibc
#endif
import ServiceLifecycle
import Switchboard

/// Gives memory back to the operating system once a burst of connections has gone.
///
/// glibc's `malloc` keeps what the process frees in its arenas (one per thread that allocates, up
/// to eight per CPU) and returns it to the system only from the top of each heap. After thousands
/// of connections have come and gone (their buffers, outboxes and the broadcasts queued for them),
/// hundreds of megabytes stayed resident though nothing used them (docs/BENCHMARKS.md, "Memory after
/// a burst"). `malloc_trim(0)` returns the free pages of every arena.
///
/// Every ``interval`` this service looks at the number of open connections; when it has fallen by
/// at least half, and by at least ``minimumDrop``, from the highest count seen since the last trim,
/// it trims, and once more three intervals later. A trim takes milliseconds (it walks the free
/// lists), runs on a task of its own rather than an event loop, and happens only after a sharp
/// drop: a steady server never trims. Without glibc (`malloc_trim` not found) it does nothing.
struct MemoryTrimService: Service {
    let registry: ConnectionRegistry
    var interval: Duration = .seconds(1)
    var minimumDrop = 100

    func run() async throws {
        await cancelWhenGracefulShutdown { await self.watch() }
    }

    private func watch() async {
        guard let trim = Self.lookUpMallocTrim() else { return }
        var high = self.registry.count
        // Intervals until a second trim: what the gone connections left queued (their last writes,
        // the broadcasts of their leaving) is freed over the moments after the count has dropped.
        var followUp = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: self.interval)
            let now = self.registry.count
            high = max(high, now)
            if Self.shouldTrim(high: high, now: now, minimumDrop: self.minimumDrop) {
                _ = trim(0)
                high = now
                followUp = 3
            } else if followUp > 0 {
                followUp -= 1
                if followUp == 0 { _ = trim(0) }
            }
        }
    }

    /// Whether the connection count has dropped sharply from `high` to `now`.
    static func shouldTrim(high: Int, now: Int, minimumDrop: Int) -> Bool {
        high - now >= minimumDrop && now <= high / 2
    }

    /// glibc's `malloc_trim`, looked up at run time (Swift's Glibc module does not export
    /// `<malloc.h>`), or `nil` where there is none.
    static func lookUpMallocTrim() -> (@convention(c) (Int) -> Int32)? {
        #if canImport(Glibc)
        guard let symbol = dlsym(nil, "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        #else
        return nil
        #endif
    }
}
