using System.Runtime.InteropServices;

internal static partial class Interop
{
    /// <summary>
    /// The exception .NET's own file APIs throw for <paramref name="errno"/>: a missing path is
    /// FileNotFoundException, a refusal UnauthorizedAccessException, anything else IOException with the errno.
    /// </summary>
    internal static Exception GetExceptionForIoErrno(int errno, string what, string? path = null)
    {
        string message = $"{what}: {Marshal.GetPInvokeErrorMessage(errno)}";
        return errno switch
        {
            Errno.ENOENT or Errno.ENOTDIR => new FileNotFoundException(message, path),
            Errno.EACCES or Errno.EPERM => new UnauthorizedAccessException(message),
            _ => new IOException(message, errno),
        };
    }
}
