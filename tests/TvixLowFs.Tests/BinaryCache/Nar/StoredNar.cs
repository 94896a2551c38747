using TvixLowFs.Protos.Castore;
using TvixLowFs.Store.Model;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Tests.BinaryCache.Nar;

/// <summary>The NAR of a node read back out of a blob and a directory service, with the model's NarRenderer.</summary>
internal static class StoredNar
{
    public static async Task<byte[]> RenderAsync(IBlobService blobs, IDirectoryService directories, Node root)
    {
        var output = new MemoryStream();
        await NarRenderer.WriteAsync(
            new NarWriter(output),
            root,
            (digest, token) => directories.GetAsync(digest, token),
            async (digest, size, writer, token) =>
            {
                using BlobReader reader = await blobs.OpenReadAsync(digest, token)
                    ?? throw new InvalidOperationException($"blob {digest} is not stored");
                var buffer = new byte[65536];
                long offset = 0;
                while (true)
                {
                    int read = await reader.ReadAtAsync(offset, buffer, token);
                    if (read == 0)
                        break;
                    await writer.WriteFileContentsAsync(buffer.AsMemory(0, read), token);
                    offset += read;
                }
            });
        return output.ToArray();
    }
}
