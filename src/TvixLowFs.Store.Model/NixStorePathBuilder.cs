namespace TvixLowFs.Store.Model;

/// <summary>The store path constructions of Nix: what <c>nix-store --add</c> and <c>builtins.toFile</c> give.</summary>
public static class NixStorePathBuilder
{
    /// <summary><c>nix-store --add</c>: fingerprint <c>source:sha256:&lt;hex(narSha256)&gt;:/nix/store:&lt;name&gt;</c>, SHA-256, XOR-folded to 20 bytes.</summary>
    public static StorePath ForSource(ReadOnlySpan<byte> narSha256, string name) => throw new NotImplementedException();

    /// <summary><c>builtins.toFile</c>: the same construction with type <c>text</c> and the SHA-256 of the contents.</summary>
    public static StorePath ForText(ReadOnlySpan<byte> contentsSha256, string name) => throw new NotImplementedException();
}
