using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        internal const int RLIMIT_NOFILE = 7;

        /// <summary><c>struct rlimit</c>.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct RLimit
        {
            public ulong Current;
            public ulong Maximum;
        }

        /// <summary><c>int getrlimit(int resource, struct rlimit *rlim)</c>.</summary>
        [LibraryImport(Library, EntryPoint = "getrlimit", SetLastError = true)]
        internal static partial int GetRLimit(int resource, out RLimit limit);
    }
}
