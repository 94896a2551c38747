using System.Runtime.InteropServices;

internal static unsafe partial class Interop
{
    internal static partial class Libc
    {
        internal const int PTHREAD_CANCEL_ENABLE = 0;
        internal const int PTHREAD_CANCEL_DISABLE = 1;

        /// <summary><c>int pthread_setcancelstate(int state, int *oldstate)</c>.</summary>
        [LibraryImport(Library, EntryPoint = "pthread_setcancelstate")]
        internal static partial int PthreadSetCancelState(int state, int* oldState);
    }
}
