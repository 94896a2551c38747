using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using NUnit.Framework;

namespace TvixLowFs.Tests.Interop;

/// <summary>
/// src/Common/Interop (linked into several assemblies, each with its own internal global Interop
/// class) against glibc's headers as native/build/libc_layout_probe prints them: every libc and
/// errno constant of every assembly's copy, and struct statx / pollfd / rlimit field by field.
/// Reflection, because a test cannot name a type that four assemblies define.
/// </summary>
[TestFixture]
public sealed class LibcLayoutTests
{
    private static readonly Dictionary<string, string> Probe = new();

    /// <summary>The assemblies that link src/Common/Interop files.</summary>
    private static readonly Assembly[] Linking =
    [
        typeof(TvixLowFs.Fuse.FuseSession).Assembly,
        typeof(TvixLowFs.Filesystem.StoreFilesystem).Assembly,
        typeof(TvixLowFs.Store.StoreAddress).Assembly,
        typeof(TvixLowFs.Store.Grpc.Server.DaemonHost).Assembly,
    ];

    [OneTimeSetUp]
    public void RunProbe()
    {
        string native = Path.Combine(RepositoryRoot(), "native");
        string probe = Path.Combine(native, "build", "libc_layout_probe");
        if (!File.Exists(probe))
            Assert.That(Run("make", "-C", native, "build/libc_layout_probe").Code, Is.Zero, "make -C native build/libc_layout_probe");
        var (code, output) = Run(probe);
        Assert.That(code, Is.Zero, output);
        foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] parts = line.Split(' ', 3);
            Probe[parts[0] + " " + parts[1]] = parts[2];
        }
    }

    private static IEnumerable<Type> InteropTypes(string nested) =>
        Linking.Select(a => a.GetType("Interop+" + nested)).OfType<Type>();

    [Test]
    public void EveryAssemblyLinksTheSharedTables()
    {
        Assert.That(InteropTypes("Libc").Count(), Is.EqualTo(Linking.Length), "Interop.Libc in each linking assembly");
        Assert.That(Linking.Select(a => a.GetType("Interop+Errno")).OfType<Type>().Count(), Is.GreaterThanOrEqualTo(3), "Interop.Errno in Fuse, Filesystem, Store");
    }

    [Test]
    public void EveryLibcAndErrnoConstantMatchesTheHeaders()
    {
        int checkedConstants = 0;
        Assert.Multiple(() =>
        {
            foreach (Type type in InteropTypes("Libc").Concat(InteropTypes("Errno")))
            {
                foreach (FieldInfo field in type.GetFields(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic).Where(f => f.IsLiteral))
                {
                    if (field.Name == "Library")
                        continue;
                    Assert.That(Probe.TryGetValue("const " + field.Name, out string? native), Is.True, $"{type.Assembly.GetName().Name}: the probe prints {field.Name}");
                    Assert.That(Convert.ToInt64(field.GetRawConstantValue(), System.Globalization.CultureInfo.InvariantCulture).ToString(System.Globalization.CultureInfo.InvariantCulture),
                        Is.EqualTo(native), $"{type.Assembly.GetName().Name}: {field.Name}");
                    checkedConstants++;
                }
            }
        });
        Assert.That(checkedConstants, Is.GreaterThan(40));
    }

    [TestCase("StatxBuffer", "statx", new[] { "stx_mask:Mask", "stx_blksize:BlockSize", "stx_attributes:Attributes", "stx_nlink:LinkCount", "stx_uid:Uid", "stx_gid:Gid", "stx_mode:Mode", "stx_ino:Inode", "stx_size:Size" })]
    [TestCase("PollFd", "pollfd", new[] { "fd:Fd", "events:Events", "revents:ReturnedEvents" })]
    [TestCase("RLimit", "rlimit", new[] { "rlim_cur:Current", "rlim_max:Maximum" })]
    public void StructMatchesTheHeader(string managed, string c, string[] fields)
    {
        Type[] copies = InteropTypes("Libc+" + managed).ToArray();
        Assert.That(copies, Is.Not.Empty, $"some assembly links Interop.Libc.{managed}");
        Assert.Multiple(() =>
        {
            foreach (Type type in copies)
            {
                string owner = type.Assembly.GetName().Name!;
                Assert.That(Marshal.SizeOf(type).ToString(System.Globalization.CultureInfo.InvariantCulture), Is.EqualTo(Probe["size " + c]), $"{owner}: sizeof(struct {c})");
                foreach (string pair in fields)
                {
                    string[] names = pair.Split(':');
                    FieldInfo field = type.GetField(names[1])!;
                    string actual = $"{(int)Marshal.OffsetOf(type, names[1])} {Marshal.SizeOf(field.FieldType)}";
                    Assert.That(actual, Is.EqualTo(Probe[$"field {c}.{names[0]}"]), $"{owner}: {c}.{names[0]}");
                }
            }
        });
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "TvixLowFs.sln")))
                return dir.FullName;
        }
        throw new AssertionException("TvixLowFs.sln not found above " + TestContext.CurrentContext.TestDirectory);
    }

    private static (int Code, string Output) Run(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout + stderr.Result);
    }
}
