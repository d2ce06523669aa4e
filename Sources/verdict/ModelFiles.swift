import VerdictForest

/// Loads model files of every supported format.
enum ModelFiles {
    static func load(_ path: String) throws -> Forest {
        try ModelLoader.load(path: path)
    }
}
