/// How frames are protected, after the Windows cluster SecurityLevel property.
public enum SecurityLevel: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// 0: clear, no tag. Only for labs and captures.
    case none = 0
    /// 1 (default): header and payload authenticated with a 16-byte tag.
    case sign = 1
    /// 2: payload encrypted, header authenticated.
    case encrypt = 2

    public var flags: FrameFlags {
        switch self {
        case .none: []
        case .sign: .authenticated
        case .encrypt: [.authenticated, .encrypted]
        }
    }

    public var tagSize: Int { self == .none ? 0 : Wire.tagSize }

    public init?(name: String) {
        switch name.lowercased() {
        case "none", "clear", "0": self = .none
        case "sign", "signed", "1": self = .sign
        case "encrypt", "encrypted", "2": self = .encrypt
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .none: "none"
        case .sign: "sign"
        case .encrypt: "encrypt"
        }
    }
}
