namespace TvixLowFs.Fuse;

/// <summary>How <see cref="FuseSession"/> mounts and runs. Defaults suit a read-only, immutable filesystem.</summary>
public sealed class FuseMountOptions
{
    /// <summary>An existing directory to mount on.</summary>
    public required string MountPoint { get; init; }

    /// <summary><c>-o fsname=</c>: the "device" column of /proc/mounts.</summary>
    public string? FsName { get; init; }

    /// <summary><c>-o subtype=</c>: the filesystem type becomes <c>fuse.&lt;subtype&gt;</c>.</summary>
    public string? Subtype { get; init; }

    /// <summary><c>-o ro</c>: the kernel refuses writes itself (EROFS) before asking us.</summary>
    public bool ReadOnly { get; init; } = true;

    /// <summary><c>-o allow_other,default_permissions</c>: other users may enter; the kernel checks the mode bits.</summary>
    public bool AllowOther { get; init; }

    /// <summary><c>-o default_permissions</c> also without <see cref="AllowOther"/>.</summary>
    public bool DefaultPermissions { get; init; } = true;

    /// <summary><c>-o nosuid,nodev</c>.</summary>
    public bool NoSuidNoDev { get; init; } = true;

    /// <summary>More <c>-o</c> options, passed as given (e.g. <c>max_read=1048576</c>).</summary>
    public IReadOnlyList<string> ExtraOptions { get; init; } = [];

    /// <summary>Upper bound of libfuse worker threads (fuse_loop_cfg_set_max_threads).</summary>
    public int MaxThreads { get; init; } = Environment.ProcessorCount;

    /// <summary>One /dev/fuse clone per worker (fuse_loop_cfg_set_clone_fd); not with <see cref="BackingFiles"/>.</summary>
    public bool CloneFd { get; init; }

    /// <summary>SIGINT and SIGTERM (and SIGHUP) make <see cref="FuseSession.Run"/> return, instead of ending the process.</summary>
    public bool HandleSignals { get; init; } = true;

    /// <summary>
    /// Offer kernel passthrough at INIT and register backing files through this object
    /// (<see cref="FuseBackingFiles"/>); null: no passthrough, libfuse's own device I/O.
    /// </summary>
    public FuseBackingFiles? BackingFiles { get; init; }

    /// <summary>
    /// The sink the operations reply through (the one given to them). The session owns its
    /// lifetime: <see cref="FuseSession.Dispose"/> closes it after <see cref="IFuseOperations.Destroy"/>,
    /// before the channel closes, so replies that come later are dropped.
    /// </summary>
    public KernelReplySink? Replies { get; init; }

    /// <summary><c>-d</c>: libfuse prints every request to stderr.</summary>
    public bool Debug { get; init; }

    internal string MountOptionString()
    {
        var options = new List<string>();
        if (FsName is not null) options.Add("fsname=" + FsName);
        if (Subtype is not null) options.Add("subtype=" + Subtype);
        if (ReadOnly) options.Add("ro");
        if (AllowOther) options.Add("allow_other");
        if (AllowOther || DefaultPermissions) options.Add("default_permissions");
        if (NoSuidNoDev) { options.Add("nosuid"); options.Add("nodev"); }
        options.AddRange(ExtraOptions);
        foreach (var option in options)
        {
            // libfuse splits on ',' (backslash escapes it); keep our own values simple instead.
            if (option.Length == 0 || option.Contains('\0')) throw new ArgumentException($"invalid mount option '{option}'");
        }
        return string.Join(',', options);
    }
}
