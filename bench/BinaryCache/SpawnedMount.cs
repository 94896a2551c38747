using System.Diagnostics;
using TvixLowFs.Bench.E2e;

namespace TvixLowFs.Bench.BinaryCache;

/// <summary>
/// One `tvixlowfs mount` as the e2e harness starts and stops them (spawn, wait for the mount
/// table and the root to answer, teardown on the way out), for a command line given whole.
/// </summary>
internal sealed class SpawnedMount(string name, ProcessStartInfo server, string mountPoint) : FileSystemUnderTest(name)
{
    public override bool HasServer => true;

    public override MountedFileSystem Mount() => MountServer(server, mountPoint, mountPoint);
}
