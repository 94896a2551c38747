using TvixLowFs.Store.Model;
using Directory = TvixLowFs.Protos.Castore.Directory;

namespace TvixLowFs.Store;

/// <summary>Orderings of a Directory graph received whole (a recursive get), for putting it somewhere else.</summary>
public static class DirectoryGraph
{
    /// <summary>
    /// Every directory after all of its children (post-order from the root, each once). Reversing the
    /// breadth-first order is not enough: a shared child may sit deeper under one parent than another.
    /// Each comes with its digest (the graph's key), so no caller hashes it again.
    /// </summary>
    public static List<KeyValuePair<B3Digest, Directory>> LeavesFirst(B3Digest root, Dictionary<B3Digest, Directory> graph)
    {
        var order = new List<KeyValuePair<B3Digest, Directory>>(graph.Count);
        var done = new HashSet<B3Digest>();
        var stack = new Stack<(B3Digest Digest, int NextChild)>();
        stack.Push((root, 0));
        done.Add(root);
        while (stack.TryPop(out var frame))
        {
            var directory = graph[frame.Digest];
            if (frame.NextChild < directory.Directories.Count)
            {
                stack.Push((frame.Digest, frame.NextChild + 1));
                var child = B3Digest.FromByteString(directory.Directories[frame.NextChild].Digest);
                if (graph.ContainsKey(child) && done.Add(child))
                    stack.Push((child, 0));
                continue;
            }
            order.Add(new(frame.Digest, directory));
        }
        return order;
    }
}
