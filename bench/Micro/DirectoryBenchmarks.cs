using BenchmarkDotNet.Attributes;
using Google.Protobuf;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Bench.Micro;

/// <summary>
/// What the filesystem does with every Directory it fetches: decode, check the digest, validate,
/// and look a child up by name.
/// </summary>
[MemoryDiagnoser]
public class DirectoryBenchmarks
{
    private byte[] _encoded = [];
    private Directory _directory = new();
    private byte[] _lookupName = [];

    [Params(10, 1000)]
    public int Entries { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var digest = B3Digest.Compute("child"u8).ToByteString();
        var directory = new Directory();
        for (int i = 0; i < Entries; i++)
        {
            var name = ByteString.CopyFromUtf8($"entry-{i:D6}");
            switch (i % 3)
            {
                case 0: directory.Directories.Add(new DirectoryNode { Name = name, Digest = digest, Size = 12 }); break;
                case 1: directory.Files.Add(new FileNode { Name = name, Digest = digest, Size = 4096, Executable = i % 2 == 0 }); break;
                default: directory.Symlinks.Add(new SymlinkNode { Name = name, Target = ByteString.CopyFromUtf8("../lib/libfoo.so.1") }); break;
            }
        }
        _directory = directory;
        _encoded = directory.ToByteArray();
        _lookupName = System.Text.Encoding.ASCII.GetBytes($"entry-{Entries / 2:D6}");
    }

    [Benchmark]
    public B3Digest DecodeAndDigest() => DirectoryRules.Digest(Directory.Parser.ParseFrom(_encoded));

    [Benchmark]
    public B3Digest Digest() => DirectoryRules.Digest(_directory);

    [Benchmark]
    public void Validate() => DirectoryRules.Validate(_directory);

    [Benchmark]
    public bool FindChild() => DirectoryChildren.Of(_directory).TryFind(_lookupName, out _);

    [Benchmark]
    public int EnumerateChildren()
    {
        int total = 0;
        foreach (var child in DirectoryChildren.Of(_directory))
            total += child.Name.Length;
        return total;
    }
}
