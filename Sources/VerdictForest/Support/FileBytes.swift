#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a whole file with POSIX calls (the forest engine does not depend on Foundation).
public enum FileBytes {
    /// Reads `path`, refusing a file larger than `maxBytes` before allocating for it.
    ///
    /// - Throws: ``ForestError`` (unreadable) naming the path and the system's reason, or the size
    ///   and the cap when the file is larger.
    public static func read(_ path: String, maxBytes: Int = ModelLimits.defaultMaxFileBytes) throws(ForestError) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw ForestError(.unreadable, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw ForestError(.unreadable, "cannot stat \(path): \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw ForestError(.unreadable, "\(path) is not a regular file")
        }
        let size = Int(info.st_size)
        guard size >= 0, size <= maxBytes else {
            let name = path.split(separator: "/").last.map(String.init) ?? path
            throw ForestError(
                .unreadable, "\(name) has \(size) bytes, more than model.max_file_bytes (\(maxBytes)); raise the limit if the model really is that large")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { buffer in
                Glibc.read(fd, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw ForestError(.unreadable, "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            offset += n
        }
        if offset < bytes.count { bytes.removeSubrange(offset...) }
        return bytes
    }
}
