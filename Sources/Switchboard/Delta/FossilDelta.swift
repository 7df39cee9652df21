/// Fossil's delta format (https://fossil-scm.org/home/doc/tip/www/delta_format.wiki), which
/// Centrifugo uses for delta compression in channels and every official SDK applies: a delta turns
/// a source (the previous publication's data) into a target (the new one) with copies from the
/// source and literal inserts, and ends with a checksum of the target.
///
/// ``create(from:to:)`` is a port of Fossil's `delta_create` (a rolling hash of 16-byte blocks of
/// the source, the longest match for each position of the target); ``apply(_:to:)`` checks every
/// command against the source's and the target's sizes and the checksum, so a wrong or hostile
/// delta is an error, never a crash.
public enum FossilDelta {
    /// Why a delta could not be applied.
    public struct Error: Swift.Error, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    static let blockSize = 16
    static let digits = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~".utf8)
    /// The value of each digit, or -1.
    static let digitValues: [Int8] = {
        var values = [Int8](repeating: -1, count: 128)
        for (index, digit) in digits.enumerated() { values[Int(digit)] = Int8(index) }
        return values
    }()

    // MARK: Creating

    /// The delta that turns `source` into `target`.
    public static func create(from source: [UInt8], to target: [UInt8]) -> [UInt8] {
        var delta: [UInt8] = []
        delta.reserveCapacity(min(target.count, 64) + 16)
        self.putInt(UInt32(truncatingIfNeeded: target.count), &delta)
        delta.append(UInt8(ascii: "\n"))
        let n = self.blockSize
        // A source no longer than a block has nothing worth copying.
        guard source.count > n else {
            self.insert(target[...], &delta)
            self.putInt(self.checksum(target), &delta)
            delta.append(UInt8(ascii: ";"))
            return delta
        }
        // Every whole block of the source, by hash; blocks of equal hash chained, newest first.
        let hashes = source.count / n
        var landmark = [Int](repeating: -1, count: hashes)
        var collide = [Int](repeating: -1, count: hashes)
        var start = 0
        while start < source.count - n {
            let hash = RollingHash(source, at: start)
            let slot = Int(hash.value % UInt32(hashes))
            collide[start / n] = landmark[slot]
            landmark[slot] = start / n
            start += n
        }

        var base = 0
        while base + n < target.count {
            var hash = RollingHash(target, at: base)
            var i = 0
            var best = (count: 0, offset: 0, literal: 0)
            while true {
                var limit = 250
                var block = landmark[Int(hash.value % UInt32(hashes))]
                while block >= 0, limit > 0 {
                    limit -= 1
                    let sourceStart = block * n
                    // Forwards from the block's start, then backwards before it.
                    var x = sourceStart
                    var y = base + i
                    let end = source.count - sourceStart <= target.count - y ? source.count : sourceStart + target.count - y
                    while x < end, source[x] == target[y] {
                        x += 1
                        y += 1
                    }
                    let forward = x - sourceStart - 1
                    var backward = 1
                    while backward < sourceStart, backward <= i, source[sourceStart - backward] == target[base + i - backward] {
                        backward += 1
                    }
                    backward -= 1
                    let offset = sourceStart - backward
                    let count = forward + backward + 1
                    let literal = i - backward
                    // A copy is worth it only when it is longer than the commands that say it.
                    let cost = self.digitCount(literal) + self.digitCount(count) + self.digitCount(offset) + 3
                    if count >= cost, count > best.count { best = (count, offset, literal) }
                    block = collide[block]
                }
                if best.count > 0 {
                    if best.literal > 0 {
                        self.insert(target[base..<(base + best.literal)], &delta)
                        base += best.literal
                    }
                    base += best.count
                    self.putInt(UInt32(best.count), &delta)
                    delta.append(UInt8(ascii: "@"))
                    self.putInt(UInt32(best.offset), &delta)
                    delta.append(UInt8(ascii: ","))
                    break
                }
                if base + i + n >= target.count {
                    // No match to the end: the rest is inserted below.
                    break
                }
                hash.next(target[base + i + n])
                i += 1
            }
            if best.count == 0 { break }
        }
        if base < target.count { self.insert(target[base...], &delta) }
        self.putInt(self.checksum(target), &delta)
        delta.append(UInt8(ascii: ";"))
        return delta
    }

    /// Fossil's rolling hash of a 16-byte window (Adler-like, 16-bit halves).
    struct RollingHash {
        var a: UInt16
        var b: UInt16
        var index = 0
        var window: [UInt8]

        init(_ bytes: [UInt8], at start: Int) {
            self.window = Array(bytes[start..<(start + FossilDelta.blockSize)])
            var a = UInt16(self.window[0])
            var b = a
            for byte in self.window.dropFirst() {
                a &+= UInt16(byte)
                b &+= a
            }
            self.a = a
            self.b = b
        }

        mutating func next(_ byte: UInt8) {
            let old = UInt16(self.window[self.index])
            self.window[self.index] = byte
            self.index = (self.index + 1) & (FossilDelta.blockSize - 1)
            self.a = self.a &- old &+ UInt16(byte)
            self.b = self.b &- UInt16(FossilDelta.blockSize) &* old &+ self.a
        }

        var value: UInt32 { UInt32(self.a) | (UInt32(self.b) << 16) }
    }

    static func insert(_ bytes: ArraySlice<UInt8>, _ delta: inout [UInt8]) {
        self.putInt(UInt32(bytes.count), &delta)
        delta.append(UInt8(ascii: ":"))
        delta.append(contentsOf: bytes)
    }

    static func putInt(_ value: UInt32, _ out: inout [UInt8]) {
        guard value > 0 else {
            out.append(UInt8(ascii: "0"))
            return
        }
        var reversed: [UInt8] = []
        var v = value
        while v > 0 {
            reversed.append(self.digits[Int(v & 0x3f)])
            v >>= 6
        }
        out.append(contentsOf: reversed.reversed())
    }

    static func digitCount(_ value: Int) -> Int {
        var count = 1
        var limit = 64
        while value >= limit {
            count += 1
            limit <<= 6
        }
        return count
    }

    /// Fossil's 32-bit checksum: the bytes summed as big-endian 32-bit words.
    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var sums: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
        var z = 0
        var n = bytes.count
        while n >= 4 {
            sums.0 &+= UInt32(bytes[z])
            sums.1 &+= UInt32(bytes[z + 1])
            sums.2 &+= UInt32(bytes[z + 2])
            sums.3 &+= UInt32(bytes[z + 3])
            z += 4
            n -= 4
        }
        var sum = sums.3 &+ (sums.2 << 8) &+ (sums.1 << 16) &+ (sums.0 << 24)
        if n == 3 { sum &+= UInt32(bytes[z + 2]) << 8 }
        if n >= 2 { sum &+= UInt32(bytes[z + 1]) << 16 }
        if n >= 1 { sum &+= UInt32(bytes[z]) << 24 }
        return sum
    }

    // MARK: Applying

    /// The target that `delta` makes of `source`.
    ///
    /// - Throws: ``Error`` for a delta that is malformed, does not fit the source, or whose result
    ///   does not match its size or checksum.
    public static func apply(_ delta: [UInt8], to source: [UInt8]) throws(Error) -> [UInt8] {
        var position = 0
        func int() -> UInt32 {
            var value: UInt32 = 0
            while position < delta.count {
                let digit = self.digitValues[Int(delta[position] & 0x7f)]
                if digit < 0 { break }
                value = (value << 6) &+ UInt32(digit)
                position += 1
            }
            return value
        }
        func character() throws(Error) -> UInt8 {
            guard position < delta.count else { throw Error("the delta ends early") }
            defer { position += 1 }
            return delta[position]
        }
        let size = Int(int())
        guard try character() == UInt8(ascii: "\n") else { throw Error("the size is not followed by a newline") }
        var target: [UInt8] = []
        target.reserveCapacity(min(size, 1 << 24))
        while position < delta.count {
            let count = Int(int())
            switch try character() {
            case UInt8(ascii: "@"):
                let offset = Int(int())
                if position < delta.count, try character() != UInt8(ascii: ",") { throw Error("a copy is not followed by ','") }
                guard target.count + count <= size else { throw Error("a copy makes the target larger than its size") }
                guard offset <= source.count, count <= source.count - offset else { throw Error("a copy reaches past the source") }
                target.append(contentsOf: source[offset..<(offset + count)])
            case UInt8(ascii: ":"):
                guard target.count + count <= size else { throw Error("an insert makes the target larger than its size") }
                guard count <= delta.count - position else { throw Error("an insert reaches past the delta") }
                target.append(contentsOf: delta[position..<(position + count)])
                position += count
            case UInt8(ascii: ";"):
                guard UInt32(truncatingIfNeeded: count) == self.checksum(target) else { throw Error("the checksum does not match") }
                guard target.count == size else { throw Error("the target is not of the size the delta says") }
                return target
            default:
                throw Error("unknown delta command")
            }
        }
        throw Error("the delta has no checksum")
    }
}
