namespace TvixLowFs.Bench.E2e;

/// <summary>
/// The peer's input: an uncompressed squashfs image of the corpus (issue 5's exact mksquashfs
/// flags), rebuilt only when the corpus fingerprint changes.
/// </summary>
internal static class SquashfsImage
{
    public static string EnsureBuilt(Corpus corpus, string profileDirectory)
    {
        var image = Path.Combine(profileDirectory, "corpus.sqsh");
        var stamp = image + ".stamp";
        if (File.Exists(image) && File.Exists(stamp) && File.ReadAllText(stamp) == corpus.Fingerprint)
        {
            Console.Error.WriteLine($"e2e: reusing the squashfs image {image}");
            return image;
        }
        Console.Error.WriteLine($"e2e: building the uncompressed squashfs image {image}");
        File.Delete(stamp);
        File.Delete(image);
        ExternalCommand.Run("mksquashfs",
            [corpus.Directory, image, "-noI", "-noD", "-noF", "-noX", "-no-xattrs", "-noappend", "-no-progress", "-quiet"],
            timeout: TimeSpan.FromMinutes(20)).EnsureSuccess();
        File.WriteAllText(stamp, corpus.Fingerprint);
        return image;
    }
}
