using System.Net.Sockets;
using System.Text;

namespace TvixLowFs.Tests.NarBridge;

/// <summary>
/// HTTP/1.1 over a plain socket, for what HttpClient would not send as written: targets with
/// <c>..</c> or percent escapes (it normalises them) and bodies that stop halfway.
/// </summary>
internal static class RawHttp
{
    public sealed record Response(int Status, string Head, string Body);

    /// <summary>Sends <paramref name="head"/> (request line and headers, CRLF-terminated, without the blank line) and then <paramref name="body"/>; reads the response until the server closes or <c>Content-Length</c> is reached.</summary>
    public static async Task<Response> SendAsync(Uri baseUrl, string head, byte[]? body = null, TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        using var client = new TcpClient();
        await client.ConnectAsync(baseUrl.Host, baseUrl.Port, cancel.Token);
        NetworkStream stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head + "Host: " + baseUrl.Authority + "\r\n\r\n"), cancel.Token);
        if (body is not null)
            await stream.WriteAsync(body, cancel.Token);
        return await ReadResponseAsync(stream, cancel.Token);
    }

    public static async Task<Response> ReadResponseAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            int read = await stream.ReadAsync(buffer, cancellationToken);
            if (read == 0)
                break;
            received.Write(buffer, 0, read);
            string sofar = Encoding.UTF8.GetString(received.ToArray());
            int end = sofar.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end < 0)
                continue;
            string headPart = sofar[..end];
            int length = headPart.Split("\r\n").Where(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                .Select(l => int.Parse(l["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
            if (received.Length >= end + 4 + length)
                break;
        }
        string text = Encoding.UTF8.GetString(received.ToArray());
        int split = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (split < 0)
            throw new IOException("no complete HTTP response: " + text);
        string responseHead = text[..split];
        int status = int.Parse(responseHead.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        return new Response(status, responseHead, text[(split + 4)..]);
    }
}
