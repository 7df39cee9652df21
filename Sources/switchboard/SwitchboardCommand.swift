import ArgumentParser

@main
struct SwitchboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "A real-time WebSocket hub.",
        subcommands: [Serve.self, Migrate.self]
    )
}
