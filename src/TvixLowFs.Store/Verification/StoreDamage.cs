namespace TvixLowFs.Store.Verification;

/// <summary>What kind of object a <see cref="StoreDamage"/> is about.</summary>
public enum StoreObjectKind
{
    Blob,
    Directory,
    PathInfo,
}

/// <summary>
/// One damaged or missing object: its kind, how it is named (<c>b3:…</c> digest, store path, or
/// the file holding it when nothing better is known) and what is wrong, in one line.
/// </summary>
public sealed record StoreDamage(StoreObjectKind Kind, string Name, string Problem)
{
    public override string ToString() => Kind switch
    {
        StoreObjectKind.Blob => "blob",
        StoreObjectKind.Directory => "directory",
        _ => "pathinfo",
    } + " " + Name + ": " + Problem.ReplaceLineEndings(" ");
}

/// <summary>What a verification looked at and how much of it was damaged.</summary>
public sealed record StoreVerificationSummary(long Blobs, long Directories, long PathInfos, long Damaged);
