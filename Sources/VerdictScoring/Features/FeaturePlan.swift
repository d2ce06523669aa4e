import Foundation

/// A feature configuration compiled for one model's feature order: building a row is a loop over
/// prepared operations that allocates nothing.
public struct FeaturePlan: Sendable {
    enum NumericField: Sendable {
        case amount, amountUSD, cardAgeDays, transactionsLast24h, averageTransactionAmount
        case countryRiskScore, isNewRecipient, latitude, longitude, merchantCategory

        init?(_ name: String) {
            switch name {
            case "amount": self = .amount
            case "amount_usd": self = .amountUSD
            case "card_age_days": self = .cardAgeDays
            case "transactions_last_24h": self = .transactionsLast24h
            case "avg_transaction_amount": self = .averageTransactionAmount
            case "country_risk_score": self = .countryRiskScore
            case "is_new_recipient": self = .isNewRecipient
            case "latitude": self = .latitude
            case "longitude": self = .longitude
            case "merchant_category": self = .merchantCategory
            default: return nil
            }
        }
    }

    enum Derivation: String, Sendable, CaseIterable {
        case hourOfDay = "hour_of_day"
        case dayOfWeek = "day_of_week"
        case isWeekend = "is_weekend"
        case isNight = "is_night"
        case isForeign = "is_foreign"
        case amountToAverageRatio = "amount_to_avg_ratio"
        case logAmount = "log_amount"
    }

    enum Operation: Sendable {
        case field(NumericField)
        case derive(Derivation)
        case merchantCategory([Int: Double], Double)
        case channel([Double])  // by Channel.allCases index
        case currency([UInt32: Double], Double)
        case merchantCountry([UInt16: Double], Double)
        case cardCountry([UInt16: Double], Double)
        /// A stream aggregate, by its position in features.yaml's `aggregates:` (its value slot).
        case aggregate(Int)
    }

    /// An operation with its lookup flattened into a dense table (MCC: 10 000 slots, country:
    /// 26 x 26, currency: 26^3, channel: 5), so building a row hashes nothing and retains nothing.
    struct Step: Sendable {
        enum Kind: UInt8, Sendable { case field, derive, merchantCategory, channel, currency, merchantCountry, cardCountry, aggregate }
        var kind: Kind
        var field: NumericField = .amount
        var derivation: Derivation = .hourOfDay
        /// Offset of this step's table in `tables`; for an aggregate, its value slot.
        var table: Int = 0
    }

    let operations: [Operation]
    let steps: [Step]
    /// Every lookup's dense table, back to back.
    let tables: [Double]
    /// Feature names in row order.
    public let featureNames: [String]
    /// The definitions in row order (for reason codes). An aggregate's is its name with the reason
    /// features.yaml gives it.
    public let definitions: [FeatureDefinition]
    /// Whether some feature is a stream aggregate: rows then need the event's aggregate values.
    public let readsAggregates: Bool

    /// Compiles the configuration in its own order (for `verdict features`).
    public init(configuration: FeatureConfiguration) throws(ScoringError) {
        try self.init(configuration: configuration, order: configuration.names)
    }

    /// Compiles the configuration for a model's feature order.
    ///
    /// - Throws: ``ScoringError`` listing every model feature the configuration does not map (the
    ///   model is refused), or naming a definition that is invalid.
    public init(configuration: FeatureConfiguration, order: [String]) throws(ScoringError) {
        var byName: [String: FeatureDefinition] = [:]
        for definition in configuration.features {
            guard byName[definition.name] == nil else {
                throw ScoringError(.configuration, "feature '\(definition.name)' is defined twice in the feature configuration")
            }
            byName[definition.name] = definition
        }
        // Aggregates are features by their name; their values come from the stream's state.
        var aggregateSlot: [String: (Int, AggregateDefinition)] = [:]
        for (slot, aggregate) in (configuration.aggregates ?? []).enumerated() where byName[aggregate.name] == nil {
            aggregateSlot[aggregate.name] = (slot, aggregate)
        }
        let unmapped = order.filter { byName[$0] == nil && aggregateSlot[$0] == nil }
        guard unmapped.isEmpty else {
            throw ScoringError(
                .unmappedFeatures,
                "the model uses features the feature configuration does not map: \(unmapped.joined(separator: ", ")); add them to features.yaml or use a model trained on this configuration"
            )
        }
        var operations: [Operation] = []
        var definitions: [FeatureDefinition] = []
        for name in order {
            if let definition = byName[name] {
                operations.append(try Self.compile(definition))
                definitions.append(definition)
            } else {
                let (slot, aggregate) = aggregateSlot[name]!
                operations.append(.aggregate(slot))
                definitions.append(FeatureDefinition(name: name, reason: aggregate.reason))
            }
        }
        readsAggregates = operations.contains { if case .aggregate = $0 { true } else { false } }
        self.operations = operations
        self.featureNames = order
        self.definitions = definitions
        var tables: [Double] = []
        self.steps = operations.map { operation in
            func dense(_ count: Int, _ fallback: Double, _ fill: (inout [Double]) -> Void) -> Int {
                var table = [Double](repeating: fallback, count: count)
                fill(&table)
                defer { tables += table }
                return tables.count
            }
            func countryIndex(_ code: UInt16) -> Int? {
                let a = Int(code >> 8), b = Int(code & 0xFF)
                guard (65...90).contains(a), (65...90).contains(b) else { return nil }
                return (a - 65) * 26 + (b - 65)
            }
            switch operation {
            case .field(let field): return Step(kind: .field, field: field)
            case .aggregate(let slot): return Step(kind: .aggregate, table: slot)
            case .derive(let derivation): return Step(kind: .derive, derivation: derivation)
            case .merchantCategory(let table, let fallback):
                return Step(kind: .merchantCategory, table: dense(10_000, fallback) { t in for (k, v) in table where (0..<10_000).contains(k) { t[k] = v } })
            case .channel(let table):
                return Step(kind: .channel, table: dense(table.count, .nan) { t in t = table })
            case .currency(let table, let fallback):
                return Step(
                    kind: .currency,
                    table: dense(26 * 26 * 26, fallback) { t in
                        for (code, v) in table {
                            let bytes = [UInt8(code >> 16 & 0xFF), UInt8(code >> 8 & 0xFF), UInt8(code & 0xFF)]
                            if let index = EventValidator.currencyIndex(bytes) { t[index] = v }
                        }
                    })
            case .merchantCountry(let table, let fallback), .cardCountry(let table, let fallback):
                let kind: Step.Kind = if case .merchantCountry = operation { .merchantCountry } else { .cardCountry }
                return Step(kind: kind, table: dense(26 * 26, fallback) { t in for (code, v) in table { if let i = countryIndex(code) { t[i] = v } } })
            }
        }
        self.tables = tables
    }

    private static func compile(_ d: FeatureDefinition) throws(ScoringError) -> Operation {
        let given = [d.field != nil, d.derive != nil, d.lookup != nil].filter { $0 }.count
        guard given == 1 else {
            throw ScoringError(.configuration, "feature '\(d.name)' must have exactly one of field, derive or lookup")
        }
        if let field = d.field {
            guard let numeric = NumericField(field) else {
                throw ScoringError(
                    .configuration,
                    "feature '\(d.name)': '\(field)' is not a numeric event field (amount, amount_usd, card_age_days, transactions_last_24h, avg_transaction_amount, country_risk_score, is_new_recipient, latitude, longitude, merchant_category)"
                )
            }
            return .field(numeric)
        }
        if let derive = d.derive {
            guard let derivation = Derivation(rawValue: derive) else {
                throw ScoringError(
                    .configuration, "feature '\(d.name)': unknown derivation '\(derive)' (\(Derivation.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return .derive(derivation)
        }
        let lookup = d.lookup!
        let fallback = lookup.default ?? .nan
        switch lookup.field {
        case "merchant_category":
            var table: [Int: Double] = [:]
            for (key, value) in lookup.table {
                guard key.count == 4, let code = Int(key) else {
                    throw ScoringError(.configuration, "feature '\(d.name)': lookup key '\(key)' is not a 4-digit MCC")
                }
                table[code] = value
            }
            return .merchantCategory(table, fallback)
        case "channel":
            for key in lookup.table.keys where Channel(rawValue: key) == nil {
                throw ScoringError(.configuration, "feature '\(d.name)': '\(key)' is not a channel")
            }
            return .channel(Channel.allCases.map { lookup.table[$0.rawValue] ?? fallback })
        case "currency":
            var table: [UInt32: Double] = [:]
            for (key, value) in lookup.table {
                let b = Array(key.utf8)
                guard b.count == 3 else { throw ScoringError(.configuration, "feature '\(d.name)': '\(key)' is not a currency code") }
                table[EventValidator.pack3(b[0], b[1], b[2])] = value
            }
            return .currency(table, fallback)
        case "merchant_country", "card_country":
            var table: [UInt16: Double] = [:]
            for (key, value) in lookup.table {
                let b = Array(key.utf8)
                guard b.count == 2 else { throw ScoringError(.configuration, "feature '\(d.name)': '\(key)' is not a country code") }
                table[UInt16(b[0]) << 8 | UInt16(b[1])] = value
            }
            return lookup.field == "merchant_country" ? .merchantCountry(table, fallback) : .cardCountry(table, fallback)
        default:
            throw ScoringError(
                .configuration,
                "feature '\(d.name)': lookups work on merchant_category, channel, currency, merchant_country or card_country, not '\(lookup.field)'")
        }
    }

    /// Writes the row for `event` (validated) into `row` (``featureNames``.count values).
    ///
    /// - Parameter aggregates: The event's aggregate values (one per aggregate of features.yaml, in
    ///   its order), as ``AggregateState/apply(_:record:into:)`` wrote them; nil reads them missing.
    public func build(
        _ event: TransactionEvent, record: UnsafeRawBufferPointer, aggregates: UnsafePointer<Double>? = nil, into row: UnsafeMutablePointer<Double>
    ) {
        steps.withUnsafeBufferPointer { steps in
            tables.withUnsafeBufferPointer { tables in
                for index in 0..<steps.count {
                    row[index] = value(steps[index], tables.baseAddress!, event, record, aggregates)
                }
            }
        }
    }

    @inline(__always)
    private func value(
        _ step: Step, _ tables: UnsafePointer<Double>, _ e: TransactionEvent, _ record: UnsafeRawBufferPointer, _ aggregates: UnsafePointer<Double>?
    ) -> Double {
        switch step.kind {
        case .aggregate: return aggregates.map { $0[step.table] } ?? .nan
        case .field: return value(.field(step.field), e, record)
        case .derive: return value(.derive(step.derivation), e, record)
        case .merchantCategory:
            guard let code = e.merchantCategoryCode, (0..<10_000).contains(code) else { return .nan }
            return tables[step.table + code]
        case .channel:
            guard let channel = e.channel else { return .nan }
            return tables[step.table + Int(channel.code)]
        case .currency:
            guard let range = e.currency, range.count == 3, !range.escaped,
                let index = EventValidator.currencyIndex(range.raw(in: record))
            else { return .nan }
            return tables[step.table + index]
        case .merchantCountry, .cardCountry:
            guard let code = TransactionEvent.packed(step.kind == .merchantCountry ? e.merchantCountry : e.cardCountry, record) else { return .nan }
            let a = Int(code >> 8), b = Int(code & 0xFF)
            guard (65...90).contains(a), (65...90).contains(b) else { return .nan }
            return tables[step.table + (a - 65) * 26 + (b - 65)]
        }
    }

    /// Convenience: the row as an array (allocates).
    public func row(_ event: TransactionEvent, record: UnsafeRawBufferPointer, aggregates: [Double]? = nil) -> [Double] {
        [Double](unsafeUninitializedCapacity: operations.count) { buffer, count in
            if let aggregates {
                aggregates.withUnsafeBufferPointer { build(event, record: record, aggregates: $0.baseAddress, into: buffer.baseAddress!) }
            } else {
                build(event, record: record, into: buffer.baseAddress!)
            }
            count = operations.count
        }
    }

    @inline(__always)
    private func value(_ operation: Operation, _ e: TransactionEvent, _ record: UnsafeRawBufferPointer) -> Double {
        switch operation {
        case .field(let field):
            switch field {
            case .amount: return e.amount ?? .nan
            case .amountUSD: return e.resolvedAmountUSD ?? .nan
            case .cardAgeDays: return e.cardAgeDays.map(Double.init) ?? .nan
            case .transactionsLast24h: return e.transactionsLast24h.map(Double.init) ?? .nan
            case .averageTransactionAmount: return e.averageTransactionAmount ?? .nan
            case .countryRiskScore: return e.countryRiskScore ?? .nan
            case .isNewRecipient: return e.isNewRecipient.map { $0 ? 1 : 0 } ?? .nan
            case .latitude: return e.latitude ?? .nan
            case .longitude: return e.longitude ?? .nan
            case .merchantCategory: return e.merchantCategoryCode.map(Double.init) ?? .nan
            }
        case .derive(let derivation):
            switch derivation {
            case .hourOfDay: return e.eventTime.map { Double(Self.secondsOfDay($0) / 3600) } ?? .nan
            case .dayOfWeek: return e.eventTime.map { Double(Self.dayOfWeek($0)) } ?? .nan
            case .isWeekend: return e.eventTime.map { Self.dayOfWeek($0) >= 5 ? 1 : 0 } ?? .nan
            case .isNight: return e.eventTime.map { Self.secondsOfDay($0) < 5 * 3600 ? 1 : 0 } ?? .nan
            case .isForeign:
                guard let merchant = TransactionEvent.packed(e.merchantCountry, record),
                    let card = TransactionEvent.packed(e.cardCountry, record)
                else { return .nan }
                return merchant == card ? 0 : 1
            case .amountToAverageRatio:
                guard let amount = e.resolvedAmountUSD, let average = e.averageTransactionAmount, average > 0 else { return .nan }
                return amount / average
            case .logAmount:
                return e.resolvedAmountUSD.map { log1p($0) } ?? .nan
            }
        case .merchantCategory(let table, let fallback):
            guard let code = e.merchantCategoryCode else { return .nan }
            return table[code] ?? fallback
        case .channel(let table):
            guard let channel = e.channel else { return .nan }
            return table[Int(channel.code)]
        case .currency(let table, let fallback):
            guard let range = e.currency, range.count == 3, !range.escaped else { return .nan }
            let s = Int(range.start)
            return table[EventValidator.pack3(record[s], record[s + 1], record[s + 2])] ?? fallback
        case .merchantCountry(let table, let fallback):
            guard let code = TransactionEvent.packed(e.merchantCountry, record) else { return .nan }
            return table[code] ?? fallback
        case .cardCountry(let table, let fallback):
            guard let code = TransactionEvent.packed(e.cardCountry, record) else { return .nan }
            return table[code] ?? fallback
        case .aggregate:
            return .nan  // steps read aggregates; this path serves only field and derive
        }
    }

    /// Seconds since midnight UTC.
    static func secondsOfDay(_ t: Double) -> Int {
        let s = Int(t.rounded(.down))
        return ((s % 86_400) + 86_400) % 86_400
    }

    /// Monday = 0 ... Sunday = 6, in UTC (1970-01-01 was a Thursday).
    static func dayOfWeek(_ t: Double) -> Int {
        let days = Int((t / 86_400).rounded(.down))
        return ((days + 3) % 7 + 7) % 7
    }
}
