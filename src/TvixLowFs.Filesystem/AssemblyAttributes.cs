// Readdir pages and xattr values are built in stackalloc'd buffers on every request; libfuse
// writes every byte it reports (entries are padded with zeros), so zeroing them first is waste.
[module: System.Runtime.CompilerServices.SkipLocalsInit]
