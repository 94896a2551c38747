namespace TvixLowFs.Store.Model.BinaryCache;

/// <summary>Nix's Key text (crypto.cc): name before the first colon (non-empty), base64 after it.</summary>
internal static class NixKeyText
{
    public static (string Name, byte[] Key) Split(string text, string what, int length)
    {
        // A key pasted from a file may carry its trailing newline; Nix's base64 decoder skips it too.
        text = text.Trim();
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
            throw new FormatException($"{what} \"{NodeNames.Escape(text)}\" is not name:base64");
        if (colon == 0)
            throw new FormatException($"{what} \"{NodeNames.Escape(text)}\" has an empty name");
        string encoded = text[(colon + 1)..];
        if (encoded.Length == 0)
            throw new FormatException($"{what} \"{NodeNames.Escape(text)}\" has no key after the colon");
        // Never echo a secret key's bytes into a message.
        string shown = what.StartsWith("secret", StringComparison.Ordinal) ? text[..colon] + ":…" : NodeNames.Escape(text);
        if (!Base64.TryDecode(encoded, out byte[] key))
            throw new FormatException($"{what} \"{shown}\" is not valid base64");
        if (key.Length != length)
            throw new FormatException($"{what} \"{shown}\" is {key.Length} bytes, an Ed25519 {what} is {length}");
        return (text[..colon], key);
    }
}
