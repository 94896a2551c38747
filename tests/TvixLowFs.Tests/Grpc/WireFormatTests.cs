using NUnit.Framework;
using Google.Protobuf;
using TvixLowFs.Protos.Castore;
using TvixLowFs.Protos.Store;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Tests.Grpc;

/// <summary>
/// The bytes our generated code puts on the wire, compared with protobuf encodings built by
/// hand from the field numbers and types of shared/PROTOCOL.md, so a schema slip (a field
/// number, a type, a packed flag) cannot hide behind our own decoder agreeing with itself.
/// </summary>
public sealed class WireFormatTests
{
    /// <summary>A hand-built protobuf writer: tag = field &lt;&lt; 3 | wire type, varints, length-delimited.</summary>
    private sealed class Hand
    {
        private readonly List<byte> _bytes = [];

        public Hand Varint(int field, ulong value) => Tag(field, 0).Raw(value);

        public Hand Bytes(int field, byte[] value)
        {
            Tag(field, 2).Raw((ulong)value.Length);
            _bytes.AddRange(value);
            return this;
        }

        public Hand Bytes(int field, string utf8) => Bytes(field, System.Text.Encoding.UTF8.GetBytes(utf8));

        public Hand Message(int field, Hand message) => Bytes(field, message.ToArray());

        public byte[] ToArray() => [.. _bytes];

        private Hand Tag(int field, int wireType) => Raw((ulong)(field << 3 | wireType));

        private Hand Raw(ulong value)
        {
            do
            {
                byte b = (byte)(value & 0x7f);
                value >>= 7;
                _bytes.Add(value != 0 ? (byte)(b | 0x80) : b);
            } while (value != 0);
            return this;
        }
    }

    private static byte[] D(byte fill, int length = 32) => Enumerable.Repeat(fill, length).ToArray();

    [Test]
    public void DirectoryWithEntriesOfEachKind()
    {
        var directory = new Directory
        {
            Directories = { new DirectoryNode { Name = ByteString.CopyFromUtf8("d"), Digest = ByteString.CopyFrom(D(1)), Size = 300 } },
            Files =
            {
                new FileNode { Name = ByteString.CopyFromUtf8("e"), Digest = ByteString.CopyFrom(D(2)), Size = 5, Executable = true },
                new FileNode { Name = ByteString.CopyFromUtf8("f"), Digest = ByteString.CopyFrom(D(3)), Size = 0 },
            },
            Symlinks = { new SymlinkNode { Name = ByteString.CopyFromUtf8("s"), Target = ByteString.CopyFromUtf8("/t") } },
        };
        var expected = new Hand()
            .Message(1, new Hand().Bytes(1, "d").Bytes(2, D(1)).Varint(3, 300))
            .Message(2, new Hand().Bytes(1, "e").Bytes(2, D(2)).Varint(3, 5).Varint(4, 1))
            .Message(2, new Hand().Bytes(1, "f").Bytes(2, D(3)))
            .Message(3, new Hand().Bytes(1, "s").Bytes(2, "/t"))
            .ToArray();
        Assert.That(directory.ToByteArray(), Is.EqualTo(expected));
        Assert.That(Directory.Parser.ParseFrom(expected), Is.EqualTo(directory));
    }

    [Test]
    public void EmptyDirectoryEncodesToNothing()
    {
        Assert.That(new Directory().ToByteArray(), Is.Empty);
    }

    [Test]
    public void PathInfoWithNarInfo()
    {
        string name = "00bgd045z0d4icpbc2yyz4gx48ak44la-hello";
        var pathInfo = new PathInfo
        {
            Node = new Node { Directory = new DirectoryNode { Name = ByteString.CopyFromUtf8(name), Digest = ByteString.CopyFrom(D(4)), Size = 2 } },
            References = { ByteString.CopyFrom(D(5, 20)) },
            Narinfo = new NARInfo
            {
                NarSize = 1000,
                NarSha256 = ByteString.CopyFrom(D(6)),
                Signatures = { new NARInfo.Types.Signature { Name = "k", Data = ByteString.CopyFrom(D(7, 4)) } },
                ReferenceNames = { name },
                Deriver = new TvixLowFs.Protos.Store.StorePath { Name = "hello.drv", Digest = ByteString.CopyFrom(D(8, 20)) },
                Ca = new NARInfo.Types.CA { Type = NARInfo.Types.CA.Types.Hash.FlatSha256, Digest = ByteString.CopyFrom(D(9)) },
            },
        };
        var expected = new Hand()
            .Message(1, new Hand().Message(1, new Hand().Bytes(1, name).Bytes(2, D(4)).Varint(3, 2)))
            .Bytes(2, D(5, 20))
            .Message(3, new Hand()
                .Varint(1, 1000)
                .Bytes(2, D(6))
                .Message(3, new Hand().Bytes(1, "k").Bytes(2, D(7, 4)))
                .Bytes(4, name)
                .Message(5, new Hand().Bytes(1, "hello.drv").Bytes(2, D(8, 20)))
                .Message(6, new Hand().Varint(1, 7).Bytes(2, D(9))))
            .ToArray();
        Assert.That(pathInfo.ToByteArray(), Is.EqualTo(expected));
        Assert.That(PathInfo.Parser.ParseFrom(expected), Is.EqualTo(pathInfo));
    }

    [Test]
    public void NodeOneofUsesFieldsOneToThree()
    {
        var file = new Node { File = new FileNode { Name = ByteString.CopyFromUtf8("a"), Size = 1 } };
        var symlink = new Node { Symlink = new SymlinkNode { Name = ByteString.CopyFromUtf8("a"), Target = ByteString.CopyFromUtf8("b") } };
        Assert.That(file.ToByteArray(), Is.EqualTo(new Hand().Message(2, new Hand().Bytes(1, "a").Varint(3, 1)).ToArray()));
        Assert.That(symlink.ToByteArray(), Is.EqualTo(new Hand().Message(3, new Hand().Bytes(1, "a").Bytes(2, "b")).ToArray()));
    }

    [Test]
    public void GetDirectoryRequestRecursive()
    {
        var request = new GetDirectoryRequest { Digest = ByteString.CopyFrom(D(0xab)), Recursive = true };
        Assert.That(request.ToByteArray(), Is.EqualTo(new Hand().Bytes(1, D(0xab)).Varint(2, 1).ToArray()));
    }

    [Test]
    public void BlobMessages()
    {
        Assert.That(new BlobChunk { Data = ByteString.CopyFromUtf8("hi") }.ToByteArray(), Is.EqualTo(new Hand().Bytes(1, "hi").ToArray()));
        Assert.That(new ReadBlobRequest { Digest = ByteString.CopyFrom(D(1)) }.ToByteArray(), Is.EqualTo(new Hand().Bytes(1, D(1)).ToArray()));
        Assert.That(new StatBlobRequest { Digest = ByteString.CopyFrom(D(1)), SendChunks = true, SendBao = true }.ToByteArray(),
            Is.EqualTo(new Hand().Bytes(1, D(1)).Varint(2, 1).Varint(3, 1).ToArray()));
        var stat = new StatBlobResponse { Chunks = { new StatBlobResponse.Types.ChunkMeta { Digest = ByteString.CopyFrom(D(2)), Size = 9 } }, Bao = ByteString.CopyFromUtf8("b") };
        Assert.That(stat.ToByteArray(), Is.EqualTo(new Hand().Message(2, new Hand().Bytes(1, D(2)).Varint(2, 9)).Bytes(3, "b").ToArray()));
        Assert.That(new PutBlobResponse { Digest = ByteString.CopyFrom(D(3)) }.ToByteArray(), Is.EqualTo(new Hand().Bytes(1, D(3)).ToArray()));
    }

    [Test]
    public void PathInfoRequestsAndNarResponse()
    {
        Assert.That(new GetPathInfoRequest { ByOutputHash = ByteString.CopyFrom(D(1, 20)) }.ToByteArray(), Is.EqualTo(new Hand().Bytes(1, D(1, 20)).ToArray()));
        Assert.That(new ListPathInfoRequest().ToByteArray(), Is.Empty);
        Assert.That(new CalculateNARResponse { NarSize = 128, NarSha256 = ByteString.CopyFrom(D(2)) }.ToByteArray(),
            Is.EqualTo(new Hand().Varint(1, 128).Bytes(2, D(2)).ToArray()));
        Assert.That(new PutDirectoryResponse { RootDigest = ByteString.CopyFrom(D(3)) }.ToByteArray(), Is.EqualTo(new Hand().Bytes(1, D(3)).ToArray()));
    }

    [Test]
    public void MethodPathsAreTheTvixOnes()
    {
        Assert.That(BlobService.Descriptor.FindMethodByName("Read").FullName, Is.EqualTo("tvix.castore.v1.BlobService.Read"));
        Assert.That(DirectoryService.Descriptor.FindMethodByName("Get").FullName, Is.EqualTo("tvix.castore.v1.DirectoryService.Get"));
        Assert.That(PathInfoService.Descriptor.FindMethodByName("CalculateNAR").FullName, Is.EqualTo("tvix.store.v1.PathInfoService.CalculateNAR"));
        Assert.That(Directory.Descriptor.FullName, Is.EqualTo("tvix.castore.v1.Directory"));
        Assert.That(PathInfo.Descriptor.FullName, Is.EqualTo("tvix.store.v1.PathInfo"));
    }
}
