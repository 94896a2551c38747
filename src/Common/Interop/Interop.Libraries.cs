internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>glibc: every call here is a plain libc entry point, no shim library.</summary>
        internal const string Library = "libc";
    }
}
