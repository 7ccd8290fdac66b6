import Foundation
import CNetFTShims
import Glibc

/// Runs work inside a named network namespace (/run/netns/NAME).
///
/// setns(CLONE_NEWNET) changes only the calling thread, so the work runs on a
/// thread of its own: sockets, XDP attachments and interface lookups made there
/// belong to the namespace, and the caller's thread is never moved. Only the
/// network namespace changes (not the mount namespace), so the host's bpffs
/// stays visible and pins made inside are seen by bpftool outside.
public enum NetworkNamespace {
    public static func path(_ name: String) -> String { "/run/netns/\(name)" }

    public static func run<T>(_ name: String, _ body: @escaping () throws -> T) throws -> T {
        let fd = open(path(name), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open network namespace \(path(name))", errno: errno) }
        defer { close(fd) }
        // The caller blocks until the thread is done, so handing it the
        // non-Sendable body and result is safe.
        let box = ResultBox<T>(body)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            if netft_enter_netns(fd) != 0 {
                box.result = .failure(SystemError("enter network namespace \(name)", errno: errno))
            } else {
                box.result = Result { try box.body() }
            }
            done.signal()
        }
        thread.start()
        done.wait()
        return try box.result!.get()
    }

    /// Starts `body` on its own thread inside the namespace; `join` waits for its result.
    public static func spawn<T>(_ name: String, _ body: @escaping () throws -> T) -> Spawned<T> {
        let spawned = Spawned<T>()
        let box = ResultBox<T>(body)
        let thread = Thread {
            box.result = Result { try NetworkNamespace.run(name, box.body) }
            spawned.finish(box.result!)
        }
        thread.start()
        return spawned
    }

    public final class Spawned<T>: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private var result: Result<T, Error>?
        func finish(_ r: Result<T, Error>) {
            result = r
            done.signal()
        }
        /// Waits at most `seconds`; throws the body's error, or a timeout.
        public func join(seconds: Double) throws -> T {
            if let result { return try result.get() }
            guard done.wait(timeout: .now() + seconds) == .success else {
                throw SystemError("wait for a namespace thread (\(seconds) s)", errno: ETIMEDOUT)
            }
            return try result!.get()
        }
    }

    private final class ResultBox<T>: @unchecked Sendable {
        let body: () throws -> T
        var result: Result<T, Error>?
        init(_ body: @escaping () throws -> T) { self.body = body }
    }
}
