using TvixLowFs.Store;
using TvixLowFs.Store.ObjectStore;
using TvixLowFs.Store.Services;

namespace TvixLowFs.Tests.ObjectStore;

/// <summary>Buckets on the run's RGW: one shared bucket (tests keep apart by key prefix) or a fresh one.</summary>
public sealed class ObjectStoreBuckets
{
    private static readonly Lazy<ObjectStoreBuckets> SharedBucket = new(() => Create("tvixlowfs-shared"));

    private ObjectStoreBuckets(CephRgw rgw, string bucket)
    {
        Rgw = rgw;
        Bucket = bucket;
    }

    public static ObjectStoreBuckets Shared => SharedBucket.Value;

    public CephRgw Rgw { get; }
    public string Bucket { get; }

    /// <summary>A new bucket (created with boto3).</summary>
    public static ObjectStoreBuckets Create(string? name = null)
    {
        CephRgw rgw = ObjectStoreSetUp.Rgw;
        string bucket = name ?? "t-" + Guid.NewGuid().ToString("N")[..20];
        S3Check.CreateBucket(rgw, bucket);
        return new ObjectStoreBuckets(rgw, bucket);
    }

    public string Address(string? prefix = null) => Rgw.Address(Bucket, prefix);

    /// <summary>All three services on <paramref name="address"/>, as the command line opens them.</summary>
    public static StoreServices Open(string address)
    {
        StoreAddress parsed = StoreAddress.Parse(address);
        return new StoreOpener(objectStores: new ObjectStoreConnector(_ => null)).Open(parsed);
    }
}
