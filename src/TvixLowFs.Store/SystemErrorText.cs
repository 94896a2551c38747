using System.Runtime.InteropServices;

namespace TvixLowFs.Store;

/// <summary>
/// User-facing text for a failed file system call. The NativeAOT binary is built with
/// UseSystemResourceKeys, so .NET's own messages are resource keys; errno text comes from strerror.
/// </summary>
public static class SystemErrorText
{
    public static string Of(Exception exception) => exception switch
    {
        UnauthorizedAccessException => "permission denied",
        FileNotFoundException or DirectoryNotFoundException => "no such file or directory",
        PathTooLongException => "file name too long",
        // .NET's IOExceptions for a failed syscall carry the errno as their HResult.
        IOException { HResult: > 0 and < 4096 } io => Marshal.GetPInvokeErrorMessage(io.HResult),
        _ => exception.Message,
    };
}
