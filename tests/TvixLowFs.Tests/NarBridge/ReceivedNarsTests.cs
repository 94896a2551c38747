using NUnit.Framework;
using TvixLowFs.NarBridge;
using TvixLowFs.Protos.Castore;

namespace TvixLowFs.Tests.NarBridge;

/// <summary>The memory of uploads awaiting their narinfo: found by either key, bounded, and forgotten after its lifetime.</summary>
public sealed class ReceivedNarsTests
{
    /// <summary>A clock the test moves by hand (a test double: real time would make expiry a timing test).</summary>
    private sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 12, 2, 0, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static ReceivedNar Nar(byte seed, DateTimeOffset at) =>
        new(Enumerable.Repeat(seed, 32).ToArray(), 100 + seed, 200 + (ulong)seed, Enumerable.Repeat((byte)(seed + 100), 32).ToArray(),
            new Node { Symlink = new SymlinkNode { Target = Google.Protobuf.ByteString.CopyFromUtf8("t" + seed) } }, at);

    [Test]
    public void ANarIsFoundByItsFileHashAndByItsNarHashAndSize()
    {
        var clock = new ManualClock();
        var received = new ReceivedNars(10, TimeSpan.FromHours(1), clock);
        var nar = Nar(1, clock.Now);
        received.Add(nar);
        Assert.That(received.ByFileHash(nar.FileSha256), Is.SameAs(nar));
        Assert.That(received.ByNar(nar.NarSha256, nar.NarSize), Is.SameAs(nar));
        Assert.That(received.ByNar(nar.NarSha256, nar.NarSize + 1), Is.Null, "another NarSize is another NAR");
        Assert.That(received.ByFileHash(nar.NarSha256), Is.Null);
    }

    [Test]
    public void TheOldestAreForgottenBeyondTheCapacity()
    {
        var clock = new ManualClock();
        var received = new ReceivedNars(3, TimeSpan.FromHours(1), clock);
        var nars = Enumerable.Range(1, 5).Select(i => Nar((byte)i, clock.Now)).ToArray();
        foreach (var nar in nars)
            received.Add(nar);
        Assert.That(received.Count, Is.EqualTo(3));
        Assert.That(received.ByFileHash(nars[0].FileSha256), Is.Null);
        Assert.That(received.ByNar(nars[1].NarSha256, nars[1].NarSize), Is.Null);
        Assert.That(received.ByFileHash(nars[4].FileSha256), Is.SameAs(nars[4]));
    }

    [Test]
    public void ANarIsForgottenAfterItsLifetime()
    {
        var clock = new ManualClock();
        var received = new ReceivedNars(10, TimeSpan.FromHours(1), clock);
        var nar = Nar(1, clock.Now);
        received.Add(nar);
        clock.Now += TimeSpan.FromMinutes(59);
        Assert.That(received.ByFileHash(nar.FileSha256), Is.SameAs(nar));
        clock.Now += TimeSpan.FromMinutes(2);
        Assert.That(received.ByFileHash(nar.FileSha256), Is.Null);
        Assert.That(received.ByNar(nar.NarSha256, nar.NarSize), Is.Null);
        received.Add(Nar(2, clock.Now));
        Assert.That(received.Count, Is.EqualTo(1), "expired entries go when the next one comes");
    }
}
