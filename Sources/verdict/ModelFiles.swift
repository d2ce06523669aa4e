import VerdictForest
import VerdictONNX

/// Loads model files of every supported format.
enum ModelFiles {
    static func load(_ path: String) throws -> Forest {
        try ModelLoader.loadAnyFormat(path: path)
    }
}
