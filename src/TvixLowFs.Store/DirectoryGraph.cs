using TvixLowFs.Store.Model;

namespace TvixLowFs.Store;

/// <summary>Orderings of a Directory graph received whole (a recursive get), for putting it somewhere else.</summary>
public static class DirectoryGraph
{
    /// <summary>
    /// Every directory after all of its children (post-order from the root, each once). Reversing the
    /// breadth-first order is not enough: a shared child may sit deeper under one parent than another.
    /// The one leaves-first order: the cache, the verifier, copy and import put graphs in it.
    /// </summary>
    public static List<VerifiedDirectory> LeavesFirst(B3Digest root, IReadOnlyDictionary<B3Digest, VerifiedDirectory> graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var order = new List<VerifiedDirectory>(graph.Count);
        var done = new HashSet<B3Digest>();
        var stack = new Stack<(B3Digest Digest, int NextChild)>();
        stack.Push((root, 0));
        done.Add(root);
        while (stack.TryPop(out var frame))
        {
            var directory = graph[frame.Digest];
            if (frame.NextChild < directory.Message.Directories.Count)
            {
                stack.Push((frame.Digest, frame.NextChild + 1));
                var child = B3Digest.FromByteString(directory.Message.Directories[frame.NextChild].Digest);
                if (graph.ContainsKey(child) && done.Add(child))
                    stack.Push((child, 0));
                continue;
            }
            order.Add(directory);
        }
        return order;
    }
}
