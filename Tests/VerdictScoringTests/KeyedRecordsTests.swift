import Foundation
import Testing
import VerdictSynthetic

@testable import VerdictScoring

/// The aggregates' key table against a dictionary, through inserts, lookups and removals in
/// random order (removals shift later entries back, so every probe path must stay whole).
@Suite("Keyed records")
struct KeyedRecordsTests {
    static func key(_ text: [UInt8]) -> KeyedRecords.Key { text.withUnsafeBytes { KeyedRecords.Key($0) } }

    @Test("inserts, finds and removals agree with a dictionary; keys of every length, long ones included, read back", arguments: [1, 7, 99])
    func agreesWithDictionary(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        var table = KeyedRecords(stride: 3)
        var reference: [[UInt8]: Int32] = [:]
        // Short, inline-sized, boundary and long keys; some are prefixes of others or end in zeros.
        var keys: [[UInt8]] = (0..<3_000).map { i in
            let length = [0, 1, 8, 15, 16, 31, 32, 33, 70][Int(rng.next() % 9)]
            return (0..<length).map { _ in UInt8(truncatingIfNeeded: i &+ Int(rng.next() % 3)) }
        }
        keys += [[], [0], [0, 0], Array("card_000001_abcd".utf8), Array("card_000001_abcd".utf8) + [0]]
        for step in 0..<40_000 {
            let bytes = keys[Int(rng.next() % UInt64(keys.count))]
            let key = Self.key(bytes)
            let found = table.find(key)
            #expect(found == reference[bytes], "step \(step)")
            if let found {
                #expect(table.key(found) == bytes)
                if rng.next() % 3 == 0 {
                    table.remove(found)
                    reference.removeValue(forKey: bytes)
                }
            } else {
                let index = table.insert(key)
                #expect(table.words[table.base(index)..<(table.base(index) + 3)].allSatisfy { $0 == 0 }, "a new record is zeroed")
                table.words[table.base(index)] = UInt64(step)
                reference[bytes] = index
            }
            #expect(table.count == reference.count)
        }
        var seen: [Int32] = []
        table.forEach { seen.append($0) }
        #expect(Set(seen) == Set(reference.values) && seen.count == reference.count)
        let sorted = table.sortedByKey().map { table.key($0) }
        #expect(Set(sorted) == Set(reference.keys))
        let inline = sorted.filter { $0.count <= KeyedRecords.inlineBytes }
        #expect(inline == inline.sorted { $0.lexicographicallyPrecedes($1) }, "inline keys in byte order")
        for index in table.sortedByKey() {
            var out: [UInt8] = []
            table.appendKey(index, to: &out)
            #expect(out == table.key(index) && out.count == table.keyLength(index))
        }
    }
}
