import ArgumentParser
import Foundation
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A listening socket that could not be opened (port in use, address not on this host, not
/// permitted, name not resolved): one line naming the address and port, and exit status 1, instead
/// of NIO's error text.
enum BindFailure {
    /// `nil` if `error` is not a failure to listen (it is then reported as it is).
    static func report(_ error: any Error, host: String, port: Int) -> (any Error)? {
        let reason: String
        if let error = error as? IOError {
            switch error.errnoCode {
            case EADDRINUSE: reason = "the address is already in use (another process listens on this port)"
            case EADDRNOTAVAIL: reason = "the address is not available on this host"
            case EACCES: reason = "permission denied (ports below 1024 need privileges)"
            default: return nil
            }
        } else if error is SocketAddressError {
            reason = "cannot resolve the host name"
        } else {
            return nil
        }
        FileHandle.standardError.write(Data("Error: cannot listen on \(Self.address(host, port)): \(reason)\n".utf8))
        return ExitCode.failure
    }

    /// `host:port`, with an IPv6 address in brackets.
    static func address(_ host: String, _ port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
