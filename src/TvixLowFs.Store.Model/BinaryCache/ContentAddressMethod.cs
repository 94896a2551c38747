namespace TvixLowFs.Store.Model.BinaryCache;

/// <summary>How a content-addressed path's hash was taken (Nix's content-address.cc).</summary>
public enum ContentAddressMethod
{
    /// <summary><c>text:sha256:…</c> — builtins.toFile, derivations: SHA-256 of the file contents, references allowed.</summary>
    Text,

    /// <summary><c>fixed:&lt;algo&gt;:…</c> — <c>nix-store --add-fixed</c>: hash of the file contents, no references.</summary>
    Flat,

    /// <summary><c>fixed:r:&lt;algo&gt;:…</c> — <c>nix-store --add</c>: hash of the NAR.</summary>
    Recursive,
}
