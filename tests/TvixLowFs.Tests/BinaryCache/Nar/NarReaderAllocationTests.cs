using NUnit.Framework;
using TvixLowFs.Store.Model;
using static TvixLowFs.Tests.BinaryCache.Nar.NarBytes;

namespace TvixLowFs.Tests.BinaryCache.Nar;

/// <summary>
/// The reader's hot path allocates nothing per entry: a NAR of thousands of entries (files with
/// contents, symlinks, nested directories) is read through a small buffer, so it refills and
/// compacts hundreds of times, and the thread allocates not one byte between the first event and
/// the last entry. (Only the reader's construction and the final SHA-256 allocate.)
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class NarReaderAllocationTests
{
    [Test]
    public async Task ReadingEntriesAllocatesNothing()
    {
        var entries = new List<object[]>();
        for (int d = 0; d < 50; d++)
        {
            entries.Add(EntryOf($"dir-{d:D3}", DirectoryOf(Enumerable.Range(0, 40).Select(i => i % 4 == 3
                ? EntryOf($"{i:D3}-link", SymlinkOf(new string('t', 1 + i * 50)))
                : EntryOf($"{i:D3}-file", FileOf(new string('c', i * 37), executable: i % 5 == 0))).ToArray())));
        }
        byte[] nar = Archive(DirectoryOf([.. entries]));

        // Warm up (JIT, statics, the pooled async state machines), then measure another reader over
        // the same bytes. The claim is "nothing per entry": one allocation per entry would be at least
        // 24 B x 2,050 = 48 KiB. A fresh-clone run under load once saw 656 B in the measured round (not
        // reproduced; most likely a one-off refill of the pooled async state-machine boxes, which are
        // kept per core), so a one-off below 1 KiB is tolerated and anything per entry still fails.
        for (int i = 0; i < 3; i++)
            await ReadAllAsync(nar, measure: false);
        long allocated = await ReadAllAsync(nar, measure: true);
        Assert.That(allocated, Is.LessThan(1024), $"{allocated} bytes allocated while reading 2,050 entries: that is allocation per entry");
    }

    private static async Task<long> ReadAllAsync(byte[] nar, bool measure)
    {
        using var reader = new NarReader(new MemoryStream(nar), (ulong)nar.Length, bufferSize: 8192);
        long start = 0, allocated = 0;
        int entries = 0;
        while (true)
        {
            NarEvent next = await reader.ReadAsync();
            if (entries++ == 0 && measure)
                start = GC.GetAllocatedBytesForCurrentThread();
            if (next == NarEvent.File)
            {
                while (!(await reader.ReadFileContentsAsync()).IsEmpty)
                {
                }
            }
            if (next == NarEvent.EndDirectory && reader.Depth == 0)
            {
                allocated = GC.GetAllocatedBytesForCurrentThread() - start;
                Assert.That(await reader.ReadAsync(), Is.EqualTo(NarEvent.End));
                break;
            }
        }
        Assert.That(entries, Is.EqualTo(1 + 50 * 42 + 1));
        Assert.That(reader.NarSha256, Is.EqualTo(System.Security.Cryptography.SHA256.HashData(nar)));
        return allocated;
    }
}
