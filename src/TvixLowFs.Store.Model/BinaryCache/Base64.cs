namespace TvixLowFs.Store.Model.BinaryCache;

/// <summary>Standard base64 as Nix writes it (with padding); missing padding is tolerated as Nix's decoder does.</summary>
internal static class Base64
{
    public static bool TryDecode(string text, out byte[] bytes)
    {
        bytes = [];
        if (text.Length % 4 is var rest && rest == 1)
            return false;
        string padded = rest == 0 ? text : text + new string('=', 4 - rest);
        // Convert would skip whitespace inside the text; Nix rejects it, and so do we.
        if (padded.AsSpan().IndexOfAny(" \t\r\n") >= 0)
            return false;
        var buffer = new byte[padded.Length / 4 * 3];
        if (!Convert.TryFromBase64String(padded, buffer, out int written))
            return false;
        bytes = buffer[..written];
        return true;
    }
}
