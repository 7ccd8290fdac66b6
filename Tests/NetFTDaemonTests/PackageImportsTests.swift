import Foundation
import Testing

/// Every module a target imports from this package (or a product the package
/// names) is a dependency it declares. SwiftPM builds an undeclared import
/// only when its module order happens to build the imported module first,
/// so an incremental build passes and a fresh clone may fail: this test fails
/// on every build instead.
@Suite("Package: declared imports")
struct PackageImportsTests {
    struct Target {
        var name: String
        var directory: String
        /// Every quoted word of its declaration: its dependencies among them.
        var declared: Set<String>
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static func words(_ text: Substring, pattern: String) -> [String] {
        let regex = try! NSRegularExpression(pattern: pattern)
        let string = String(text)
        return regex.matches(in: string, range: NSRange(string.startIndex..., in: string)).compactMap {
            Range($0.range(at: 1), in: string).map { String(string[$0]) }
        }
    }

    /// The targets of Package.swift, each from its declaration up to the next.
    static func targets(_ manifest: String) -> [Target] {
        let kinds = [".target(", ".testTarget(", ".executableTarget(", ".systemLibrary(", ".plugin("]
        var starts = kinds.flatMap { kind in manifest.ranges(of: kind).map(\.lowerBound) }.sorted()
        starts.append(manifest.endIndex)
        return zip(starts, starts.dropFirst()).compactMap { start, end in
            let declaration = manifest[start..<end]
            guard let name = words(declaration, pattern: #"name:\s*"(\w+)""#).first else { return nil }
            let test = declaration.hasPrefix(".testTarget(")
            let directory = words(declaration, pattern: #"path:\s*"([^"]+)""#).first ?? "\(test ? "Tests" : "Sources")/\(name)"
            return Target(name: name, directory: directory, declared: Set(words(declaration, pattern: #""(\w+)""#)))
        }
    }

    /// The modules each Swift file under `directory` imports.
    static func imports(under directory: String) -> [(file: String, module: String)] {
        let base = "\(root)/\(directory)"
        guard let files = FileManager.default.enumerator(atPath: base) else { return [] }
        return files.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }.flatMap { file in
            let text = (try? String(contentsOfFile: "\(base)/\(file)", encoding: .utf8)) ?? ""
            return words(text[...], pattern: #"(?m)^(?:@\w+\s+)*(?:public |internal |package )?import\s+(\w+)"#).map { ("\(directory)/\(file)", $0) }
        }
    }

    @Test func everyImportOfThisPackagesModulesIsDeclared() throws {
        let manifest = try String(contentsOfFile: "\(Self.root)/Package.swift", encoding: .utf8)
        let targets = Self.targets(manifest)
        #expect(targets.count >= 10, "Package.swift's targets were read: \(targets.map(\.name))")
        // Modules this package builds or names as products of its dependencies.
        let known = Set(targets.map(\.name) + Self.words(manifest[...], pattern: #"\.product\(name:\s*"(\w+)""#))
        var undeclared: [String] = []
        var checked = 0
        for target in targets {
            for (file, module) in Self.imports(under: target.directory) where known.contains(module) && module != target.name {
                checked += 1
                if !target.declared.contains(module) { undeclared.append("\(file) imports \(module), which \(target.name) does not depend on") }
            }
        }
        #expect(checked > 50, "imports were found (\(checked))")
        #expect(undeclared.isEmpty, "\(undeclared.joined(separator: "\n"))")
    }
}
