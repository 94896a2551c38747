using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace TvixLowFs.Bench.E2e;

/// <summary>
/// A link with latency between a mount and its daemon, since this kernel has no netem: a TCP proxy
/// on 127.0.0.1 that holds every chunk it receives, each way, for half the round trip before
/// passing it on. Chunks keep their order and are not throttled, so the link's bandwidth stays
/// loopback's and only its delay changes. A chunk goes out when a timer fires at its due time
/// (Task.Delay, within about a millisecond here), so a 2 ms round trip is 2–4 ms in practice.
/// Dispose stops it and every connection.
/// </summary>
internal sealed class DelayProxy : IDisposable
{
    private const int ChunkBytes = 64 * 1024;

    private readonly TcpListener listener;
    private readonly int upstreamPort;
    private readonly TimeSpan oneWay;
    private readonly CancellationTokenSource stop = new();
    private readonly Task accepting;

    private DelayProxy(int upstreamPort, TimeSpan roundTrip)
    {
        this.upstreamPort = upstreamPort;
        oneWay = roundTrip / 2;
        listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        accepting = Task.Run(AcceptAsync);
    }

    public TimeSpan RoundTrip => oneWay * 2;

    public int Port => ((IPEndPoint)listener.LocalEndpoint).Port;

    /// <summary>A proxy to 127.0.0.1:<paramref name="upstreamPort"/> adding <paramref name="roundTrip"/> to every round trip.</summary>
    public static DelayProxy Start(int upstreamPort, TimeSpan roundTrip) => new(upstreamPort, roundTrip);

    private async Task AcceptAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptSocketAsync(stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            _ = Task.Run(() => ConnectAsync(client));
        }
    }

    private async Task ConnectAsync(Socket client)
    {
        using (client)
        using (var upstream = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true })
        {
            client.NoDelay = true;
            try
            {
                await upstream.ConnectAsync(IPAddress.Loopback, upstreamPort, stop.Token).ConfigureAwait(false);
                await Task.WhenAll(PumpAsync(client, upstream), PumpAsync(upstream, client)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // one side went away, or the proxy stops: the connection ends with it
            }
        }
    }

    /// <summary>One direction: chunks read from <paramref name="from"/> are written to <paramref name="to"/> once they are due.</summary>
    private async Task PumpAsync(Socket from, Socket to)
    {
        var queue = Channel.CreateUnbounded<(long Due, byte[] Data, int Length)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var delayTicks = (long)(oneWay.TotalSeconds * Stopwatch.Frequency);
        async Task ReadAsync()
        {
            try
            {
                while (true)
                {
                    var buffer = new byte[ChunkBytes];
                    var read = await from.ReceiveAsync(buffer, SocketFlags.None, stop.Token).ConfigureAwait(false);
                    if (read == 0) break;
                    queue.Writer.TryWrite((Stopwatch.GetTimestamp() + delayTicks, buffer, read));
                }
            }
            finally
            {
                queue.Writer.TryComplete();
            }
        }
        async Task WriteAsync()
        {
            await foreach (var (due, data, length) in queue.Reader.ReadAllAsync(stop.Token).ConfigureAwait(false))
            {
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                if (wait > TimeSpan.Zero) await Task.Delay(wait, stop.Token).ConfigureAwait(false);
                for (var sent = 0; sent < length;)
                    sent += await to.SendAsync(data.AsMemory(sent, length - sent), SocketFlags.None, stop.Token).ConfigureAwait(false);
            }
            // The sender closed its side: pass the end on once everything before it has gone.
            to.Shutdown(SocketShutdown.Send);
        }
        await Task.WhenAll(ReadAsync(), WriteAsync()).ConfigureAwait(false);
    }

    public void Dispose()
    {
        stop.Cancel();
        listener.Stop();
        try
        {
            accepting.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
        stop.Dispose();
    }
}
