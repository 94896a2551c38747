using NUnit.Framework;
using TvixLowFs.Fuse;
using TvixLowFs.Tests.Fuse;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.Hardening;

/// <summary>
/// Issue 14 point 8: a handler failure that cannot even be described (its message throws, as
/// formatting does when memory has run out) is still answered EIO by the binding's entry point,
/// and nothing escapes the [UnmanagedCallersOnly] frame (which would end the process). A real
/// mount of a test double filesystem in this process.
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class EntryPointLastResortTests
{
    private const int EIO = 5;

    [Test]
    public void AnUndescribableHandlerFailureIsAnsweredEio()
    {
        var filesystem = new UnformattableFailureFilesystemDouble();
        var reported = new List<string>();
        Action<string>? previous = FuseDiagnostics.Error;
        FuseDiagnostics.Error = line => { lock (reported) reported.Add(line); };
        try
        {
            using var mount = new TestMount(filesystem, readOnly: false);
            int lookup = BoundedCall.Run(() => Libc.LStat(mount.PathOf("boom"), out _), "lookup");
            int mkdir = BoundedCall.Run(() => Libc.Mkdir(mount.PathOf("new")), "mkdir");
            int absent = BoundedCall.Run(() => Libc.LStat(mount.PathOf("absent"), out _), "lookup after them");
            Assert.Multiple(() =>
            {
                Assert.That(lookup, Is.EqualTo(EIO), "lookup");
                Assert.That(mkdir, Is.EqualTo(EIO), "mkdir");
                Assert.That(absent, Is.EqualTo(UnformattableFailureFilesystemDouble.ENOENT), "the mount keeps serving");
            });
            Assert.That(filesystem.Failures, Is.EqualTo(2));
        }
        finally
        {
            FuseDiagnostics.Error = previous;
        }
        lock (reported)
            Assert.That(reported, Has.Some.Contains("lookup"), "the failure is still reported, without its message");
    }
}
