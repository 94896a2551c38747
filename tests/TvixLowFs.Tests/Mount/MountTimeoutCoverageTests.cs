using System.Reflection;
using System.Runtime.CompilerServices;
using NUnit.Framework;
using NUnit.Framework.Interfaces;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.Tests.Reliability;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.Mount;

/// <summary>
/// Tests that touch a mount cannot hang the run: every fixture whose code reaches
/// <see cref="HungMounts.Watch"/> (everything that mounts registers there) carries [CancelAfter],
/// and when it fires the assembly's <see cref="AbortHungMountsAttribute"/> aborts the mounts, which
/// frees a test blocked in a syscall on one. `dotnet test --blame-hang-timeout` in build.sh is the
/// net below that (a hang outside a test body, in a one-time set-up).
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
[Category(MountCategory.Name)]
public sealed class MountTimeoutCoverageTests
{
    /// <summary>The longest per-test bound a mount-touching test may have: a hang costs at most this much of CI's 90 minutes.</summary>
    private const int LongestCancelAfterMs = 10 * 60 * 1000;

    private const int ECONNABORTED = 103;

    [Test]
    public void EveryFixtureThatTouchesAMountHasCancelAfterOnEveryTest()
    {
        Type[] fixtures = MountTouchingFixtures();
        Assert.That(fixtures, Does.Contain(typeof(MountCommandTests)).And.Contain(typeof(FaultTests)).And.Contain(typeof(HostileLocalStoreMountTests))
            .And.Contain(typeof(LocalStoreMountTests)).And.Contain(typeof(Fuse.MountTests)), "the detector finds the known mount fixtures");
        var missing = new List<string>();
        foreach (Type fixture in fixtures)
        {
            int? onFixture = fixture.GetCustomAttribute<CancelAfterAttribute>(inherit: true) is { } a ? Timeout(a) : null;
            foreach (MethodInfo test in TestMethods(fixture))
            {
                int? timeout = test.GetCustomAttribute<CancelAfterAttribute>() is { } b ? Timeout(b) : onFixture;
                if (timeout is null)
                    missing.Add($"{fixture.Name}.{test.Name}: no [CancelAfter]");
                else if (timeout > LongestCancelAfterMs)
                    missing.Add($"{fixture.Name}.{test.Name}: [CancelAfter({timeout})] is longer than {LongestCancelAfterMs} ms");
            }
        }
        Assert.That(missing, Is.Empty, "tests that touch a mount and could hang the run (add [CancelAfter] to the fixture):\n" + string.Join('\n', missing));
    }

    /// <summary>
    /// <c>dotnet test --filter TestCategory!=Mount</c> runs the tests that need no /dev/fuse: that holds
    /// only while every fixture that mounts says so (<see cref="MountCategory"/>), including this one.
    /// </summary>
    [Test]
    public void EveryFixtureThatTouchesAMountIsInTheMountCategory()
    {
        Type[] fixtures = MountTouchingFixtures();
        Assert.That(fixtures, Does.Contain(typeof(MountTimeoutCoverageTests)), "the detector finds this fixture's own mount");
        string[] missing = [.. fixtures
            .Where(fixture => !fixture.GetCustomAttributes<CategoryAttribute>(inherit: true).Any(c => c.Name == MountCategory.Name))
            .Select(fixture => fixture.FullName!)];
        Assert.That(missing, Is.Empty, $"fixtures that mount but lack [Category(MountCategory.Name)]:\n" + string.Join('\n', missing));
    }

    [Test]
    public void TheWatchdogIsArmedForATestWithCancelAfter() =>
        Assert.That(AbortHungMountsAttribute.IsArmedFor(TestContext.CurrentContext.Test.ID), Is.True);

    /// <summary>
    /// The watchdog's effect on a real hung mount: a <c>tvixlowfs mount</c> process stopped with
    /// SIGSTOP answers nothing, so a stat on it blocks in the kernel; aborting the watched mounts
    /// makes that stat return ENOTCONN.
    /// </summary>
    [Test]
    public void AbortingTheWatchedMountsFreesACallBlockedOnAHungMount()
    {
        string root = Path.Combine(Path.GetTempPath(), "tvixlowfs-hung-" + Guid.NewGuid().ToString("N"));
        string store = Path.Combine(root, "store"), mountPoint = Path.Combine(root, "mnt");
        System.IO.Directory.CreateDirectory(store);
        System.IO.Directory.CreateDirectory(mountPoint);
        string address = "local://" + store;
        string[] flags = ["--blob-service-addr", address, "--directory-service-addr", address, "--path-info-service-addr", address];
        File.WriteAllText(Path.Combine(root, "file"), "hung\n");
        TvixlowfsProcess? mount = null;
        try
        {
            (int exit, string[] output, string[] error) = TvixlowfsProcess.Run(["import", Path.Combine(root, "file"), .. flags]);
            Assert.That(exit, Is.Zero, string.Join('\n', error));
            mount = TvixlowfsProcess.Start(["mount", mountPoint, .. flags]);
            Assert.That(mount.WaitForErrorLine("mounted " + mountPoint), Is.True, string.Join('\n', mount.ErrorLines));
            mount.Signal(19); // SIGSTOP: the mount answers nothing from now on

            string path = Path.Combine(mountPoint, output[0]["/nix/store/".Length..]);
            Task<int> stat = Task.Factory.StartNew(() => Libc.LStat(path, out _), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            Assert.That(stat.Wait(TimeSpan.FromSeconds(2)), Is.False, "the stat blocks on the stopped mount");
            Assert.That(HungMounts.AbortWatched(), Does.Contain(mountPoint));
            Assert.That(stat.Wait(TimeSpan.FromSeconds(60), TestContext.CurrentContext.CancellationToken), Is.True, "the stat returned once the mount was aborted");
            Assert.That(stat.Result, Is.EqualTo(Libc.ENOTCONN).Or.EqualTo(ECONNABORTED));
        }
        finally
        {
            if (mount is not null)
            {
                mount.Signal(Libc.SIGKILL);
                mount.WaitForExit(30);
                mount.Dispose();
            }
            InProcessMount.ForceUnmount(mountPoint);
            System.IO.Directory.Delete(root, recursive: true);
        }
    }

    private static int Timeout(CancelAfterAttribute attribute) =>
        // CancelAfter keeps its value in the "Timeout" property it applies to the test.
        (int)attribute.Properties.Get("Timeout")!;

    private static IEnumerable<MethodInfo> TestMethods(Type fixture) =>
        fixture.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static)
            .Where(method => method.GetCustomAttributes(inherit: true).Any(attribute => attribute is ITestBuilder or ISimpleTestBuilder));

    private static Type[] MountTouchingFixtures()
    {
        Type[] types = typeof(MountTimeoutCoverageTests).Assembly.GetTypes();
        HashSet<MethodBase> mounting = MethodsReaching(typeof(HungMounts).GetMethod(nameof(HungMounts.Watch))!, types);
        return [.. types.Where(type => type is { IsClass: true, IsAbstract: false } && TestMethods(type).Any())
            .Where(fixture => Hierarchy(fixture).SelectMany(AllMethods).Any(mounting.Contains))
            .OrderBy(type => type.FullName, StringComparer.Ordinal)];
    }

    /// <summary>Every method of the assembly whose code reaches <paramref name="target"/> (through calls, delegates and async/iterator state machines).</summary>
    private static HashSet<MethodBase> MethodsReaching(MethodBase target, Type[] types)
    {
        MethodBase[] methods = [.. types.SelectMany(DeclaredMethods)];
        var callees = methods.ToDictionary(method => method, method => MethodCalls.Of(method).Select(Definition).ToHashSet());
        foreach (MethodBase method in methods)
        {
            // An async or iterator method's body is its state machine's MoveNext, which it starts only generically.
            if (method.GetCustomAttribute<StateMachineAttribute>() is { StateMachineType: { } machine } && machine.GetMethod("MoveNext", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public) is { } moveNext)
                callees[method].Add(moveNext);
        }
        var reaching = new HashSet<MethodBase> { target };
        for (bool grew = true; grew;)
        {
            grew = false;
            foreach (MethodBase method in methods)
            {
                if (!reaching.Contains(method) && callees[method].Overlaps(reaching))
                    grew = reaching.Add(method);
            }
        }
        return reaching;
    }

    private static MethodBase Definition(MethodBase method) =>
        method is MethodInfo { IsGenericMethod: true } generic ? generic.GetGenericMethodDefinition() : method;

    private static IEnumerable<MethodBase> DeclaredMethods(Type type) =>
        type.GetMethods(BindingFlags.DeclaredOnly | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static)
            .Cast<MethodBase>()
            .Concat(type.GetConstructors(BindingFlags.DeclaredOnly | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static));

    /// <summary>The methods of a type and of the types nested in it (lambdas' closures, state machines).</summary>
    private static IEnumerable<MethodBase> AllMethods(Type type) =>
        DeclaredMethods(type).Concat(type.GetNestedTypes(BindingFlags.Public | BindingFlags.NonPublic).SelectMany(AllMethods));

    private static IEnumerable<Type> Hierarchy(Type type)
    {
        for (Type? t = type; t is not null && t != typeof(object); t = t.BaseType)
            yield return t;
    }
}
