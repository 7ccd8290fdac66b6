import Foundation
import Glibc
import NetFTCore
import NetFTDataplane

/// Proves the classifier on a live veth: the classifier and an AF_XDP socket on
/// the right namespace's NIC, kernel-sent UDP from the left namespace. netft
/// frames must arrive in the AF_XDP socket, everything else at the kernel.
/// Used by the smoke demo and by the live test.
public struct SteeringProbe {
    public struct Result {
        public var steeredReceived = 0
        public var steeredIntact = 0
        public var otherPortReceived = 0
        public var noMagicReceivedByKernel = 0
        public var stats = ClassifierStats()
        public var bindMode = AFXDPSocket.BindMode.copy
        public var pinDirectory = ""
        /// Taken while the program was attached (bpftool output), if asked for.
        public var inspection: String = ""
    }

    public var netftFrames = 20
    public var otherPortFrames = 10
    public var noMagicFrames = 5
    public var otherPort: UInt16 = 9999
    /// Where pins go; nil: a directory named after the receiving namespace, so
    /// concurrent probes never share one.
    public var pinRoot: String?
    /// Called while attached, before detaching (e.g. to run bpftool).
    public var whileAttached: ((String) -> String)?

    public init() {}

    /// A netft-looking payload: magic, version, then a recognizable counter.
    public static func netftPayload(_ n: Int) -> [UInt8] {
        var bytes = withUnsafeBytes(of: Wire.magic.bigEndian, Array.init)
        bytes.append(Wire.version)
        bytes += withUnsafeBytes(of: UInt32(n).bigEndian, Array.init)
        bytes += [UInt8](repeating: 0xA5, count: 32)
        return bytes
    }

    public func run(on pair: VethPair, deadline seconds: Double = 5) throws -> Result {
        var result = Result()
        // Everything on the receiving side lives in the right namespace's thread.
        let (classifier, socket, kernelNetft, kernelOther) = try NetworkNamespace.run(pair.right) {
            let classifier = try XDPClassifier()
            try classifier.attach(interface: pair.rightInterface, mode: .native, pinRoot: pinRoot ?? "\(XDPClassifier.defaultPinRoot)/\(pair.right)")
            let socket = try AFXDPSocket(interface: pair.rightInterface)
            try classifier.register(socketFD: socket.fileDescriptor, queue: 0)
            return (classifier, socket, try UDPEndpoint(port: Wire.defaultPort), try UDPEndpoint(port: otherPort))
        }
        defer { try? classifier.detach() }
        result.bindMode = socket.bindMode
        result.pinDirectory = classifier.pinDirectory ?? ""

        try NetworkNamespace.run(pair.left) {
            let sender = try UDPEndpoint()
            for n in 0..<netftFrames { try sender.send(SteeringProbe.netftPayload(n), to: pair.rightAddress, port: Wire.defaultPort) }
            for n in 0..<otherPortFrames { try sender.send(SteeringProbe.netftPayload(n), to: pair.rightAddress, port: otherPort) }
            for _ in 0..<noMagicFrames { try sender.send(Array("not netft".utf8), to: pair.rightAddress, port: Wire.defaultPort) }
        }

        let end = Date().addingTimeInterval(seconds)
        while result.steeredReceived < netftFrames && Date() < end {
            guard socket.waitReadable(timeoutMilliseconds: 50) else { continue }
            socket.receive { frame in
                result.steeredReceived += 1
                // Ethernet 14 + IPv4 20 + UDP 8, then our payload.
                let payload = Array(frame.dropFirst(42))
                if payload.count >= 9 {
                    let n = payload[5..<9].reduce(0) { $0 << 8 | Int($1) }
                    if payload == SteeringProbe.netftPayload(n) { result.steeredIntact += 1 }
                }
            }
        }
        while result.otherPortReceived < otherPortFrames && Date() < end {
            if kernelOther.receive(timeoutMilliseconds: 50) != nil { result.otherPortReceived += 1 }
        }
        while result.noMagicReceivedByKernel < noMagicFrames && Date() < end {
            if kernelNetft.receive(timeoutMilliseconds: 50) != nil { result.noMagicReceivedByKernel += 1 }
        }
        result.stats = try classifier.stats()
        if let whileAttached { result.inspection = whileAttached(result.pinDirectory) }
        return result
    }
}
