using NUnit.Framework;
using System.Diagnostics;
using TvixLowFs.Fuse;
using TvixLowFs.Fuse.Native;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.Fuse;

/// <summary>Real mounts through /dev/fuse of <see cref="HelloFilesystemDouble"/>, checked with ordinary syscalls.</summary>
[TestFixture]
[CancelAfter(300_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed unsafe class MountTests
{
    [Test]
    public void RootFileLinkAndListingAreServed()
    {
        var filesystem = new HelloFilesystemDouble();
        using var mount = new TestMount(filesystem);

        Assert.That(Libc.LStat(mount.MountPoint, out var root), Is.Zero);
        Assert.That(root.Ino, Is.EqualTo(1));
        Assert.That(root.Mode, Is.EqualTo(0x4000u | 0x16d));

        Assert.That(Libc.LStat(mount.PathOf("hello.txt"), out var hello), Is.Zero);
        Assert.That(hello.Ino, Is.EqualTo(2));
        Assert.That(hello.Size, Is.EqualTo(HelloFilesystemDouble.HelloContent.Length));
        Assert.That(File.ReadAllBytes(mount.PathOf("hello.txt")), Is.EqualTo(HelloFilesystemDouble.HelloContent));

        Assert.That(Libc.LStat(mount.PathOf("missing"), out _), Is.EqualTo(HelloFilesystemDouble.ENOENT));
        Assert.That(new FileInfo(mount.PathOf("link")).LinkTarget, Is.EqualTo("hello.txt"));
        Assert.That(Directory.EnumerateFileSystemEntries(mount.MountPoint).Select(Path.GetFileName),
            Is.EqualTo(new[] { "broken.txt", "hello.txt", "link" }));

        Assert.That(Libc.StatVfs(mount.MountPoint, out StatVfs vfs), Is.Zero);
        Assert.That(vfs.Namemax, Is.EqualTo(255));
        Assert.That(filesystem.InitCalled, Is.True);
        Assert.That(filesystem.Capable.HasFlag(FuseCapability.ReaddirPlus), Is.True, "the kernel offers readdirplus");
    }

    [Test]
    public void ReadAtAnOffsetReturnsTheRequestedSlice()
    {
        using var mount = new TestMount(new HelloFilesystemDouble());
        var fd = Libc.Open(mount.PathOf("hello.txt"), Libc.O_RDONLY).Fd;
        Assert.That(fd, Is.GreaterThanOrEqualTo(0));
        try
        {
            var buffer = new byte[5];
            Assert.That(Libc.PRead(fd, buffer, 6), Is.EqualTo(5L));
            Assert.That(buffer, Is.EqualTo(HelloFilesystemDouble.HelloContent.AsSpan(6, 5).ToArray()));
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    [Test]
    public void FdBackedDataRepliesServeAFileAtAnyOffset()
    {
        var content = new byte[300_000];
        new Random(7).NextBytes(content);
        var backing = Path.Combine(Path.GetTempPath(), "tvixlowfs-fuse-backing-" + Guid.NewGuid().ToString("N"));
        File.WriteAllBytes(backing, content);
        try
        {
            using var handle = File.OpenHandle(backing);
            using var mount = new TestMount(new HelloFilesystemDouble((int)handle.DangerousGetHandle(), content.Length));
            Assert.That(File.ReadAllBytes(mount.PathOf("spliced.bin")), Is.EqualTo(content));
            var fd = Libc.Open(mount.PathOf("spliced.bin"), Libc.O_RDONLY).Fd;
            Assert.That(fd, Is.GreaterThanOrEqualTo(0));
            try
            {
                var buffer = new byte[70_001];
                foreach (var offset in new long[] { 299_999, 12_345, 0, 131_071, 250_000 })
                {
                    long read = Libc.PRead(fd, buffer, offset);
                    var expected = (int)Math.Min(buffer.Length, content.Length - offset);
                    Assert.That(read, Is.EqualTo(expected), $"bytes at {offset}");
                    Assert.That(buffer.AsSpan(0, expected).SequenceEqual(content.AsSpan((int)offset, expected)), Is.True, $"content at {offset}");
                }
            }
            finally
            {
                Libc.Close(fd);
            }
        }
        finally
        {
            File.Delete(backing);
        }
    }

    [Test]
    public void ManyThreadsAreServedAtOnce()
    {
        using var mount = new TestMount(new HelloFilesystemDouble());
        var failures = 0;
        Parallel.For(0, 64, new ParallelOptions { MaxDegreeOfParallelism = 16 }, i =>
        {
            var ok = i % 2 == 0
                ? File.ReadAllBytes(mount.PathOf("hello.txt")).AsSpan().SequenceEqual(HelloFilesystemDouble.HelloContent)
                : Directory.GetFileSystemEntries(mount.MountPoint).Length == 3;
            if (!ok) Interlocked.Increment(ref failures);
        });
        Assert.That(failures, Is.Zero);
    }

    [Test]
    public void WritesOnAReadOnlyMountFailWithErofs()
    {
        using var mount = new TestMount(new HelloFilesystemDouble());
        Assert.That(Libc.Mkdir(mount.PathOf("new")), Is.EqualTo(HelloFilesystemDouble.EROFS));
        Assert.That(Libc.Open(mount.PathOf("hello.txt"), Libc.O_WRONLY).Errno, Is.EqualTo(HelloFilesystemDouble.EROFS));
    }

    [Test]
    public void WriteTypeOperationsReachModifyWhenTheKernelLetsThemThrough()
    {
        // Without "-o ro" the kernel forwards writes; the binding must route them to Modify.
        var filesystem = new HelloFilesystemDouble();
        using (var mount = new TestMount(filesystem, readOnly: false))
        {
            Assert.That(Libc.Mkdir(mount.PathOf("new")), Is.EqualTo(HelloFilesystemDouble.EROFS));
            Assert.That(() => File.Move(mount.PathOf("hello.txt"), mount.PathOf("renamed.txt")), Throws.InstanceOf<IOException>());
            Assert.That(Libc.Open(mount.PathOf("hello.txt"), Libc.O_WRONLY).Errno, Is.EqualTo(HelloFilesystemDouble.EROFS), "open for writing");
        }
        Assert.That(filesystem.ModifyCalls, Does.Contain(FuseModifyOperation.MkDir));
        Assert.That(filesystem.ModifyCalls, Does.Contain(FuseModifyOperation.Rename));
    }

    [Test]
    public void AHandlerThatThrowsIsAnsweredWithEio()
    {
        var reported = new List<string>();
        var filesystem = new HelloFilesystemDouble();
        var previous = FuseDiagnostics.Error;
        FuseDiagnostics.Error = line => { lock (reported) reported.Add(line); };
        try
        {
            using var mount = new TestMount(filesystem);
            Assert.That(Libc.LStat(mount.PathOf("throw"), out _), Is.EqualTo(HelloFilesystemDouble.EIO));

            var fd = Libc.Open(mount.PathOf("broken.txt"), Libc.O_RDONLY).Fd;
            Assert.That(fd, Is.GreaterThanOrEqualTo(0));
            try
            {
                var buffer = new byte[16];
                Assert.That(Libc.PRead(fd, buffer, 0), Is.EqualTo(-(long)HelloFilesystemDouble.EIO));
            }
            finally
            {
                Libc.Close(fd);
            }
            // Answered before the throw: the binding must not answer a second time.
            Assert.That(Libc.LStat(mount.PathOf("reply-then-throw"), out _), Is.EqualTo(HelloFilesystemDouble.ENOENT));
            // The mount still serves after the failures.
            Assert.That(File.ReadAllBytes(mount.PathOf("hello.txt")), Is.EqualTo(HelloFilesystemDouble.HelloContent));
        }
        finally
        {
            FuseDiagnostics.Error = previous;
        }
        lock (reported)
        {
            Assert.That(reported, Has.Some.Contains("lookup").And.Contains("InvalidOperationException"));
            Assert.That(reported, Has.Some.Contains("read").And.Contains("IOException"));
        }
    }

    [Test]
    public void TheMountShowsFsNameAndSubtypeAndIsReadOnly()
    {
        using var mount = new TestMount(new HelloFilesystemDouble());
        var line = File.ReadLines("/proc/self/mounts").Single(l => l.Split(' ')[1] == mount.MountPoint).Split(' ');
        Assert.That(line[0], Is.EqualTo("tvixlowfs-test"));
        Assert.That(line[2], Is.EqualTo("fuse.tvixlowfs-test"));
        Assert.That(line[3].Split(','), Does.Contain("ro").And.Contain("nosuid").And.Contain("nodev"));
    }

    [Test]
    public void MountingOnAMissingDirectoryFails()
    {
        var missing = Path.Combine(Path.GetTempPath(), "tvixlowfs-fuse-missing-" + Guid.NewGuid().ToString("N"));
        Assert.That(() => FuseSession.Mount(new HelloFilesystemDouble(), new FuseMountOptions { MountPoint = missing }),
            Throws.InstanceOf<IOException>());
        Assert.That(TestMount.IsMounted(missing), Is.False);
    }

    [Test]
    public void AnUnknownMountOptionIsRefusedBeforeMounting()
    {
        var mountPoint = Path.Combine(Path.GetTempPath(), "tvixlowfs-fuse-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(mountPoint);
        try
        {
            Assert.That(() => FuseSession.Mount(new HelloFilesystemDouble(), new FuseMountOptions
            {
                MountPoint = mountPoint,
                ExtraOptions = ["no_such_fuse_option"],
            }), Throws.InstanceOf<IOException>().With.Message.Contains("no_such_fuse_option"));
            Assert.That(TestMount.IsMounted(mountPoint), Is.False);
        }
        finally
        {
            Directory.Delete(mountPoint);
        }
    }

    [Test]
    public void AllowOtherAndMaxReadOptionsAreAccepted()
    {
        var filesystem = new HelloFilesystemDouble();
        var mountPoint = Path.Combine(Path.GetTempPath(), "tvixlowfs-fuse-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(mountPoint);
        try
        {
            using var session = FuseSession.Mount(filesystem, new FuseMountOptions
            {
                MountPoint = mountPoint,
                AllowOther = true,
                ExtraOptions = ["max_read=1048576"],
                HandleSignals = false,
            });
            var options = File.ReadLines("/proc/self/mounts").Single(l => l.Split(' ')[1] == mountPoint).Split(' ')[3].Split(',');
            Assert.That(options, Does.Contain("allow_other").And.Contain("default_permissions").And.Contain("max_read=1048576"));
        }
        finally
        {
            if (TestMount.IsMounted(mountPoint))
            {
                using var fusermount = Process.Start("fusermount3", ["-u", "-z", mountPoint]);
                fusermount.WaitForExit();
            }
            Directory.Delete(mountPoint);
        }
    }

    [Test]
    public void ExitBeforeRunMakesRunReturnAtOnce()
    {
        Assert.That(File.Exists("/dev/fuse"), Is.True, "/dev/fuse is missing");
        var mountPoint = Path.Combine(Path.GetTempPath(), "tvixlowfs-fuse-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(mountPoint);
        try
        {
            using var session = FuseSession.Mount(new HelloFilesystemDouble(), new FuseMountOptions { MountPoint = mountPoint, HandleSignals = false });
            session.Exit();
            Assert.That(session.ExitRequested, Is.True);
            Assert.That(session.Run(), Is.Zero);
        }
        finally
        {
            if (TestMount.IsMounted(mountPoint))
            {
                using var fusermount = Process.Start("fusermount3", ["-u", "-z", mountPoint]);
                fusermount.WaitForExit();
            }
            Directory.Delete(mountPoint);
        }
        Assert.That(TestMount.IsMounted(mountPoint), Is.False);
    }

    [Test]
    public void ExitOnAnIdleMountEndsTheLoopAndDisposeUnmounts()
    {
        var filesystem = new HelloFilesystemDouble();
        var mount = new TestMount(filesystem);
        try
        {
            Assert.That(Libc.LStat(mount.MountPoint, out _), Is.Zero);
            Assert.That(TestMount.IsMounted(mount.MountPoint), Is.True);
            var clock = Stopwatch.StartNew();
            new Thread(mount.Session.Exit).Start();
            Assert.That(mount.Loop.Wait(TimeSpan.FromSeconds(30)), Is.True, "Run returns after Exit on an idle mount");
            TestContext.Out.WriteLine($"loop returned {clock.ElapsedMilliseconds} ms after Exit");
            Assert.That(mount.Loop.Result, Is.Zero);
            mount.Session.Dispose();
            Assert.That(TestMount.IsMounted(mount.MountPoint), Is.False, "unmounted after Dispose");
            Assert.That(filesystem.DestroyCalled, Is.True, "destroy runs from fuse_session_destroy");
        }
        finally
        {
            mount.Dispose();
        }
    }

    [Test]
    public void ExitWhileARequestIsInFlightLetsItFinishThenEndsTheLoop()
    {
        // After Exit the loop takes no new requests (a close() now would wait for its flush until
        // Dispose aborts the connection), so the read goes through an fd opened beforehand.
        using var gate = new ManualResetEventSlim(false);
        var filesystem = new HelloFilesystemDouble { ReadGate = gate };
        var mount = new TestMount(filesystem);
        var fd = Libc.Open(mount.PathOf("hello.txt"), Libc.O_RDONLY).Fd;
        try
        {
            Assert.That(fd, Is.GreaterThanOrEqualTo(0));
            var buffer = new byte[64];
            var reader = Task.Factory.StartNew(() =>
            {
                return Libc.PRead(fd, buffer, 0);
            }, TaskCreationOptions.LongRunning);
            Assert.That(filesystem.ReadEntered.Wait(TimeSpan.FromSeconds(30)), Is.True, "the read reached the handler");
            mount.Session.Exit();
            gate.Set();
            Assert.That(reader.Wait(TimeSpan.FromSeconds(30)), Is.True, "the in-flight read was answered");
            Assert.That(buffer.AsSpan(0, (int)reader.Result).ToArray(), Is.EqualTo(HelloFilesystemDouble.HelloContent));
            Assert.That(mount.Loop.Wait(TimeSpan.FromSeconds(30)), Is.True, "Run returns after Exit");
            mount.Session.Dispose();
            Assert.That(TestMount.IsMounted(mount.MountPoint), Is.False);
        }
        finally
        {
            gate.Set();
            mount.Dispose();
            if (fd >= 0) Libc.Close(fd);
        }
    }

    [Test]
    public void SigtermEndsTheLoopWhenSignalsAreHandled()
    {
        var mount = new TestMount(new HelloFilesystemDouble(), handleSignals: true);
        try
        {
            // Served means Run has registered its signal handlers (they exist before the loop starts).
            Assert.That(Libc.LStat(mount.PathOf("hello.txt"), out _), Is.Zero);
            using (var kill = Process.Start("kill", ["-TERM", Environment.ProcessId.ToString()]))
            {
                kill.WaitForExit();
            }
            Assert.That(mount.Loop.Wait(TimeSpan.FromSeconds(30)), Is.True, "Run returns after SIGTERM");
            mount.Session.Dispose();
            Assert.That(TestMount.IsMounted(mount.MountPoint), Is.False);
        }
        finally
        {
            mount.Dispose();
        }
    }
}
