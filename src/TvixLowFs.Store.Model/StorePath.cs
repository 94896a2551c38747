namespace TvixLowFs.Store.Model;

/// <summary>A Nix store path <c>/nix/store/&lt;hash&gt;-&lt;name&gt;</c>: 32 nixbase32 chars, '-', a 1..211 char name.</summary>
public sealed class StorePath : IEquatable<StorePath>
{
    public const string StoreDirectory = "/nix/store";
    public const int HashChars = 32;
    public const int MaxNameLength = 211;

    public StorePath(StorePathHash hash, string name) => throw new NotImplementedException();

    public StorePathHash Hash { get; }
    public string Name { get; } = "";

    /// <summary><c>&lt;nixbase32 hash&gt;-&lt;name&gt;</c>.</summary>
    public string Basename => throw new NotImplementedException();

    /// <summary><c>/nix/store/&lt;basename&gt;</c>.</summary>
    public string AbsolutePath => StoreDirectory + "/" + Basename;

    /// <summary>
    /// Validates a basename given as bytes (a FUSE lookup name) and decodes its hash,
    /// without allocating. False for anything that is not a valid basename.
    /// </summary>
    public static bool TryParseBasename(ReadOnlySpan<byte> basename, out StorePathHash hash) => throw new NotImplementedException();

    /// <summary>Parses a basename; throws <see cref="FormatException"/> saying what is wrong.</summary>
    public static StorePath ParseBasename(string basename) => throw new NotImplementedException();

    /// <summary>Parses <c>/nix/store/&lt;basename&gt;</c>; throws <see cref="FormatException"/>.</summary>
    public static StorePath ParseAbsolute(string path) => throw new NotImplementedException();

    /// <summary>True when <paramref name="name"/> is a valid store path name (1..211 of [A-Za-z0-9+-._?=], not starting with '.').</summary>
    public static bool IsValidName(ReadOnlySpan<char> name) => throw new NotImplementedException();

    public override string ToString() => AbsolutePath;
    public bool Equals(StorePath? other) => other is not null && Hash == other.Hash && Name == other.Name;
    public override bool Equals(object? obj) => Equals(obj as StorePath);
    public override int GetHashCode() => Hash.GetHashCode();
}
