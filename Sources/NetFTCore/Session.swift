import CSodium

/// Where random bytes come from: session nonces, challenges, hello nonces.
/// Injected, so Core's tests decide them; the node uses `SystemRandom`.
public protocol RandomSource: Sendable {
    func fill(_ buffer: UnsafeMutableRawBufferPointer)
}

/// libsodium's randombytes (getrandom(2) underneath).
public struct SystemRandom: RandomSource {
    public init() {}
    public func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress else { return }
        _ = sodium_init()
        randombytes_buf(base, buffer.count)
    }
}

/// 32 random bytes that name one life of a node (drawn at each start, never
/// from a clock). Its first 4 bytes are the session id every frame carries.
public struct SessionNonce: Equatable, Hashable, Sendable {
    public static let size = 32
    var words: (UInt64, UInt64, UInt64, UInt64)

    public init(random: some RandomSource) {
        var w = Self.read(random)
        while withUnsafeBytes(of: w.0, { $0.loadUnaligned(as: UInt32.self) }) == 0 { w = Self.read(random) }
        words = w
    }

    /// The words are loaded and stored explicitly, never through a pointer
    /// to the tuple: the optimizer miscompiled that (release builds read
    /// garbage), which no debug test showed.
    init(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count >= SessionNonce.size)
        words = (
            bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self), bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
            bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self), bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
    }

    private static func read(_ random: some RandomSource) -> (UInt64, UInt64, UInt64, UInt64) {
        withUnsafeTemporaryAllocation(byteCount: size, alignment: 8) { buffer in
            random.fill(buffer)
            return SessionNonce(UnsafeRawBufferPointer(buffer)).words
        }
    }

    /// The session id: the nonce's first 4 bytes, big-endian (0 is never drawn).
    public var id: UInt32 { UInt32(bigEndian: withUnsafeBytes(of: words.0) { $0.loadUnaligned(as: UInt32.self) }) }

    func write(to buffer: UnsafeMutableRawBufferPointer) {
        buffer.storeBytes(of: words.0, toByteOffset: 0, as: UInt64.self)
        buffer.storeBytes(of: words.1, toByteOffset: 8, as: UInt64.self)
        buffer.storeBytes(of: words.2, toByteOffset: 16, as: UInt64.self)
        buffer.storeBytes(of: words.3, toByteOffset: 24, as: UInt64.self)
    }

    public static func == (a: SessionNonce, b: SessionNonce) -> Bool { a.words == b.words }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}

/// 16 random bytes a node asks a peer to echo: only a live holder of the
/// cluster key can, so a replayed hello never establishes a session.
public struct Challenge: Equatable, Sendable {
    public static let size = 16
    var words: (UInt64, UInt64)
    public static let none = Challenge(words: (0, 0))

    init(words: (UInt64, UInt64)) { self.words = words }

    init(random: some RandomSource) {
        var w = Self.read(random)
        while w == (0, 0) { w = Self.read(random) }
        words = w
    }

    init(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count >= Challenge.size)
        words = (bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self), bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
    }

    private static func read(_ random: some RandomSource) -> (UInt64, UInt64) {
        withUnsafeTemporaryAllocation(byteCount: size, alignment: 8) { buffer in
            random.fill(buffer)
            return Challenge(UnsafeRawBufferPointer(buffer)).words
        }
    }

    func write(to buffer: UnsafeMutableRawBufferPointer) {
        buffer.storeBytes(of: words.0, toByteOffset: 0, as: UInt64.self)
        buffer.storeBytes(of: words.1, toByteOffset: 8, as: UInt64.self)
    }

    public static func == (a: Challenge, b: Challenge) -> Bool { a.words == b.words }
}

/// The hello payload: the handshake, then who the sender is.
///
/// | 0 | 24 | frame nonce: random, the XChaCha20 nonce of this hello |
/// | 24 | 32 | the sender's session nonce |
/// | 56 | 16 | challenge for the receiver to echo (zeros: none) |
/// | 72 | 16 | answer: the receiver's latest challenge, echoed (zeros: none) |
/// | 88 | n | identity: `Hello` (name and addresses) |
public struct Handshake: Equatable, Sendable {
    public static let fixedSize = 88
    static let frameNonceSize = 24

    public var session: SessionNonce
    public var challenge: Challenge
    public var answer: Challenge
    public var identity: Hello

    public init(session: SessionNonce, challenge: Challenge, answer: Challenge, identity: Hello) {
        self.session = session
        self.challenge = challenge
        self.answer = answer
        self.identity = identity
    }

    public init(decoding payload: UnsafeRawBufferPointer) throws(FrameError) {
        guard payload.count >= Handshake.fixedSize else { throw .malformedPayload }
        session = SessionNonce(UnsafeRawBufferPointer(rebasing: payload[24..<56]))
        challenge = Challenge(UnsafeRawBufferPointer(rebasing: payload[56..<72]))
        answer = Challenge(UnsafeRawBufferPointer(rebasing: payload[72..<88]))
        guard session.id != 0 else { throw .malformedPayload }
        identity = try Hello(decoding: UnsafeRawBufferPointer(rebasing: payload[Handshake.fixedSize...]))
    }

    /// Writes the payload with a fresh frame nonce; returns its length.
    func write(into buffer: UnsafeMutableRawBufferPointer, random: some RandomSource) throws(FrameError) -> Int {
        let identityBytes = try identity.encode()
        let total = Handshake.fixedSize + identityBytes.count
        guard buffer.count >= total else { throw .bufferTooSmall }
        random.fill(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<24]))
        session.write(to: UnsafeMutableRawBufferPointer(rebasing: buffer[24..<56]))
        challenge.write(to: UnsafeMutableRawBufferPointer(rebasing: buffer[56..<72]))
        answer.write(to: UnsafeMutableRawBufferPointer(rebasing: buffer[72..<88]))
        UnsafeMutableRawBufferPointer(rebasing: buffer[88..<total]).copyBytes(from: identityBytes)
        return total
    }
}
