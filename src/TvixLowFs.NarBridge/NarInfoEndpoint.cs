using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Model.BinaryCache;
using TvixLowFs.Store.Services;
using StorePath = TvixLowFs.Store.Model.StorePath;

namespace TvixLowFs.NarBridge;

/// <summary>
/// <c>/&lt;hash&gt;.narinfo</c>: GET/HEAD build it from the PathInfo (the NAR it names is the one
/// <see cref="NarEndpoint"/> renders, uncompressed); PUT, the last step of <c>nix copy --to</c> for
/// a path, registers a NAR received before under the narinfo's metadata once everything checks out.
/// </summary>
internal sealed class NarInfoEndpoint(StoreServices store, NarBridgeOptions options, ReceivedNars received, ILogger logger)
{
    public const string ContentType = "text/x-nix-narinfo";

    public async Task GetAsync(HttpContext context, StorePathHash hash)
    {
        PathInfo pathInfo = await store.PathInfos.GetAsync(hash, context.RequestAborted).ConfigureAwait(false)
            ?? throw new RequestRefusedException(StatusCodes.Status404NotFound, "no such store path");
        NarInfo narInfo;
        try
        {
            byte[] narHash = pathInfo.Narinfo?.NarSha256.ToByteArray() ?? [];
            narInfo = NarInfo.FromPathInfo(pathInfo, narHash.Length == 32 ? BridgeRoute.RenderedNarUrl(hash, narHash) : "", "none",
                narHash.Length == 32 ? narHash : null, pathInfo.Narinfo?.NarSize);
        }
        catch (StoreValidationException e)
        {
            // A PathInfo a narinfo cannot describe (no NAR metadata) is absent to Nix, not an error that disables the cache.
            throw new RequestRefusedException(StatusCodes.Status404NotFound, "the store path cannot be served as a narinfo: " + e.Message);
        }
        if (options.SigningKey is { } key)
        {
            NarSignature signature = key.Sign(narInfo.Fingerprint());
            if (!narInfo.Signatures.Contains(signature))
                narInfo = WithSignatures(narInfo, [.. narInfo.Signatures, signature]);
        }
        await TextResponse.WriteAsync(context, StatusCodes.Status200OK, ContentType, narInfo.Format()).ConfigureAwait(false);
    }

    public async Task PutAsync(HttpContext context, StorePathHash hash)
    {
        if (context.Request.ContentLength > NarInfo.MaxBytes)
            throw UploadBodyStream.TooLarge(NarInfo.MaxBytes);
        byte[] text;
        await using (var body = new UploadBodyStream(context.Request.Body, NarInfo.MaxBytes, options.UploadStallTimeout, context.RequestAborted))
        {
            using var buffer = new MemoryStream();
            await body.CopyToAsync(buffer, context.RequestAborted).ConfigureAwait(false);
            text = buffer.ToArray();
        }

        NarInfo narInfo;
        try
        {
            narInfo = NarInfo.Parse(text, hash);
        }
        catch (StoreValidationException e)
        {
            throw Refused(e.Message);
        }
        StorePath storePath = narInfo.StorePath;
        string narHash = "sha256:" + NixBase32.Encode(narInfo.NarHash);
        ReceivedNar nar = received.ByNar(narInfo.NarHash, narInfo.NarSize)
            ?? throw Refused($"no NAR with NarHash {narHash} and NarSize {narInfo.NarSize} was received (PUT the NAR first)");
        if (narInfo.ParsedContentAddress is { IsCoveredByNarHash: true } ca && !ca.Hash.SequenceEqual(narInfo.NarHash))
            throw Refused($"CA {narInfo.ContentAddress} does not match NarHash {narHash}");
        foreach (StorePath reference in narInfo.References)
        {
            if (reference.Hash != hash && await store.PathInfos.GetAsync(reference.Hash, context.RequestAborted).ConfigureAwait(false) is null)
                throw Refused($"reference {reference.Basename} is not in this store (its narinfo must be sent first)");
        }

        var root = nar.Root.Clone();
        PathInfoRules.SetNodeName(root, ByteString.CopyFromUtf8(storePath.Basename));
        PathInfo pathInfo = narInfo.ToPathInfo(root);

        // The PathInfo service is the one judge of "already registered" (PathInfoImmutability, for
        // every backend and across processes): the same root node again answers what is stored,
        // another root node is a conflict and never overwrites.
        try
        {
            await store.PathInfos.PutAsync(pathInfo, context.RequestAborted).ConfigureAwait(false);
        }
        catch (StoreValidationException e)
        {
            throw Refused(e.Message);
        }
        catch (StorePathConflictException e)
        {
            throw new RequestRefusedException(StatusCodes.Status409Conflict,
                $"{storePath.AbsolutePath} is already registered with other contents; it is never overwritten ({e.Message})");
        }
        logger.LogDebug("registered {StorePath} (NarHash {NarHash}, NarSize {NarSize})", storePath.AbsolutePath, narHash, narInfo.NarSize);
        TextResponse.Empty(context);
    }

    private static RequestRefusedException Refused(string reason) => new(StatusCodes.Status400BadRequest, reason);

    private static NarInfo WithSignatures(NarInfo narInfo, IReadOnlyList<NarSignature> signatures) => new()
    {
        StorePath = narInfo.StorePath,
        Url = narInfo.Url,
        Compression = narInfo.Compression,
        FileHash = narInfo.FileHash,
        FileSize = narInfo.FileSize,
        NarHash = narInfo.NarHash,
        NarSize = narInfo.NarSize,
        References = narInfo.References,
        Deriver = narInfo.Deriver,
        System = narInfo.System,
        Signatures = signatures,
        ContentAddress = narInfo.ContentAddress,
    };
}
