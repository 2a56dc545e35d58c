import RootlessOS
import RootlessCore
import FastStart
import CArchive
import Glibc
import ImageFormat

/// SHA-256 over a stream (libcrypto).
package final class SHA256Stream {
    private var h: OpaquePointer?
    package init() { h = rl_sha256_new() }
    deinit { if h != nil { var d = [UInt8](repeating: 0, count: 32); rl_sha256_final(h, &d) } }
    package func update(_ p: UnsafeRawBufferPointer) { if p.count > 0 { rl_sha256_update(h, p.baseAddress, p.count) } }
    package func finish() -> Digest {
        var d = [UInt8](repeating: 0, count: 32)
        rl_sha256_final(h, &d)
        h = nil
        let hex = "0123456789abcdef".map { $0 }
        return Digest(hex: String(d.flatMap { [hex[Int($0 >> 4)], hex[Int($0 & 15)]] }))!
    }
    package static func digest(_ b: [UInt8]) -> Digest {
        let h = SHA256Stream()
        b.withUnsafeBytes { h.update($0) }
        return h.finish()
    }
}

/// A layer blob as a tar byte stream: read from an fd, hashed as stored (the blob's
/// digest), decompressed (gzip, zstd, or none, sniffed from the magic bytes), and hashed
/// again as a tar (the diff-id). One pass, fixed buffers.
final class BlobSource: ByteSource {
    let fd: Int32
    let compressed = SHA256Stream()
    let uncompressed = SHA256Stream()
    private(set) var compression: Compression = .none
    private var decoder: OpaquePointer?
    private var inBuf = [UInt8](repeating: 0, count: 1 << 17)
    private var inStart = 0, inEnd = 0
    private var eof = false
    private var sniffed = false
    /// The decoder's last word was "a frame / member ended": EOF here is a clean end.
    private var atBoundary = false
    private(set) var compressedBytes: Int64 = 0

    init(fd: Int32) { self.fd = fd }
    deinit { if decoder != nil { rl_decoder_free(decoder) } }

    private func fill() throws {
        if inStart == inEnd { inStart = 0; inEnd = 0 }
        guard !eof, inEnd < inBuf.count else { return }
        let n = inBuf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + inEnd, $0.count - inEnd) }
        if n < 0 { if errno == EINTR { return }; throw RootlessError("cannot read the layer", errno: errno) }
        if n == 0 { eof = true; return }
        inBuf.withUnsafeBytes { compressed.update(UnsafeRawBufferPointer(rebasing: $0[inEnd..<(inEnd + n)])) }
        compressedBytes += Int64(n)
        inEnd += n
    }

    private func sniff() throws {
        sniffed = true
        while inEnd - inStart < 4 && !eof { try fill() }
        let b = inBuf[inStart..<inEnd]
        if b.starts(with: [0x1f, 0x8b]) { compression = .gzip } else if b.starts(with: [0x28, 0xb5, 0x2f, 0xfd]) { compression = .zstd }
        if compression != .none {
            decoder = rl_decoder_new(compression == .gzip ? Int32(RL_CODEC_GZIP.rawValue) : Int32(RL_CODEC_ZSTD.rawValue))
            guard decoder != nil else { throw RootlessError("cannot start the \(compression) decoder (out of memory)") }
        }
    }

    func read(_ buf: UnsafeMutableRawBufferPointer) throws -> Int {
        if !sniffed { try sniff() }
        guard buf.count > 0 else { return 0 }
        while true {
            if inStart == inEnd { try fill() }
            if decoder == nil {
                let n = min(buf.count, inEnd - inStart)
                if n == 0 { return 0 }
                inBuf.withUnsafeBytes { buf.baseAddress!.copyMemory(from: $0.baseAddress! + inStart, byteCount: n) }
                inStart += n
                uncompressed.update(UnsafeRawBufferPointer(start: buf.baseAddress, count: n))
                return n
            }
            var used = 0, produced = 0
            let rc = inBuf.withUnsafeBytes { i in
                rl_decoder_run(
                    decoder, i.baseAddress!.assumingMemoryBound(to: UInt8.self) + inStart, inEnd - inStart, &used,
                    buf.baseAddress!.assumingMemoryBound(to: UInt8.self), buf.count, &produced)
            }
            inStart += used
            if rc < 0 { throw RootlessError("the layer is corrupt: \(String(cString: rl_decoder_error(decoder)))") }
            if rc == 1 { atBoundary = true } else if used > 0 || produced > 0 { atBoundary = false }
            if produced > 0 {
                uncompressed.update(UnsafeRawBufferPointer(start: buf.baseAddress, count: produced))
                return produced
            }
            if inStart == inEnd && eof {
                if rc == 1 || atBoundary { return 0 }
                throw RootlessError("the layer is truncated: its \(compression) stream ends early")
            }
            if used == 0 && inStart < inEnd && rc == 0 && inEnd - inStart == inBuf.count { throw RootlessError("the layer's \(compression) stream is stuck") }
        }
    }

    /// Reads and hashes whatever is left (the tar's zero padding after its end blocks).
    func drain() throws {
        var scratch = [UInt8](repeating: 0, count: 1 << 16)
        while try scratch.withUnsafeMutableBytes({ try read($0) }) > 0 {}
    }
}
