using NUnit.Framework;

namespace TvixLowFs.Tests.Hardening;

/// <summary>
/// Runs a syscall against a mount on its own thread and waits for it a bounded time, so a
/// request the filesystem never answers fails the test instead of hanging it (the call itself
/// ends when the test disposes the mount, which aborts the connection).
/// </summary>
internal static class BoundedCall
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    public static T Run<T>(Func<T> call, string what)
    {
        Task<T> running = Task.Factory.StartNew(call, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        if (!running.Wait(Deadline))
            Assert.Fail($"{what}: no answer within {Deadline.TotalSeconds} s");
        return running.Result;
    }
}
