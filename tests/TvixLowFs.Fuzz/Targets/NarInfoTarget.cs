using System.Text;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Model.BinaryCache;

namespace TvixLowFs.Fuzz;

/// <summary>
/// A <c>.narinfo</c> from a binary cache through <see cref="NarInfo.Parse"/> (documented rejection:
/// StoreValidationException), asked for the hash its own StorePath line names so the fuzzer gets
/// past that check. An accepted narinfo formats to text that parses back to the same narinfo, and
/// its fingerprint and content address can be computed.
/// </summary>
public sealed class NarInfoTarget : FuzzTarget
{
    private static readonly byte[] StorePathPrefix = "StorePath: /nix/store/"u8.ToArray();
    private const string Hash = "00bgd045z0d4icpbc2yyz4gx48ak44la";

    public override string Name => "narinfo";

    public override bool Run(byte[] input)
    {
        StorePathHash expected = ExpectedHash(input);
        NarInfo narInfo;
        try
        {
            narInfo = NarInfo.Parse(input, expected);
        }
        catch (StoreValidationException)
        {
            return false;
        }
        string formatted = narInfo.Format();
        NarInfo again;
        try
        {
            again = NarInfo.Parse(Encoding.UTF8.GetBytes(formatted), expected);
        }
        catch (StoreValidationException e)
        {
            throw new BrokenPromiseException($"an accepted narinfo formats to text it rejects: {e.Message}\n{formatted}");
        }
        if (!again.Equals(narInfo))
            throw new BrokenPromiseException("an accepted narinfo formats to text that parses to another narinfo:\n" + formatted);
        narInfo.Fingerprint();
        _ = narInfo.ParsedContentAddress;
        narInfo.ContentAddressProvesStorePath();
        return true;
    }

    private static StorePathHash ExpectedHash(byte[] input)
    {
        ReadOnlySpan<byte> text = input;
        int at = text.IndexOf(StorePathPrefix);
        if (at >= 0)
        {
            ReadOnlySpan<byte> rest = text[(at + StorePathPrefix.Length)..];
            int end = rest.IndexOf((byte)'\n');
            if (StorePath.TryParseBasename(end < 0 ? rest : rest[..end], out StorePathHash hash))
                return hash;
        }
        StorePath.TryParseBasename(Encoding.ASCII.GetBytes(Hash + "-fallback"), out StorePathHash fallback);
        return fallback;
    }

    public override IEnumerable<(string Name, byte[] Bytes)> Seeds()
    {
        string narHash = "sha256:" + NixBase32.Encode(Enumerable.Range(0, 32).Select(i => (byte)(i * 3)).ToArray());
        string fileHash = "sha256:" + NixBase32.Encode(Enumerable.Range(0, 32).Select(i => (byte)(i * 5)).ToArray());
        string signature = "cache.example.org-1:" + Convert.ToBase64String(Enumerable.Range(0, 64).Select(i => (byte)i).ToArray());
        string full =
            $"StorePath: /nix/store/{Hash}-hello-2.12\n" +
            $"URL: nar/{NixBase32.Encode(new byte[32])}.nar.xz\n" +
            "Compression: xz\n" +
            $"FileHash: {fileHash}\n" +
            "FileSize: 50264\n" +
            $"NarHash: {narHash}\n" +
            "NarSize: 226560\n" +
            $"References: {Hash}-hello-2.12 1n4zmqblzdj6x2wkbyyb2g7sb3hmvbfl-glibc-2.37\n" +
            "Deriver: 5ffd8cw4bwd4wbr7l96bbqsaxjkwrqsb-hello-2.12.drv\n" +
            "System: x86_64-linux\n" +
            $"Sig: {signature}\n" +
            "CA: \n";
        yield return ("valid-full", Encoding.UTF8.GetBytes(full));
        yield return ("valid-minimal", Encoding.UTF8.GetBytes(
            $"StorePath: /nix/store/{Hash}-x\nURL: nar/x.nar\nNarHash: {narHash}\nNarSize: 8\n"));
        yield return ("valid-content-addressed", Encoding.UTF8.GetBytes(
            $"StorePath: /nix/store/{Hash}-src\nURL: nar/y.nar.zst\nCompression: zstd\nNarHash: {narHash}\nNarSize: 120\n" +
            $"References: \nCA: fixed:r:{narHash}\n"));
        yield return ("near-no-newline", Encoding.UTF8.GetBytes(full.TrimEnd('\n')));
        yield return ("near-second-url", Encoding.UTF8.GetBytes(full + "URL: other\n"));
        yield return ("near-bad-signature", Encoding.UTF8.GetBytes(full + "Sig: name:AAAA\n"));
        yield return ("near-zero-nar-size", Encoding.UTF8.GetBytes(full.Replace("NarSize: 226560", "NarSize: 0", StringComparison.Ordinal)));
    }
}
