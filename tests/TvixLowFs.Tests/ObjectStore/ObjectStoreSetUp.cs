using NUnit.Framework;
using TvixLowFs.Tests.ObjectStore;

// In the root test namespace on purpose: the store contract suite (TvixLowFs.Tests.Store) uses the
// RGW too, and NUnit runs a SetUpFixture's teardown only for the tests of its own namespace.
namespace TvixLowFs.Tests;

/// <summary>One Ceph RGW for every test of a run that needs one, started lazily by the first, stopped at the end.</summary>
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
