#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a whole file with POSIX calls (the forest engine does not depend on Foundation).
public enum FileBytes {
    /// Reads `path`.
    ///
    /// - Throws: ``ForestError`` (unreadable) naming the path and the system's reason.
    public static func read(_ path: String) throws(ForestError) -> [UInt8] {
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
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
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
