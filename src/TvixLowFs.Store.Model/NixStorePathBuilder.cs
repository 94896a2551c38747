using System.Security.Cryptography;
using System.Text;

namespace TvixLowFs.Store.Model;

/// <summary>The store path constructions of Nix: what <c>nix-store --add</c> and <c>builtins.toFile</c> give.</summary>
public static class NixStorePathBuilder
{
    /// <summary><c>nix-store --add</c>: fingerprint <c>source:sha256:&lt;hex(narSha256)&gt;:/nix/store:&lt;name&gt;</c>, SHA-256, XOR-folded to 20 bytes.</summary>
    /// <exception cref="FormatException"><paramref name="name"/> is not a valid store path name.</exception>
    public static StorePath ForSource(ReadOnlySpan<byte> narSha256, string name) => Build("source", narSha256, name);

    /// <summary><c>builtins.toFile</c>: the same construction with type <c>text</c> and the SHA-256 of the contents.</summary>
    /// <exception cref="FormatException"><paramref name="name"/> is not a valid store path name.</exception>
    public static StorePath ForText(ReadOnlySpan<byte> contentsSha256, string name) => Build("text", contentsSha256, name);

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
