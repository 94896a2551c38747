using System.Text;

namespace TvixLowFs.Tests.BinaryCache;

/// <summary>
/// Hand-crafted hostile binary caches (issue 12 point 8): each starts as a copy of a cache real
/// Nix wrote and changes exactly one thing about one store path (the <see cref="Target"/>); every
/// other path in it stays valid. Most target the content-addressed tree, which needs no signature,
/// so the change itself is what must be refused (not a signature it happens to break).
/// </summary>
/// <param name="Name">The case, as the tests name it.</param>
/// <param name="Compression">Which real cache it starts from.</param>
/// <param name="TargetsOutput">True: the input-addressed nix-build output; false: the tree.</param>
/// <param name="ReasonWords">The warning line should say why with one of these words (case-insensitive); empty: any wording.</param>
/// <param name="RealNix">What Nix 2.8 does with it: refuses it, accepts it (it has no narinfo size cap) or hangs (a truncated brotli NAR).</param>
/// <param name="Tamper">Changes the copy (fixture, cache directory, target basename).</param>
internal sealed record HostileNixCache(string Name, string Compression, bool TargetsOutput, string[] ReasonWords, NixVerdict RealNix,
    Action<NixBinaryCacheFixture, string, string> Tamper)
{
    public string Target(NixBinaryCacheFixture nix) => TargetsOutput ? nix.OutputBasename : nix.TreeBasename;

    /// <summary>Copies the real cache, tampers with it and returns the directory to serve.</summary>
    public string Make(NixBinaryCacheFixture nix)
    {
        string cache = nix.CopyCache(Compression, Name);
        Tamper(nix, cache, Target(nix));
        return cache;
    }

    public override string ToString() => Name;

    public static readonly HostileNixCache[] All =
    [
        new("missing-narhash", "xz", false, ["NarHash"], NixVerdict.Refuses,
            (_, cache, target) => EditNarInfo(cache, target, lines => lines.Where(l => !l.StartsWith("NarHash: ", StringComparison.Ordinal)))),
        // The output's (non-empty) References line twice: Nix 2.8 calls that corrupt; a repeated
        // empty line it lets pass, so the case targets the output (whose signature still holds).
        new("repeated-references", "xz", true, ["References"], NixVerdict.Refuses,
            (_, cache, target) => EditNarInfo(cache, target, lines => lines.SelectMany(l => l.StartsWith("References:", StringComparison.Ordinal) ? new[] { l, l } : [l]))),
        new("narsize-zero", "zstd", false, ["NarSize", "size"], NixVerdict.Refuses,
            (_, cache, target) => EditNarInfo(cache, target, lines => lines.Select(l => l.StartsWith("NarSize: ", StringComparison.Ordinal) ? "NarSize: 0" : l))),
        // The output's narinfo file holds the tree's (validly signed) narinfo: a StorePath with another hash.
        new("storepath-other-hash", "xz", true, ["StorePath", "hash", "path"], NixVerdict.Refuses,
            (nix, cache, target) => File.Copy(NixBinaryCacheFixture.NarInfoFile(cache, nix.TreeBasename), NixBinaryCacheFixture.NarInfoFile(cache, target), overwrite: true)),
        // A well-formed Ed25519 signature by the trusted key's name, over another path's fingerprint.
        new("bad-signature", "xz", true, ["signature", "sig"], NixVerdict.Refuses,
            (nix, cache, target) =>
            {
                string other = NarInfoLines.Read(NixBinaryCacheFixture.NarInfoFile(cache, nix.SingleFileBasename)).All("Sig").Single();
                EditNarInfo(cache, target, lines => lines.Select(l => l.StartsWith("Sig: ", StringComparison.Ordinal) ? "Sig: " + other : l));
            }),
        // Same length, still a valid NAR: only the NarHash check can catch it.
        new("nar-bytes-changed", "none", false, ["hash"], NixVerdict.Refuses,
            (_, cache, target) =>
            {
                string nar = NixBinaryCacheFixture.NarFile(cache, target);
                byte[] bytes = File.ReadAllBytes(nar);
                int at = IndexOf(bytes, "deep note\n"u8);
                if (at < 0)
                    throw new InvalidOperationException("the tree's NAR has no 'deep note'");
                bytes[at] = (byte)'D';
                File.WriteAllBytes(nar, bytes);
            }),
        // Every decoder must notice a stream that ends early (brotli and gzip have no length up front).
        .. TruncatedNars(),
        // Damage in the middle of a compressed stream (bzip2 and xz check CRCs; the NAR hash catches the rest).
        new("bzip2-stream-corrupt", "bzip2", false, [], NixVerdict.Refuses, (_, cache, target) => Scribble(NixBinaryCacheFixture.NarFile(cache, target))),
        new("zstd-stream-corrupt", "zstd", false, [], NixVerdict.Refuses, (_, cache, target) => Scribble(NixBinaryCacheFixture.NarFile(cache, target))),
        // Not a NAR at all (its magic says another version), though the right length.
        new("nar-bad-magic", "none", false, [], NixVerdict.Refuses,
            (_, cache, target) =>
            {
                string nar = NixBinaryCacheFixture.NarFile(cache, target);
                byte[] bytes = File.ReadAllBytes(nar);
                bytes[8 + "nix-archive-".Length] = (byte)'2';
                File.WriteAllBytes(nar, bytes);
            }),
        // The NAR is longer than the narinfo says: reading must stop at NarSize and fail.
        new("narsize-smaller-than-nar", "zstd", false, ["size", "NarSize"], NixVerdict.Refuses,
            (_, cache, target) => EditNarInfo(cache, target, lines => lines.Select(l =>
                l.StartsWith("NarSize: ", StringComparison.Ordinal) ? "NarSize: " + (long.Parse(l["NarSize: ".Length..], System.Globalization.CultureInfo.InvariantCulture) - 8) : l))),
        // 2 MiB of lines Nix would ignore as unknown fields: a reader must cap the body, not buffer it.
        new("oversized-narinfo", "xz", false, [], NixVerdict.Accepts,
            (_, cache, target) =>
            {
                string padding = "X-Padding: " + new string('a', 1000);
                EditNarInfo(cache, target, lines => lines.Concat(Enumerable.Repeat(padding, 2 * 1024 * 1024 / padding.Length + 1)));
            }),
    ];

    private static IEnumerable<HostileNixCache> TruncatedNars() =>
        NixBinaryCacheFixture.Compressions.Select(compression => new HostileNixCache("nar-truncated-" + compression, compression, false, [],
            // Nix 2.8's brotli source waits forever for the rest of a truncated stream (seen here: no
            // progress in 300 s); every other decoder reports the early end.
            compression == "br" ? NixVerdict.Hangs : NixVerdict.Refuses,
            (_, cache, target) =>
            {
                string nar = NixBinaryCacheFixture.NarFile(cache, target);
                using var stream = new FileStream(nar, FileMode.Open, FileAccess.Write);
                stream.SetLength(stream.Length / 2);
            }));

    /// <summary>Overwrites 64 bytes in the middle of a file with a fixed pattern.</summary>
    private static void Scribble(string file)
    {
        byte[] bytes = File.ReadAllBytes(file);
        for (int i = 0; i < 64; i++)
            bytes[bytes.Length / 2 + i] ^= 0x5A;
        File.WriteAllBytes(file, bytes);
    }

    public static IEnumerable<string> Names => All.Select(c => c.Name);

    public static HostileNixCache Named(string name) => All.Single(c => c.Name == name);

    private static void EditNarInfo(string cache, string basename, Func<IEnumerable<string>, IEnumerable<string>> edit)
    {
        string path = NixBinaryCacheFixture.NarInfoFile(cache, basename);
        string[] lines = File.ReadAllText(path).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var text = new StringBuilder();
        foreach (string line in edit(lines))
            text.Append(line).Append('\n');
        File.WriteAllText(path, text.ToString());
    }

    private static int IndexOf(byte[] haystack, ReadOnlySpan<byte> needle) => haystack.AsSpan().IndexOf(needle);
}
