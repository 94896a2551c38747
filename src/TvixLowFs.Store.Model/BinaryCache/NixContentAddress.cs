using TvixLowFs.Protos.Store;

namespace TvixLowFs.Store.Model.BinaryCache;

/// <summary>
/// A narinfo's <c>CA</c> value parsed as Nix 2.8's parseContentAddress does: <c>text:sha256:&lt;hash&gt;</c>,
/// <c>fixed:&lt;algo&gt;:&lt;hash&gt;</c> or <c>fixed:r:&lt;algo&gt;:&lt;hash&gt;</c> with algo md5, sha1,
/// sha256 or sha512 and the hash in base16, nixbase32 or base64.
/// </summary>
public sealed class NixContentAddress : IEquatable<NixContentAddress>
{
    private readonly byte[] _hash;

    public NixContentAddress(ContentAddressMethod method, string hashAlgorithm, ReadOnlySpan<byte> hash)
    {
        ArgumentNullException.ThrowIfNull(hashAlgorithm);
        int size = NixHashText.SizeOf(hashAlgorithm);
        if (size < 0)
            throw new ArgumentException($"\"{hashAlgorithm}\" is not a hash type Nix knows", nameof(hashAlgorithm));
        if (hash.Length != size)
            throw new ArgumentException($"a {hashAlgorithm} hash is {size} bytes, got {hash.Length}", nameof(hash));
        if (method == ContentAddressMethod.Text && hashAlgorithm != NixHashText.Sha256)
            throw new ArgumentException("a text content address is always sha256", nameof(hashAlgorithm));
        Method = method;
        HashAlgorithm = hashAlgorithm;
        _hash = hash.ToArray();
    }

    public ContentAddressMethod Method { get; }

    /// <summary>md5, sha1, sha256 or sha512.</summary>
    public string HashAlgorithm { get; }

    public ReadOnlySpan<byte> Hash => _hash;

    /// <summary>
    /// True for <c>fixed:r:sha256:</c>, whose hash is the NarHash: checking the NAR against NarHash
    /// checks it. For every other address the hash is of something a narinfo does not describe (the
    /// file's bytes for text and flat, the NAR under another algorithm for recursive): an ingester
    /// must compute it with <see cref="HashAlgorithmName"/> and compare before trusting the path.
    /// </summary>
    public bool IsCoveredByNarHash => Method == ContentAddressMethod.Recursive && HashAlgorithm == NixHashText.Sha256;

    /// <summary>The .NET name of <see cref="HashAlgorithm"/>, for <c>IncrementalHash.CreateHash</c>.</summary>
    public System.Security.Cryptography.HashAlgorithmName HashAlgorithmName => HashAlgorithm switch
    {
        "md5" => System.Security.Cryptography.HashAlgorithmName.MD5,
        "sha1" => System.Security.Cryptography.HashAlgorithmName.SHA1,
        "sha256" => System.Security.Cryptography.HashAlgorithmName.SHA256,
        _ => System.Security.Cryptography.HashAlgorithmName.SHA512,
    };

    /// <summary>Throws <see cref="StoreValidationException"/> naming the problem.</summary>
    public static NixContentAddress Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string Bad(string why) => $"content address \"{NodeNames.Escape(text)}\" {why}";

        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
            throw new StoreValidationException(Bad("is not <prefix>:<rest>"));
        string prefix = text[..colon];
        string rest = text[(colon + 1)..];
        ContentAddressMethod method;
        if (prefix == "text")
            method = ContentAddressMethod.Text;
        else if (prefix == "fixed")
        {
            method = ContentAddressMethod.Flat;
            if (rest.StartsWith("r:", StringComparison.Ordinal))
            {
                method = ContentAddressMethod.Recursive;
                rest = rest[2..];
            }
        }
        else
            throw new StoreValidationException(Bad($"has the prefix \"{NodeNames.Escape(prefix)}\", not text or fixed"));

        colon = rest.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
            throw new StoreValidationException(Bad("has no <algo>:<hash>"));
        string algorithm = rest[..colon];
        int size = NixHashText.SizeOf(algorithm);
        if (size < 0)
            throw new StoreValidationException(Bad($"names the hash type \"{NodeNames.Escape(algorithm)}\", which Nix does not know"));
        if (method == ContentAddressMethod.Text && algorithm != NixHashText.Sha256)
            throw new StoreValidationException(Bad($"is text with a {algorithm} hash, text is always sha256"));
        if (NixHashText.TryParseUnprefixed(rest[(colon + 1)..], size, sri: false, out byte[] hash) is { } problem)
            throw new StoreValidationException(Bad($"has a bad hash: {problem}"));
        return new NixContentAddress(method, algorithm, hash);
    }

    /// <summary>The store path Nix derives from this address (isContentAddressed's computation); null when
    /// this address cannot have <paramref name="references"/> (a fixed path other than recursive sha256 has none).</summary>
    public StorePath? StorePathFor(string name, IReadOnlyCollection<StorePath> references, StorePath? self)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(references);
        switch (Method)
        {
            case ContentAddressMethod.Text:
                return NixStorePathBuilder.ForText(_hash, name, references);
            case ContentAddressMethod.Recursive when HashAlgorithm == NixHashText.Sha256:
                bool selfReference = self is not null && references.Contains(self);
                return NixStorePathBuilder.ForSource(_hash, name, references.Where(r => !r.Equals(self)), selfReference);
            default:
                // Nix asserts there are none here; a narinfo that says otherwise proves nothing.
                return references.Count == 0
                    ? NixStorePathBuilder.ForFixedOutput(Method == ContentAddressMethod.Recursive, HashAlgorithm, _hash, name)
                    : null;
        }
    }

    /// <summary>The tvix NARInfo.CA for this address.</summary>
    public NARInfo.Types.CA ToProto() => new()
    {
        Type = (Method, HashAlgorithm) switch
        {
            (ContentAddressMethod.Text, _) => NARInfo.Types.CA.Types.Hash.TextSha256,
            (ContentAddressMethod.Recursive, "sha256") => NARInfo.Types.CA.Types.Hash.NarSha256,
            (ContentAddressMethod.Recursive, "sha1") => NARInfo.Types.CA.Types.Hash.NarSha1,
            (ContentAddressMethod.Recursive, "sha512") => NARInfo.Types.CA.Types.Hash.NarSha512,
            (ContentAddressMethod.Recursive, _) => NARInfo.Types.CA.Types.Hash.NarMd5,
            (ContentAddressMethod.Flat, "sha256") => NARInfo.Types.CA.Types.Hash.FlatSha256,
            (ContentAddressMethod.Flat, "sha1") => NARInfo.Types.CA.Types.Hash.FlatSha1,
            (ContentAddressMethod.Flat, "sha512") => NARInfo.Types.CA.Types.Hash.FlatSha512,
            _ => NARInfo.Types.CA.Types.Hash.FlatMd5,
        },
        Digest = Google.Protobuf.ByteString.CopyFrom(_hash),
    };

    /// <summary>From a tvix NARInfo.CA; throws <see cref="StoreValidationException"/> for an unknown type or a digest of the wrong size.</summary>
    public static NixContentAddress FromProto(NARInfo.Types.CA ca)
    {
        ArgumentNullException.ThrowIfNull(ca);
        (ContentAddressMethod method, string algorithm) = ca.Type switch
        {
            NARInfo.Types.CA.Types.Hash.NarSha256 => (ContentAddressMethod.Recursive, "sha256"),
            NARInfo.Types.CA.Types.Hash.NarSha1 => (ContentAddressMethod.Recursive, "sha1"),
            NARInfo.Types.CA.Types.Hash.NarSha512 => (ContentAddressMethod.Recursive, "sha512"),
            NARInfo.Types.CA.Types.Hash.NarMd5 => (ContentAddressMethod.Recursive, "md5"),
            NARInfo.Types.CA.Types.Hash.TextSha256 => (ContentAddressMethod.Text, "sha256"),
            NARInfo.Types.CA.Types.Hash.FlatSha1 => (ContentAddressMethod.Flat, "sha1"),
            NARInfo.Types.CA.Types.Hash.FlatMd5 => (ContentAddressMethod.Flat, "md5"),
            NARInfo.Types.CA.Types.Hash.FlatSha256 => (ContentAddressMethod.Flat, "sha256"),
            NARInfo.Types.CA.Types.Hash.FlatSha512 => (ContentAddressMethod.Flat, "sha512"),
            _ => throw new StoreValidationException($"narinfo.ca: unknown type {(int)ca.Type}"),
        };
        if (ca.Digest.Length != NixHashText.SizeOf(algorithm))
            throw new StoreValidationException($"narinfo.ca: a {algorithm} digest is {NixHashText.SizeOf(algorithm)} bytes, got {ca.Digest.Length}");
        return new NixContentAddress(method, algorithm, ca.Digest.Span);
    }

    /// <summary>Nix's renderContentAddress: <c>text:sha256:&lt;nixbase32&gt;</c>, <c>fixed:[r:]&lt;algo&gt;:&lt;nixbase32&gt;</c>.</summary>
    public override string ToString() => Method switch
    {
        ContentAddressMethod.Text => "text:",
        ContentAddressMethod.Flat => "fixed:",
        _ => "fixed:r:",
    } + HashAlgorithm + ":" + NixBase32.Encode(_hash);

    public bool Equals(NixContentAddress? other) =>
        other is not null && Method == other.Method && HashAlgorithm == other.HashAlgorithm && _hash.AsSpan().SequenceEqual(other._hash);

    public override bool Equals(object? obj) => Equals(obj as NixContentAddress);
    public override int GetHashCode() => HashCode.Combine(Method, HashAlgorithm, _hash[0], _hash[1]);
}
