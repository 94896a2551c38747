using NUnit.Framework;
using TvixLowFs.Store.Memory;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Tests.Grpc;

/// <summary>
/// Issue 14 point 9: a memory:// blob Put streams into segments: it allocates about the blob's
/// size, not a doubling buffer (twice the size) and then an exact copy of it at close.
/// </summary>
public sealed class MemoryBlobStreamingTests
{
    [Test]
    public async Task APutAllocatesAboutTheBlobsSizeAndReadsBackEveryByte()
    {
        const int size = 48 << 20;
        byte[] chunk = Samples.Bytes(256 * 1024, 9);
        await using var blobs = new MemoryBlobService();
        // The writer completes synchronously, so everything it allocates is this thread's.
        long before = GC.GetAllocatedBytesForCurrentThread();
        B3Digest digest;
        await using (var writer = blobs.OpenWrite())
        {
            for (int written = 0; written < size; written += chunk.Length)
                await writer.WriteAsync(chunk);
            digest = await writer.CloseAsync();
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.LessThan(size + (size / 8)), $"{allocated} bytes allocated for a {size}-byte blob");

        using var reader = (await blobs.OpenReadAsync(digest))!;
        Assert.That(reader.Length, Is.EqualTo(size));
        var hasher = new Blake3Hasher();
        byte[] buffer = new byte[1_000_003]; // reads across segment boundaries
        long offset = 0;
        while (offset < size)
        {
            int read = await reader.ReadAtAsync(offset, buffer);
            Assert.That(read, Is.GreaterThan(0));
            hasher.Update(buffer.AsSpan(0, read));
            offset += read;
        }
        Assert.That(hasher.Finish(), Is.EqualTo(digest));
        Assert.That(await reader.ReadAtAsync(size, buffer), Is.Zero);
    }
}
