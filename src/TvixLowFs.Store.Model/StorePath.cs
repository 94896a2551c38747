using System.Diagnostics.CodeAnalysis;
using System.Numerics;

namespace TvixLowFs.Store.Model;

/// <summary>A Nix store path <c>/nix/store/&lt;hash&gt;-&lt;name&gt;</c>: 32 nixbase32 chars, '-', a 1..211 char name.</summary>
public sealed class StorePath : IEquatable<StorePath>
{
    public const string StoreDirectory = "/nix/store";
    public const int HashChars = 32;
    public const int MaxNameLength = 211;

    /// <summary>The shortest basename: hash, '-', one character.</summary>
    public const int MinBasenameLength = HashChars + 2;

    /// <summary>The longest basename: hash, '-', <see cref="MaxNameLength"/> characters.</summary>
    public const int MaxBasenameLength = HashChars + 1 + MaxNameLength;

    private readonly string _basename;

    /// <summary>Throws <see cref="FormatException"/> when <paramref name="name"/> is not a valid store path name.</summary>
    public StorePath(StorePathHash hash, string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (NameProblem(name.AsSpan()) is { } problem)
            throw new FormatException($"invalid store path name \"{Escape(name)}\": {problem}");
        Hash = hash;
        Name = name;
        Span<byte> hashBytes = stackalloc byte[StorePathHash.Length];
        hash.CopyTo(hashBytes);
        _basename = NixBase32.Encode(hashBytes) + "-" + name;
    }

    public StorePathHash Hash { get; }
    public string Name { get; } = "";

    /// <summary><c>&lt;nixbase32 hash&gt;-&lt;name&gt;</c>.</summary>
    public string Basename => _basename;

    /// <summary>The 32 nixbase32 characters of the hash.</summary>
    public string HashPart => _basename[..HashChars];

    /// <summary><c>/nix/store/&lt;basename&gt;</c>.</summary>
    public string AbsolutePath => StoreDirectory + "/" + Basename;

    /// <summary>The basename as ASCII bytes: the name a PathInfo's root node carries.</summary>
    public byte[] BasenameBytes() => System.Text.Encoding.ASCII.GetBytes(_basename);

    /// <summary>True when <paramref name="basename"/> (bytes, e.g. a node name) spells this path's basename exactly.</summary>
    public bool BasenameEquals(ReadOnlySpan<byte> basename)
    {
        if (basename.Length != _basename.Length)
            return false;
        for (int i = 0; i < basename.Length; i++)
        {
            if (basename[i] != _basename[i])
                return false;
        }
        return true;
    }

    /// <summary>
    /// Validates a basename given as bytes (a FUSE lookup name) and decodes its hash,
    /// without allocating. False for anything that is not a valid basename.
    /// </summary>
    public static bool TryParseBasename(ReadOnlySpan<byte> basename, out StorePathHash hash) =>
        TryParseBasenameCore(basename, out hash);

    /// <summary>The same as <see cref="TryParseBasename(ReadOnlySpan{byte}, out StorePathHash)"/> for UTF-16 text.</summary>
    public static bool TryParseBasename(ReadOnlySpan<char> basename, out StorePathHash hash) =>
        TryParseBasenameCore(basename, out hash);

    /// <summary>Parses a basename into a <see cref="StorePath"/>; false (no exception) when it is not valid.</summary>
    public static bool TryParseBasename(string? basename, [NotNullWhen(true)] out StorePath? storePath)
    {
        storePath = null;
        if (basename is null || !TryParseBasenameCore(basename.AsSpan(), out var hash))
            return false;
        storePath = new StorePath(hash, basename[(HashChars + 1)..]);
        return true;
    }

    /// <summary>Parses a basename; throws <see cref="FormatException"/> saying what is wrong.</summary>
    public static StorePath ParseBasename(string basename)
    {
        ArgumentNullException.ThrowIfNull(basename);
        if (BasenameProblem(basename.AsSpan()) is { } problem)
            throw new FormatException($"invalid store path basename \"{Escape(basename)}\": {problem}");
        TryParseBasenameCore(basename.AsSpan(), out var hash);
        return new StorePath(hash, basename[(HashChars + 1)..]);
    }

    /// <summary>Parses a basename given as bytes (a node name); throws <see cref="FormatException"/> saying what is wrong.</summary>
    public static StorePath ParseBasename(ReadOnlySpan<byte> basename)
    {
        // Every valid basename is ASCII; anything else is reported by the string form's checks.
        return ParseBasename(System.Text.Encoding.Latin1.GetString(basename));
    }

    /// <summary>Parses <c>/nix/store/&lt;basename&gt;</c>; throws <see cref="FormatException"/>.</summary>
    public static StorePath ParseAbsolute(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        const string prefix = StoreDirectory + "/";
        if (!path.StartsWith(prefix, StringComparison.Ordinal))
            throw new FormatException($"\"{Escape(path)}\" is not a store path: it does not start with {prefix}");
        string basename = path[prefix.Length..];
        if (BasenameProblem(basename.AsSpan()) is { } problem)
            throw new FormatException($"invalid store path \"{Escape(path)}\": {problem}");
        return ParseBasename(basename);
    }

    /// <summary>True when <paramref name="name"/> is a valid store path name (1..211 of [A-Za-z0-9+-._?=], not starting with '.').</summary>
    public static bool IsValidName(ReadOnlySpan<char> name) => IsValidNameCore(name);

    /// <summary>The same as <see cref="IsValidName(ReadOnlySpan{char})"/> for ASCII bytes.</summary>
    public static bool IsValidName(ReadOnlySpan<byte> name) => IsValidNameCore(name);

    /// <summary>Why <paramref name="name"/> is not a valid store path name, or null when it is.</summary>
    public static string? NameProblem(ReadOnlySpan<char> name)
    {
        if (name.Length == 0)
            return "the name is empty";
        if (name.Length > MaxNameLength)
            return $"the name is {name.Length} characters long, at most {MaxNameLength} are allowed";
        if (name[0] == '.')
            return "the name starts with '.'";
        for (int i = 0; i < name.Length; i++)
        {
            if (!IsNameChar(name[i]))
                return $"character {DescribeChar(name[i])} at position {i} is not allowed (only A-Z a-z 0-9 + - . _ ? =)";
        }
        return null;
    }

    private static string? BasenameProblem(ReadOnlySpan<char> basename)
    {
        if (basename.Length < HashChars + 1)
            return $"it is {basename.Length} characters long, a basename is a {HashChars}-character hash, '-' and a name";
        Span<byte> hash = stackalloc byte[StorePathHash.Length];
        if (!NixBase32.TryDecode(basename[..HashChars], hash))
            return $"\"{Escape(basename[..HashChars].ToString())}\" is not a nixbase32 hash";
        if (basename[HashChars] != '-')
            return $"character {HashChars} is {DescribeChar(basename[HashChars])}, expected '-'";
        return NameProblem(basename[(HashChars + 1)..]);
    }

    private static bool TryParseBasenameCore<TChar>(ReadOnlySpan<TChar> basename, out StorePathHash hash)
        where TChar : unmanaged, IBinaryInteger<TChar>
    {
        hash = default;
        if (basename.Length < MinBasenameLength || basename.Length > MaxBasenameLength)
            return false;
        if (uint.CreateTruncating(basename[HashChars]) != '-')
            return false;
        if (!IsValidNameCore(basename[(HashChars + 1)..]))
            return false;
        Span<byte> bytes = stackalloc byte[StorePathHash.Length];
        bool decoded = typeof(TChar) == typeof(byte)
            ? NixBase32.TryDecode(System.Runtime.InteropServices.MemoryMarshal.Cast<TChar, byte>(basename[..HashChars]), bytes)
            : NixBase32.TryDecode(System.Runtime.InteropServices.MemoryMarshal.Cast<TChar, char>(basename[..HashChars]), bytes);
        if (!decoded)
            return false;
        hash = StorePathHash.FromBytes(bytes);
        return true;
    }

    private static bool IsValidNameCore<TChar>(ReadOnlySpan<TChar> name)
        where TChar : unmanaged, IBinaryInteger<TChar>
    {
        if (name.Length == 0 || name.Length > MaxNameLength || uint.CreateTruncating(name[0]) == '.')
            return false;
        foreach (var c in name)
        {
            if (!IsNameChar(uint.CreateTruncating(c)))
                return false;
        }
        return true;
    }

    private static bool IsNameChar(uint c) =>
        (c - 'a' <= 'z' - 'a') || (c - 'A' <= 'Z' - 'A') || (c - '0' <= '9' - '0')
        || c == '+' || c == '-' || c == '.' || c == '_' || c == '?' || c == '=';

    private static string DescribeChar(char c) =>
        c is >= ' ' and < (char)127 ? $"'{c}'" : $"U+{(int)c:X4}";

    private static string Escape(string text) => NodeNames.Escape(text);

    public override string ToString() => AbsolutePath;
    public bool Equals(StorePath? other) => other is not null && Hash == other.Hash && Name == other.Name;
    public override bool Equals(object? obj) => Equals(obj as StorePath);
    public override int GetHashCode() => Hash.GetHashCode();
}
