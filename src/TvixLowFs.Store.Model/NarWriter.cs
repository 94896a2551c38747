namespace TvixLowFs.Store.Model;

/// <summary>
/// Streams a Nix archive ("nix-archive-1") to an output stream, node by node, never holding
/// an archive or a file in memory. Call order mirrors the NAR grammar:
/// <c>WriteHeader</c>, then one node: <c>WriteSymlink</c>, or <c>BeginFile</c> + contents + <c>EndFile</c>,
/// or <c>BeginDirectory</c>, per entry (in name order) <c>BeginEntry(name)</c> + node + <c>EndEntry</c>, then <c>EndDirectory</c>.
/// </summary>
public sealed class NarWriter(Stream output)
{
    public Stream Output { get; } = output;

    public void WriteHeader() => throw new NotImplementedException();

    public void WriteSymlink(ReadOnlySpan<byte> target) => throw new NotImplementedException();

    /// <summary>Starts a regular file of exactly <paramref name="size"/> bytes, written next with <see cref="WriteFileContents"/>.</summary>
    public void BeginFile(bool executable, ulong size) => throw new NotImplementedException();

    public void WriteFileContents(ReadOnlySpan<byte> chunk) => throw new NotImplementedException();

    /// <summary>Pads the contents and closes the node; throws if fewer or more bytes than announced were written.</summary>
    public void EndFile() => throw new NotImplementedException();

    public void BeginDirectory() => throw new NotImplementedException();

    /// <summary>Entries must come in strictly ascending byte order of their names.</summary>
    public void BeginEntry(ReadOnlySpan<byte> name) => throw new NotImplementedException();

    public void EndEntry() => throw new NotImplementedException();

    public void EndDirectory() => throw new NotImplementedException();
}
