import ArgumentParser

struct ModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Inspect and verify model files.",
        subcommands: [ModelInspect.self, ModelVerify.self, ModelFingerprint.self]
    )
}
