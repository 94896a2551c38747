using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TvixLowFs.Tests.BinaryCache.Http;

/// <summary>
/// A test double for a misbehaving binary cache: a TcpListener on 127.0.0.1 speaking just enough
/// HTTP/1.1 (request line and headers in, whatever the handler writes out) so a test can answer
/// 500, reset a connection mid-body, stall, redirect in a loop or ignore Range — what no real
/// static server does on demand. Counts accepted connections and records every request.
/// </summary>
internal sealed class HostileHttpServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Func<HostileRequest, HostileConnection, Task> _handler;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentQueue<HostileRequest> _requests = new();
    private readonly List<Task> _connections = [];
    private readonly Task _acceptLoop;
    private int _accepts;

    public HostileHttpServer(Func<HostileRequest, HostileConnection, Task> handler)
    {
        _handler = handler;
        _listener.Start();
        BaseUri = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");
        _acceptLoop = AcceptLoopAsync();
    }

    public Uri BaseUri { get; }

    /// <summary>TCP connections accepted so far.</summary>
    public int Accepts => Volatile.Read(ref _accepts);

    public IReadOnlyList<HostileRequest> Requests => [.. _requests];

    /// <summary>Cancelled when the server is disposed: what a stalling handler waits on.</summary>
    public CancellationToken Stopping => _stopping.Token;

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stopping.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            int number = Interlocked.Increment(ref _accepts);
            lock (_connections) _connections.Add(ServeAsync(new HostileConnection(socket, _stopping.Token), number));
        }
    }

    private async Task ServeAsync(HostileConnection connection, int number)
    {
        using (connection)
        {
            try
            {
                while (!connection.Closed)
                {
                    HostileRequest? request = await connection.ReadRequestAsync(number);
                    if (request is null) return;
                    _requests.Enqueue(request);
                    await _handler(request, connection);
                }
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The client went away or the server stops: nothing to answer.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        _listener.Stop();
        await _acceptLoop;
        Task[] connections;
        lock (_connections) connections = [.. _connections];
        // Every handler waits on Stopping at most; bounded anyway.
        await Task.WhenAll(connections).WaitAsync(TimeSpan.FromSeconds(10));
        _stopping.Dispose();
    }
}

/// <summary>One request as received: header names lower-cased.</summary>
internal sealed record HostileRequest(string Method, string Path, string Version, IReadOnlyDictionary<string, string> Headers, int Connection)
{
    public string? Header(string name) => Headers.TryGetValue(name.ToLowerInvariant(), out string? value) ? value : null;
}

/// <summary>The server side of one connection: raw writes, a reset, a close.</summary>
internal sealed class HostileConnection(Socket socket, CancellationToken stopping) : IDisposable
{
    private readonly NetworkStream _stream = new(socket, ownsSocket: false);
    private readonly byte[] _buffer = new byte[16 * 1024];
    private int _buffered;

    public bool Closed { get; private set; }

    public CancellationToken Stopping => stopping;

    internal async Task<HostileRequest?> ReadRequestAsync(int connectionNumber)
    {
        while (true)
        {
            int end = _buffer.AsSpan(0, _buffered).IndexOf("\r\n\r\n"u8);
            if (end >= 0)
            {
                string head = Encoding.ASCII.GetString(_buffer, 0, end);
                int consumed = end + 4;
                Array.Copy(_buffer, consumed, _buffer, 0, _buffered - consumed);
                _buffered -= consumed;
                string[] lines = head.Split("\r\n");
                string[] requestLine = lines[0].Split(' ');
                var headers = new Dictionary<string, string>();
                foreach (string line in lines.Skip(1))
                {
                    int colon = line.IndexOf(':', StringComparison.Ordinal);
                    headers[line[..colon].Trim().ToLowerInvariant()] = line[(colon + 1)..].Trim();
                }
                return new HostileRequest(requestLine[0], requestLine[1], requestLine[2], headers, connectionNumber);
            }
            if (_buffered == _buffer.Length) throw new IOException("request head too large");
            int n = await _stream.ReadAsync(_buffer.AsMemory(_buffered), stopping);
            if (n == 0) return null;
            _buffered += n;
        }
    }

    /// <summary>A status line and headers; Content-Length when given, and the connection kept open.</summary>
    public Task WriteHeadAsync(int status, long? contentLength, params (string Name, string Value)[] headers)
    {
        var head = new StringBuilder($"HTTP/1.1 {status} {ReasonPhrase(status)}\r\n");
        if (contentLength is long length) head.Append($"Content-Length: {length}\r\n");
        foreach (var (name, value) in headers) head.Append($"{name}: {value}\r\n");
        head.Append("\r\n");
        return WriteAsync(Encoding.ASCII.GetBytes(head.ToString()));
    }

    public async Task WriteAsync(ReadOnlyMemory<byte> bytes)
    {
        await _stream.WriteAsync(bytes, stopping);
        await _stream.FlushAsync(stopping);
    }

    /// <summary>A whole response with a Content-Length.</summary>
    public async Task RespondAsync(int status, ReadOnlyMemory<byte> body, params (string Name, string Value)[] headers)
    {
        await WriteHeadAsync(status, body.Length, headers);
        await WriteAsync(body);
    }

    /// <summary>Closes with a TCP RST (SO_LINGER 0): the client sees "connection reset".</summary>
    public void Reset()
    {
        Closed = true;
        socket.LingerState = new LingerOption(true, 0);
        socket.Close();
    }

    /// <summary>Closes normally (FIN).</summary>
    public void Close()
    {
        Closed = true;
        socket.Shutdown(SocketShutdown.Both);
        socket.Close();
    }

    /// <summary>Sends nothing more until the server stops.</summary>
    public Task StallAsync() => Task.Delay(Timeout.Infinite, stopping);

    private static string ReasonPhrase(int status) => status switch
    {
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        403 => "Forbidden",
        404 => "Not Found",
        410 => "Gone",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };

    public void Dispose()
    {
        _stream.Dispose();
        socket.Dispose();
    }
}
