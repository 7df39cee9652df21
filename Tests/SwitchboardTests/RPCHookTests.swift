import CentrifugeProtobuf
import Foundation
import Testing

@testable import Switchboard

/// `rpc` and the `rpc` hook, in JSON and Protobuf, driving a session without a socket.
@Suite struct RPCHookTests {
    private static func hooks(
        timeout: Duration = .seconds(2),
        _ decide: @escaping @Sendable (RPCEvent) async throws -> RPCDecision
    ) -> Hooks {
        var hooks = Hooks()
        hooks.connect = Hook { _ in .accept(ConnectGrant(user: "caller", info: .object(["plan": .string("pro")]))) }
        hooks.rpc = Hook(timeout: timeout, covers: { $0 != "missing" }, decide)
        return hooks
    }

    /// The rpc hook of these tests: `echo` answers with the call's data, `nothing` with none, `deny`
    /// rejects, `kick` disconnects, `fail` throws, `slow` does not answer in time.
    private static let hook: @Sendable (RPCEvent) async throws -> RPCDecision = { event in
        switch event.method {
        case "echo": return .reply(.object(["got": event.data ?? .null, "user": .string(event.user), "info": event.connectionInfo ?? .null]))
        case "nothing": return .reply(nil)
        case "deny": return .reject(.permissionDenied("no"))
        case "kick": return .disconnect(CloseReason(code: 4005, reason: "kicked"))
        case "slow":
            try await Task.sleep(for: .seconds(30))
            return .reply(nil)
        default: throw HookFailure()
        }
    }

    private static func connected(_ hooks: Hooks) async -> SessionHarness {
        let harness = SessionHarness(hooks: hooks)
        harness.send(#"{"id":1,"connect":{}}"#)
        #expect(await harness.nextJSON()?["connect"] != nil)
        return harness
    }

    @Test func jsonRoundTrip() async throws {
        let harness = await Self.connected(Self.hooks(timeout: .milliseconds(200), Self.hook))
        harness.send(
            #"{"id":2,"rpc":{"method":"echo","data":{"q":[1,2]}}}"#,
            #"{"id":3,"rpc":{"method":"nothing"}}"#,
            #"{"id":4,"rpc":{"method":"deny"}}"#,
            #"{"id":5,"rpc":{"method":"missing"}}"#,
            #"{"id":6,"rpc":{"method":"fail"}}"#,
            #"{"id":7,"rpc":{"method":"slow"}}"#,
            #"{"id":8,"rpc":{"method":"kick"}}"#
        )
        #expect(await harness.next()?.text == #"{"id":2,"rpc":{"data":{"got":{"q":[1,2]},"user":"caller","info":{"plan":"pro"}}}}"#)
        #expect(await harness.next()?.text == #"{"id":3,"rpc":{}}"#)
        #expect(await harness.nextJSON()?["error"]?["code"] == .integer(103))
        #expect(await harness.nextJSON()?["error"]?["code"] == .integer(104), "a method the hook does not cover")
        let failed = try #require(await harness.nextJSON())
        #expect(failed["id"] == .integer(6) && failed["error"]?["code"] == .integer(100) && failed["error"]?["temporary"] == .bool(true))
        let timedOut = try #require(await harness.nextJSON())
        #expect(timedOut["id"] == .integer(7) && timedOut["error"]?["code"] == .integer(100) && timedOut["error"]?["temporary"] == .bool(true))
        #expect(await harness.next() == .close(CloseReason(code: 4005, reason: "kicked")))
    }

    @Test func withoutAnRPCHookRPCIsNotAvailable() async throws {
        let harness = await Self.connected(Hooks())
        harness.send(#"{"id":2,"rpc":{"method":"echo","data":{}}}"#)
        #expect(await harness.nextJSON()?["error"]?["code"] == .integer(108))
    }

    @Test func protobufRoundTrip() async throws {
        let harness = SessionHarness(hooks: Self.hooks(Self.hook), format: .protobuf)
        var connect = Centrifugal_Centrifuge_Protocol_Command()
        connect.id = 1
        connect.connect = .init()
        var echo = Centrifugal_Centrifuge_Protocol_Command()
        echo.id = 2
        echo.rpc.method = "echo"
        echo.rpc.data = Data(#"{"q":true}"#.utf8)
        var nothing = Centrifugal_Centrifuge_Protocol_Command()
        nothing.id = 3
        nothing.rpc.method = "nothing"
        var notJSON = Centrifugal_Centrifuge_Protocol_Command()
        notJSON.id = 4
        notJSON.rpc.method = "echo"
        notJSON.rpc.data = Data([0xFF, 0x00])
        try harness.send(connect, echo, nothing, notJSON)
        #expect(await harness.next()?.protobufReply?.hasConnect == true)
        let reply = try #require(await harness.next()?.protobufReply)
        #expect(reply.id == 2 && reply.hasRpc)
        #expect(String(decoding: reply.rpc.data, as: UTF8.self) == #"{"got":{"q":true},"user":"caller","info":{"plan":"pro"}}"#)
        let empty = try #require(await harness.next()?.protobufReply)
        #expect(empty.id == 3 && empty.hasRpc && empty.rpc.data.isEmpty)
        let refused = try #require(await harness.next()?.protobufReply)
        #expect(refused.id == 4 && refused.error.code == 107)
    }
}
