using TvixLowFs.Store.Model;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store.Services;

/// <summary>Directory messages: a Merkle DAG addressed by the digest of each Directory.</summary>
public interface IDirectoryService : IAsyncDisposable
{
    /// <summary>
    /// The Directory with this digest, or null when absent. Verified once by the service that read
    /// or received it (its digest is the one asked for, every rule holds): callers do not check again.
    /// </summary>
    ValueTask<VerifiedDirectory?> GetAsync(B3Digest digest, CancellationToken cancellationToken = default);

    /// <summary>
    /// The root then its descendants breadth-first, each distinct directory once, a child
    /// only after a directory referring to it and with the size its node carries (what
    /// <see cref="RecursiveGetReader"/> checks of a stream received), each verified once. Throws <see cref="StoreNotFoundException"/>
    /// when the root or any descendant is missing.
    /// </summary>
    IAsyncEnumerable<VerifiedDirectory> GetRecursiveAsync(B3Digest root, CancellationToken cancellationToken = default);

    /// <summary>
    /// Validates and stores one Directory whose child directories are already stored;
    /// returns its digest. Throws <see cref="StoreValidationException"/> on any rule broken.
    /// </summary>
    ValueTask<B3Digest> PutAsync(Directory directory, CancellationToken cancellationToken = default);

    /// <summary>
    /// Starts a graph put: directories leaves first, the root last, each referring only to
    /// directories sent earlier or already stored. Nothing is stored unless the whole graph is valid.
    /// </summary>
    IDirectoryPutter BeginPut();
}

/// <summary>Collects a Directory graph leaves-first and stores it as a whole on <see cref="CloseAsync"/>.</summary>
public interface IDirectoryPutter : IAsyncDisposable
{
    /// <summary>Validates one directory (its children must have been sent or be stored).</summary>
    ValueTask<B3Digest> PutAsync(Directory directory, CancellationToken cancellationToken = default);

    /// <summary>Stores everything sent and returns the digest of the last (root) directory.</summary>
    ValueTask<B3Digest> CloseAsync(CancellationToken cancellationToken = default);
}
