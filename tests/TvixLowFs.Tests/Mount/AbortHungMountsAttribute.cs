using System.Collections.Concurrent;
using NUnit.Framework;
using NUnit.Framework.Interfaces;

namespace TvixLowFs.Tests.Mount;

/// <summary>
/// Assembly-wide: when a test's [CancelAfter] fires, the mounts this process made are aborted
/// (<see cref="HungMounts"/>), and the test fails. NUnit only cancels a token: a test blocked in a
/// syscall on a hung mount never looks at it, and one that returns after the token fired without
/// throwing passes. Aborting the mount makes that syscall return (ENOTCONN), the next tests can
/// start, and the test is failed here, naming what it ran out of time on.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly)]
public sealed class AbortHungMountsAttribute : Attribute, ITestAction
{
    private static readonly ConcurrentDictionary<string, CancellationTokenRegistration> Armed = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<string, string> RanOutOfTime = new(StringComparer.Ordinal);

    public ActionTargets Targets => ActionTargets.Test;

    /// <summary>Whether the watchdog is armed for the test with this id (its CancelAfter token can fire).</summary>
    internal static bool IsArmedFor(string testId) => Armed.ContainsKey(testId);

    public void BeforeTest(ITest test)
    {
        ArgumentNullException.ThrowIfNull(test);
        CancellationToken token = TestContext.CurrentContext.CancellationToken;
        if (!token.CanBeCanceled)
            return;
        Armed[test.Id] = token.Register(() =>
        {
            IReadOnlyList<string> aborted = HungMounts.AbortWatched();
            string what = $"{test.FullName} ran out of time ([CancelAfter]); aborted the FUSE connections of {aborted.Count} mount(s) it may hang on: {string.Join(", ", aborted)}";
            RanOutOfTime[test.Id] = what;
            TestContext.Progress.WriteLine(what);
        });
    }

    public void AfterTest(ITest test)
    {
        ArgumentNullException.ThrowIfNull(test);
        if (Armed.TryRemove(test.Id, out CancellationTokenRegistration registration))
            registration.Dispose();
        if (RanOutOfTime.TryRemove(test.Id, out string? what))
            Assert.Fail(what);
    }
}
