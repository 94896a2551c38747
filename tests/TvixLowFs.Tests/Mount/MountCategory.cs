namespace TvixLowFs.Tests.Mount;

/// <summary>
/// The NUnit category of every fixture that mounts (through /dev/fuse, in process or a spawned
/// <c>tvixlowfs mount</c>): <c>dotnet test --filter TestCategory!=Mount</c> runs the rest, on a machine
/// without FUSE. <see cref="MountTimeoutCoverageTests"/> checks every mounting fixture carries it.
/// </summary>
internal static class MountCategory
{
    public const string Name = "Mount";
}
