namespace TvixLowFs.Store.Model;

/// <summary>What <see cref="NarReader.ReadAsync"/> found next in a NAR, in archive order.</summary>
public enum NarEvent
{
    /// <summary>A directory starts (the root, or an entry named <see cref="NarReader.Name"/>); its entries follow, then <see cref="EndDirectory"/>.</summary>
    Directory = 1,

    /// <summary>A regular file of <see cref="NarReader.FileSize"/> bytes; its contents come from <see cref="NarReader.ReadFileContentsAsync"/>.</summary>
    File = 2,

    /// <summary>A symlink to <see cref="NarReader.Target"/>.</summary>
    Symlink = 3,

    /// <summary>The innermost open directory is complete.</summary>
    EndDirectory = 4,

    /// <summary>The archive is complete, nothing follows it, and <see cref="NarReader.NarSha256"/> is known.</summary>
    End = 5,
}
