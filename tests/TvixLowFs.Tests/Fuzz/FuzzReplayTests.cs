using NUnit.Framework;
using TvixLowFs.Fuzz;

namespace TvixLowFs.Tests.Fuzz;

/// <summary>
/// Every checked-in fuzz input (the seed corpus and each crash afl++ found) through the same
/// targets the fuzzer runs, in the normal suite: a decoder either accepts an input (and what it
/// returns keeps its promises) or rejects it with its documented exception. A crash found once
/// stays fixed; the fuzzing itself runs in tests/TvixLowFs.Fuzz/fuzz.sh.
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class FuzzReplayTests
{
    /// <summary>Generous bound on one input (a busy CI machine); a decoder that loops forever fails here instead of hanging.</summary>
    private static readonly TimeSpan PerInput = TimeSpan.FromSeconds(30);

    public static IEnumerable<TestCaseData> Inputs() =>
        FuzzInputs.All().Select(input => new TestCaseData(input.Target.Name, input.File).SetName($"Replay({input.File})"));

    [TestCaseSource(nameof(Inputs))]
    public void TheInputIsAcceptedOrRejectedAsDocumented(string targetName, string file)
    {
        FuzzTarget target = FuzzTarget.Named(targetName);
        byte[] input = File.ReadAllBytes(Path.Combine(FuzzInputs.FuzzProject, file));
        bool accepted = RunBounded(target, input);
        TestContext.Out.WriteLine($"{file}: {(accepted ? "accepted" : "rejected")}");
    }

    [Test]
    public void EveryTargetHasSeedsItAcceptsAndSeedsItRejects([ValueSource(nameof(TargetNames))] string targetName)
    {
        FuzzTarget target = FuzzTarget.Named(targetName);
        string corpus = FuzzInputs.CorpusOf(target);
        var verdicts = Directory.EnumerateFiles(corpus).Select(file => RunBounded(target, File.ReadAllBytes(file))).ToList();
        Assert.That(verdicts, Does.Contain(true), "a valid seed, so the fuzzer starts deep in the decoder");
        Assert.That(verdicts, Does.Contain(false), "a near-valid seed the decoder rejects");
    }

    [Test]
    public void TheCheckedInCorpusHoldsEverySeedTheTargetWrites([ValueSource(nameof(TargetNames))] string targetName)
    {
        FuzzTarget target = FuzzTarget.Named(targetName);
        foreach ((string name, byte[] bytes) in target.Seeds())
        {
            string file = Path.Combine(FuzzInputs.CorpusOf(target), name);
            Assert.That(File.Exists(file), Is.True, $"{file} is missing: run `tvixlowfs-fuzz seed tests/TvixLowFs.Fuzz/corpus`");
            Assert.That(File.ReadAllBytes(file), Is.EqualTo(bytes), $"{file} differs from what the target writes");
        }
    }

    /// <summary>
    /// The blob-chunk crashes afl++ found: a tag whose field number does not fit an int and a length
    /// beyond long.MaxValue threw OverflowException out of the gRPC client's chunk decoder. They are
    /// bad data: rejected with InvalidDataException like every other malformed chunk.
    /// </summary>
    [Test]
    public void TheBlobChunkCrashesAreRejectedAsBadData()
    {
        FuzzTarget target = FuzzTarget.Named("blob-chunk");
        string[] crashes = Directory.GetFiles(FuzzInputs.CrashesOf(target));
        Assert.That(crashes, Has.Length.GreaterThanOrEqualTo(2));
        foreach (string file in crashes)
            Assert.That(RunBounded(target, File.ReadAllBytes(file)), Is.False, file);
    }

    public static IEnumerable<string> TargetNames() => FuzzTarget.All.Select(target => target.Name);

    private static bool RunBounded(FuzzTarget target, byte[] input)
    {
        Task<bool> run = Task.Factory.StartNew(() => target.Run(input), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Assert.That(run.Wait(PerInput, TestContext.CurrentContext.CancellationToken), Is.True, $"{target.Name} did not finish one input in {PerInput.TotalSeconds} s (a hang)");
        return run.GetAwaiter().GetResult();
    }
}
