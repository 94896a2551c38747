using Grpc.Core;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.Grpc.Server;

/// <summary>
/// The one place where store exceptions become gRPC statuses, so every endpoint answers
/// the same way: a broken rule is INVALID_ARGUMENT, a missing object NOT_FOUND, a store path
/// registered with another root ALREADY_EXISTS, a limit hit RESOURCE_EXHAUSTED, an upstream
/// outage UNAVAILABLE, anything else INTERNAL (without leaking details).
/// </summary>
internal static class RpcErrors
{
    public static RpcException InvalidArgument(string message) => new(new Status(StatusCode.InvalidArgument, message));

    public static RpcException NotFound(string message) => new(new Status(StatusCode.NotFound, message));

    public static RpcException ResourceExhausted(string message) => new(new Status(StatusCode.ResourceExhausted, message));

    public static RpcException PermissionDenied(string message) => new(new Status(StatusCode.PermissionDenied, message));

    public static RpcException Map(Exception exception, ServerCallContext context) => exception switch
    {
        RpcException rpc => rpc,
        StoreValidationException e => InvalidArgument(e.Message),
        StoreNotFoundException e => NotFound(e.Message),
        StorePathConflictException e => new RpcException(new Status(StatusCode.AlreadyExists, e.Message)),
        StoreLimitExceededException e => ResourceExhausted(e.Message),
        StoreUnavailableException e => new RpcException(new Status(StatusCode.Unavailable, e.Message)),
        OperationCanceledException when context.CancellationToken.IsCancellationRequested =>
            new RpcException(new Status(StatusCode.Cancelled, "the call was cancelled")),
        _ => new RpcException(new Status(StatusCode.Internal, "internal error: " + exception.GetType().Name)),
    };

    public static bool IsUnexpected(Exception exception) => exception is not (RpcException or StoreValidationException
        or StoreNotFoundException or StorePathConflictException or StoreLimitExceededException or OperationCanceledException);

    /// <summary>The 32-byte digest of a request field, or INVALID_ARGUMENT.</summary>
    public static B3Digest ParseDigest(Google.Protobuf.ByteString bytes, string field)
    {
        if (!B3Digest.TryFromBytes(bytes.Span, out var digest))
            throw InvalidArgument($"{field} must be {B3Digest.Length} bytes, got {bytes.Length}");
        return digest;
    }
}
