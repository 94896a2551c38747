namespace TvixLowFs.Filesystem;

/// <summary>A store path at the root of the mount: its basename and the inode of its root node.</summary>
internal sealed class RootEntry(byte[] nameWithNul, InodeRecord record)
{
    /// <summary>The <c>&lt;hash&gt;-&lt;name&gt;</c> basename followed by a NUL.</summary>
    public byte[] NameWithNul { get; } = nameWithNul;

    public ReadOnlySpan<byte> Name => NameWithNul.AsSpan(0, NameWithNul.Length - 1);

    public InodeRecord Record { get; } = record;
}
