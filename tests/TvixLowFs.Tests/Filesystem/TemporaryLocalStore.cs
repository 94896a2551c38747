using System.Text;
using NUnit.Framework;
using TvixLowFs.Filesystem;
using TvixLowFs.Fuse;
using TvixLowFs.Store;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Tests.Filesystem;

/// <summary>A fresh local:// store in its own temporary directory, deleted with it.</summary>
internal sealed class TemporaryLocalStore : IAsyncDisposable
{
    private TemporaryLocalStore(string directory)
    {
        Directory = directory;
        Store = new StoreOpener().Open(StoreAddress.ForLocalDirectory(directory));
    }

    public string Directory { get; }

    public StoreServices Store { get; }

    /// <param name="purpose">Part of the directory name, to tell leftovers apart.</param>
    public static TemporaryLocalStore Create(string purpose) =>
        new(Path.Combine(Path.GetTempPath(), $"tvixlowfs-{purpose}-" + Guid.NewGuid().ToString("N")));

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}

/// <summary>Requests the handler tests make of a <see cref="StoreFilesystem"/> through a <see cref="RecordingReplySink"/>.</summary>
internal static class HandlerRequests
{
    /// <summary>Looks <paramref name="name"/> up under <paramref name="parent"/> and returns the inode, asserting an entry reply.</summary>
    public static ulong Lookup(StoreFilesystem filesystem, RecordingReplySink sink, ulong parent, string name)
    {
        FuseRequest request = sink.NewRequest();
        filesystem.Lookup(request, parent, Encoding.UTF8.GetBytes(name));
        RecordingReplySink.Reply reply = sink.WaitFor(request);
        Assert.That(reply.Kind, Is.EqualTo("entry"), $"lookup {name}: errno {reply.Errno}");
        return reply.Ino;
    }
}
