using NUnit.Framework;
using TvixLowFs.Store;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Tests.Store;

public enum StoreKind
{
    Memory,
    Local,
    /// <summary>objectstore+s3 on the test Ceph RGW, a fresh key prefix per test.</summary>
    ObjectStore,
}

/// <summary>A fresh store of one kind for one test; a local store lives in its own temp directory.</summary>
public sealed class TestStore : IAsyncDisposable
{
    private TestStore(StoreServices services, string? directory, string? address = null)
    {
        Services = services;
        Directory = directory;
        Address = address;
    }

    /// <summary>The object store's address (null for memory and local).</summary>
    public string? Address { get; }

    public StoreServices Services { get; }

    /// <summary>The local store's directory (null for memory).</summary>
    public string? Directory { get; }

    public static TestStore Create(StoreKind kind)
    {
        if (kind == StoreKind.Memory)
            return new TestStore(new StoreOpener().Open(StoreAddress.Memory), null);
        if (kind == StoreKind.ObjectStore)
        {
            string address = ObjectStore.ObjectStoreBuckets.Shared.Address(prefix: "test-" + Guid.NewGuid().ToString("N"));
            return new TestStore(ObjectStore.ObjectStoreBuckets.Open(address), null, address);
        }
        string directory = Path.Join(Path.GetTempPath(), "tvixlowfs-test-" + Guid.NewGuid().ToString("N"));
        return new TestStore(new StoreOpener().Open(StoreAddress.ForLocalDirectory(directory)), directory);
    }

    /// <summary>Another set of services on the same local directory, as a second process would open it.</summary>
    public StoreServices Reopen() => Address is not null
        ? ObjectStore.ObjectStoreBuckets.Open(Address)
        : new StoreOpener().Open(StoreAddress.ForLocalDirectory(Directory!));

    public async ValueTask DisposeAsync()
    {
        await Services.DisposeAsync();
        if (Directory is not null && System.IO.Directory.Exists(Directory))
            System.IO.Directory.Delete(Directory, recursive: true);
    }
}
