using Microsoft.Extensions.Logging;

namespace TvixLowFs.Filesystem;

// One line per failed fetch, naming the digest; source-generated so disabled levels cost nothing.
public sealed partial class StoreFilesystem
{
    [LoggerMessage(Level = LogLevel.Debug, Message = "FUSE init: protocol {Major}.{Minor}, capabilities 0x{Want:x}, max readahead {MaxReadahead}")]
    private partial void LogInit(uint major, uint minor, uint want, uint maxReadahead);

    [LoggerMessage(Level = LogLevel.Warning, Message = "directory {Digest}: {Reason}")]
    private partial void LogDirectoryFailed(string digest, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "blob {Digest}: {Reason}")]
    private partial void LogBlobFailed(string digest, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "PathInfo {Hash}: {Reason}")]
    private partial void LogPathInfoFailed(string hash, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "root listing: {Reason}")]
    private partial void LogListingFailed(string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "a request continuation failed: {Reason}")]
    private partial void LogUnexpected(string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "root listing skips PathInfo {Name}: {Reason}")]
    private partial void LogListedPathInfoSkipped(string name, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "kernel passthrough: {State}")]
    private partial void LogPassthrough(string state);

    [LoggerMessage(Level = LogLevel.Warning, Message = "kernel passthrough refused for blob {Digest} (errno {Errno}); {Consequence}")]
    private partial void LogPassthroughRefused(string digest, int errno, string consequence);

    [LoggerMessage(Level = LogLevel.Information, Message = "unmounting: tree readahead opened {Files} files")]
    private partial void LogReadaheadTotals(long files);
}
