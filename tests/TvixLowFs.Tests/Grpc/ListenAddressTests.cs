using NUnit.Framework;
using System.Net.Sockets;
using TvixLowFs.Store.Grpc.Server;

namespace TvixLowFs.Tests.Grpc;

public sealed class ListenAddressTests
{
    [TestCase("[::1]:8000", "[::1]:8000")]
    [TestCase("127.0.0.1:0", "127.0.0.1:0")]
    [TestCase("localhost:9", "127.0.0.1:9")]
    [TestCase("unix:///run/t.sock", "unix:///run/t.sock")]
    public void Parses(string text, string printed) => Assert.That(ListenAddress.Parse(text).ToString(), Is.EqualTo(printed));

    [TestCase("8000")]
    [TestCase("::1:8000")]
    [TestCase("127.0.0.1:99999")]
    [TestCase("example.org:80")]
    [TestCase("unix://relative.sock")]
    [TestCase("http://127.0.0.1:80")]
    [TestCase("0.0.0.0:8000")]
    [TestCase("[::]:8000")]
    public void Refuses(string text) => Assert.Throws<FormatException>(() => ListenAddress.Parse(text));

    [Test]
    public void NonLoopbackOnlyWhenAllowed() =>
        Assert.That(ListenAddress.Parse("0.0.0.0:8000", allowNonLoopback: true).Tcp!.Port, Is.EqualTo(8000));

    [Test]
    public async Task UnixSocketIsOwnerOnlyAStaleOneIsReplacedALiveOneIsNot()
    {
        string directory = Path.Combine(Path.GetTempPath(), "tvixlowfs-listen-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, "d.sock");
        try
        {
            // A stale socket file, as a killed daemon leaves it: .NET unlinks the sockets it bound on
            // dispose, so move the file away from under the socket first and back afterwards.
            string aside = path + ".aside";
            using (var stale = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
            {
                stale.Bind(new UnixDomainSocketEndPoint(path));
                File.Move(path, aside);
            }
            File.Move(aside, path);
            Assert.That(Path.Exists(path), Is.True);

            await using var daemon = await TestDaemon.StartAsync(Transport.Unix, listen: "unix://" + path);
            Assert.That(File.GetUnixFileMode(path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));

            var second = Server(path);
            await Assert.ThrowsAsync<IOException>(async () => await second.StartAsync());
            await second.DisposeAsync();
            Assert.That(Path.Exists(path), Is.True, "the live daemon's socket is left alone");
        }
        finally
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
    }

    [Test]
    public async Task ARegularFileIsNotReplaced()
    {
        string path = Path.Combine(Path.GetTempPath(), "tvixlowfs-listen-" + Guid.NewGuid().ToString("N"));
        await File.WriteAllTextAsync(path, "data");
        try
        {
            var host = Server(path);
            await Assert.ThrowsAsync<IOException>(async () => await host.StartAsync());
            await host.DisposeAsync();
            Assert.That(await File.ReadAllTextAsync(path), Is.EqualTo("data"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static DaemonHost Server(string path) =>
        DaemonHost.Create(new TvixLowFs.Store.StoreOpener().Open(TvixLowFs.Store.StoreAddress.Memory), ListenAddress.Parse("unix://" + path),
            Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
}
