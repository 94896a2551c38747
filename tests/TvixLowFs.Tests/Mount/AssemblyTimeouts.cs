using TvixLowFs.Tests.Mount;

// A test that hangs on a mount fails at its [CancelAfter] instead of eating CI's time (see
// AbortHungMountsAttribute; MountTimeoutCoverageTests checks every mount-touching fixture has one).
[assembly: AbortHungMounts]
