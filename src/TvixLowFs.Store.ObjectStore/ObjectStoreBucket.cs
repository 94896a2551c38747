using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Store.ObjectStore;

/// <summary>
/// One bucket and key prefix of an <c>objectstore+s3://</c> address: whole-object gets, puts,
/// existence checks and listings, every S3 failure turned into one <see cref="StoreUnavailableException"/>
/// line naming the address (its secret key hidden), the operation, the key and the S3 error.
/// </summary>
public sealed class ObjectStoreBucket : IDisposable
{
    private readonly AmazonS3Client _client;
    private readonly string _bucket;

    public ObjectStoreBucket(StoreAddress address, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(environment);
        if (address.Kind != StoreAddressKind.ObjectStoreS3)
            throw new ArgumentException($"not an objectstore+s3 address: {address}", nameof(address));
        _bucket = address.Bucket!;
        Prefix = address.Prefix;
        Name = Redacted(address);
        string? Option(string name, string variable) =>
            address.ObjectStoreOptions.TryGetValue(name, out string? value) ? value : environment(variable) is { Length: > 0 } fromEnvironment ? fromEnvironment : null;

        var config = new AmazonS3Config
        {
            ForcePathStyle = true,
            // RGW 16.2 rejects the SDK's default aws-chunked uploads with trailing checksums.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            MaxErrorRetry = 3,
            Timeout = TimeSpan.FromSeconds(60),
            AuthenticationRegion = Option("aws_region", "AWS_REGION") ?? environment("AWS_DEFAULT_REGION") ?? "us-east-1",
        };
        string? endpoint = Option("aws_endpoint", "AWS_ENDPOINT_URL") ?? environment("AWS_ENDPOINT");
        if (endpoint is not null)
        {
            bool allowHttp = (Option("aws_allow_http", "AWS_ALLOW_HTTP") ?? "false") == "true";
            if (endpoint.StartsWith("http://", StringComparison.Ordinal) && !allowHttp)
                throw new StoreUnavailableException($"store address '{Name}': endpoint {endpoint} is cleartext http; add aws_allow_http=true");
            config.ServiceURL = endpoint;
        }
        else
        {
            config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(config.AuthenticationRegion);
        }
        string? keyId = Option("aws_access_key_id", "AWS_ACCESS_KEY_ID");
        string? secret = Option("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY");
        string? session = Option("aws_session_token", "AWS_SESSION_TOKEN");
        if (keyId is null || secret is null)
            throw new StoreUnavailableException($"store address '{Name}': no S3 credentials (aws_access_key_id and aws_secret_access_key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
        AWSCredentials credentials = session is null ? new BasicAWSCredentials(keyId, secret) : new SessionAWSCredentials(keyId, secret, session);
        _client = new AmazonS3Client(credentials, config);
    }

    /// <summary>The address as shown in messages, its secret key replaced by <c>***</c>.</summary>
    public string Name { get; }

    /// <summary>The key prefix (empty, or ending with '/').</summary>
    public string Prefix { get; }

    /// <summary>The whole object, or null when there is no such key.</summary>
    public async ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            using GetObjectResponse response = await _client.GetObjectAsync(_bucket, key, cancellationToken).ConfigureAwait(false);
            return await ReadAllAsync(response, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchKey")
        {
            return null;
        }
        catch (Exception e) when (IsS3Failure(e, cancellationToken))
        {
            throw Failure("GET", key, e);
        }
    }

    /// <summary>The object's first <paramref name="length"/> bytes (fewer when it is shorter), or null when there is no such key.</summary>
    public async ValueTask<byte[]?> GetPrefixAsync(string key, int length, CancellationToken cancellationToken)
    {
        try
        {
            var request = new GetObjectRequest { BucketName = _bucket, Key = key, ByteRange = new ByteRange(0, length - 1) };
            using GetObjectResponse response = await _client.GetObjectAsync(request, cancellationToken).ConfigureAwait(false);
            return await ReadAllAsync(response, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchKey")
        {
            return null;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            return []; // an empty object has no byte 0
        }
        catch (Exception e) when (IsS3Failure(e, cancellationToken))
        {
            throw Failure("GET", key, e);
        }
    }

    /// <summary>Whether the key exists (HEAD).</summary>
    public async ValueTask<bool> ExistsAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            await _client.GetObjectMetadataAsync(_bucket, key, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound && e.ErrorCode is "NoSuchKey" or "NotFound" or null)
        {
            return false;
        }
        catch (AmazonS3Exception e) when (e.StatusCode != HttpStatusCode.NotFound)
        {
            // A HEAD answer has no body, so no S3 error code (a refused key is only "Forbidden"):
            // a one-byte GET of the same key names the real error.
            await GetPrefixAsync(key, 1, cancellationToken).ConfigureAwait(false);
            throw Failure("HEAD", key, e);
        }
        catch (Exception e) when (IsS3Failure(e, cancellationToken))
        {
            throw Failure("HEAD", key, e);
        }
    }

    /// <summary>Stores the object whole (a put replaces it; S3 makes it visible only when complete).</summary>
    public async ValueTask PutAsync(string key, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        try
        {
            using var body = new MemoryStream(bytes.ToArray(), writable: false);
            var request = new PutObjectRequest { BucketName = _bucket, Key = key, InputStream = body, AutoCloseStream = false };
            await _client.PutObjectAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsS3Failure(e, cancellationToken))
        {
            throw Failure("PUT", key, e);
        }
    }

    /// <summary>Every key below <paramref name="keyPrefix"/>, page by page.</summary>
    public async IAsyncEnumerable<string> ListAsync(string keyPrefix, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? continuation = null;
        while (true)
        {
            ListObjectsV2Response page;
            try
            {
                page = await _client.ListObjectsV2Async(new ListObjectsV2Request
                {
                    BucketName = _bucket,
                    Prefix = keyPrefix,
                    ContinuationToken = continuation,
                }, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (IsS3Failure(e, cancellationToken))
            {
                throw Failure("LIST", keyPrefix, e);
            }
            foreach (S3Object entry in page.S3Objects ?? [])
                yield return entry.Key;
            if (page.IsTruncated != true || string.IsNullOrEmpty(page.NextContinuationToken))
                yield break;
            continuation = page.NextContinuationToken;
        }
    }

    private static async ValueTask<byte[]> ReadAllAsync(GetObjectResponse response, CancellationToken cancellationToken)
    {
        long expected = response.ContentLength;
        using var buffer = new MemoryStream(expected is > 0 and < int.MaxValue ? (int)expected : 0);
        await response.ResponseStream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        return buffer.Length == buffer.Capacity ? buffer.GetBuffer() : buffer.ToArray();
    }

    /// <summary>An S3, HTTP or SDK failure (a timeout included), not the caller's own cancellation.</summary>
    private static bool IsS3Failure(Exception e, CancellationToken cancellationToken) =>
        e is AmazonServiceException or AmazonClientException or HttpRequestException or IOException
        || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested);

    private StoreUnavailableException Failure(string operation, string key, Exception e)
    {
        string what = e switch
        {
            AmazonServiceException s3 => $"{s3.ErrorCode ?? "error"} (HTTP {(int)s3.StatusCode}){(string.IsNullOrEmpty(s3.Message) ? "" : ": " + s3.Message)}",
            OperationCanceledException => "timed out",
            _ => Innermost(e).Message,
        };
        return new StoreUnavailableException($"store address '{Name}': S3 {operation} {_bucket}/{key}: {what.ReplaceLineEndings(" ")}", e);
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is { } inner)
            e = inner;
        return e;
    }

    private static string Redacted(StoreAddress address)
    {
        const string secret = "aws_secret_access_key=";
        string text = address.Text;
        int start = text.IndexOf(secret, StringComparison.Ordinal);
        if (start < 0)
            return text;
        start += secret.Length;
        int end = text.IndexOf('&', start);
        return text[..start] + "***" + (end < 0 ? "" : text[end..]);
    }

    public void Dispose() => _client.Dispose();
}
