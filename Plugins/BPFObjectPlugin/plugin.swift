// Compiles bpf/netft.bpf.c with the toolchain's clang (-target bpf) and embeds
// the object into the target as generated Swift, so `swift build` alone
// produces it and the binary never looks for it on disk.
import Foundation
import PackagePlugin

@main
struct BPFObjectPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let bpfDir = context.package.directoryURL.appending(path: "bpf")
        let source = bpfDir.appending(path: "netft.bpf.c")
        let header = bpfDir.appending(path: "netft_wire.h")
        let object = context.pluginWorkDirectoryURL.appending(path: "netft.bpf.o")
        let generated = context.pluginWorkDirectoryURL.appending(path: "EmbeddedBPFObject.swift")
        #if arch(x86_64)
        let multiarch = "/usr/include/x86_64-linux-gnu"
        #else
        let multiarch = "/usr/include/aarch64-linux-gnu"
        #endif
        let clang = try context.tool(named: "clang")
        return [
            .buildCommand(
                displayName: "Compiling BPF object netft.bpf.c",
                executable: clang.url,
                arguments: [
                    "-O2", "-g", "-target", "bpf", "-Wall", "-Werror",
                    "-I", multiarch, "-I", bpfDir.path(),
                    "-c", source.path(), "-o", object.path(),
                ],
                inputFiles: [source, header],
                outputFiles: [object]
            ),
            .buildCommand(
                displayName: "Embedding netft.bpf.o",
                executable: try context.tool(named: "EmbedBPF").url,
                arguments: [object.path(), generated.path()],
                inputFiles: [object],
                outputFiles: [generated]
            ),
        ]
    }
}
