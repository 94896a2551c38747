using System.Diagnostics.CodeAnalysis;
using Google.Protobuf;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store.Model;

/// <summary>
/// A Directory that was decoded, hashed and checked once: its digest, its recursive size, its
/// canonical bytes and the message. Only the factories below make one, so holding one means every
/// rule of <see cref="DirectoryRules.Validate"/> holds and <see cref="Digest"/> is BLAKE3 of
/// <see cref="Canonical"/>; whoever receives one need not hash or validate it again.
/// The message is shared: callers must not change it.
/// </summary>
public sealed class VerifiedDirectory
{
    private readonly byte[] _canonical;

    private VerifiedDirectory(B3Digest digest, ulong size, byte[] canonical, Directory message)
    {
        Digest = digest;
        Size = size;
        _canonical = canonical;
        Message = message;
    }

    /// <summary>
    /// Called with each digest computed from a Directory's canonical bytes (for tests that count
    /// how often one Directory is hashed per fetch); null in production.
    /// </summary>
    internal static Action<B3Digest>? Hashed { get; set; }

    public B3Digest Digest { get; }

    /// <summary>The size a DirectoryNode pointing here must carry (<see cref="DirectoryRules.Size"/>).</summary>
    public ulong Size { get; }

    /// <summary>The canonical encoding (what a store keeps; its BLAKE3 is <see cref="Digest"/>).</summary>
    public ReadOnlyMemory<byte> Canonical => _canonical;

    public Directory Message { get; }

    /// <summary>
    /// Decodes bytes fetched by <paramref name="expected"/> (from disk or the network): they must
    /// decode, every rule must hold and the canonical encoding must hash to the digest asked for.
    /// Throws <see cref="StoreValidationException"/> naming <paramref name="expected"/>.
    /// </summary>
    public static VerifiedDirectory Decode(ReadOnlySpan<byte> bytes, B3Digest expected)
    {
        Directory message;
        try
        {
            message = Directory.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new StoreValidationException($"directory {expected}: the bytes are not a Directory message ({e.Message})");
        }
        return Verify(message, expected);
    }

    /// <summary>A message received for <paramref name="expected"/>: checked and hashed once.</summary>
    public static VerifiedDirectory Verify(Directory message, B3Digest expected)
    {
        ArgumentNullException.ThrowIfNull(message);
        ulong size;
        try
        {
            DirectoryRules.Validate(message);
            size = DirectoryRules.Size(message);
        }
        catch (StoreValidationException e)
        {
            throw new StoreValidationException($"directory {expected}: {e.Message}");
        }
        byte[] canonical = DirectoryEncoding.Canonical(message);
        B3Digest actual = Hash(canonical);
        if (actual != expected)
            throw new StoreValidationException($"directory {expected}: the Directory received hashes to {actual}");
        return new VerifiedDirectory(actual, size, canonical, message);
    }

    /// <summary>
    /// A message whose digest is not known beforehand (one being put, or a recursive get's
    /// descendant, whose digest its parent names): checked, and its digest computed once.
    /// </summary>
    public static VerifiedDirectory Create(Directory message)
    {
        ArgumentNullException.ThrowIfNull(message);
        DirectoryRules.Validate(message);
        byte[] canonical = DirectoryEncoding.Canonical(message);
        return new VerifiedDirectory(Hash(canonical), DirectoryRules.Size(message), canonical, message);
    }

    /// <summary>
    /// Bytes a store kept under a digest (a file, an object): they were written canonical, so they
    /// are hashed as they are, without re-encoding. Throws <see cref="StoreValidationException"/> when
    /// <see cref="TryFromCanonical"/> finds a problem, naming the digest.
    /// </summary>
    public static VerifiedDirectory FromCanonical(byte[] canonical, B3Digest? expected = null)
    {
        if (TryFromCanonical(canonical, expected, out VerifiedDirectory? directory, out string? problem, out B3Digest digest))
            return directory;
        throw new StoreValidationException($"directory {expected ?? digest}: {problem}");
    }

    /// <summary>
    /// Stored bytes checked as <see cref="FromCanonical"/> does; false with the problem when they hash to
    /// another digest than <paramref name="expected"/>, do not decode, break a rule or are not the
    /// canonical encoding of what they decode to. With <paramref name="expected"/> null (a closure's
    /// descendants, keyed by what they hash to) only the last three are checked.
    /// </summary>
    public static bool TryFromCanonical(byte[] canonical, B3Digest? expected,
        [NotNullWhen(true)] out VerifiedDirectory? directory, [NotNullWhen(false)] out string? problem, out B3Digest digest)
    {
        ArgumentNullException.ThrowIfNull(canonical);
        directory = null;
        digest = Hash(canonical);
        if (expected is { } asked && asked != digest)
        {
            problem = $"its bytes hash to {digest}";
            return false;
        }
        Directory message;
        ulong size;
        try
        {
            message = Directory.Parser.ParseFrom(canonical);
            DirectoryRules.Validate(message);
            size = DirectoryRules.Size(message);
        }
        catch (InvalidProtocolBufferException e)
        {
            problem = $"the bytes are not a Directory message ({e.Message})";
            return false;
        }
        catch (StoreValidationException e)
        {
            problem = e.Message;
            return false;
        }
        // Unknown fields or another field order would make the digest differ from the message's.
        if (!DirectoryEncoding.IsCanonical(message, canonical))
        {
            problem = "the bytes are not in canonical form";
            return false;
        }
        problem = null;
        directory = new VerifiedDirectory(digest, size, canonical, message);
        return true;
    }

    /// <summary>The merged children in readdir order (allocation-free enumeration).</summary>
    public DirectoryChildren Children => DirectoryChildren.Of(Message);

    /// <summary>Finds a child by name (binary search in each list).</summary>
    public bool TryFindChild(ReadOnlySpan<byte> name, out DirectoryChild child) => DirectoryChildren.Of(Message).TryFind(name, out child);

    /// <summary>Checks that a directory node pointing here carries this directory's size.</summary>
    public void CheckReferredBy(Protos.Castore.DirectoryNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        if (node.Size != Size)
            throw new StoreValidationException(
                $"directory {Digest}: directory rule '{DirectoryRules.RuleChildSize}' broken by directory {NodeNames.Escape(node.Name.Span)}: it says size {node.Size}, its Directory has {Size}");
    }

    /// <summary>The one place a Directory's canonical bytes are hashed.</summary>
    internal static B3Digest Hash(ReadOnlySpan<byte> canonical)
    {
        B3Digest digest = B3Digest.Compute(canonical);
        Hashed?.Invoke(digest);
        return digest;
    }
}
