using System.Security.Cryptography;
using System.Text;

namespace TvixLowFs.Store.Model;

/// <summary>
/// The store path constructions of Nix (store-api.cc makeStorePath, makeType, makeTextPath,
/// makeFixedOutputPath): what <c>nix-store --add</c>, <c>nix-store --add-fixed</c> and
/// <c>builtins.toFile</c> give.
/// </summary>
public static class NixStorePathBuilder
{
    /// <summary><c>nix-store --add</c>: fingerprint <c>source:sha256:&lt;hex(narSha256)&gt;:/nix/store:&lt;name&gt;</c>, SHA-256, XOR-folded to 20 bytes.</summary>
    /// <exception cref="FormatException"><paramref name="name"/> is not a valid store path name.</exception>
    public static StorePath ForSource(ReadOnlySpan<byte> narSha256, string name) => Build("source", narSha256, name);

    /// <summary>
    /// A recursive SHA-256 content address with references (makeFixedOutputPath's first case): the
    /// type is <c>source</c>, then <c>:/nix/store/&lt;ref&gt;</c> per reference in Nix's set order
    /// (basenames, ordinal; duplicates once), then <c>:self</c> when the path refers to itself.
    /// <paramref name="references"/> must not hold the path itself (it is not known yet): say so with <paramref name="hasSelfReference"/>.
    /// </summary>
    public static StorePath ForSource(ReadOnlySpan<byte> narSha256, string name, IEnumerable<StorePath> references, bool hasSelfReference) =>
        Build(TypeWithReferences("source", references) + (hasSelfReference ? ":self" : ""), narSha256, name);

    /// <summary><c>builtins.toFile</c>: the same construction with type <c>text</c> and the SHA-256 of the contents.</summary>
    /// <exception cref="FormatException"><paramref name="name"/> is not a valid store path name.</exception>
    public static StorePath ForText(ReadOnlySpan<byte> contentsSha256, string name) => Build("text", contentsSha256, name);

    /// <summary>makeTextPath with references: type <c>text:/nix/store/&lt;ref&gt;...</c> (Nix's set order).</summary>
    public static StorePath ForText(ReadOnlySpan<byte> contentsSha256, string name, IEnumerable<StorePath> references) =>
        Build(TypeWithReferences("text", references), contentsSha256, name);

    /// <summary>
    /// makeFixedOutputPath for everything but recursive SHA-256 (which is <see cref="ForSource(ReadOnlySpan{byte}, string, IEnumerable{StorePath}, bool)"/>):
    /// a flat file hashed with any algorithm, or a NAR hashed with another one than SHA-256. Such a path
    /// has no references. Type <c>output:out</c>, hash SHA-256 of
    /// <c>fixed:out:[r:]&lt;algorithm&gt;:&lt;hex(hash)&gt;:</c>.
    /// </summary>
    /// <param name="hashAlgorithm">Nix's name: md5, sha1, sha256 or sha512.</param>
    public static StorePath ForFixedOutput(bool recursive, string hashAlgorithm, ReadOnlySpan<byte> hash, string name)
    {
        ArgumentNullException.ThrowIfNull(hashAlgorithm);
        if (recursive && hashAlgorithm == "sha256")
            throw new ArgumentException("a recursive SHA-256 content address is a source path: use ForSource", nameof(hashAlgorithm));
        string inner = $"fixed:out:{(recursive ? "r:" : "")}{hashAlgorithm}:{Convert.ToHexStringLower(hash)}:";
        return Build("output:out", SHA256.HashData(Encoding.ASCII.GetBytes(inner)), name);
    }

    private static string TypeWithReferences(string type, IEnumerable<StorePath> references)
    {
        ArgumentNullException.ThrowIfNull(references);
        // Nix's StorePathSet is a std::set ordered by basename (bytewise), without duplicates.
        var sorted = new SortedSet<string>(references.Select(r => r.AbsolutePath), StringComparer.Ordinal);
        var builder = new StringBuilder(type);
        foreach (string reference in sorted)
            builder.Append(':').Append(reference);
        return builder.ToString();
    }

    private static StorePath Build(string type, ReadOnlySpan<byte> sha256, string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (sha256.Length != SHA256.HashSizeInBytes)
            throw new ArgumentException($"a SHA-256 hash is {SHA256.HashSizeInBytes} bytes, got {sha256.Length}", nameof(sha256));
        if (StorePath.NameProblem(name) is { } problem)
            throw new FormatException($"invalid store path name \"{NodeNames.Escape(name)}\": {problem}");

        string fingerprint = $"{type}:sha256:{Convert.ToHexStringLower(sha256)}:{StorePath.StoreDirectory}:{name}";
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.ASCII.GetBytes(fingerprint), digest);
        return new StorePath(StorePathHash.FromBytes(Fold(digest)), name);
    }

    /// <summary>Nix's compressHash: XOR-folds a digest onto <see cref="StorePathHash.Length"/> bytes.</summary>
    public static byte[] Fold(ReadOnlySpan<byte> digest)
    {
        var folded = new byte[StorePathHash.Length];
        for (int i = 0; i < digest.Length; i++)
            folded[i % StorePathHash.Length] ^= digest[i];
        return folded;
    }
}
