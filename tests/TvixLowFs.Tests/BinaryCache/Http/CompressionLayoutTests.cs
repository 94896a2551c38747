extern alias store;

using System.Runtime.InteropServices;
using NUnit.Framework;
using StoreInterop = store::Interop;

namespace TvixLowFs.Tests.BinaryCache.Http;

/// <summary>
/// The managed mirrors of lzma_stream, bz_stream and z_stream (StoreInterop.Lzma/Bzip2/Zlib) against
/// the installed headers, as printed by native/build/compression_layout_probe (built with make
/// when missing), and the constants the decoders use; the versions the JIT loads are the ones the
/// probe was linked with.
/// </summary>
[TestFixture]
public sealed unsafe class CompressionLayoutTests
{
    private static Dictionary<string, string> probe = null!;

    [OneTimeSetUp]
    public void RunProbe()
    {
        string root = RepositoryRoot();
        string path = Path.Combine(root, "native", "build", "compression_layout_probe");
        if (!File.Exists(path)) ExternalTool.Run("make", ["-C", Path.Combine(root, "native"), "build/compression_layout_probe"]);
        probe = new Dictionary<string, string>();
        foreach (string line in System.Text.Encoding.UTF8.GetString(ExternalTool.Run(path, [])).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] parts = line.Split(' ', 3);
            probe[parts[0] + " " + parts[1]] = parts[2];
        }
    }

    private static string Field<T>(string name, int size) where T : struct => $"{(int)Marshal.OffsetOf<T>(name)} {size}";

    [Test]
    public void LzmaStreamMatchesTheHeader()
    {
        Assert.Multiple(() =>
        {
            Assert.That(probe["size lzma_stream"], Is.EqualTo(sizeof(StoreInterop.Lzma.LzmaStream).ToString()));
            (string C, string Managed, int Size)[] fields =
            [
                ("next_in", "NextIn", 8), ("avail_in", "AvailIn", 8), ("total_in", "TotalIn", 8), ("next_out", "NextOut", 8),
                ("avail_out", "AvailOut", 8), ("total_out", "TotalOut", 8), ("allocator", "Allocator", 8), ("internal", "Internal", 8),
                ("reserved_ptr1", "ReservedPtr1", 8), ("reserved_ptr2", "ReservedPtr2", 8), ("reserved_ptr3", "ReservedPtr3", 8),
                ("reserved_ptr4", "ReservedPtr4", 8), ("seek_pos", "SeekPos", 8), ("reserved_int2", "ReservedInt2", 8),
                ("reserved_int3", "ReservedInt3", 8), ("reserved_int4", "ReservedInt4", 8), ("reserved_enum1", "ReservedEnum1", 4),
                ("reserved_enum2", "ReservedEnum2", 4),
            ];
            foreach (var (c, managed, size) in fields)
                Assert.That(probe["field lzma_stream." + c], Is.EqualTo(Field<StoreInterop.Lzma.LzmaStream>(managed, size)), c);
            Assert.That(probe["const LZMA_CONCATENATED"], Is.EqualTo(StoreInterop.Lzma.Concatenated.ToString()));
            Assert.That(probe["const LZMA_TELL_UNSUPPORTED_CHECK"], Is.EqualTo(StoreInterop.Lzma.TellUnsupportedCheck.ToString()));
            Assert.That(probe["const LZMA_RUN"], Is.EqualTo(StoreInterop.Lzma.Run.ToString()));
            Assert.That(probe["const LZMA_FINISH"], Is.EqualTo(StoreInterop.Lzma.Finish.ToString()));
            Assert.That(probe["const LZMA_OK"], Is.EqualTo(StoreInterop.Lzma.Ok.ToString()));
            Assert.That(probe["const LZMA_STREAM_END"], Is.EqualTo(StoreInterop.Lzma.StreamEnd.ToString()));
            Assert.That(probe["const LZMA_UNSUPPORTED_CHECK"], Is.EqualTo(StoreInterop.Lzma.UnsupportedCheck.ToString()));
            Assert.That(probe["const LZMA_MEM_ERROR"], Is.EqualTo(StoreInterop.Lzma.MemError.ToString()));
            Assert.That(probe["const LZMA_MEMLIMIT_ERROR"], Is.EqualTo(StoreInterop.Lzma.MemlimitError.ToString()));
            Assert.That(probe["const LZMA_FORMAT_ERROR"], Is.EqualTo(StoreInterop.Lzma.FormatError.ToString()));
            Assert.That(probe["const LZMA_OPTIONS_ERROR"], Is.EqualTo(StoreInterop.Lzma.OptionsError.ToString()));
            Assert.That(probe["const LZMA_DATA_ERROR"], Is.EqualTo(StoreInterop.Lzma.DataError.ToString()));
            Assert.That(probe["const LZMA_BUF_ERROR"], Is.EqualTo(StoreInterop.Lzma.BufError.ToString()));
            Assert.That(probe["const LZMA_PROG_ERROR"], Is.EqualTo(StoreInterop.Lzma.ProgError.ToString()));
            Assert.That(probe["version liblzma"], Is.EqualTo(Marshal.PtrToStringUTF8((nint)StoreInterop.Lzma.VersionString())));
        });
    }

    [Test]
    public void BzStreamMatchesTheHeader()
    {
        Assert.Multiple(() =>
        {
            Assert.That(probe["size bz_stream"], Is.EqualTo(sizeof(StoreInterop.Bzip2.BzStream).ToString()));
            (string C, string Managed, int Size)[] fields =
            [
                ("next_in", "NextIn", 8), ("avail_in", "AvailIn", 4), ("total_in_lo32", "TotalInLo32", 4), ("total_in_hi32", "TotalInHi32", 4),
                ("next_out", "NextOut", 8), ("avail_out", "AvailOut", 4), ("total_out_lo32", "TotalOutLo32", 4), ("total_out_hi32", "TotalOutHi32", 4),
                ("state", "State", 8), ("bzalloc", "BzAlloc", 8), ("bzfree", "BzFree", 8), ("opaque", "Opaque", 8),
            ];
            foreach (var (c, managed, size) in fields)
                Assert.That(probe["field bz_stream." + c], Is.EqualTo(Field<StoreInterop.Bzip2.BzStream>(managed, size)), c);
            Assert.That(probe["const BZ_OK"], Is.EqualTo(StoreInterop.Bzip2.Ok.ToString()));
            Assert.That(probe["const BZ_STREAM_END"], Is.EqualTo(StoreInterop.Bzip2.StreamEnd.ToString()));
            Assert.That(probe["const BZ_PARAM_ERROR"], Is.EqualTo(StoreInterop.Bzip2.ParamError.ToString()));
            Assert.That(probe["const BZ_MEM_ERROR"], Is.EqualTo(StoreInterop.Bzip2.MemError.ToString()));
            Assert.That(probe["const BZ_DATA_ERROR"], Is.EqualTo(StoreInterop.Bzip2.DataError.ToString()));
            Assert.That(probe["const BZ_DATA_ERROR_MAGIC"], Is.EqualTo(StoreInterop.Bzip2.DataErrorMagic.ToString()));
            Assert.That(probe["const BZ_CONFIG_ERROR"], Is.EqualTo(StoreInterop.Bzip2.ConfigError.ToString()));
            Assert.That(probe["version libbz2"], Is.EqualTo(Marshal.PtrToStringUTF8((nint)StoreInterop.Bzip2.LibraryVersion())));
        });
    }

    [Test]
    public void ZStreamMatchesTheHeader()
    {
        Assert.Multiple(() =>
        {
            Assert.That(probe["size z_stream"], Is.EqualTo(sizeof(StoreInterop.Zlib.ZStream).ToString()));
            (string C, string Managed, int Size)[] fields =
            [
                ("next_in", "NextIn", 8), ("avail_in", "AvailIn", 4), ("total_in", "TotalIn", 8), ("next_out", "NextOut", 8),
                ("avail_out", "AvailOut", 4), ("total_out", "TotalOut", 8), ("msg", "Msg", 8), ("state", "State", 8),
                ("zalloc", "ZAlloc", 8), ("zfree", "ZFree", 8), ("opaque", "Opaque", 8), ("data_type", "DataType", 4),
                ("adler", "Adler", 8), ("reserved", "Reserved", 8),
            ];
            foreach (var (c, managed, size) in fields)
                Assert.That(probe["field z_stream." + c], Is.EqualTo(Field<StoreInterop.Zlib.ZStream>(managed, size)), c);
            Assert.That(probe["const Z_OK"], Is.EqualTo(StoreInterop.Zlib.Ok.ToString()));
            Assert.That(probe["const Z_STREAM_END"], Is.EqualTo(StoreInterop.Zlib.StreamEnd.ToString()));
            Assert.That(probe["const Z_NEED_DICT"], Is.EqualTo(StoreInterop.Zlib.NeedDict.ToString()));
            Assert.That(probe["const Z_STREAM_ERROR"], Is.EqualTo(StoreInterop.Zlib.StreamError.ToString()));
            Assert.That(probe["const Z_DATA_ERROR"], Is.EqualTo(StoreInterop.Zlib.DataError.ToString()));
            Assert.That(probe["const Z_MEM_ERROR"], Is.EqualTo(StoreInterop.Zlib.MemError.ToString()));
            Assert.That(probe["const Z_BUF_ERROR"], Is.EqualTo(StoreInterop.Zlib.BufError.ToString()));
            Assert.That(probe["const Z_VERSION_ERROR"], Is.EqualTo(StoreInterop.Zlib.VersionError.ToString()));
            Assert.That(probe["const Z_NO_FLUSH"], Is.EqualTo(StoreInterop.Zlib.NoFlush.ToString()));
            Assert.That(probe["version zlib"], Is.EqualTo(Marshal.PtrToStringUTF8((nint)StoreInterop.Zlib.ZlibVersion())));
            Assert.That(System.Text.Encoding.ASCII.GetString(StoreInterop.Zlib.Version[..^1]), Is.EqualTo(probe["version zlib"]), "the version inflateInit2_ is given");
        });
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "TvixLowFs.sln"))) return dir.FullName;
        }
        throw new AssertionException("TvixLowFs.sln not found above " + TestContext.CurrentContext.TestDirectory);
    }
}
