using NUnit.Framework;
using TvixLowFs.Store.ObjectStore;
using static TvixLowFs.Tests.Store.TestTrees;

namespace TvixLowFs.Tests.ObjectStore;

/// <summary>FastCDC v2020 with snix's parameters: sizes in bounds, cuts that follow content, not offsets.</summary>
public sealed class FastCdcTests
{
    private static List<int> Cuts(FastCdc chunker, byte[] data)
    {
        var lengths = new List<int>();
        for (int at = 0; at < data.Length;)
        {
            int length = chunker.Cut(data.AsSpan(at, Math.Min(chunker.Maximum, data.Length - at)));
            lengths.Add(length);
            at += length;
        }
        return lengths;
    }

    [Test]
    public void Parameters_are_average_256_KiB_min_half_max_double()
    {
        var chunker = new FastCdc();
        Assert.That((chunker.Minimum, chunker.Average, chunker.Maximum), Is.EqualTo((128 * 1024, 256 * 1024, 512 * 1024)));
    }

    [Test]
    public void Zeros_never_match_a_mask_so_every_chunk_is_the_maximum()
    {
        var chunker = new FastCdc();
        List<int> cuts = Cuts(chunker, new byte[3 * 512 * 1024 + 100]);
        Assert.That(cuts, Is.EqualTo(new[] { 512 * 1024, 512 * 1024, 512 * 1024, 100 }));
    }

    [Test]
    public void Random_data_cuts_between_min_and_max_and_averages_near_the_target()
    {
        var chunker = new FastCdc();
        byte[] data = Pattern(32 * 1024 * 1024, seed: 11);
        List<int> cuts = Cuts(chunker, data);
        Assert.That(cuts.Sum(), Is.EqualTo(data.Length));
        Assert.That(cuts.SkipLast(1), Has.All.InRange(chunker.Minimum, chunker.Maximum));
        double mean = cuts.SkipLast(1).Average();
        // Normalised chunking centres sizes a little above the average with min = avg/2.
        Assert.That(mean, Is.InRange(200 * 1024, 400 * 1024), $"mean chunk {mean:F0} bytes over {cuts.Count} chunks");
    }

    [Test]
    public void An_insertion_changes_only_the_chunks_around_it()
    {
        var chunker = new FastCdc();
        byte[] original = Pattern(8 * 1024 * 1024, seed: 5);
        byte[] edited = [.. original.AsSpan(0, 3_000_000), .. Pattern(777, seed: 6), .. original.AsSpan(3_000_000)];
        HashSet<string> Chunks(byte[] data)
        {
            var set = new HashSet<string>();
            int at = 0;
            foreach (int length in Cuts(chunker, data))
            {
                set.Add(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(data.AsSpan(at, length))));
                at += length;
            }
            return set;
        }
        HashSet<string> before = Chunks(original), after = Chunks(edited);
        int fresh = after.Count(chunk => !before.Contains(chunk));
        Assert.That(fresh, Is.InRange(1, 3), $"{fresh} of {after.Count} chunks are new");
    }

    [Test]
    public void A_span_shorter_than_the_minimum_is_one_chunk()
    {
        var chunker = new FastCdc();
        Assert.That(chunker.Cut(Pattern(1000)), Is.EqualTo(1000));
        Assert.That(chunker.Cut(ReadOnlySpan<byte>.Empty), Is.EqualTo(0));
    }
}
