using System.Buffers;
using System.IO.Pipelines;
using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace TvixLowFs.Store.Grpc.Server;

/// <summary>
/// Keeps max-message-bytes at the frame header: the request body of every call is read through a
/// <see cref="PipeReader"/> that looks at each message's 5-byte gRPC prefix as it arrives and
/// throws RESOURCE_EXHAUSTED naming the option when the declared length is over the limit, before
/// a byte of the payload is buffered or handed to the handler. grpc-dotnet answers a thrown
/// <see cref="RpcException"/> with its status for unary calls (it is raised while the request is
/// read) and streams alike (raised from <c>MoveNext</c>); its own receive limit stays behind it,
/// equal, as a backstop.
/// </summary>
internal static class MessageSizeGuard
{
    /// <summary>Wraps the body reader of every call but those under <paramref name="exemptPrefix"/> (a service with its own fixed bound).</summary>
    public static RequestDelegate Wrap(RequestDelegate next, int maxMessageBytes, string exemptPrefix) => context =>
    {
        if (!context.Request.Path.StartsWithSegments(exemptPrefix, StringComparison.Ordinal))
        {
            var body = context.Features.Get<IRequestBodyPipeFeature>();
            if (body is not null)
                context.Features.Set<IRequestBodyPipeFeature>(new GuardedBody(new FrameLimitReader(body.Reader, maxMessageBytes)));
        }
        return next(context);
    };

    public static RpcException TooLarge(long length, int limit) =>
        RpcErrors.ResourceExhausted($"a message of {length} bytes is larger than {limit} bytes (max-message-bytes)");

    private sealed class GuardedBody(PipeReader reader) : IRequestBodyPipeFeature
    {
        public PipeReader Reader { get; } = reader;
    }

    /// <summary>
    /// Passes every byte through and follows the framing on the side: a 1-byte compressed flag, a
    /// 4-byte big-endian length, that many payload bytes, repeated. Each byte is looked at once.
    /// </summary>
    internal sealed class FrameLimitReader(PipeReader inner, int limit) : PipeReader
    {
        private const int PrefixLength = 5;
        private long _scanned;         // bytes from the start of the last buffer already looked at
        private int _prefixSeen;       // bytes of the current prefix seen so far (0 = at a message boundary)
        private uint _length;          // the length field as it is assembled
        private long _payloadLeft;     // payload bytes of the current message not yet seen
        private ReadOnlySequence<byte> _last;

        public override bool TryRead(out ReadResult result)
        {
            if (!inner.TryRead(out result))
                return false;
            Inspect(result.Buffer);
            return true;
        }

        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            var result = await inner.ReadAsync(cancellationToken).ConfigureAwait(false);
            Inspect(result.Buffer);
            return result;
        }

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            _scanned -= _last.Slice(0, consumed).Length;
            _last = default;
            inner.AdvanceTo(consumed, examined);
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        private void Inspect(ReadOnlySequence<byte> buffer)
        {
            _last = buffer;
            if (buffer.Length <= _scanned)
                return;
            var reader = new SequenceReader<byte>(buffer.Slice(_scanned));
            while (!reader.End)
            {
                if (_payloadLeft > 0)
                {
                    long skip = Math.Min(_payloadLeft, reader.Remaining);
                    reader.Advance(skip);
                    _payloadLeft -= skip;
                    continue;
                }
                reader.TryRead(out byte b);
                if (_prefixSeen > 0)
                    _length = (_length << 8) | b; // bytes 1-4; byte 0 is the compressed flag
                _prefixSeen++;
                if (_prefixSeen < PrefixLength)
                    continue;
                if (_length > (uint)limit)
                    throw TooLarge(_length, limit);
                _payloadLeft = _length;
                _prefixSeen = 0;
                _length = 0;
            }
            _scanned = buffer.Length;
        }
    }
}
