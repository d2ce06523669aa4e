/// ISO 3166-1 alpha-2 country codes (officially assigned), packed as two ASCII bytes.
enum ISOCountries {
    /// Whether two upper-case ASCII letters are an assigned code: a 26 x 26 table, no hashing.
    @inline(__always)
    static func contains(_ a: UInt8, _ b: UInt8) -> Bool {
        guard a >= 65, a <= 90, b >= 65, b <= 90 else { return false }
        return assigned[Int(a - 65) * 26 + Int(b - 65)]
    }

    private static let assigned: [Bool] = {
        var table = [Bool](repeating: false, count: 26 * 26)
        for code in all { table[Int((code >> 8) - 65) * 26 + Int((code & 0xFF) - 65)] = true }
        return table
    }()

    static let all: Set<UInt16> = Set(
        """
        AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
        CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR \
        GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO \
        JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR \
        MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO \
        RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV \
        TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
        """.split(separator: " ").map { code in
            let bytes = Array(code.utf8)
            return UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        })
}
