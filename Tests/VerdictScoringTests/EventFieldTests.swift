import Testing

@testable import VerdictScoring

/// The member-name lookup compares keys against hand-written word constants; these tests hold each
/// constant to the name it stands for, and make sure near misses are not taken for a field.
@Suite("Event field lookup")
struct EventFieldTests {
    private func lookup(_ name: [UInt8]) -> EventField? {
        name.withUnsafeBytes { EventField.lookup($0) }
    }

    @Test("every contract member name finds its field", arguments: EventField.allCases)
    func findsEveryField(field: EventField) {
        #expect(lookup(Array(field.name.utf8)) == field)
    }

    @Test("a name with any one byte changed is not a field, or is exactly another field", arguments: EventField.allCases)
    func rejectsNearMisses(field: EventField) {
        let name = Array(field.name.utf8)
        for position in name.indices {
            for replacement in [UInt8(ascii: "x"), UInt8(ascii: "_"), UInt8(ascii: "A"), 0x00, 0xFF] where replacement != name[position] {
                var changed = name
                changed[position] = replacement
                let found = lookup(changed)
                #expect(found == nil || found!.name.utf8.elementsEqual(changed), "\(String(decoding: changed, as: UTF8.self))")
            }
        }
    }

    @Test("prefixes, extensions and case changes are not fields", arguments: EventField.allCases)
    func rejectsOtherLengthsAndCase(field: EventField) {
        let name = Array(field.name.utf8)
        for length in 0..<name.count {
            // "amount" is a prefix of "amount_usd": a prefix may only find the field it spells.
            let prefix = Array(name.prefix(length))
            let found = lookup(prefix)
            #expect(found == nil || found!.name.utf8.elementsEqual(prefix))
        }
        #expect(lookup(name + [UInt8(ascii: "s")]) == nil)
        #expect(lookup(Array(field.name.uppercased().utf8)) == nil)
    }
}
