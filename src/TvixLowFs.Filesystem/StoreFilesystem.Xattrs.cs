using TvixLowFs.Fuse;
using TvixLowFs.Store.Model;

namespace TvixLowFs.Filesystem;

// getxattr, listxattr (--show-xattr): the castore digest of files and directories.
public sealed partial class StoreFilesystem
{
    private static ReadOnlySpan<byte> BlobDigestXattr => "user.tvix.castore.blob.digest"u8;
    private static ReadOnlySpan<byte> DirectoryDigestXattr => "user.tvix.castore.directory.digest"u8;
    private static ReadOnlySpan<byte> BlobDigestXattrList => "user.tvix.castore.blob.digest\0"u8;
    private static ReadOnlySpan<byte> DirectoryDigestXattrList => "user.tvix.castore.directory.digest\0"u8;

    public void GetXattr(FuseRequest request, ulong inode, ReadOnlySpan<byte> name, nuint size)
    {
        if (_inodes.Get(inode) is not { } record)
        {
            _reply.Err(request, Errno.ENOENT);
            return;
        }
        if (!_options.ShowXattr || !name.SequenceEqual(XattrNameOf(record)) || name.IsEmpty)
        {
            _reply.Err(request, Errno.ENODATA);
            return;
        }
        Span<byte> value = stackalloc byte[B3Digest.PrintedLength];
        int length = record.Digest.FormatUtf8(value);
        ReplyXattrValue(request, value[..length], size);
    }

    public void ListXattr(FuseRequest request, ulong inode, nuint size)
    {
        if (_inodes.Get(inode) is not { } record)
        {
            _reply.Err(request, Errno.ENOENT);
            return;
        }
        ReadOnlySpan<byte> names = !_options.ShowXattr ? default
            : record.IsRoot ? default
            : record.Kind == InodeKind.File ? BlobDigestXattrList
            : record.Kind == InodeKind.Directory ? DirectoryDigestXattrList
            : default;
        ReplyXattrValue(request, names, size);
    }

    /// <summary>Size 0 asks for the length; a smaller buffer than the value is ERANGE.</summary>
    private void ReplyXattrValue(FuseRequest request, ReadOnlySpan<byte> value, nuint size)
    {
        if (size == 0)
            _reply.Xattr(request, (nuint)value.Length);
        else if (size < (nuint)value.Length)
            _reply.Err(request, Errno.ERANGE);
        else
            _reply.Buf(request, value);
    }

    private static ReadOnlySpan<byte> XattrNameOf(InodeRecord record) =>
        record.IsRoot ? default
        : record.Kind == InodeKind.File ? BlobDigestXattr
        : record.Kind == InodeKind.Directory ? DirectoryDigestXattr
        : default;
}
