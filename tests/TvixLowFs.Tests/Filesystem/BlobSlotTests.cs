using Microsoft.Win32.SafeHandles;
using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Tests.Filesystem;

/// <summary>
/// A file's blob slot: one shared open, a reference per read so a drop never closes a descriptor
/// under a read, opens counted while they wait so an idle drop never takes their blob, and a failed
/// open leaves the slot free for the next miss. Driven directly over a real temporary file.
/// </summary>
[TestFixture]
public sealed class BlobSlotTests
{
    private string _path = null!;

    [SetUp]
    public void CreateFile()
    {
        _path = Path.Join(Path.GetTempPath(), $"tvixlowfs-slot-{Guid.NewGuid():N}");
        File.WriteAllBytes(_path, [1, 2, 3, 4]);
    }

    [TearDown]
    public void DeleteFile() => File.Delete(_path);

    private static InodeRecord NewFile(int size = 4) => InodeRecord.File(2, default(B3Digest), size, executable: false);

    /// <summary>Opens <paramref name="reader"/> into the slot as the filesystem's open does.</summary>
    private static async Task<OpenBlob> OpenAsync(BlobSlot slot, BlobReader reader)
    {
        await slot.OpenAsync(completion =>
        {
            var blob = new OpenBlob(reader);
            slot.Publish(blob);
            completion.SetResult(blob);
            return Task.CompletedTask;
        }, runHere: true);
        return slot.TryAcquire() ?? throw new AssertionException("no blob published");
    }

    [Test]
    public async Task AReadsReferenceKeepsTheDescriptorOpenAcrossADrop()
    {
        BlobSlot slot = NewFile().Blobs;
        var reader = new FileReader(File.OpenHandle(_path));
        OpenBlob reading = await OpenAsync(slot, reader);

        OpenBlob? taken = slot.Take();
        Assert.That(taken, Is.SameAs(reading));
        taken!.Release(); // the slot's reference
        Assert.That(reader.LocalFile.IsClosed, Is.False, "a read still holds the blob");
        Assert.That(slot.TryAcquire(), Is.Null, "no new read finds a dropped blob");

        reading.Release();
        Assert.That(reader.LocalFile.IsClosed, Is.True, "the last reference disposed it");
        Assert.That(reading.TryAcquire(), Is.False, "a disposed blob gives no reference");
    }

    [Test]
    public async Task AnOpenWaitingForTheBlobKeepsItFromAnIdleDrop()
    {
        InodeRecord record = NewFile();
        Assert.That(record.TryAddLookup(), Is.True);
        BlobSlot slot = record.Blobs;
        slot.AddWaitingOpen();
        OpenBlob reading = await OpenAsync(slot, new FileReader(File.OpenHandle(_path)));
        reading.Release();

        Assert.That(slot.TakeIfIdle(() => true), Is.Null, "an open is counted while it waits");
        Assert.That(slot.DecideWaitingOpen((_, _) => 0), Is.Zero, "the waiting open finds its blob");
        Assert.That(slot.OpenFiles, Is.EqualTo(1));

        OpenBlob? dropped = slot.CloseFile(() => true, out bool forgotten);
        Assert.That(forgotten, Is.False, "the kernel still references the inode");
        Assert.That(dropped, Is.Not.Null, "the last release over the idle budget gives the descriptor back");
        dropped!.Release();
        Assert.That(slot.HasBlob, Is.False);
    }

    [Test]
    public async Task ALastReleaseAfterTheForgetDropsTheBlob()
    {
        InodeRecord record = NewFile();
        BlobSlot slot = record.Blobs;
        slot.AddWaitingOpen();
        (await OpenAsync(slot, new FileReader(File.OpenHandle(_path)))).Release();
        Assert.That(slot.DecideWaitingOpen((_, _) => 0), Is.Zero);

        OpenBlob? dropped = slot.CloseFile(() => false, out bool forgotten);
        Assert.That(forgotten, Is.True, "no lookup is held: the forget overtook this release");
        Assert.That(dropped, Is.Not.Null);
        dropped!.Release();
        Assert.That(record.TryRetire(), Is.True, "nothing holds the record any more");
    }

    [Test]
    public async Task AFailedOpenFreesTheSlotForTheNextMiss()
    {
        BlobSlot slot = NewFile().Blobs;
        int opens = 0;
        Task<OpenBlob> failed = slot.OpenAsync(completion =>
        {
            opens++;
            slot.OpenFailed(completion.Task);
            completion.SetException(new IOException("backend down"));
            return Task.CompletedTask;
        }, runHere: true);
        Assert.That(async () => await failed, Throws.InstanceOf<IOException>());

        OpenBlob blob = await OpenAsync(slot, new FileReader(File.OpenHandle(_path)));
        Assert.That(opens, Is.EqualTo(1));
        Assert.That(slot.HasBlob, Is.True, "the second miss opened it");
        blob.Release();
        slot.Take()!.Release();
    }

    [Test]
    public async Task ConcurrentMissesShareOneOpen()
    {
        BlobSlot slot = NewFile().Blobs;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int opens = 0;
        Func<TaskCompletionSource<OpenBlob>, Task> open = async completion =>
        {
            Interlocked.Increment(ref opens);
            await gate.Task;
            var blob = new OpenBlob(new FileReader(File.OpenHandle(_path)));
            slot.Publish(blob);
            completion.SetResult(blob);
        };
        Task<OpenBlob>[] misses = Enumerable.Range(0, 8).Select(_ => slot.OpenAsync(open, runHere: false)).ToArray();
        gate.SetResult();
        OpenBlob[] blobs = await Task.WhenAll(misses);
        Assert.That(opens, Is.EqualTo(1));
        Assert.That(blobs.Distinct().Count(), Is.EqualTo(1));
        slot.Take()!.Release();
    }

    private sealed class FileReader(SafeFileHandle file) : BlobReader
    {
        public override long Length => RandomAccess.GetLength(file);

        public override SafeFileHandle LocalFile => file;

        public override ValueTask<int> ReadAtAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(RandomAccess.Read(file, buffer.Span, offset));

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                file.Dispose();
        }
    }
}
