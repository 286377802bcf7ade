import NIOCore

/// Splits a connection's bytes into request frames: `int32 size`, then `size` bytes
/// (formats/kafka.md). A declared size below 0 or over `maxRequestBytes` closes the connection
/// as soon as the 4 size bytes arrive, before any of the body is buffered.
struct FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    let maxRequestBytes: Int
    let log: @Sendable (String) -> Void
    let peer: String

    /// Why a connection was closed while framing.
    struct FrameError: Error, CustomStringConvertible {
        var description: String
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return .needMoreData }
        guard size >= 0, Int(size) <= maxRequestBytes else {
            log("connection \(peer): request size \(size) outside 0...\(maxRequestBytes) (--max-request-bytes); closed")
            throw FrameError(description: "request size \(size)")
        }
        guard buffer.readableBytes >= 4 + Int(size) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        guard let frame = buffer.readSlice(length: Int(size)) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if buffer.readableBytes > 0 {
            log("connection \(peer): closed by the client inside a frame (\(buffer.readableBytes) bytes unread)")
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        }
        return .needMoreData
    }
}
