using NUnit.Framework;
using System.Buffers.Binary;
using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;

namespace TvixLowFs.Tests.Fuse;

/// <summary>fuse_add_direntry(_plus) without a session or request (as benchmarks use them).</summary>
[TestFixture]
public sealed class FuseDirectoryBufferTests
{
    [Test]
    public void AddPacksAFuseDirentWithoutARequest()
    {
        var buffer = new byte[64];
        var size = FuseDirectoryBuffer.Add(buffer, "abc\0"u8, new Stat { Ino = 42, Mode = 0x8000 }, 7);
        // struct fuse_dirent: ino u64, off u64, namelen u32, type u32, name, padded to 8.
        Assert.That(size, Is.EqualTo(32));
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(buffer), Is.EqualTo(42));
        Assert.That(BinaryPrimitives.ReadInt64LittleEndian(buffer.AsSpan(8)), Is.EqualTo(7));
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(16)), Is.EqualTo(3));
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(20)), Is.EqualTo(8), "DT_REG");
        Assert.That(buffer.AsSpan(24, 3).ToArray(), Is.EqualTo("abc"u8.ToArray()));
    }

    [Test]
    public void AnEntryThatDoesNotFitIsSizedButNotWritten()
    {
        var buffer = new byte[16];
        var size = FuseDirectoryBuffer.Add(buffer, "abc\0"u8, new Stat { Ino = 42 }, 1);
        Assert.That(size, Is.EqualTo(32));
        Assert.That(buffer, Is.All.Zero);
    }

    [Test]
    public void AddPlusPacksTheEntryParamAfterTheDirent()
    {
        var buffer = new byte[256];
        var entry = new FuseEntryParam { Ino = 9, Attr = new Stat { Ino = 9, Mode = 0x4000 | 0x16d, Size = 3 } };
        var size = FuseDirectoryBuffer.AddPlus(buffer, "d\0"u8, entry, 3);
        // struct fuse_direntplus: fuse_entry_out (128 bytes) then fuse_dirent (24 + name, padded).
        Assert.That(size, Is.EqualTo(128 + 32));
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(buffer), Is.EqualTo(9), "entry_out.nodeid");
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(128)), Is.EqualTo(9), "dirent.ino");
        Assert.That(BinaryPrimitives.ReadInt64LittleEndian(buffer.AsSpan(136)), Is.EqualTo(3), "dirent.off");
        Assert.That(buffer[128 + 24], Is.EqualTo((byte)'d'));
    }

    [Test]
    public void NextPlusEntryStepsThroughAPageBuiltWithAddPlus()
    {
        var page = new byte[1024];
        int used = 0;
        (string Name, ulong Ino)[] entries = [(".", 0), ("a", 17), ("a-longer-name", 23), ("exactly8", 31)];
        foreach ((string name, ulong ino) in entries)
        {
            var entry = new FuseEntryParam { Ino = ino, Attr = new Stat { Ino = ino == 0 ? 1 : ino, Mode = 0x8000 } };
            used += FuseDirectoryBuffer.AddPlus(page.AsSpan(used), System.Text.Encoding.UTF8.GetBytes(name + "\0"), entry, used + 1);
        }
        var seen = new List<ulong>();
        int offset = 0;
        while (FuseDirectoryBuffer.NextPlusEntry(page.AsSpan(0, used), ref offset, out ulong nodeId))
            seen.Add(nodeId);
        Assert.That(seen, Is.EqualTo(entries.Select(e => e.Ino)));
        Assert.That(offset, Is.EqualTo(used), "every entry consumed, nothing beyond");
        Assert.That(FuseDirectoryBuffer.NextPlusEntry(page.AsSpan(0, used - 1), ref offset, out _), Is.False);
        offset = 0;
        int truncated = 0;
        while (FuseDirectoryBuffer.NextPlusEntry(page.AsSpan(0, used - 1), ref offset, out _))
            truncated++;
        Assert.That(truncated, Is.EqualTo(entries.Length - 1), "a cut-off last entry is not read");
    }

    [Test]
    public void NamesMustBeNulTerminated() =>
        Assert.That(() => FuseDirectoryBuffer.Add(new byte[64], "abc"u8, default, 1), Throws.ArgumentException);
}
