using System.Text;
using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Fuse.Native;
using TvixLowFs.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using TvixLowFs.TestSupport;

namespace TvixLowFs.Tests.Filesystem;

/// <summary>
/// The behaviour table of shared/DESIGN.md, row by row, against a real in-process mount of a
/// memory store, through ordinary syscalls.
/// </summary>
[TestFixture]
[CancelAfter(300_000)]
[Category(TvixLowFs.Tests.Mount.MountCategory.Name)]
public sealed class StoreFilesystemMountTests
{
    private const uint S_IFMT = 0xF000, S_IFDIR = 0x4000, S_IFREG = 0x8000, S_IFLNK = 0xA000;
    private const byte DT_DIR = 4, DT_REG = 8, DT_LNK = 10;

    private static readonly byte[] HelloBytes = Encoding.UTF8.GetBytes("hello world\n");
    private static readonly byte[] ScriptBytes = Encoding.UTF8.GetBytes("#!/bin/sh\necho hi\n");
    private static readonly byte[] BigBytes = RandomBytes(1536 * 1024 + 77, seed: 7);
    private static readonly byte[] MissingBlobBytes = Encoding.UTF8.GetBytes("this blob is not in the store\n");

    private StoreServices _store = null!;
    private FailureInjectingDirectoryService _directories = null!;
    private InProcessMount _mount = null!;
    private string _tree = null!, _rootFile = null!, _rootLink = null!, _missingDir = null!;

    [OneTimeSetUp]
    public async Task MountAsync()
    {
        StoreServices memory = new StoreOpener().Open(StoreAddress.Memory);
        _directories = new FailureInjectingDirectoryService(memory.Directories);
        _store = new StoreServices(memory.Blobs, _directories, memory.PathInfos);
        var writer = new TestTreeWriter(_store);

        var many = Enumerable.Range(0, 300).Select(i => ($"entry-{i:D4}", (TreeNode)FileSpec.Text($"file {i}\n"))).ToArray();
        var shared = new DirSpec(("x", new FileSpec(HelloBytes)), ("y", new LinkSpec("x")));
        _tree = await writer.AddStorePathAsync("tree", new DirSpec(
            ("a-file", new FileSpec(HelloBytes)),
            ("b-exec", new FileSpec(ScriptBytes, Executable: true)),
            ("c-link", new LinkSpec("a-file")),
            ("d-dir", shared),
            ("e-dir", shared),
            ("f-link", new LinkSpec("a-file")),
            ("g-empty", new FileSpec([])),
            ("h-big", new FileSpec(BigBytes)),
            ("i-missing-blob", new FileSpec(MissingBlobBytes, StoreBlob: false)),
            ("j-many", new DirSpec(many)),
            ("k-exec-copy", new FileSpec(HelloBytes, Executable: true)),
            ("l-throws", new DirSpec((FailureInjectingDirectoryService.ThrowMarker, FileSpec.Text("x")))),
            ("m-corrupt", new DirSpec((FailureInjectingDirectoryService.CorruptMarker, FileSpec.Text("y")))),
            ("o-wrong-size", new FileSpec(ScriptBytes, DeclaredSize: 5))));
        _rootFile = await writer.AddStorePathAsync("file", FileSpec.Text("root file contents\n"));
        _rootLink = await writer.AddStorePathAsync("link", new LinkSpec("/nix/store/somewhere-else"));
        _missingDir = await writer.AddStorePathAsync("missing-dir", new MissingDirSpec(Size: 5));

        _mount = new InProcessMount(_store, new StoreFilesystemOptions { ShowXattr = true });
    }

    [OneTimeTearDown]
    public async Task UnmountAsync()
    {
        _mount?.Dispose();
        if (_store is not null)
            await _store.DisposeAsync();
    }

    private string P(params string[] parts) => _mount.PathOf(parts);

    [Test]
    public void TheMountIsAReadOnlyFuseTvixlowfsMount()
    {
        string? type = InProcessMount.MountType(_mount.MountPoint);
        Assert.That(type, Does.StartWith("fuse.tvixlowfs tvixlowfs"));
        Assert.That(type, Does.Contain("ro"));
    }

    [Test]
    public void EveryInodeHasTheTimeOfARealNixStore()
    {
        // Directories, files and symlinks, the store paths' roots among them: mtime 1 s, atime and ctime no later.
        string[] paths = [P(_rootFile), P(_rootLink), P(_tree), P(_tree, "a-file"), P(_tree, "b-exec"), P(_tree, "c-link"),
            P(_tree, "d-dir"), P(_tree, "d-dir", "x"), P(_tree, "d-dir", "y"), P(_tree, "g-empty"), P(_tree, "j-many")];
        Assert.Multiple(() =>
        {
            foreach (string path in paths)
            {
                Stat stat = Libc.LStat(path);
                Assert.That((stat.Mtime.Seconds, stat.Mtime.Nanoseconds), Is.EqualTo((1L, 0L)), path);
                Assert.That(stat.Atime.Seconds, Is.LessThanOrEqualTo(1), path);
                Assert.That(stat.Ctime.Seconds, Is.LessThanOrEqualTo(1), path);
            }
            // What Python's .pyc check and make use: the modification time as the runtime reports it.
            Assert.That(File.GetLastWriteTimeUtc(P(_tree, "a-file")), Is.EqualTo(DateTime.UnixEpoch.AddSeconds(1)));
        });
    }

    [Test]
    public void RootIsADirectory0555OwnedByRootWithTheStoreTime()
    {
        Stat root = Libc.LStat(_mount.MountPoint);
        Assert.Multiple(() =>
        {
            Assert.That(root.Ino, Is.EqualTo(1UL));
            Assert.That(root.Mode, Is.EqualTo(S_IFDIR | 0x16D));
            Assert.That(root.Uid, Is.Zero);
            Assert.That(root.Gid, Is.Zero);
            // 1 s, as Nix canonicalises every store file; atime and ctime no later.
            Assert.That(root.Mtime.Seconds, Is.EqualTo(1));
            Assert.That(root.Atime.Seconds, Is.EqualTo(1));
            Assert.That(root.Ctime.Seconds, Is.EqualTo(1));
        });
    }

    [Test]
    public void ListingTheRootIsEpermWithoutListRoot()
    {
        (List<string> names, int errno) = Libc.ListDirectory(_mount.MountPoint);
        Assert.That(errno, Is.EqualTo(Libc.EPERM));
        Assert.That(names, Is.Empty);
    }

    [Test]
    public void RootLookupOfAnInvalidBasenameIsEnoent()
    {
        Assert.That(Libc.LStat(P("not-a-store-path"), out _), Is.EqualTo(Libc.ENOENT));
        Assert.That(Libc.LStat(P("eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-x"), out _), Is.EqualTo(Libc.ENOENT)); // 'e' is not nixbase32
    }

    [Test]
    public void RootLookupNeedsTheExactName()
    {
        string nearMiss = _tree[..33] + "tre3";
        Assert.That(Libc.LStat(P(nearMiss), out _), Is.EqualTo(Libc.ENOENT));
        Assert.That(Libc.LStat(P(_tree[..33] + "tree2"), out _), Is.EqualTo(Libc.ENOENT));
        Assert.That(Libc.LStat(P(TestTreeWriter.Basename("tree", seed: "unknown")), out _), Is.EqualTo(Libc.ENOENT));
        Assert.That(Libc.LStat(P(_tree), out _), Is.Zero);
    }

    [Test]
    public async Task AStorePathAddedWhileMountedAppears()
    {
        string basename = TestTreeWriter.Basename("late", seed: "late " + Guid.NewGuid());
        Assert.That(Libc.LStat(P(basename), out _), Is.EqualTo(Libc.ENOENT));
        var writer = new TestTreeWriter(_store);
        string added = await writer.AddStorePathAsync(basename[33..], FileSpec.Text("late\n"), seed: null, nodeName: basename)
            .ContinueWith(_ => basename);
        // The PathInfo key is derived from its own name: put one whose name is exactly basename.
        Assert.That(added, Is.EqualTo(basename));
        Assert.That(File.ReadAllText(P(basename)), Is.EqualTo("late\n"));
    }

    [Test]
    public void AttributesOfEachKind()
    {
        Stat file = Libc.LStat(P(_tree, "a-file"));
        Stat exec = Libc.LStat(P(_tree, "b-exec"));
        Stat link = Libc.LStat(P(_tree, "c-link"));
        Stat dir = Libc.LStat(P(_tree, "d-dir"));
        Stat tree = Libc.LStat(P(_tree));
        Stat big = Libc.LStat(P(_tree, "h-big"));
        Stat empty = Libc.LStat(P(_tree, "g-empty"));
        Assert.Multiple(() =>
        {
            Assert.That(file.Mode, Is.EqualTo(S_IFREG | 0x124), "file 0444");
            Assert.That(file.Size, Is.EqualTo(HelloBytes.Length));
            Assert.That(file.Nlink, Is.EqualTo(1UL));
            Assert.That(file.Blocks, Is.EqualTo(1));
            Assert.That(file.Blksize, Is.GreaterThanOrEqualTo(512));
            Assert.That(file.Uid + file.Gid, Is.Zero);
            Assert.That((file.Mtime.Seconds, file.Ctime.Seconds, file.Atime.Seconds), Is.EqualTo((1L, 1L, 1L)));
            Assert.That(exec.Mode, Is.EqualTo(S_IFREG | 0x16D), "executable 0555");
            Assert.That(exec.Size, Is.EqualTo(ScriptBytes.Length));
            Assert.That(link.Mode, Is.EqualTo(S_IFLNK | 0x124), "symlink 0444");
            Assert.That(link.Size, Is.EqualTo("a-file".Length));
            Assert.That(dir.Mode, Is.EqualTo(S_IFDIR | 0x16D), "directory 0555");
            Assert.That(dir.Size, Is.EqualTo(2), "DirectoryNode size: 2 entries");
            Assert.That(dir.Nlink, Is.GreaterThanOrEqualTo(2UL));
            Assert.That(tree.Size, Is.EqualTo(14 + 2 + 2 + 300 + 1 + 1), "the recursive DirectoryNode size");
            Assert.That(big.Size, Is.EqualTo(BigBytes.Length));
            Assert.That(big.Blocks, Is.EqualTo((BigBytes.Length + 511) / 512));
            Assert.That(empty.Size, Is.Zero);
            Assert.That(empty.Blocks, Is.Zero);
        });
    }

    [Test]
    public void StorePathRootsOfEachKind()
    {
        Stat file = Libc.LStat(P(_rootFile));
        Stat link = Libc.LStat(P(_rootLink));
        Assert.That(file.Mode & S_IFMT, Is.EqualTo(S_IFREG));
        Assert.That(File.ReadAllText(P(_rootFile)), Is.EqualTo("root file contents\n"));
        Assert.That(link.Mode & S_IFMT, Is.EqualTo(S_IFLNK));
        Assert.That(Encoding.UTF8.GetString(Libc.ReadLink(P(_rootLink)).Target!), Is.EqualTo("/nix/store/somewhere-else"));
    }

    [Test]
    public void ReaddirListsDotsThenChildrenInNameOrderWithTypes()
    {
        (nint dir, int errno) = Libc.OpenDir(P(_tree, "d-dir"));
        Assert.That(errno, Is.Zero);
        var entries = new List<(string Name, ulong Ino, byte Type)>();
        try
        {
            while (Libc.ReadDir(dir) is { } entry)
                entries.Add(entry);
        }
        finally
        {
            Libc.CloseDir(dir);
        }
        Assert.That(entries.Select(e => e.Name), Is.EqualTo(new[] { ".", "..", "x", "y" }));
        Assert.That(entries.Select(e => e.Type), Is.EqualTo(new[] { DT_DIR, DT_DIR, DT_REG, DT_LNK }));
        Assert.That(entries[2].Ino, Is.EqualTo(Libc.LStat(P(_tree, "a-file")).Ino));

        (List<string> names, int listErrno) = Libc.ListDirectory(P(_tree));
        Assert.That(listErrno, Is.Zero);
        Assert.That(names, Is.EqualTo(new[] { ".", "..", "a-file", "b-exec", "c-link", "d-dir", "e-dir", "f-link", "g-empty", "h-big",
            "i-missing-blob", "j-many", "k-exec-copy", "l-throws", "m-corrupt", "o-wrong-size" }));
    }

    [Test]
    public void ReaddirResumesExactlyAtEveryOffset()
    {
        string path = P(_tree, "j-many");
        var expected = new[] { ".", ".." }.Concat(Enumerable.Range(0, 300).Select(i => $"entry-{i:D4}")).ToList();
        (List<string> all, int errno) = Libc.ListDirectory(path);
        Assert.That(errno, Is.Zero);
        Assert.That(all, Is.EqualTo(expected));

        // Remember telldir before each entry, then seek back to a sample of them and read on.
        var positions = new List<long>();
        (nint dir, _) = Libc.OpenDir(path);
        try
        {
            while (true)
            {
                positions.Add(Libc.TellDir(dir));
                if (Libc.ReadDir(dir) is null)
                    break;
            }
            foreach (int index in new[] { 299, 0, 1, 2, 150, 57, 301, 128, 3 })
            {
                Libc.SeekDir(dir, positions[index]);
                var rest = new List<string>();
                while (Libc.ReadDir(dir) is { } entry)
                    rest.Add(entry.Name);
                Assert.That(rest, Is.EqualTo(expected.Skip(index)), $"resumed at entry {index}");
            }
        }
        finally
        {
            Libc.CloseDir(dir);
        }
    }

    [Test]
    public void ReadsReturnExactBytesAtAnyOffset()
    {
        Assert.That(File.ReadAllBytes(P(_tree, "a-file")), Is.EqualTo(HelloBytes));
        Assert.That(File.ReadAllBytes(P(_tree, "b-exec")), Is.EqualTo(ScriptBytes));
        Assert.That(File.ReadAllBytes(P(_tree, "g-empty")), Is.Empty);
        Assert.That(File.ReadAllBytes(P(_tree, "d-dir", "y")), Is.EqualTo(HelloBytes), "through a symlink");

        (int fd, int errno) = Libc.Open(P(_tree, "a-file"), Libc.O_RDONLY);
        Assert.That(errno, Is.Zero);
        try
        {
            var buffer = new byte[64];
            Assert.That(Libc.PRead(fd, buffer.AsSpan(0, 5), 6), Is.EqualTo(5));
            Assert.That(buffer[..5], Is.EqualTo(HelloBytes[6..11]));
            Assert.That(Libc.PRead(fd, buffer.AsSpan(0, 3), 0), Is.EqualTo(3));
            Assert.That(buffer[..3], Is.EqualTo(HelloBytes[..3]));
            Assert.That(Libc.PRead(fd, buffer, 10), Is.EqualTo(HelloBytes.Length - 10), "short only at end of file");
            Assert.That(Libc.PRead(fd, buffer, HelloBytes.Length), Is.Zero);
            Assert.That(Libc.PRead(fd, buffer, 1 << 20), Is.Zero);
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    [Test]
    public void ABigFileReadsWholeAndInRandomSlices()
    {
        string path = P(_tree, "h-big");
        Assert.That(File.ReadAllBytes(path).AsSpan().SequenceEqual(BigBytes), Is.True);

        var random = new Random(11);
        (int fd, _) = Libc.Open(path, Libc.O_RDONLY);
        try
        {
            var buffer = new byte[300_000];
            for (int i = 0; i < 200; i++)
            {
                long offset = random.NextInt64(0, BigBytes.Length + 10);
                int size = random.Next(1, buffer.Length);
                long read = Libc.PRead(fd, buffer.AsSpan(0, size), offset);
                long expected = Math.Clamp(BigBytes.Length - offset, 0, size);
                Assert.That(read, Is.EqualTo(expected), $"pread {size} at {offset}");
                Assert.That(buffer.AsSpan(0, (int)read).SequenceEqual(BigBytes.AsSpan((int)Math.Min(offset, BigBytes.Length), (int)read)), Is.True);
            }
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    [Test]
    public void ReadlinkGivesTheTargetAndEinvalOnOtherKinds()
    {
        Assert.That(Encoding.UTF8.GetString(Libc.ReadLink(P(_tree, "c-link")).Target!), Is.EqualTo("a-file"));
        Assert.That(Libc.ReadLink(P(_tree, "a-file")).Errno, Is.EqualTo(Libc.EINVAL));
        Assert.That(Libc.ReadLink(P(_tree, "d-dir")).Errno, Is.EqualTo(Libc.EINVAL));
    }

    [Test]
    public void XattrsShowTheCastoreDigests()
    {
        string blobDigest = B3Digest.Compute(HelloBytes).ToString();
        (long length, byte[] value, int errno) = Libc.GetXattr(P(_tree, "a-file"), "user.tvix.castore.blob.digest", 100);
        Assert.That(errno, Is.Zero);
        Assert.That(Encoding.ASCII.GetString(value), Is.EqualTo(blobDigest));
        Assert.That(length, Is.EqualTo(B3Digest.PrintedLength));

        Assert.That(Libc.GetXattr(P(_tree, "a-file"), "user.tvix.castore.blob.digest", 0).Length, Is.EqualTo(B3Digest.PrintedLength), "size query");
        Assert.That(Libc.GetXattr(P(_tree, "a-file"), "user.tvix.castore.blob.digest", 10).Errno, Is.EqualTo(Libc.ERANGE));
        Assert.That(Libc.GetXattr(P(_tree, "a-file"), "user.other", 100).Errno, Is.EqualTo(Libc.ENODATA));
        Assert.That(Libc.GetXattr(P(_tree, "a-file"), "user.tvix.castore.directory.digest", 100).Errno, Is.EqualTo(Libc.ENODATA));

        (_, byte[] dirValue, int dirErrno) = Libc.GetXattr(P(_tree, "d-dir"), "user.tvix.castore.directory.digest", 100);
        Assert.That(dirErrno, Is.Zero);
        Assert.That(Encoding.ASCII.GetString(dirValue), Does.StartWith("b3:").And.Length.EqualTo(B3Digest.PrintedLength));
        Assert.That(Encoding.ASCII.GetString(dirValue), Is.Not.EqualTo(blobDigest));

        Assert.That(Encoding.ASCII.GetString(Libc.ListXattr(P(_tree, "a-file"), 200).Value), Is.EqualTo("user.tvix.castore.blob.digest\0"));
        Assert.That(Encoding.ASCII.GetString(Libc.ListXattr(P(_tree, "d-dir"), 200).Value), Is.EqualTo("user.tvix.castore.directory.digest\0"));
        Assert.That(Libc.ListXattr(P(_tree, "d-dir"), 0).Length, Is.EqualTo("user.tvix.castore.directory.digest\0".Length));
        Assert.That(Libc.ListXattr(P(_tree, "d-dir"), 5).Errno, Is.EqualTo(Libc.ERANGE));
        Assert.That(Libc.ListXattr(P(_tree, "c-link"), 200).Length, Is.Zero);
        Assert.That(Libc.ListXattr(_mount.MountPoint, 200).Length, Is.Zero);
    }

    [Test]
    public void EveryWriteIsErofs()
    {
        string file = P(_tree, "a-file");
        Assert.Multiple(() =>
        {
            Assert.That(Libc.Open(file, Libc.O_WRONLY).Errno, Is.EqualTo(Libc.EROFS));
            Assert.That(Libc.Open(file, Libc.O_RDWR).Errno, Is.EqualTo(Libc.EROFS));
            Assert.That(Libc.Open(file, Libc.O_RDONLY | Libc.O_TRUNC).Errno, Is.EqualTo(Libc.EROFS));
            Assert.That(Libc.Open(file, Libc.O_WRONLY | Libc.O_APPEND).Errno, Is.EqualTo(Libc.EROFS));
            Assert.That(Libc.Open(P(_tree, "new-file"), Libc.O_WRONLY | Libc.O_CREAT).Errno, Is.EqualTo(Libc.EROFS));
            Assert.That(Libc.Mkdir(P(_tree, "new-dir")), Is.EqualTo(Libc.EROFS));
            Assert.That(Libc.Mkdir(P("new-dir")), Is.EqualTo(Libc.EROFS));
            Assert.That(Libc.Rename(file, P(_tree, "renamed")), Is.EqualTo(Libc.EROFS));
            Assert.That(Libc.Unlink(file), Is.EqualTo(Libc.EROFS));
            Assert.That(Libc.Chmod(file, 0x1FF), Is.EqualTo(Libc.EROFS));
            Assert.That(Libc.Symlink("x", P(_tree, "new-link")), Is.EqualTo(Libc.EROFS));
            Assert.That(Libc.Access(file, Libc.W_OK), Is.EqualTo(Libc.EROFS));
            Assert.That(Libc.Access(file, Libc.R_OK), Is.Zero);
            Assert.That(Libc.Access(P(_tree, "b-exec"), Libc.X_OK), Is.Zero);
        });
        Assert.That(File.ReadAllBytes(file), Is.EqualTo(HelloBytes), "unchanged");
    }

    [Test]
    public void StatfsSaysReadOnlyWithNameLength255()
    {
        Assert.That(Libc.StatVfs(_mount.MountPoint, out StatVfs stat), Is.Zero);
        Assert.That(stat.Namemax, Is.EqualTo(255UL));
        Assert.That(stat.Bsize, Is.EqualTo(4096UL));
        Assert.That(stat.Flag & 1, Is.EqualTo(1UL), "ST_RDONLY");
    }

    [Test]
    public void AMissingDirectoryStatsButListsWithEio()
    {
        Assert.That(Libc.LStat(P(_missingDir), out Stat stat), Is.Zero);
        Assert.That(stat.Mode & S_IFMT, Is.EqualTo(S_IFDIR));
        Assert.That(stat.Size, Is.EqualTo(5));
        Assert.That(Libc.ListDirectory(P(_missingDir)).Errno, Is.EqualTo(Libc.EIO));
        Assert.That(Libc.LStat(P(_missingDir, "anything"), out _), Is.EqualTo(Libc.EIO));
    }

    [Test]
    public void AMissingBlobStatsButReadsWithEio()
    {
        string path = P(_tree, "i-missing-blob");
        Assert.That(Libc.LStat(path, out Stat stat), Is.Zero);
        Assert.That(stat.Size, Is.EqualTo(MissingBlobBytes.Length));
        Assert.That(Libc.Open(path, Libc.O_RDONLY).Errno, Is.EqualTo(Libc.EIO));
        string digest = B3Digest.Compute(MissingBlobBytes).ToString();
        Assert.That(_mount.Log.Lines.Any(l => l.Message.Contains(digest)), Is.True, "the failure is logged with the digest");
    }

    [Test]
    public void ABlobWhoseLengthDisagreesWithItsFileNodeReadsWithEio()
    {
        string path = P(_tree, "o-wrong-size");
        Assert.That(Libc.LStat(path).Size, Is.EqualTo(5));
        Assert.That(Libc.Open(path, Libc.O_RDONLY).Errno, Is.EqualTo(Libc.EIO));
        Assert.That(_mount.Log.Lines.Any(l => l.Message.Contains(B3Digest.Compute(ScriptBytes).ToString())), Is.True);
    }

    [Test]
    public void ABackendThatThrowsOrCorruptsGivesEioAndTheMountLivesOn()
    {
        Assert.That(Libc.ListDirectory(P(_tree, "l-throws")).Errno, Is.EqualTo(Libc.EIO));
        Assert.That(Libc.LStat(P(_tree, "l-throws", FailureInjectingDirectoryService.ThrowMarker), out _), Is.EqualTo(Libc.EIO));
        Assert.That(Libc.ListDirectory(P(_tree, "m-corrupt")).Errno, Is.EqualTo(Libc.EIO));
        Assert.That(_mount.Log.Lines.Count(l => l.Message.Contains("injected failure")), Is.GreaterThanOrEqualTo(1));
        Assert.That(_mount.Log.Lines.Any(l => l.Message.Contains("directory b3:") && !l.Message.Contains("injected")), Is.True);
        Assert.That(File.ReadAllBytes(P(_tree, "a-file")), Is.EqualTo(HelloBytes), "still serving");
    }

    [Test]
    public void IdenticalContentSharesInodes()
    {
        ulong Ino(params string[] parts) => Libc.LStat(P(parts)).Ino;
        Assert.Multiple(() =>
        {
            Assert.That(Ino(_tree, "d-dir", "x"), Is.EqualTo(Ino(_tree, "a-file")), "same blob");
            Assert.That(Ino(_tree, "e-dir"), Is.EqualTo(Ino(_tree, "d-dir")), "same directory");
            Assert.That(Ino(_tree, "e-dir", "x"), Is.EqualTo(Ino(_tree, "a-file")));
            Assert.That(Ino(_tree, "f-link"), Is.EqualTo(Ino(_tree, "c-link")), "same symlink target");
            Assert.That(Ino(_tree, "k-exec-copy"), Is.Not.EqualTo(Ino(_tree, "a-file")), "same blob, other mode");
            Assert.That(Ino(_tree, "b-exec"), Is.Not.EqualTo(Ino(_tree, "a-file")));
            Assert.That(Ino(_tree, "a-file"), Is.EqualTo(Ino(_tree, "a-file")), "stable");
        });
    }

    [Test]
    public void ManyThreadsReadAndListAtOnce()
    {
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var expectedMany = new[] { ".", ".." }.Concat(Enumerable.Range(0, 300).Select(i => $"entry-{i:D4}")).ToList();
        var threads = Enumerable.Range(0, 16).Select(t => new Thread(() =>
        {
            var random = new Random(t);
            var buffer = new byte[200_000];
            for (int round = 0; round < 20; round++)
            {
                switch ((t + round) % 3)
                {
                    case 0:
                    {
                        (int fd, int errno) = Libc.Open(P(_tree, "h-big"), Libc.O_RDONLY);
                        if (errno != 0) { failures.Enqueue($"open errno {errno}"); break; }
                        long offset = random.NextInt64(0, BigBytes.Length);
                        int size = random.Next(1, buffer.Length);
                        long read = Libc.PRead(fd, buffer.AsSpan(0, size), offset);
                        Libc.Close(fd);
                        if (read != Math.Min(size, BigBytes.Length - offset) || !buffer.AsSpan(0, (int)read).SequenceEqual(BigBytes.AsSpan((int)offset, (int)read)))
                            failures.Enqueue($"bad read {size}@{offset}: {read}");
                        break;
                    }
                    case 1:
                    {
                        (List<string> names, int errno) = Libc.ListDirectory(P(_tree, "j-many"));
                        if (errno != 0 || !names.SequenceEqual(expectedMany))
                            failures.Enqueue($"listing errno {errno}, {names.Count} names");
                        break;
                    }
                    default:
                    {
                        int i = random.Next(300);
                        string text = File.ReadAllText(P(_tree, "j-many", $"entry-{i:D4}"));
                        if (text != $"file {i}\n")
                            failures.Enqueue($"entry {i}: {text}");
                        break;
                    }
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.That(failures, Is.Empty);
    }

    [Test]
    public void ADirectoryIsFetchedOnceNotPerLookup()
    {
        string path = P(_tree, "j-many");
        File.ReadAllText(Path.Combine(path, "entry-0001"));
        int before = Volatile.Read(ref _directories.Gets);
        for (int i = 0; i < 300; i += 7)
            Assert.That(File.ReadAllText(Path.Combine(path, $"entry-{i:D4}")), Is.EqualTo($"file {i}\n"));
        Assert.That(Volatile.Read(ref _directories.Gets), Is.EqualTo(before));
    }

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
