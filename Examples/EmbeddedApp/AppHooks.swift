import Logging
import Switchboard

/// The example's say in who connects, who joins the chat rooms and what `rpc` answers. Each hook is
/// an async function with a timeout (1 s by default); a `ProtocolError` thrown or returned reaches
/// the client as that error, anything else thrown is a temporary error 100.
func makeHooks(sessions: Sessions, logger: Logger) -> Hooks {
    var hooks = Hooks(logger: logger)

    // Connect: the browser sends its cookies with the WebSocket upgrade, so the app's own login
    // decides who the connection is. Without a session the connection is closed with 4501, which
    // the Centrifugo SDKs take as final (4500–4999: no reconnect).
    hooks.connect = Hook { event in
        guard let name = await sessions.user(event.request.cookies["session"]) else {
            return .disconnect(CloseReason(code: 4501, reason: "login required"))
        }
        return .accept(
            ConnectGrant(
                user: name,
                info: .object(["name": .string(name)]),
                channels: ["news:announcements"]  // subscribed on the server's side
            )
        )
    }

    // Subscribe: the chat rooms are for logged-in users only (this hook covers `rooms:*`; `news:*`
    // follows its namespace's options).
    hooks.subscribe = Hook(covers: { $0.hasPrefix("rooms:") }) { event in
        event.user.isEmpty ? .reject(.permissionDenied("log in to chat")) : .allow
    }

    // RPC: `whoami` and `sum`; any other method is 104 (method not found).
    hooks.rpc = Hook { event in
        switch event.method {
        case "whoami":
            return .reply(.object(["user": .string(event.user), "info": event.connectionInfo]))
        case "sum":
            guard let a = event.data?["a"]?.integerValue(), let b = event.data?["b"]?.integerValue() else {
                return .reject(.badRequest("sum takes integers a and b"))
            }
            let (sum, overflow) = a.addingReportingOverflow(b)
            return overflow ? .reject(.badRequest("the sum does not fit in 64 bits")) : .reply(.object(["sum": .integer(sum)]))
        default:
            return .reject(.methodNotFound(event.method))
        }
    }
    return hooks
}
