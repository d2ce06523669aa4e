public import Yams

/// Refuses keys a configuration file has but its type does not read. Without it a misspelt rule key
/// (`threshhold: 800`) decodes as absent, the default applies, and a fraud analyst's change silently
/// does nothing.
///
/// The known keys are the ones the decoded value writes back when encoded: whatever the type read,
/// and only that. One declaration (the type's coding keys) serves decoding and checking alike. Keys
/// set to `null` are passed over: null means absent, so they cannot change anything.
public enum StrictKeys {
    /// Throws when `user` (the file as written) has a key that `decoded` (the decoded value,
    /// encoded again) lacks, naming the file, the key path, the closest known key and the keys there.
    public static func check(user: Node, decoded: Node, file: String, documentation: String, path: String = "") throws(ScoringError) {
        try check(user: user, decoded: decoded, siblings: [], file: file, documentation: documentation, path: path)
    }

    /// `siblings`: the keys the other elements of the same list kept, so a misspelt optional key
    /// (absent from its own element once decoded) still finds its suggestion.
    static func check(user: Node, decoded: Node, siblings: Set<String>, file: String, documentation: String, path: String) throws(ScoringError) {
        switch (user, decoded) {
        case (.mapping(let written), .mapping(let kept)):
            var known: [String: Node] = [:]
            for (key, value) in kept { if let name = key.string { known[name] = value } }
            for (key, value) in written {
                guard let name = key.string else { continue }
                if case .scalar(let scalar) = value, scalar.string == "null" || scalar.string == "~" || scalar.string.isEmpty { continue }
                let keyPath = path.isEmpty ? name : "\(path).\(name)"
                guard let child = known[name] else {
                    let here = Set(known.keys).union(siblings).sorted()
                    let hint = KeySuggestion.closest(to: name, among: here).map { "; did you mean \($0)?" } ?? "."
                    throw ScoringError(
                        .configuration,
                        "\(file): unknown key \(keyPath)\(hint) Keys in use at this level: \(here.joined(separator: ", ")); all keys are in \(documentation)"
                    )
                }
                try check(user: value, decoded: child, siblings: [], file: file, documentation: documentation, path: keyPath)
            }
        case (.sequence(let written), .sequence(let kept)):
            var keys: Set<String> = []
            for case .mapping(let element) in kept { keys.formUnion(element.keys.compactMap(\.string)) }
            for (index, (element, keptElement)) in zip(written, kept).enumerated() {
                try check(user: element, decoded: keptElement, siblings: keys, file: file, documentation: documentation, path: "\(path)[\(index)]")
            }
        default:
            return
        }
    }
}

/// "Did you mean": the known key closest to a misspelt one, when it is close enough to be a typo.
public enum KeySuggestion {
    /// The candidate within edit distance 2 (1 for keys of four characters or fewer), nearest first.
    public static func closest(to key: String, among candidates: [String]) -> String? {
        let limit = key.count <= 4 ? 1 : 2
        var best: (String, Int)?
        for candidate in candidates {
            let distance = editDistance(Array(key.lowercased().utf8), Array(candidate.lowercased().utf8))
            if distance <= limit, distance < (best?.1 ?? .max) { best = (candidate, distance) }
        }
        return best?.0
    }

    /// Levenshtein distance with adjacent transpositions counted as one edit.
    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous2 = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { current[j] = min(current[j], previous2[j - 2] + 1) }
            }
            (previous2, previous, current) = (previous, current, previous2)
        }
        return previous[b.count]
    }
}
