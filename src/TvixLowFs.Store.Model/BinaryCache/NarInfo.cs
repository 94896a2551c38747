using System.Globalization;
using System.Text;
using System.Text.Unicode;
using Google.Protobuf;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using ProtoStorePath = TvixLowFs.Protos.Store.StorePath;

namespace TvixLowFs.Store.Model.BinaryCache;

/// <summary>
/// A <c>&lt;hash&gt;.narinfo</c> of a Nix binary cache, read as Nix 2.8's NarInfo constructor reads it
/// (nar-info.cc) and written as its <c>to_string</c> writes it. Values are validated once, in
/// <see cref="Parse"/>; an instance built with an initializer is trusted to hold valid values.
/// </summary>
public sealed class NarInfo : IEquatable<NarInfo>
{
    /// <summary>
    /// A narinfo larger than this is rejected before parsing. Nix has no limit, but a narinfo is a few
    /// lines plus ~60 bytes per reference: the largest real ones (paths with thousands of references)
    /// are tens of KiB. 1 MiB leaves ample room for those while bounding what a hostile cache can make
    /// us hold per lookup.
    /// </summary>
    public const int MaxBytes = 1 << 20;

    /// <summary>What Nix 2.8 assumes when the Compression line is missing or empty.</summary>
    public const string DefaultCompression = "bzip2";

    private NixContentAddress? _parsedContentAddress;

    public required StorePath StorePath { get; init; }

    /// <summary>The NAR's URL as written: relative to the cache, or absolute.</summary>
    public required string Url { get; init; }

    /// <summary>As written; <see cref="DefaultCompression"/> when the field is missing (Nix 2.8).</summary>
    public required string Compression { get; init; }

    /// <summary>32-byte SHA-256 of the NAR file as stored (compressed), or null when absent.</summary>
    public byte[]? FileHash { get; init; }

    public ulong? FileSize { get; init; }

    /// <summary>32-byte SHA-256 of the uncompressed NAR.</summary>
    public required byte[] NarHash { get; init; }

    /// <summary>Size of the uncompressed NAR; never 0.</summary>
    public required ulong NarSize { get; init; }

    /// <summary>In the order written, each once (Nix keeps them in a set).</summary>
    public required IReadOnlyList<StorePath> References { get; init; }

    /// <summary>Null for absent or <c>unknown-deriver</c>.</summary>
    public StorePath? Deriver { get; init; }

    /// <summary>Null when absent or empty (Nix writes no System line then).</summary>
    public string? System { get; init; }

    public required IReadOnlyList<NarSignature> Signatures { get; init; }

    /// <summary>The CA line as written; null when absent or empty.</summary>
    public string? ContentAddress { get; init; }

    /// <summary><see cref="ContentAddress"/> parsed; null when there is none. Throws <see cref="StoreValidationException"/>
    /// only for an instance built by hand with a malformed value (<see cref="Parse"/> rejects those).</summary>
    public NixContentAddress? ParsedContentAddress =>
        ContentAddress is null ? null : _parsedContentAddress ??= NixContentAddress.Parse(ContentAddress);

    /// <summary>
    /// Parses as Nix 2.8 does and checks StorePath carries <paramref name="expectedHash"/>. Throws
    /// <see cref="StoreValidationException"/> whose message is a short reason starting "narinfo: ".
    /// </summary>
    /// <remarks>
    /// Stricter than Nix where Nix would silently misread: every line is <c>Name: value\n</c> (Nix skips
    /// the two characters after the colon whatever they are and lets a line without a newline fail);
    /// a second line of any known field other than Sig is rejected (Nix rejects a second References
    /// and CA and lets the last of the others win, so which one a signer meant is ambiguous); NUL bytes
    /// and invalid UTF-8 are rejected; each Sig must be <c>name:base64(64 bytes)</c> (Nix keeps any
    /// string and fails it at verification). Like Nix: unknown names are ignored, a missing or empty
    /// Compression is bzip2, an empty CA is none, a repeated reference counts once.
    /// </remarks>
    public static NarInfo Parse(ReadOnlySpan<byte> utf8, StorePathHash expectedHash)
    {
        if (utf8.Length > MaxBytes)
            throw Corrupt($"it is {utf8.Length} bytes, more than the {MaxBytes} a narinfo may have");
        int nul = utf8.IndexOf((byte)0);
        if (nul >= 0)
            throw Corrupt($"a NUL byte at offset {nul}");
        if (!Utf8.IsValid(utf8))
            throw Corrupt("it is not valid UTF-8");
        string text = Encoding.UTF8.GetString(utf8);

        StorePath? storePath = null;
        string? url = null, compression = null, system = null, contentAddress = null;
        byte[]? fileHash = null, narHash = null;
        ulong? fileSize = null, narSize = null;
        List<StorePath>? references = null;
        StorePath? deriver = null;
        var signatures = new List<NarSignature>();
        var seen = new HashSet<string>(StringComparer.Ordinal);

        int position = 0;
        for (int lineNumber = 1; position < text.Length; lineNumber++)
        {
            int end = text.IndexOf('\n', position);
            if (end < 0)
                throw Corrupt($"line {lineNumber} does not end with a newline");
            ReadOnlySpan<char> line = text.AsSpan(position, end - position);
            position = end + 1;

            int colon = line.IndexOf(':');
            if (colon < 0 || colon + 1 >= line.Length || line[colon + 1] != ' ')
                throw Corrupt($"line {lineNumber} is not \"Name: value\"");
            string name = line[..colon].ToString();
            string value = line[(colon + 2)..].ToString();

            if ((name is "StorePath" or "URL" or "Compression" or "FileHash" or "FileSize" or "NarHash" or "NarSize"
                or "References" or "Deriver" or "System" or "CA") && !seen.Add(name))
                throw Corrupt($"a second {name} line");

            switch (name)
            {
                case "StorePath":
                    try
                    {
                        storePath = StorePath.ParseAbsolute(value);
                    }
                    catch (FormatException e)
                    {
                        throw Corrupt($"StorePath: {Show(e.Message)}");
                    }
                    break;
                case "URL":
                    url = value;
                    break;
                case "Compression":
                    compression = value;
                    break;
                case "FileHash":
                    fileHash = ParseSha256(name, value);
                    break;
                case "FileSize":
                    fileSize = ParseNumber(name, value);
                    break;
                case "NarHash":
                    narHash = ParseSha256(name, value);
                    break;
                case "NarSize":
                    narSize = ParseNumber(name, value);
                    break;
                case "References":
                    references = ParseReferences(value);
                    break;
                case "Deriver":
                    if (value != "unknown-deriver")
                        deriver = ParseBasename(name, value);
                    break;
                case "System":
                    system = value.Length == 0 ? null : value;
                    break;
                case "Sig":
                    try
                    {
                        signatures.Add(NarSignature.Parse(value));
                    }
                    catch (StoreValidationException e)
                    {
                        throw Corrupt($"Sig: {e.Message}");
                    }
                    break;
                case "CA":
                    if (value.Length == 0)
                        break;
                    try
                    {
                        NixContentAddress.Parse(value);
                    }
                    catch (StoreValidationException e)
                    {
                        throw Corrupt($"CA: {e.Message}");
                    }
                    contentAddress = value;
                    break;
            }
        }

        if (storePath is null)
            throw Corrupt("no StorePath line");
        if (storePath.Hash != expectedHash)
            throw Corrupt($"StorePath {storePath.AbsolutePath} has another hash than the one asked for");
        if (url is null)
            throw Corrupt("no URL line");
        if (url.Length == 0)
            throw Corrupt("URL is empty");
        if (narHash is null)
            throw Corrupt("no NarHash line");
        if (narSize is null)
            throw Corrupt("no NarSize line");
        if (narSize == 0)
            throw Corrupt("NarSize is 0");

        return new NarInfo
        {
            StorePath = storePath,
            Url = url,
            Compression = string.IsNullOrEmpty(compression) ? DefaultCompression : compression,
            FileHash = fileHash,
            FileSize = fileSize,
            NarHash = narHash,
            NarSize = narSize.Value,
            References = references ?? [],
            Deriver = deriver,
            System = system,
            Signatures = signatures,
            ContentAddress = contentAddress,
        };
    }

    /// <summary>
    /// What a signature signs (ValidPathInfo::fingerprint):
    /// <c>1;/nix/store/&lt;basename&gt;;sha256:&lt;nixbase32 NarHash&gt;;&lt;NarSize&gt;;&lt;comma-joined absolute references&gt;</c>,
    /// the references in Nix's set order (by basename, bytewise), each once.
    /// </summary>
    public string Fingerprint()
    {
        if (NarSize == 0)
            throw new InvalidOperationException($"cannot calculate the fingerprint of {StorePath.AbsolutePath}: its NarSize is 0");
        var references = new SortedSet<string>(References.Select(r => r.AbsolutePath), StringComparer.Ordinal);
        return "1;" + StorePath.AbsolutePath + ";sha256:" + NixBase32.Encode(NarHash) + ";"
            + NarSize.ToString(CultureInfo.InvariantCulture) + ";" + string.Join(",", references);
    }

    /// <summary>
    /// The narinfo text in Nix's field order, as <c>nix copy --to file://</c> writes it: StorePath, URL,
    /// Compression, FileHash, FileSize, NarHash, NarSize, References (always, with a trailing space when
    /// empty), Deriver, System, Sig..., CA. Absent optional fields are left out. Throws
    /// <see cref="InvalidOperationException"/> when a value would break the line format (a newline in it).
    /// </summary>
    public string Format()
    {
        var text = new StringBuilder(512);
        void Line(string name, string value)
        {
            if (value.AsSpan().IndexOfAny('\n', '\0') >= 0)
                throw new InvalidOperationException($"narinfo of {StorePath.AbsolutePath}: the {name} value holds a newline or NUL");
            text.Append(name).Append(": ").Append(value).Append('\n');
        }

        Line("StorePath", StorePath.AbsolutePath);
        Line("URL", Url);
        Line("Compression", Compression);
        if (FileHash is not null)
            Line("FileHash", "sha256:" + NixBase32.Encode(FileHash));
        if (FileSize is { } fileSize)
            Line("FileSize", fileSize.ToString(CultureInfo.InvariantCulture));
        Line("NarHash", "sha256:" + NixBase32.Encode(NarHash));
        Line("NarSize", NarSize.ToString(CultureInfo.InvariantCulture));
        Line("References", string.Join(" ", References.Select(r => r.Basename)));
        if (Deriver is not null)
            Line("Deriver", Deriver.Basename);
        if (!string.IsNullOrEmpty(System))
            Line("System", System);
        foreach (var signature in Signatures)
        {
            if (string.IsNullOrEmpty(signature.KeyName) || signature.KeyName.Contains(':', StringComparison.Ordinal))
                throw new InvalidOperationException($"narinfo of {StorePath.AbsolutePath}: signature key name \"{NodeNames.Escape(signature.KeyName ?? "")}\" is empty or holds a colon");
            Line("Sig", signature.ToString());
        }
        if (!string.IsNullOrEmpty(ContentAddress))
            Line("CA", ContentAddress);
        return text.ToString();
    }

    /// <summary>
    /// The tvix PathInfo for this narinfo with the given root node (whose name must be
    /// <see cref="StorePath.Basename"/>): references (20-byte hashes, in narinfo order), narinfo
    /// { nar_size, nar_sha256, signatures, reference_names (basenames), deriver (name without hash,
    /// 20-byte digest), ca }.
    /// </summary>
    public PathInfo ToPathInfo(Node root)
    {
        ArgumentNullException.ThrowIfNull(root);
        var name = PathInfoRules.NodeName(root);
        if (!StorePath.BasenameEquals(name.Span))
            throw new ArgumentException(
                $"the root node is named {NodeNames.Escape(name.Span)}, the narinfo is for {StorePath.Basename}", nameof(root));

        var narinfo = new NARInfo
        {
            NarSize = NarSize,
            NarSha256 = ByteString.CopyFrom(NarHash),
        };
        var pathInfo = new PathInfo { Node = root.Clone(), Narinfo = narinfo };
        foreach (var reference in References)
        {
            pathInfo.References.Add(ByteString.CopyFrom(reference.Hash.ToArray()));
            narinfo.ReferenceNames.Add(reference.Basename);
        }
        foreach (var signature in Signatures)
            narinfo.Signatures.Add(new NARInfo.Types.Signature { Name = signature.KeyName, Data = ByteString.CopyFrom(signature.Bytes) });
        if (Deriver is not null)
            narinfo.Deriver = new ProtoStorePath { Name = Deriver.Name, Digest = ByteString.CopyFrom(Deriver.Hash.ToArray()) };
        if (ParsedContentAddress is { } ca)
            narinfo.Ca = ca.ToProto();
        return pathInfo;
    }

    /// <summary>
    /// The reverse of <see cref="ToPathInfo"/>, for serving a PathInfo as a narinfo (nar-bridge): the
    /// URL, compression, file hash and size are the caller's. Throws <see cref="StoreValidationException"/>
    /// when the PathInfo is invalid or lacks what a narinfo needs (narinfo, nar_size, reference_names
    /// matching references, 64-byte signatures).
    /// </summary>
    public static NarInfo FromPathInfo(PathInfo pathInfo, string url, string compression, byte[]? fileHash, ulong? fileSize)
    {
        ArgumentNullException.ThrowIfNull(pathInfo);
        ArgumentNullException.ThrowIfNull(url);
        ArgumentNullException.ThrowIfNull(compression);
        var storePath = PathInfoRules.Validate(pathInfo);
        if (fileHash is not null && fileHash.Length != 32)
            throw new ArgumentException($"a SHA-256 file hash is 32 bytes, got {fileHash.Length}", nameof(fileHash));
        var narinfo = pathInfo.Narinfo
            ?? throw new StoreValidationException($"path info of {storePath.Basename} has no narinfo (no NarHash or NarSize to serve)");
        if (narinfo.NarSize == 0)
            throw new StoreValidationException($"path info of {storePath.Basename}: narinfo.nar_size is 0");
        if (narinfo.ReferenceNames.Count != pathInfo.References.Count)
            throw new StoreValidationException(
                $"path info of {storePath.Basename}: {narinfo.ReferenceNames.Count} reference_names for {pathInfo.References.Count} references");

        var references = new List<StorePath>(pathInfo.References.Count);
        var seen = new HashSet<StorePath>();
        for (int i = 0; i < pathInfo.References.Count; i++)
        {
            StorePath reference;
            try
            {
                reference = StorePath.ParseBasename(narinfo.ReferenceNames[i]);
            }
            catch (FormatException e)
            {
                throw new StoreValidationException($"path info of {storePath.Basename}: reference_names[{i}]: {e.Message}");
            }
            if (reference.Hash != StorePathHash.FromBytes(pathInfo.References[i].Span))
                throw new StoreValidationException(
                    $"path info of {storePath.Basename}: reference_names[{i}] {reference.Basename} does not carry the hash of references[{i}]");
            if (seen.Add(reference))
                references.Add(reference);
        }

        StorePath? deriver = null;
        if (narinfo.Deriver is { } d)
        {
            if (d.Digest.Length != StorePathHash.Length)
                throw new StoreValidationException($"path info of {storePath.Basename}: deriver digest is {d.Digest.Length} bytes, not {StorePathHash.Length}");
            try
            {
                deriver = new StorePath(StorePathHash.FromBytes(d.Digest.Span), d.Name);
            }
            catch (FormatException e)
            {
                throw new StoreValidationException($"path info of {storePath.Basename}: deriver: {e.Message}");
            }
        }

        var signatures = new List<NarSignature>(narinfo.Signatures.Count);
        foreach (var signature in narinfo.Signatures)
        {
            if (signature.Name.Length == 0 || signature.Name.AsSpan().IndexOfAny(":\n\0") >= 0)
                throw new StoreValidationException($"path info of {storePath.Basename}: signature name \"{NodeNames.Escape(signature.Name)}\" is empty or holds ':', a newline or NUL");
            if (signature.Data.Length != NarSignature.Length)
                throw new StoreValidationException(
                    $"path info of {storePath.Basename}: signature by {NodeNames.Escape(signature.Name)} is {signature.Data.Length} bytes, not {NarSignature.Length}");
            signatures.Add(new NarSignature(signature.Name, signature.Data.ToByteArray()));
        }

        return new NarInfo
        {
            StorePath = storePath,
            Url = url,
            Compression = compression,
            FileHash = fileHash,
            FileSize = fileSize,
            NarHash = narinfo.NarSha256.ToByteArray(),
            NarSize = narinfo.NarSize,
            References = references,
            Deriver = deriver,
            Signatures = signatures,
            ContentAddress = narinfo.Ca is { } ca ? NixContentAddress.FromProto(ca).ToString() : null,
        };
    }

    /// <summary>
    /// True when <see cref="ContentAddress"/>, with <see cref="References"/> and the name, reproduces
    /// <see cref="StorePath"/> the way Nix's makeFixedOutputPath / makeTextPath do (ValidPathInfo::isContentAddressed:
    /// a self-verifying path needs no signature in Nix), and for <c>fixed:r:sha256:</c> the CA hash
    /// equals <see cref="NarHash"/>. For text, flat and other recursive hashes the CA hash is of the
    /// contents: whoever ingests the NAR must check it (see <see cref="ParsedContentAddress"/>).
    /// </summary>
    public bool ContentAddressProvesStorePath()
    {
        if (ContentAddress is null)
            return false;
        NixContentAddress ca;
        try
        {
            ca = ParsedContentAddress!;
        }
        catch (StoreValidationException)
        {
            return false;
        }
        var references = References.Distinct().ToArray();
        if (ca.StorePathFor(StorePath.Name, references, StorePath) is not { } derived || !derived.Equals(StorePath))
            return false;
        return !ca.IsCoveredByNarHash || ca.Hash.SequenceEqual(NarHash);
    }

    public bool Equals(NarInfo? other) =>
        other is not null
        && StorePath.Equals(other.StorePath)
        && Url == other.Url
        && Compression == other.Compression
        && (FileHash is null ? other.FileHash is null : other.FileHash is not null && FileHash.AsSpan().SequenceEqual(other.FileHash))
        && FileSize == other.FileSize
        && NarHash.AsSpan().SequenceEqual(other.NarHash)
        && NarSize == other.NarSize
        && References.SequenceEqual(other.References)
        && Equals(Deriver, other.Deriver)
        && System == other.System
        && Signatures.SequenceEqual(other.Signatures)
        && ContentAddress == other.ContentAddress;

    public override bool Equals(object? obj) => Equals(obj as NarInfo);
    public override int GetHashCode() => HashCode.Combine(StorePath, NarSize);
    public override string ToString() => $"narinfo of {StorePath.AbsolutePath}";

    private static StoreValidationException Corrupt(string reason) => new("narinfo: " + reason);

    // Values go into messages cut short and escaped: a hostile narinfo must not flood or forge a log line.
    private static string Show(string value) => NodeNames.Escape(value.Length <= 120 ? value : value[..120] + "...");

    private static byte[] ParseSha256(string field, string value) =>
        NixHashText.TryParsePrefixedSha256(value, out byte[] hash) is { } problem
            ? throw Corrupt($"{field} \"{Show(value)}\": {problem}")
            : hash;

    private static ulong ParseNumber(string field, string value)
    {
        // Digits only: boost::lexical_cast<uint64_t> as Nix uses it would also take a sign.
        if (value.Length == 0 || value.AsSpan().ContainsAnyExceptInRange('0', '9')
            || !ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out ulong number))
            throw Corrupt($"{field} \"{Show(value)}\" is not a number");
        return number;
    }

    private static StorePath ParseBasename(string field, string value)
    {
        try
        {
            return StorePath.ParseBasename(value);
        }
        catch (FormatException e)
        {
            throw Corrupt($"{field}: {Show(e.Message)}");
        }
    }

    private static List<StorePath> ParseReferences(string value)
    {
        var references = new List<StorePath>();
        var seen = new HashSet<StorePath>();
        foreach (string basename in value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var reference = ParseBasename("References", basename);
            if (seen.Add(reference))
                references.Add(reference);
        }
        return references;
    }
}
