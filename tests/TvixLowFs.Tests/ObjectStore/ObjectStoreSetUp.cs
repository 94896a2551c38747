using NUnit.Framework;

namespace TvixLowFs.Tests.ObjectStore;

/// <summary>One Ceph RGW for every object-store test of a run, started lazily by the first that needs it.</summary>
[SetUpFixture]
public sealed class ObjectStoreSetUp
{
    private static CephRgw? _rgw;
    private static readonly Lock Gate = new();

    public static CephRgw Rgw
    {
        get
        {
            lock (Gate)
                return _rgw ??= CephRgw.Start();
        }
    }

    [OneTimeTearDown]
    public void StopRgw()
    {
        lock (Gate)
        {
            _rgw?.Dispose();
            _rgw = null;
        }
    }
}
