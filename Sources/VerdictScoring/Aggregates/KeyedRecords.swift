/// The records of one key field's aggregates, found by key: fixed-size records in one array, each
/// headed by its key, and an open-addressing table (linear probing, backward-shift deletion) from
/// a hash of the key to the record.
///
/// Why not `[String: Int32]`: a lookup made a `String` per event (a heap allocation for any key
/// longer than 15 bytes), hashed it with SipHash, and compared against a key stored on the heap,
/// a cache miss of its own. Here a key of up to ``inlineBytes`` bytes is hashed from its bytes in
/// place, the table entry carries 32 bits of the hash so that nearly every probe that does not match
/// is rejected without touching a record, and the key is compared in the record's header, which
/// the update reads next anyway. Longer keys, rare for card tokens, go to a dictionary.
struct KeyedRecords: Sendable {
    /// Key bytes a record holds in its header.
    static let inlineBytes = 32
    /// Header words: the key's length, then its bytes zero-padded.
    static let headerWords = 1 + inlineBytes / 8

    /// Aggregate words per record (after the header).
    let stride: Int
    /// The records, `headerWords + stride` words each; free ones are reused.
    var words: [UInt64] = []
    /// 0 for an empty slot, else the key's 32-bit tag in the high half and record index + 1 in the low.
    private var table: [UInt64] = []
    private var shift = 64
    private var inTable = 0
    private var free: [Int32] = []
    /// Keys longer than ``inlineBytes``, both ways.
    private var long: [[UInt8]: Int32] = [:]
    private var longKeys: [Int32: [UInt8]] = [:]

    init(stride: Int) {
        self.stride = stride
    }

    /// Keys held.
    var count: Int { inTable + long.count }

    /// Bytes held: records, table slots, and about 64 per long key.
    var approximateBytes: Int { words.capacity * 8 + table.capacity * 8 + long.count * 64 }

    /// The offset in ``words`` of the aggregate words of record `index`.
    @inline(__always) func base(_ index: Int32) -> Int { Int(index) * (Self.headerWords + stride) + Self.headerWords }

    /// A key prepared for lookup: its bytes zero-padded into words, and its hash's tag.
    struct Key {
        var length: Int
        var w0: UInt64 = 0, w1: UInt64 = 0, w2: UInt64 = 0, w3: UInt64 = 0
        var tag: UInt32 = 0
        /// Set for a key longer than ``KeyedRecords/inlineBytes``.
        var bytes: [UInt8]?

        init(_ raw: UnsafeRawBufferPointer) {
            guard raw.count <= KeyedRecords.inlineBytes else {
                self.init(length: raw.count, 0, 0, 0, 0)
                bytes = Array(raw)
                return
            }
            var padded: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            withUnsafeMutableBytes(of: &padded) { $0.copyMemory(from: raw) }
            self.init(
                length: raw.count, UInt64(littleEndian: padded.0), UInt64(littleEndian: padded.1), UInt64(littleEndian: padded.2),
                UInt64(littleEndian: padded.3))
        }

        /// A key read back from a record's header.
        init(length: Int, _ w0: UInt64, _ w1: UInt64, _ w2: UInt64, _ w3: UInt64) {
            self.length = length
            (self.w0, self.w1, self.w2, self.w3) = (w0, w1, w2, w3)
            // Two rounds of multiply-fold (as in wyhash) over the four words and the length.
            let a = Self.fold(w0 ^ 0xa076_1d64_78bd_642f, w1 ^ 0xe703_7ed1_a0b4_28db)
            let b = Self.fold(w2 ^ 0x8ebc_6af0_9c88_c6e3, w3 ^ 0x5899_65cc_7537_4cc3 ^ UInt64(length))
            tag = UInt32(truncatingIfNeeded: Self.fold(a ^ b, 0x1d8e_4e27_c47d_124f) >> 32)
        }

        @inline(__always) static func fold(_ a: UInt64, _ b: UInt64) -> UInt64 {
            let product = a.multipliedFullWidth(by: b)
            return product.high ^ product.low
        }
    }

    /// The slot a tag's probe starts at (Fibonacci hashing of the tag).
    @inline(__always) private func home(_ tag: UInt32) -> Int {
        Int(truncatingIfNeeded: (UInt64(tag) &* 0x9e37_79b9_7f4a_7c15) >> UInt64(shift))
    }

    @inline(__always) private func matches(_ key: Key, _ index: Int32) -> Bool {
        let at = Int(index) * (Self.headerWords + stride)
        return words[at] == UInt64(key.length) && words[at + 1] == key.w0 && words[at + 2] == key.w1 && words[at + 3] == key.w2
            && words[at + 4] == key.w3
    }

    /// The record of `key`, if held.
    func find(_ key: Key) -> Int32? {
        if let bytes = key.bytes { return long[bytes] }
        guard !table.isEmpty else { return nil }
        let mask = table.count - 1
        var i = home(key.tag)
        while true {
            let entry = table[i]
            if entry == 0 { return nil }
            if UInt32(truncatingIfNeeded: entry >> 32) == key.tag {
                let index = Int32(truncatingIfNeeded: entry & 0xffff_ffff) - 1
                if matches(key, index) { return index }
            }
            i = (i + 1) & mask
        }
    }

    /// Reads the table slots of keys with these tags, then every cache line of the records their
    /// entries point to, and returns a value made of what was read (so the reads are kept).
    ///
    /// Why: a card's record is a cache miss of its own, and the table slot before it another. An
    /// update reads them one after the other, so a batch waits for two misses per event in turn.
    /// Here no read depends on another of its pass, so the CPU overlaps the misses of a whole group
    /// of keys, and the updates that follow find their records in cache. Only a key's home slot is
    /// read (a key further along its probe, or another key with the same tag, is only not read ahead),
    /// so this changes no state and no value.
    func readAhead(_ tags: UnsafeBufferPointer<UInt32>) -> UInt64 {
        guard !table.isEmpty, !tags.isEmpty else { return 0 }
        let width = Self.headerWords + stride
        var sink: UInt64 = 0
        table.withUnsafeBufferPointer { table in
            for tag in tags { sink &+= table[home(tag)] }
            words.withUnsafeBufferPointer { words in
                for tag in tags {
                    let entry = table[home(tag)]
                    guard entry != 0, UInt32(truncatingIfNeeded: entry >> 32) == tag else { continue }
                    let at = (Int(truncatingIfNeeded: entry & 0xffff_ffff) &- 1) &* width
                    guard at >= 0, at + width <= words.count else { continue }
                    // One word per 64-byte line, and the last word, whatever the record's alignment.
                    var word = at
                    while word < at + width {
                        sink &+= words[word]
                        word += 8
                    }
                    sink &+= words[at + width - 1]
                }
            }
        }
        return sink
    }

    /// Adds `key` (not held) with a zeroed record and returns the record's index.
    mutating func insert(_ key: Key) -> Int32 {
        let index: Int32
        let width = Self.headerWords + stride
        if let reused = free.popLast() {
            index = reused
            let at = Int(index) * width
            for w in at..<(at + width) { words[w] = 0 }
        } else {
            index = Int32(words.count / width)
            words.append(contentsOf: repeatElement(0, count: width))
        }
        let at = Int(index) * width
        words[at] = UInt64(key.length)
        if let bytes = key.bytes {
            long[bytes] = index
            longKeys[index] = bytes
            return index
        }
        words[at + 1] = key.w0
        words[at + 2] = key.w1
        words[at + 3] = key.w2
        words[at + 4] = key.w3
        if (inTable + 1) * 2 > table.count { grow() }
        place(UInt64(key.tag) << 32 | UInt64(UInt32(index) + 1))
        inTable += 1
        return index
    }

    /// Adds `key` (not held) with the aggregate words `record` (``stride`` of them).
    mutating func insert(_ key: Key, record: [UInt64]) {
        // Two statements: `base(insert(key))` would evaluate (copy) self for `base` before the
        // insert, and every insert would then copy the arrays.
        let index = insert(key)
        let at = base(index)
        for w in 0..<stride { words[at + w] = record[w] }
    }

    private mutating func place(_ entry: UInt64) {
        let mask = table.count - 1
        var i = home(UInt32(truncatingIfNeeded: entry >> 32))
        while table[i] != 0 { i = (i + 1) & mask }
        table[i] = entry
    }

    /// Doubles the table (at least 64 slots), keeping it at most half full.
    private mutating func grow() {
        let old = table
        let size = Swift.max(64, old.count * 2)
        table = [UInt64](repeating: 0, count: size)
        shift = 64 - size.trailingZeroBitCount
        for entry in old where entry != 0 { place(entry) }
    }

    /// Sizes the table for `keys` keys up front (a restore).
    mutating func reserve(_ keys: Int) {
        words.reserveCapacity(keys * (Self.headerWords + stride))
        while keys * 2 > table.count { grow() }
    }

    /// Drops record `index` (held): its table slot is freed by shifting back the entries after
    /// it that probed past it, so no tombstone is left.
    mutating func remove(_ index: Int32) {
        free.append(index)
        if let bytes = longKeys.removeValue(forKey: index) {
            long.removeValue(forKey: bytes)
            return
        }
        let mask = table.count - 1
        let target = UInt64(UInt32(index) + 1)
        // Its slot, from its key's tag.
        let at = Int(index) * (Self.headerWords + stride)
        let key = Key(length: Int(words[at]), words[at + 1], words[at + 2], words[at + 3], words[at + 4])
        var i = home(key.tag)
        while table[i] & 0xffff_ffff != target { i = (i + 1) & mask }
        table[i] = 0
        inTable -= 1
        var hole = i
        var j = (i + 1) & mask
        while table[j] != 0 {
            let start = home(UInt32(truncatingIfNeeded: table[j] >> 32))
            // Move the entry into the hole when the hole lies on its probe path (start ... j).
            let distanceToHole = (hole - start) & mask
            let distanceToHere = (j - start) & mask
            if distanceToHole < distanceToHere {
                table[hole] = table[j]
                table[j] = 0
                hole = j
            }
            j = (j + 1) & mask
        }
    }

    /// The key of record `index` (held).
    func key(_ index: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(keyLength(index))
        appendKey(index, to: &bytes)
        return bytes
    }

    /// The length of the key of record `index` (held).
    func keyLength(_ index: Int32) -> Int { Int(words[Int(index) * (Self.headerWords + stride)]) }

    /// Appends the key of record `index` (held) to `out`.
    func appendKey(_ index: Int32, to out: inout [UInt8]) {
        if let bytes = longKeys[index] {
            out.append(contentsOf: bytes)
            return
        }
        let at = Int(index) * (Self.headerWords + stride)
        var padded = (words[at + 1].littleEndian, words[at + 2].littleEndian, words[at + 3].littleEndian, words[at + 4].littleEndian)
        withUnsafeBytes(of: &padded) { out.append(contentsOf: $0.prefix(Int(words[at]))) }
    }

    /// The index of every record held, in the order of their keys' bytes (a snapshot's order, so
    /// equal states give equal bytes), without copying a key out.
    func sortedByKey() -> [Int32] {
        // Each header is read once into a contiguous array and the array sorted: comparing through
        // the records would read two random headers per comparison.
        // Zero-padded little-endian words compare as bytes once byte-swapped; the length breaks
        // the tie of a key and that key followed by zero bytes.
        var inline: [(UInt64, UInt64, UInt64, UInt64, UInt64, Int32)] = []
        inline.reserveCapacity(inTable)
        let width = Self.headerWords + stride
        for entry in table where entry != 0 {
            let index = Int32(truncatingIfNeeded: entry & 0xffff_ffff) - 1
            let at = Int(index) * width
            inline.append(
                (words[at + 1].byteSwapped, words[at + 2].byteSwapped, words[at + 3].byteSwapped, words[at + 4].byteSwapped, words[at], index))
        }
        inline.sort { ($0.0, $0.1, $0.2, $0.3, $0.4) < ($1.0, $1.1, $1.2, $1.3, $1.4) }
        return inline.map(\.5) + long.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map(\.value)
    }

    /// Calls `body` with the index of every record held.
    func forEach(_ body: (Int32) -> Void) {
        for entry in table where entry != 0 { body(Int32(truncatingIfNeeded: entry & 0xffff_ffff) - 1) }
        for index in long.values { body(index) }
    }
}
