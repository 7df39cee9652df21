import ArgumentParser

@main
struct SwitchboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "A real-time WebSocket hub.",
        version: Version.text,
        subcommands: [
            Serve.self, Migrate.self, Version.self,
            GenToken.self, GenSubToken.self, CheckToken.self, CheckSubToken.self,
            CheckConfig.self, GenConfig.self,
        ]
    )
}
