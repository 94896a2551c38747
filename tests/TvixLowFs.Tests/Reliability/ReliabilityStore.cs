using System.Diagnostics;
using Google.Protobuf;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using TvixLowFs.Store;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;
using TvixLowFs.Tests.Filesystem;
using TvixLowFs.Tests.Mount;
using TvixLowFs.TestSupport;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Reliability;

/// <summary>
/// A local store in a private temp directory filled straight through the store services (no
/// source tree on disk: a generated tree of thousands of files is stored in seconds), mounted by
/// <c>tvixlowfs mount</c> processes that are always stopped and unmounted on dispose.
/// </summary>
internal sealed class ReliabilityStore : IAsyncDisposable
{
    private readonly List<TvixlowfsProcess> _processes = [];
    private readonly List<string> _mountPoints = [];

    public ReliabilityStore(string purpose)
    {
        Root = Path.Combine(Path.GetTempPath(), $"tvixlowfs-{purpose}-" + Guid.NewGuid().ToString("N"));
        StoreDirectory = Path.Combine(Root, "store");
        System.IO.Directory.CreateDirectory(StoreDirectory);
        Services = new StoreOpener().Open(StoreAddress.Parse(Address));
    }

    public string Root { get; }
    public string StoreDirectory { get; }
    public string Address => "local://" + StoreDirectory;
    public StoreServices Services { get; }

    public string[] StoreFlags => ["--blob-service-addr", Address, "--directory-service-addr", Address, "--path-info-service-addr", Address];

    /// <summary>
    /// Stores a tree of <paramref name="directories"/> directories of <paramref name="filesPerDirectory"/>
    /// files each (file <c>d{i}/f{j}</c> holding <paramref name="content"/>(i·n+j), or sharing one blob
    /// when <paramref name="content"/> is null: distinct digests whose blobs are not stored) and a
    /// PathInfo for it; returns its basename.
    /// </summary>
    public async Task<string> AddGeneratedTreeAsync(string name, int directories, int filesPerDirectory, Func<int, byte[]>? content)
    {
        var root = new Directory();
        await using IDirectoryPutter putter = Services.Directories.BeginPut();
        var children = new List<DirectoryNode>();
        for (int i = 0; i < directories; i++)
        {
            var directory = new Directory();
            var files = new List<FileNode>();
            for (int j = 0; j < filesPerDirectory; j++)
            {
                int k = i * filesPerDirectory + j;
                B3Digest digest;
                int length;
                if (content is not null)
                {
                    byte[] bytes = content(k);
                    digest = WriteBlobFile(bytes);
                    length = bytes.Length;
                }
                else
                {
                    // A distinct blob per file (distinct inodes), not stored: a walk only looks up and stats.
                    digest = B3Digest.Compute(BitConverter.GetBytes(k));
                    length = k % 5000;
                }
                files.Add(new FileNode { Name = ByteString.CopyFromUtf8("f" + j), Digest = digest.ToByteString(), Size = (ulong)length });
            }
            directory.Files.AddRange(files.OrderBy(f => f.Name.ToStringUtf8(), StringComparer.Ordinal));
            B3Digest directoryDigest = await putter.PutAsync(directory);
            children.Add(new DirectoryNode { Name = ByteString.CopyFromUtf8("d" + i), Digest = directoryDigest.ToByteString(), Size = DirectoryRules.Size(directory) });
        }
        root.Directories.AddRange(children.OrderBy(d => d.Name.ToStringUtf8(), StringComparer.Ordinal));
        await putter.PutAsync(root);
        B3Digest rootDigest = await putter.CloseAsync();
        string basename = TestTreeWriter.Basename(name, seed: Root + name);
        await Services.PathInfos.PutAsync(new PathInfo
        {
            Node = new Node { Directory = new DirectoryNode { Name = ByteString.CopyFromUtf8(basename), Digest = rootDigest.ToByteString(), Size = DirectoryRules.Size(root) } },
        });
        return basename;
    }

    /// <summary>
    /// Writes a blob file straight into the local store's layout (no fsync per blob: a test tree
    /// of 20,000 blobs is stored in seconds; the store's own write path is tested elsewhere).
    /// </summary>
    public B3Digest WriteBlobFile(byte[] bytes)
    {
        B3Digest digest = B3Digest.Compute(bytes);
        string path = ((TvixLowFs.Store.Local.LocalBlobService)Services.Blobs).Store.BlobPath(digest);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
        return digest;
    }

    public async Task<B3Digest> PutBlobAsync(byte[] bytes)
    {
        await using BlobWriter writer = Services.Blobs.OpenWrite();
        await writer.WriteAsync(bytes);
        return await writer.CloseAsync();
    }

    /// <summary>A single-file store path; returns its basename.</summary>
    public async Task<string> AddFileAsync(string name, byte[] bytes)
    {
        B3Digest digest = await PutBlobAsync(bytes);
        string basename = TestTreeWriter.Basename(name, seed: Root + name);
        await Services.PathInfos.PutAsync(new PathInfo
        {
            Node = new Node { File = new FileNode { Name = ByteString.CopyFromUtf8(basename), Digest = digest.ToByteString(), Size = (ulong)bytes.Length } },
        });
        return basename;
    }

    public string NewMountPoint()
    {
        string mountPoint = Path.Combine(Root, "mnt-" + _mountPoints.Count);
        System.IO.Directory.CreateDirectory(mountPoint);
        _mountPoints.Add(mountPoint);
        return mountPoint;
    }

    /// <summary>Starts <c>tvixlowfs mount MOUNTPOINT FLAGS</c> and waits until it is mounted.</summary>
    public TvixlowfsProcess Mount(string mountPoint, params string[] flags)
    {
        if (!_mountPoints.Contains(mountPoint))
            _mountPoints.Add(mountPoint);
        TvixlowfsProcess process = Start(["mount", mountPoint, .. flags]);
        if (!process.WaitForErrorLine("mounted " + mountPoint))
            throw new InvalidOperationException("the mount did not come up:\n" + string.Join('\n', process.ErrorLines));
        return process;
    }

    /// <summary>Starts any tvixlowfs command (stopped with SIGTERM on dispose if still running).</summary>
    public TvixlowfsProcess Start(string[] arguments)
    {
        TvixlowfsProcess process = TvixlowfsProcess.Start(arguments);
        _processes.Add(process);
        return process;
    }

    /// <summary>VmRSS or VmHWM of a process in KiB, from /proc/PID/status.</summary>
    public static long StatusKiB(int pid, string field)
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        }
        throw new InvalidOperationException($"no {field} in /proc/{pid}/status");
    }

    /// <summary>The fields of this mount's line in /proc/self/mountinfo: per-mount options and super options.</summary>
    public static (string MountOptions, string FsType, string SuperOptions)? MountInfo(string mountPoint)
    {
        string full = Path.GetFullPath(mountPoint).TrimEnd('/');
        foreach (string line in File.ReadLines("/proc/self/mountinfo"))
        {
            string[] fields = line.Split(' ');
            int separator = Array.IndexOf(fields, "-");
            if (fields.Length > 4 && fields[4] == full && separator > 0 && fields.Length > separator + 3)
                return (fields[5], fields[separator + 1], fields[separator + 3]);
        }
        return null;
    }

    public static int Run(string file, params string[] arguments)
    {
        using Process process = Process.Start(new ProcessStartInfo(file, arguments) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        process.StandardOutput.ReadToEnd();
        process.StandardError.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (TvixlowfsProcess process in _processes)
        {
            if (!process.HasExited)
                Libc.Kill(process.Pid, 18); // SIGCONT: a stopped process cannot handle SIGTERM
            process.Dispose();
        }
        foreach (string mountPoint in _mountPoints)
            InProcessMount.ForceUnmount(mountPoint);
        await Services.DisposeAsync();
        foreach (string mountPoint in _mountPoints)
            InProcessMount.ForceUnmount(mountPoint);
        // A tmpfs a test mounted below Root is unmounted by the test; never delete through a live mount.
        if (System.IO.Directory.Exists(Root) && !File.ReadAllText("/proc/self/mountinfo").Contains(" " + Root, StringComparison.Ordinal))
            System.IO.Directory.Delete(Root, recursive: true);
    }
}
